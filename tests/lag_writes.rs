//! Lag in writes: the primary counts the writes that changed data (PUT
//! 201, DELETE 204) across restarts, its heartbeat carries the count, and
//! a replica that knows its primary exports how many writes it lacks
//! (`putfs_replication_lag_writes`), as does `putfs ops status --primary`.
//!
//! The replica here is fed by the shipped `scripts/replicate-rsync`;
//! without rsync that test prints `SKIP:` and passes, unless
//! `PUTFS_REQUIRE_TOOLS=1`.

#[path = "common/balancers.rs"]
mod balancers;
mod common;
#[path = "common/ops.rs"]
mod ops;

use std::path::Path;
use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(20);

/// A metric's value, `None` while the series is absent.
fn metric(server: &Server, name: &str) -> Option<i64> {
    let text = server.get("/.putfs/metrics").text();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as i64)
}

/// The `writes` of the heartbeat file under `root` (None: no heartbeat).
fn heartbeat_writes(root: &Path) -> Option<u64> {
    let bytes = std::fs::read(root.join(".putfs/heartbeat")).ok()?;
    let hb: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    hb["writes"].as_u64()
}

/// What the primary's heartbeat endpoint says its count is now.
fn live_writes(server: &Server) -> Option<u64> {
    server
        .get("/.putfs/heartbeat")
        .header("putfs-live-writes")?
        .parse()
        .ok()
}

fn wait_heartbeat_writes(root: &Path, n: u64) {
    assert!(
        wait_until(WAIT, || heartbeat_writes(root) == Some(n)),
        "the heartbeat under {} never carried writes = {n} (it has {:?})",
        root.display(),
        heartbeat_writes(root)
    );
}

#[test]
fn the_count_grows_by_the_writes_that_change_data_and_survives_a_restart() {
    let dir = tempdir();
    let root = dir.path().join("primary");
    let mut p = Server::start(&root, &["--heartbeat-interval", "100ms"]);
    assert_eq!(metric(&p, "putfs_replication_writes"), Some(0));
    assert_eq!(p.put("a", b"a".to_vec()).status, 201);
    assert_eq!(
        p.put("a", b"a".to_vec()).status,
        204,
        "identical: no change"
    );
    assert_eq!(p.put("b", b"b".to_vec()).status, 201);
    assert_eq!(p.delete("a").status, 204);
    assert_eq!(p.delete("a").status, 404, "nothing deleted: no change");
    assert_eq!(metric(&p, "putfs_replication_writes"), Some(3));
    assert_eq!(live_writes(&p), Some(3));
    wait_heartbeat_writes(&root, 3);

    // Killed, not stopped: the count comes back from the heartbeat alone.
    p.restart();
    assert_eq!(metric(&p, "putfs_replication_writes"), Some(3));
    assert_eq!(p.put("c", b"c".to_vec()).status, 201);
    assert_eq!(live_writes(&p), Some(4));
    wait_heartbeat_writes(&root, 4);
}

fn status_json(replica_root: &Path, primary: &Server) -> serde_json::Value {
    let out = ops::putfs_ops([
        "status",
        "--root",
        replica_root.to_str().unwrap(),
        "--primary",
        &primary.url(""),
        "--json",
    ]);
    out.expect(0, "status --primary --json");
    serde_json::from_str(out.out().trim()).expect("status --json prints JSON")
}

#[test]
fn a_replica_fed_by_rsync_reports_the_writes_it_lacks() {
    if !balancers::tools_present(
        "a_replica_fed_by_rsync_reports_the_writes_it_lacks",
        &["rsync"],
    ) {
        return;
    }
    let dir = tempdir();
    let proot = dir.path().join("primary");
    let p = Server::start(&proot, &["--heartbeat-interval", "100ms"]);
    let rroot = dir.path().join("replica");
    std::fs::create_dir_all(rroot.join(".putfs")).unwrap();
    let primary_url = p.url("");
    let r = Server::start(
        &rroot,
        &[
            "--read-only",
            "--primary-url",
            &primary_url,
            "--primary-poll",
            "100ms",
        ],
    );
    let lag = || metric(&r, "putfs_replication_lag_writes");
    assert_eq!(lag(), None, "no heartbeat replicated yet: unknown");

    for k in ["one", "two"] {
        assert_eq!(p.put(k, k.as_bytes().to_vec()).status, 201);
    }
    wait_heartbeat_writes(&proot, 2);
    balancers::replicate(&proot, &rroot);
    assert!(wait_until(WAIT, || lag() == Some(0)), "lag {:?}", lag());
    assert_eq!(metric(&r, "putfs_replication_writes"), Some(2));

    // Three writes since the last replication: one PUT, one DELETE, one
    // more PUT; a PUT of identical bytes changes nothing.
    assert_eq!(p.put("three", b"3".to_vec()).status, 201);
    assert_eq!(p.put("three", b"3".to_vec()).status, 204);
    assert_eq!(p.delete("one").status, 204);
    assert_eq!(p.put("four", b"4".to_vec()).status, 201);
    assert!(wait_until(WAIT, || lag() == Some(3)), "lag {:?}", lag());

    let s = status_json(&rroot, &p);
    assert_eq!(s["writes"], 2, "{s}");
    assert_eq!(s["primary_writes"], 5, "{s}");
    assert_eq!(s["lag_writes"], 3, "{s}");
    let text = ops::putfs_ops([
        "status",
        "--root",
        rroot.to_str().unwrap(),
        "--primary",
        &primary_url,
    ]);
    text.expect(0, "status --primary");
    assert!(
        text.out().contains("lag:       3 writes"),
        "{}",
        text.describe()
    );
    assert!(text.out().contains("writes:    2"), "{}", text.describe());

    wait_heartbeat_writes(&proot, 5);
    balancers::replicate(&proot, &rroot);
    assert!(wait_until(WAIT, || lag() == Some(0)), "lag {:?}", lag());
    assert_eq!(status_json(&rroot, &p)["lag_writes"], 0);

    // A primary that stops answering makes the lag unknown, not stale.
    drop(p);
    assert!(wait_until(WAIT, || lag().is_none()), "lag {:?}", lag());
}
