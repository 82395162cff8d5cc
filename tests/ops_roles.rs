//! A node's role through promote, demote and status, on a plain data root
//! (the rsync and rclone deployments; tests/ops_plans_zfs.rs does the same
//! on ZFS): promote refuses a root a writable putfs would refuse, status
//! names a writable server by its pid, demote refuses while one serves and
//! ends the promotion, so a node flipped back is a replica again.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::path::Path;
use std::time::Duration;

use common::*;
use ops::*;

fn status(root: &Path) -> serde_json::Value {
    let out = putfs_ops(["status", "--root", root.to_str().unwrap(), "--json"]);
    out.expect(0, "status");
    serde_json::from_str(out.out().trim()).unwrap()
}

#[track_caller]
fn role(root: &Path) -> String {
    status(root)["role"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ops_on(root: &Path, cmd: &str) -> Output {
    putfs_ops([cmd, "--root", root.to_str().unwrap(), "--yes"])
}

#[test]
fn promote_refuses_a_root_that_is_not_a_data_root() {
    let dir = tempdir();
    // What a replica's bare mountpoint looks like when its filesystem did
    // not mount: an empty directory.
    let root = dir.path().join("replica");
    std::fs::create_dir(&root).unwrap();
    let state = dir.path().join(".replica.putfs-ops.json");

    let out = ops_on(&root, "promote");
    out.expect(3, "promote of a directory without .putfs/");
    assert!(
        out.err().contains(".putfs") && out.err().contains("--init"),
        "the refusal says what is wrong and what to do\n{}",
        out.describe()
    );
    assert!(!state.exists(), "a refused promote recorded a promotion");
    assert!(
        !root.join(".putfs").exists(),
        "a refused promote marked the root"
    );
    let dry = putfs_ops(["promote", "--root", root.to_str().unwrap(), "--dry-run"]);
    dry.expect(3, "the dry run checks too");

    std::fs::create_dir(root.join(".putfs")).unwrap();
    ops_on(&root, "promote").expect(0, "promote of a data root");
    assert!(state.exists());
}

#[test]
fn status_and_demote_follow_the_role_through_promotion_and_flip_back() {
    let dir = tempdir();
    let root = dir.path().join("node");
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    assert!(role(&root).starts_with("unknown"), "{}", role(&root));

    // A writable server: status names it, demote refuses.
    let mut server = Server::start(&root, &[]);
    let pid = server.pid().to_string();
    let r = role(&root);
    assert!(
        r.starts_with("primary: putfs (pid ") && r.contains(&pid),
        "{r}"
    );
    assert_eq!(status(&root)["writer"]["pid"].to_string(), pid);
    let refused = ops_on(&root, "demote");
    refused.expect(3, "demote while a writable putfs serves the root");
    assert!(
        refused.err().contains(&format!("pid {pid}")),
        "{}",
        refused.describe()
    );
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(45)).is_some());

    // Promoted (the server restarts a moment later): still a primary.
    ops_on(&root, "promote").expect(0, "promote");
    let first = status(&root)["promotion"]["at"].clone();
    assert!(
        role(&root).starts_with("primary (promoted"),
        "{}",
        role(&root)
    );

    // Flipped back: demoted, and status says so; the promotion is over.
    ops_on(&root, "demote").expect(0, "demote");
    let st = status(&root);
    assert!(
        st["role"].as_str().unwrap().starts_with("replica (demoted"),
        "{st:#}"
    );
    assert!(st["promotion"].is_null(), "{st:#}");
    assert_eq!(st["demotion"]["to"]["kind"], "replica", "{st:#}");
    assert_eq!(st["demotion"]["ended_promotion"]["at"], first, "{st:#}");

    // A replica served read-only takes no lock: still a replica.
    let ro = Server::start(&root, &["--read-only"]);
    assert!(role(&root).starts_with("replica"), "{}", role(&root));
    drop(ro);

    // The next failover promotes it afresh.
    ops_on(&root, "promote").expect(0, "promote again");
    let st = status(&root);
    assert!(
        st["role"]
            .as_str()
            .unwrap()
            .starts_with("primary (promoted"),
        "{st:#}"
    );
}
