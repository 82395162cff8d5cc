//! What a newcomer's first `putfs ops status` and first replica say:
//! - status on a root that does not exist, or is not a data root, fails
//!   (exit 2) naming the path, instead of reporting on nothing;
//! - a primary is called one whether its server runs (the writer's lock)
//!   or has stopped (the server's line in the lock file), and its own
//!   heartbeat is never called replication lag;
//! - a replica with `--max-lag` that has never received a heartbeat is
//!   not ready, and becomes ready once one arrives.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::path::Path;
use std::time::Duration;

use common::*;
use ops::*;

fn status_json(root: &Path) -> serde_json::Value {
    let out = putfs_ops(["status", "--root", root.to_str().unwrap(), "--json"]);
    out.expect(0, "status");
    serde_json::from_str(out.out().trim()).expect("status --json prints JSON")
}

#[test]
fn status_refuses_a_root_that_is_missing_or_not_a_data_root() {
    let dir = tempdir();
    let missing = dir.path().join("nonexistent");
    let out = putfs_ops(["status", "--root", missing.to_str().unwrap()]);
    out.expect(2, "status on a missing root");
    assert!(
        out.err().contains(missing.to_str().unwrap()) && out.err().contains("cannot be read"),
        "{}",
        out.describe()
    );

    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    let out = putfs_ops(["status", "--root", bare.to_str().unwrap()]);
    out.expect(2, "status on a directory without .putfs/");
    assert!(
        out.err().contains(bare.to_str().unwrap()) && out.err().contains("not a putfs data root"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_primary_is_a_primary_running_or_stopped_and_has_no_lag() {
    let dir = tempdir();
    let root = dir.path().join("data");
    let mut server = Server::start(&root, &["--heartbeat-interval", "1s"]);
    assert_eq!(server.put("a.txt", b"a".to_vec()).status, 201);
    assert!(
        wait_until(Duration::from_secs(10), || root
            .join(".putfs/heartbeat")
            .exists()),
        "the primary wrote no heartbeat"
    );

    let running = status_json(&root);
    let role = running["role"].as_str().unwrap_or_default();
    assert!(role.starts_with("primary"), "running: {running}");
    assert!(
        running["lag_seconds"].is_null(),
        "a primary's own heartbeat reported as lag: {running}"
    );
    let text = putfs_ops(["status", "--root", root.to_str().unwrap()]);
    text.expect(0, "status");
    assert!(
        !text.out().contains("replication lag") && text.out().contains("a primary's own"),
        "{}",
        text.describe()
    );

    server.sigterm();
    assert!(
        server.wait_exit(Duration::from_secs(30)).is_some(),
        "the server did not stop"
    );
    let stopped = status_json(&root);
    let role = stopped["role"].as_str().unwrap_or_default();
    assert!(
        role.starts_with("primary") && role.contains("served it last"),
        "stopped: {stopped}"
    );
    assert!(stopped["lag_seconds"].is_null(), "{stopped}");
}

#[test]
fn a_replica_that_never_received_a_heartbeat_is_not_ready() {
    let dir = tempdir();
    // The primary, writing heartbeats.
    let primary_root = dir.path().join("primary");
    let primary = Server::start(&primary_root, &["--heartbeat-interval", "1s"]);
    assert_eq!(primary.put("a.txt", b"a".to_vec()).status, 201);
    let hb = primary_root.join(".putfs/heartbeat");
    assert!(
        wait_until(Duration::from_secs(10), || hb.exists()),
        "the primary wrote no heartbeat"
    );

    // A replica's root as replication creates it, before its first run.
    let replica_root = dir.path().join("replica");
    std::fs::create_dir_all(replica_root.join(".putfs")).unwrap();
    let replica = Server::start(&replica_root, &["--read-only", "--max-lag", "1h"]);
    let ready = replica.get(".putfs/ready");
    assert_eq!(
        ready.status,
        503,
        "never replicated, yet ready: {}",
        ready.text()
    );
    assert!(
        ready.text().contains("not replicated yet"),
        "{}",
        ready.text()
    );

    // The first replication brings the heartbeat (published by a rename,
    // as the shipped scripts do).
    let staged = replica_root.join(".putfs/heartbeat.tmp");
    std::fs::copy(&hb, &staged).unwrap();
    std::fs::rename(&staged, replica_root.join(".putfs/heartbeat")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || replica
            .get(".putfs/ready")
            .status
            == 200),
        "not ready after the heartbeat arrived: {}",
        replica.get(".putfs/ready").text()
    );
}
