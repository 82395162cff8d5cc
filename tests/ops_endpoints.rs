//! `/.putfs/live`, `/.putfs/ready`, `/.putfs/metrics`, the reserved
//! prefix, and bearer-token auth.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn live_and_ready() {
    let dir = tempdir();
    let root = dir.path().join("data");
    let s = Server::start(&root, &[]);
    assert!(root.is_dir(), "--root is created if missing");
    assert_eq!(s.get("/.putfs/live").status, 200);
    assert_eq!(s.get("/.putfs/ready").status, 200);

    std::fs::remove_dir_all(&root).unwrap();
    let mut last = None;
    let became_unready = wait_until(Duration::from_secs(15), || {
        let r = s.get("/.putfs/ready");
        let unready = r.status == 503;
        last = Some(r);
        unready
    });
    let last = last.unwrap();
    assert!(
        became_unready,
        "ready stayed {} after the data root was removed",
        last.status
    );
    assert!(!last.text().trim().is_empty(), "503 without a reason");
    assert_eq!(
        s.get("/.putfs/live").status,
        200,
        "live while the process runs"
    );
}

#[test]
fn metrics_exposes_the_documented_series() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let m0 = s.get("/.putfs/metrics");
    assert_eq!(m0.status, 200);
    let before = metric_value(
        &m0.text(),
        "putfs_put_outcomes_total",
        &[("outcome", "created")],
    );

    assert_eq!(s.put("m/one", b"1".to_vec()).status, 201);
    assert_eq!(s.put("m/two", b"2".to_vec()).status, 201);
    assert_eq!(s.get("m/one").status, 200);

    let m = s.get("/.putfs/metrics").text();
    let after = metric_value(&m, "putfs_put_outcomes_total", &[("outcome", "created")]);
    assert_eq!(after - before, 2.0, "created outcome counter:\n{m}");
    for name in [
        "putfs_http_requests_total",
        "putfs_put_outcomes_total",
        "putfs_read_only",
        "putfs_build_info",
        "putfs_data_root_free_bytes",
    ] {
        assert!(has_metric(&m, name), "metric {name} missing:\n{m}");
    }
    assert!(
        metric_value(&m, "putfs_http_requests_total", &[]) >= 3.0,
        "{m}"
    );
    assert_eq!(metric_value(&m, "putfs_read_only", &[]), 0.0);
    assert!(
        metric_value(&m, "putfs_data_root_free_bytes", &[]) > 0.0,
        "{m}"
    );

    // Other outcomes are counted under their own label.
    assert_eq!(s.put("m/one", b"1".to_vec()).status, 204);
    assert_eq!(s.put("m/one", b"X".to_vec()).status, 409);
    let m2 = s.get("/.putfs/metrics").text();
    assert_eq!(
        metric_value(&m2, "putfs_put_outcomes_total", &[("outcome", "created")]),
        after,
        "a 204/409 counted as created"
    );
    let all_before = metric_value(&m, "putfs_put_outcomes_total", &[]);
    let all_after = metric_value(&m2, "putfs_put_outcomes_total", &[]);
    assert_eq!(
        all_after - all_before,
        2.0,
        "204 and 409 outcomes not counted:\n{m2}"
    );
}

#[test]
fn reserved_prefix_cannot_be_written() {
    let dir = tempdir();
    // No heartbeat: it is the one thing putfs itself writes under .putfs/.
    let s = Server::start(dir.path(), &["--heartbeat-interval", "0s"]);
    let before = walk(dir.path());
    for path in [
        "/.putfs/metrics",
        "/.putfs/live",
        "/.putfs/new-object",
        "/.putfs/x/y",
    ] {
        let r = s.put(path, b"overwrite".to_vec());
        assert!(
            !(200..300).contains(&r.status),
            "PUT {path} answered {}",
            r.status
        );
        let d = s.delete(path);
        assert!(
            !(200..300).contains(&d.status),
            "DELETE {path} answered {}",
            d.status
        );
    }
    assert_eq!(walk(dir.path()), before, "a PUT to /.putfs/ wrote to disk");
    // The endpoints still answer as before.
    assert_eq!(s.get("/.putfs/live").status, 200);
    assert!(s.get("/.putfs/metrics").text().contains("putfs_"));
}

#[test]
fn write_token_guards_put_and_delete_only() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--write-token", "s3cret"]);
    let put = |auth: Option<&str>, key: &str| {
        let mut req = client().put(s.url(key)).body(b"data".to_vec());
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        send(req)
    };
    assert_eq!(put(None, "t/k").status, 401);
    assert_eq!(put(Some("Bearer wrong"), "t/k").status, 401);
    assert_eq!(put(Some("Bearer s3cret-but-longer"), "t/k").status, 401);
    assert_eq!(
        put(Some("s3cret"), "t/k").status,
        401,
        "token without Bearer scheme"
    );
    assert!(!dir.path().join("t").exists(), "an unauthorised PUT wrote");
    assert_eq!(put(Some("Bearer s3cret"), "t/k").status, 201);

    // Reads need nothing.
    assert_eq!(s.get("t/k").status, 200);
    assert_eq!(s.query("/", None).status, 200);

    let del = |auth: Option<&str>| {
        let mut req = client().delete(s.url("t/k"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        send(req).status
    };
    assert_eq!(del(None), 401);
    assert_eq!(del(Some("Bearer wrong")), 401);
    assert!(dir.path().join("t/k").exists());
    assert_eq!(del(Some("Bearer s3cret")), 204);
}

#[test]
fn read_token_guards_reads_but_not_health() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--read-token", "r"]);
    assert_eq!(
        s.put("k", b"v".to_vec()).status,
        201,
        "no write token configured"
    );
    assert_eq!(s.get("k").status, 401);
    assert_eq!(s.head("k").status, 401);
    assert_eq!(s.get("/").status, 401);
    assert_eq!(s.query("/", None).status, 401);
    let authed = send(client().get(s.url("k")).header("Authorization", "Bearer r"));
    assert_eq!(authed.status, 200);
    assert_eq!(authed.body, b"v");
    let wrong = send(client().get(s.url("k")).header("Authorization", "Bearer x"));
    assert_eq!(wrong.status, 401);
    assert_eq!(s.get("/.putfs/live").status, 200);
    assert_eq!(s.get("/.putfs/ready").status, 200);
    assert_eq!(s.get("/.putfs/metrics").status, 200);
}

#[test]
fn health_checks_and_scrapes_are_not_counted_as_traffic() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.get("obj").status, 404);
    let before = metric_value(
        &s.get("/.putfs/metrics").text(),
        "putfs_http_requests_total",
        &[],
    );
    for _ in 0..5 {
        assert_eq!(s.get("/.putfs/ready").status, 200);
        assert_eq!(s.get("/.putfs/live").status, 200);
    }
    let m = s.get("/.putfs/metrics").text();
    assert_eq!(
        metric_value(&m, "putfs_http_requests_total", &[]),
        before,
        "internal endpoints changed the request counter:\n{m}"
    );
    assert!(before >= 1.0, "the object GET was counted:\n{m}");
}
