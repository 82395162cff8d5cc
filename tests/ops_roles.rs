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

/// `putfs ops status` (and transfer-gap's deletes) test the writer's lock
/// by taking it for a moment. A writable server starting in that moment
/// must not fail naming whatever stale pid the file holds: it waits a
/// short, bounded time for the probe to let go. A holder that stays is
/// still refused, in time.
#[test]
fn a_server_starting_while_a_tool_probes_its_lock_waits_for_it() {
    let dir = tempdir();
    let root = dir.path().join("node");
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    let lock = root.join(".putfs/lock");
    // The pid of a server long gone, as the file keeps it.
    std::fs::write(&lock, "4242\n").unwrap();

    let hold = |for_: Duration| {
        let file = std::fs::File::open(&lock).unwrap();
        // What a probe takes: LOCK_SH (status) or LOCK_EX (older probes);
        // both conflict with the server's LOCK_EX.
        // SAFETY: flock on an fd we own.
        assert_eq!(
            unsafe {
                libc::flock(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    libc::LOCK_EX | libc::LOCK_NB,
                )
            },
            0
        );
        std::thread::spawn(move || {
            std::thread::sleep(for_);
            drop(file);
        })
    };

    let probe = hold(Duration::from_millis(600));
    let server = Server::try_start(&root, &[]);
    probe.join().unwrap();
    let server = server.unwrap_or_else(|e| {
        panic!("a writable putfs failed to start while a probe held its lock for 0.6 s: {e}")
    });
    drop(server);

    // Held for longer than the server waits: refused, in bounded time.
    let started = std::time::Instant::now();
    let holder = hold(Duration::from_secs(8));
    let refused = Server::try_start(&root, &[]);
    let took = started.elapsed();
    holder.join().unwrap();
    let e = refused
        .err()
        .expect("started while another process held the lock");
    assert!(e.contains(".putfs/lock"), "{e}");
    assert!(
        took < Duration::from_secs(7),
        "the server waited {took:?} for the lock"
    );
}

/// A status run that cannot open the lock file (a monitoring user without
/// access to it; here a symlink, which the lock is never opened through)
/// cannot know whether a writable putfs serves the root, and must not say
/// none does.
#[test]
fn status_says_unknown_when_it_cannot_test_the_lock() {
    let dir = tempdir();
    let root = dir.path().join("node");
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    ops_on(&root, "promote").expect(0, "promote");
    std::os::unix::fs::symlink("/dev/null", root.join(".putfs/lock")).unwrap();

    let st = status(&root);
    let r = st["role"].as_str().unwrap_or_default().to_string();
    assert!(
        !r.contains("no writable putfs serves it"),
        "status asserts no writer although it could not test the lock: {st:#}"
    );
    assert!(r.contains("unknown"), "{st:#}");

    // Without a record either, the fallback line must not claim it.
    std::fs::remove_file(dir.path().join(".node.putfs-ops.json")).unwrap();
    let st = status(&root);
    let r = st["role"].as_str().unwrap_or_default().to_string();
    assert!(
        !r.contains("no writable putfs serves it"),
        "status asserts no writer although it could not test the lock: {st:#}"
    );
}
