//! Replication positions and read-your-writes:
//! - the primary answers every acknowledged write (PUT 201 and 204,
//!   DELETE 204) with a `PutFS-Position` that strictly increases, across
//!   a kill -9 and restart too, and starts above its last heartbeat's even
//!   when its clock is behind it;
//! - the heartbeat carries a position at or above every position
//!   acknowledged before it was written;
//! - a replica made with the shipped rsync script answers a read with
//!   `PutFS-Min-Position` above its position with 404 + `PutFS-Behind`
//!   (GET, HEAD, GET listing, QUERY), and normally at or below it; the
//!   primary always answers;
//! - a replica answers 404 for a listing of a prefix it lacks, GET and
//!   QUERY; the primary keeps its answers;
//! - `putfs_replication_position` and `putfs ops status --json` show it.

#[path = "common/balancers.rs"]
mod balancers;
mod common;
#[path = "common/ops.rs"]
mod ops;

use std::path::{Path, PathBuf};
use std::time::Duration;

use balancers::{replicate, tools_present};
use common::*;

const WAIT: Duration = Duration::from_secs(20);

fn mkdir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn position(r: &Resp) -> u64 {
    assert!(
        matches!(r.status, 201 | 204),
        "a write failed: {} {}",
        r.status,
        r.text()
    );
    r.header("putfs-position")
        .unwrap_or_else(|| panic!("no PutFS-Position on a {} write answer", r.status))
        .parse()
        .expect("PutFS-Position is a decimal number")
}

/// The position in the heartbeat file under `root` (0: none, or none in it).
fn heartbeat_position(root: &Path) -> u64 {
    std::fs::read(root.join(".putfs/heartbeat"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["position"].as_u64())
        .unwrap_or(0)
}

/// `putfs_replication_position` as scraped (`None`: not exported).
fn position_metric(s: &Server) -> Option<u64> {
    let text = s.get("/.putfs/metrics").text();
    text.lines()
        .find(|l| l.starts_with("putfs_replication_position "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn get_with(s: &Server, method: reqwest::Method, path: &str, min: u64) -> Resp {
    send(
        client()
            .request(method, s.url(path))
            .header("PutFS-Min-Position", min.to_string()),
    )
}

fn query_with(s: &Server, path: &str, min: u64) -> Resp {
    send(
        client()
            .request(query_method(), s.url(path))
            .header("PutFS-Min-Position", min.to_string()),
    )
}

#[test]
fn positions_increase_across_writes_and_a_restart() {
    let dir = tempdir();
    let mut p = Server::start(dir.path(), &["--heartbeat-interval", "0s"]);
    let mut seen = vec![
        position(&p.put("a.txt", b"a".to_vec())),
        position(&p.put("a.txt", b"a".to_vec())), // identical: 204
        position(&p.put("b.txt", b"b".to_vec())),
        position(&p.delete("b.txt")),
        position(&p.put("c/d.txt", b"d".to_vec())),
    ];
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "not strictly increasing: {seen:?}"
    );

    p.restart();
    seen.push(position(&p.put("e.txt", b"e".to_vec())));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "a restart went back: {seen:?}"
    );

    // The last heartbeat this root's primary wrote is an hour ahead of the
    // clock (the clock stepped back across the restart): positions still
    // start above it, never among those a replica may already report.
    p.kill9();
    let ahead = seen.last().unwrap() + 3_600_000_000;
    let hb = serde_json::json!({"unix_ms": 1, "seq": 1, "node": "old", "position": ahead});
    std::fs::write(dir.path().join(".putfs/heartbeat"), hb.to_string()).unwrap();
    p.restart();
    let next = position(&p.put("f.txt", b"f".to_vec()));
    assert!(next > ahead, "{next} is not above the heartbeat's {ahead}");
}

#[test]
fn the_heartbeat_covers_every_acknowledged_position() {
    let dir = tempdir();
    let p = Server::start(dir.path(), &["--heartbeat-interval", "100ms"]);
    for round in 0..3 {
        let mut last = 0;
        for i in 0..5 {
            last = position(&p.put(&format!("r{round}/{i}.txt"), vec![b'x'; i + 1]));
        }
        // Written after the last answer, so it must cover it; and nothing
        // was acknowledged after it, so it claims no more.
        assert!(
            wait_until(WAIT, || heartbeat_position(p.root()) >= last),
            "no heartbeat reached position {last}: {}",
            heartbeat_position(p.root())
        );
        assert_eq!(heartbeat_position(p.root()), last);
        assert_eq!(position_metric(&p), Some(last), "the primary's gauge");
    }
}

#[test]
fn a_replica_answers_only_from_its_position() {
    if !tools_present("a_replica_answers_only_from_its_position", &["rsync"]) {
        return;
    }
    let dir = tempdir();
    let p = Server::start(
        &mkdir(dir.path().join("primary")),
        &["--heartbeat-interval", "100ms"],
    );
    let replica_root = mkdir(dir.path().join("replica"));
    mkdir(replica_root.join(".putfs"));
    let r = Server::start(&replica_root, &["--read-only", "--heartbeat-poll", "100ms"]);

    let at = position(&p.put("docs/a.txt", b"hello".to_vec()));
    assert!(
        wait_until(WAIT, || heartbeat_position(p.root()) >= at),
        "the primary's heartbeat never reached {at}"
    );
    replicate(p.root(), r.root());
    let have = heartbeat_position(r.root());
    assert!(
        have >= at,
        "the replicated heartbeat is at {have}, not {at}"
    );
    assert!(
        wait_until(WAIT, || position_metric(&r) == Some(have)),
        "the replica's gauge: {:?}, its heartbeat: {have}",
        position_metric(&r)
    );

    // A write the replica has not received.
    let later = position(&p.put("docs/b.txt", b"later".to_vec()));
    assert!(later > have);

    use reqwest::Method;
    for need in [at, have] {
        let r1 = get_with(&r, Method::GET, "/docs/a.txt", need);
        assert_eq!((r1.status, r1.text().as_str()), (200, "hello"));
        assert_eq!(get_with(&r, Method::HEAD, "/docs/a.txt", need).status, 200);
        let l = get_with(&r, Method::GET, "/docs/", need);
        assert_eq!((l.status, l.text().trim()), (200, "a.txt"));
        let q = query_with(&r, "/docs/", need);
        assert_eq!((q.status, q.text().trim()), (200, "a.txt"));
    }
    let behind = [
        get_with(&r, Method::GET, "/docs/a.txt", later),
        get_with(&r, Method::HEAD, "/docs/a.txt", later),
        get_with(&r, Method::GET, "/docs/", later),
        query_with(&r, "/docs/", later),
    ];
    for (i, b) in behind.iter().enumerate() {
        assert_eq!(b.status, 404, "read {i} answered by a replica behind");
        assert_eq!(b.header("putfs-behind"), Some(have.to_string()), "read {i}");
        if i != 1 {
            assert!(b.text().contains("behind"), "read {i}: {}", b.text());
        }
    }
    let bad = get_with(&r, Method::GET, "/docs/a.txt", 0);
    assert_eq!(bad.status, 200, "position 0 is always reached");
    let garbage = send(
        client()
            .get(r.url("/docs/a.txt"))
            .header("PutFS-Min-Position", "soon"),
    );
    assert_eq!(garbage.status, 400);

    // The primary has every write it acknowledged: it always answers.
    let far = later + 1_000_000_000;
    let g = get_with(&p, Method::GET, "/docs/b.txt", far);
    assert_eq!((g.status, g.text().as_str()), (200, "later"));
    assert_eq!(get_with(&p, Method::HEAD, "/docs/b.txt", far).status, 200);
    assert_eq!(get_with(&p, Method::GET, "/docs/", far).status, 200);
    assert_eq!(query_with(&p, "/docs/", far).status, 200);
    assert!(position_metric(&p).is_some_and(|v| v >= later));

    // ops status reads the replica's position from its heartbeat.
    let out = ops::putfs_ops(["status", "--root", r.root().to_str().unwrap(), "--json"]);
    out.expect(0, "status");
    let v: serde_json::Value = serde_json::from_str(out.out().trim()).expect("JSON");
    assert_eq!(v["position"].as_u64(), Some(have), "{v}");
    let out = ops::putfs_ops(["status", "--root", r.root().to_str().unwrap()]);
    out.expect(0, "status");
    assert!(
        out.out().contains(&format!("position:  {have}")),
        "{}",
        out.out()
    );

    // Replication brings the replica up to the later write.
    assert!(
        wait_until(WAIT, || heartbeat_position(p.root()) >= later),
        "the primary's heartbeat never reached {later}"
    );
    replicate(p.root(), r.root());
    assert!(
        wait_until(WAIT, || get_with(&r, Method::GET, "/docs/b.txt", later)
            .status
            == 200),
        "the replica never answered at {later}"
    );
}

#[test]
fn a_replica_lists_a_prefix_it_lacks_as_404() {
    let dir = tempdir();
    let p = Server::start(&mkdir(dir.path().join("primary")), &[]);
    let replica_root = mkdir(dir.path().join("replica"));
    mkdir(replica_root.join(".putfs"));
    let r = Server::start(&replica_root, &["--read-only"]);
    for s in [&p, &r] {
        // The root itself always exists.
        assert_eq!(s.get("/").status, 200);
        assert_eq!(s.query("/", None).status, 200);
    }
    let q = r.query("/nowhere/", None);
    assert_eq!(q.status, 404, "QUERY on a replica: {}", q.text());
    assert_eq!(r.get("/nowhere/").status, 404, "GET on a replica");
    // The primary keeps upstream's answers: a QUERY of a prefix nothing
    // was written under yet is empty, its GET listing 404.
    let q = p.query("/nowhere/", None);
    assert_eq!((q.status, q.body.len()), (200, 0));
    assert_eq!(p.get("/nowhere/").status, 404);
}

#[test]
fn the_position_cookie_is_opt_in_on_both_sides() {
    let dir = tempdir();
    let p = Server::start(&mkdir(dir.path().join("primary")), &["--position-cookie"]);
    let w = p.put("a.txt", b"a".to_vec());
    let at = position(&w);
    assert_eq!(
        w.header("set-cookie"),
        Some(format!("putfs_pos={at}; Path=/; SameSite=Lax; HttpOnly"))
    );
    let plain = Server::start(&mkdir(dir.path().join("plain")), &[]);
    assert_eq!(plain.put("a.txt", b"a".to_vec()).header("set-cookie"), None);

    // Replicas that have received nothing yet (position 0).
    let root = |name: &str| {
        let r = mkdir(dir.path().join(name));
        mkdir(r.join(".putfs"));
        r
    };
    let honours = Server::start(&root("honours"), &["--read-only", "--position-cookie"]);
    let ignores = Server::start(&root("ignores"), &["--read-only"]);
    let with_cookie = |s: &Server| {
        send(
            client()
                .get(s.url("/"))
                .header("Cookie", format!("putfs_pos={at}")),
        )
    };
    let r = with_cookie(&honours);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("putfs-behind").as_deref(), Some("0"));
    assert_eq!(with_cookie(&ignores).status, 200);
    assert_eq!(with_cookie(&p).status, 200, "the primary always answers");
}
