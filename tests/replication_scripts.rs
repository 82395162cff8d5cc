//! The replication and failover scripts, run for real: `replicate-rsync`
//! (objects, xattrs, heartbeat order, no temp files, deletes in one run
//! and their guards, the lock, failures) and `replicate-rclone` against a real
//! putfs primary over HTTP, and `failover` driving `putfs ops` without a
//! terminal.
//!
//! A missing tool skips its test with a `SKIP` line, unless
//! `PUTFS_REQUIRE_TOOLS=1` (scripts/test sets it), which makes it a failure.

mod common;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use common::*;
use ops::*;
use tools::*;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn script(name: &str) -> Command {
    clean_command(repo().join("scripts").join(name))
}

fn run_script<I, S>(name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = script(name);
    cmd.args(args);
    run(cmd)
}

fn heartbeat_seq(root: &Path) -> u64 {
    read_heartbeat(root)
        .and_then(|v| v["seq"].as_u64())
        .unwrap_or_else(|| panic!("no readable heartbeat under {}", root.display()))
}

/// Holds `flock FILE` (the real command) until dropped: what a running
/// replication looks like to the next one.
struct LockHolder {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl LockHolder {
    fn hold(lock: &Path) -> LockHolder {
        let mut child = clean_command(require_tool("flock"))
            .arg(lock)
            .args(["-c", "echo held; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn flock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read from flock");
        assert_eq!(line.trim(), "held", "flock did not take {}", lock.display());
        let stdin = child.stdin.take();
        LockHolder { child, stdin }
    }

    /// Lets `cat` see end of input, so the lock goes with it.
    fn release(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // Our own child, by its PID; its `cat` ends on the closed pipe.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_heartbeat(root: &Path, seq: u64, node: &str) {
    std::fs::write(
        root.join(".putfs/heartbeat"),
        format!(
            r#"{{"unix_ms":{},"seq":{seq},"node":"{node}"}}"#,
            1_700_000_000_000u64 + seq
        ),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// scripts/replicate-rsync
// ---------------------------------------------------------------------------

/// Keys with the names that break naive scripts.
const HOSTILE_KEYS: &[&str] = &[
    "plain/object.bin",
    "a b/c d.txt",
    "100%/p.bin",
    "ünï/ß.bin",
    "-dash",
    "br[a]ck*/x.bin",
    "deep/1/2/3/4/5/leaf",
    "empty",
];

/// A real putfs primary (heartbeat every 100 ms) holding the hostile keys,
/// plus an upload in progress (a `.putfs-tmp.*` file) on its disk.
fn primary_with_objects(root: &Path) -> Server {
    let server = Server::start(root, &["--heartbeat-interval", "100ms"]);
    let mut rng = Rng::from_time();
    for (i, key) in HOSTILE_KEYS.iter().enumerate() {
        let body = if *key == "empty" {
            Vec::new()
        } else {
            rng.bytes(1 + i * 3000)
        };
        let r = server.put(&key_url(key), body);
        assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
    }
    std::fs::write(root.join("a b/.putfs-tmp.upload.7"), b"half an upload").unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || read_heartbeat(root).is_some()),
        "the primary wrote no heartbeat"
    );
    server
}

/// A plain directory laid out like a primary's data root, with a heartbeat.
fn static_primary(root: &Path, seq: u64) {
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    write_heartbeat(root, seq, "static");
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d/a.txt"), b"alpha").unwrap();
    std::fs::write(root.join("d/b.txt"), b"bravo").unwrap();
}

/// A replica's data root as installed: marked with `.putfs/` (the
/// scripts refuse an unmarked destination without --init).
fn marked_replica(path: &Path) {
    std::fs::create_dir_all(path.join(".putfs")).unwrap();
}

/// Entries outside `.putfs/` that are not objects of `expected`: rsync or
/// rclone temp names, or copied temp files.
fn strays(root: &Path, expected: &BTreeMap<String, String>) -> Vec<PathBuf> {
    user_entries(root)
        .into_iter()
        .filter(|rel| root.join(rel).is_file())
        .filter(|rel| !expected.contains_key(rel.to_str().unwrap()))
        .collect()
}

#[test]
fn rsync_copies_objects_with_xattrs_and_the_heartbeat_never_temp_files() {
    if need("rsync", "replicate-rsync").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("primary");
    let replica = dir.path().join("replica");
    std::fs::create_dir_all(replica.join("kept")).unwrap();
    std::fs::write(replica.join("kept/only-here.txt"), b"replica's own").unwrap();
    let primary = primary_with_objects(&root);

    let s0 = heartbeat_seq(&root);
    // The replica's first run marks it as a data root.
    let out = run_script(
        "replicate-rsync",
        [OsStr::new("--init"), root.as_os_str(), replica.as_os_str()],
    );
    out.expect(0, "replicate-rsync --init");
    let s1 = heartbeat_seq(&root);
    let got = heartbeat_seq(&replica);
    assert!(
        (s0..=s1).contains(&got),
        "replica heartbeat seq {got} is not one the primary wrote during the run ({s0}..={s1})"
    );

    assert_replica_complete(&root, &replica, ".putfs/rsync-tmp");

    // The stored digests travel with the bytes: same xattr, same ETag.
    if xattrs_supported(&replica) {
        for key in HOSTILE_KEYS {
            let a = get_xattr(&root.join(key), "user.putfs.sha256");
            assert!(a.is_some(), "the primary stored no digest for {key}");
            assert_eq!(
                a,
                get_xattr(&replica.join(key), "user.putfs.sha256"),
                "{key}"
            );
        }
        let reader = Server::start(&replica, &["--read-only"]);
        for key in HOSTILE_KEYS {
            let (a, b) = (primary.head(&key_url(key)), reader.head(&key_url(key)));
            assert_eq!((a.status, b.status), (200, 200), "{key}");
            assert_eq!(a.header("etag"), b.header("etag"), "ETag of {key}");
        }
    } else {
        eprintln!("note: no user xattrs on the test filesystem; digest copy not checked");
    }
}

#[test]
fn rsync_takes_the_heartbeat_before_the_copy_and_only_advances_it_after() {
    let Some(rsync) = need("rsync", "replicate-rsync heartbeat order") else {
        return;
    };
    let dir = tempdir();
    let src = dir.path().join("src");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    static_primary(&src, 1);
    // The real rsync, except that just before the data pass the primary
    // "writes" an object and a newer heartbeat. Neither the object's
    // arrival nor that heartbeat may be claimed by this run's heartbeat.
    let wrapper = dir.path().join("rsync-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do case $a in --temp-dir=*)\n  \
             printf '%s' '{{\"unix_ms\":1700000000002,\"seq\":2,\"node\":\"late\"}}' > '{hb}'\n  \
             echo late > '{late}';;\nesac; done\nexec '{rsync}' \"$@\"\n",
            hb = s(&src.join(".putfs/heartbeat")),
            late = s(&src.join("d/late.txt")),
            rsync = s(&rsync),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = script("replicate-rsync");
    cmd.env("RSYNC", &wrapper).arg(&src).arg(&replica);
    run(cmd).expect(0, "replicate-rsync (wrapped rsync)");
    assert_eq!(
        heartbeat_seq(&replica),
        1,
        "the heartbeat must be the one taken first"
    );
    assert_eq!(
        std::fs::read(replica.join("d/late.txt")).unwrap(),
        b"late\n"
    );
    run_script("replicate-rsync", [&src, &replica]).expect(0, "second run");
    assert_eq!(heartbeat_seq(&replica), 2);
}

/// A DELETE on the primary reaches the replica in the next run, by
/// default: the object goes, the directories putfs pruned go, the other
/// objects and putfs's own entries (.putfs/, an upload in flight) stay,
/// and the heartbeat advances. `--no-delete` keeps them; `--delete` is
/// still accepted.
#[test]
fn rsync_deletes_what_the_primary_deleted_in_one_run() {
    if need("rsync", "replicate-rsync deletes").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("primary");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    let primary = primary_with_objects(&root);
    run_script("replicate-rsync", [&root, &replica]).expect(0, "first run");
    assert_eq!(object_tree(&replica), object_tree(&root));
    // Left on the replica by an interrupted transfer or upload: not objects.
    std::fs::write(replica.join("a b/.putfs-tmp.inflight.9"), b"tmp").unwrap();
    std::fs::write(replica.join(".putfs/keep-me"), b"putfs's own").unwrap();

    for key in ["deep/1/2/3/4/5/leaf", "a b/c d.txt", "-dash"] {
        assert_eq!(primary.delete(&key_url(key)).status, 204, "DELETE {key}");
    }
    assert!(
        !root.join("deep").exists(),
        "putfs pruned the emptied directories"
    );

    // The opt-out, as in an old unit that wants the replica to keep them.
    run_script(
        "replicate-rsync",
        [
            OsStr::new("--no-delete"),
            root.as_os_str(),
            replica.as_os_str(),
        ],
    )
    .expect(0, "--no-delete");
    assert!(
        replica.join("deep/1/2/3/4/5/leaf").exists(),
        "deleted with --no-delete"
    );
    assert!(replica.join("-dash").exists());

    let before = full_fingerprint(&replica);
    let dry = run_script(
        "replicate-rsync",
        [
            OsStr::new("--dry-run"),
            root.as_os_str(),
            replica.as_os_str(),
        ],
    );
    dry.expect(0, "--dry-run");
    assert!(
        dry.combined().contains("deleting") && dry.combined().contains("a b/c d.txt"),
        "{}",
        dry.describe()
    );
    assert_eq!(
        before,
        full_fingerprint(&replica),
        "--dry-run changed the replica"
    );

    let seq_before = heartbeat_seq(&replica);
    let s0 = heartbeat_seq(&root);
    // --delete-excluded must not reach putfs's own entries either.
    let out = run_script(
        "replicate-rsync",
        [
            OsStr::new("--delete"),
            OsStr::new("--rsync-opt=--delete-excluded"),
            root.as_os_str(),
            replica.as_os_str(),
        ],
    );
    out.expect(0, "one run after the deletes");
    assert_eq!(object_tree(&replica), object_tree(&root));
    assert!(
        !replica.join("deep").exists(),
        "emptied directories stay on the replica"
    );
    assert!(replica.join("a b").is_dir());
    assert!(
        replica.join("a b/.putfs-tmp.inflight.9").exists(),
        "an upload in flight was deleted"
    );
    assert!(
        replica.join(".putfs/keep-me").exists(),
        ".putfs/ was touched"
    );
    assert!(replica.join(".putfs/replicate.lock").exists());
    let seq = heartbeat_seq(&replica);
    assert!(
        seq > seq_before && seq >= s0,
        "heartbeat {seq} not advanced past {seq_before}/{s0}"
    );
}

/// More deletions than --max-delete: the run stops after that many (rsync's
/// rule), exits 6 with a message, leaves the heartbeat, and holds every
/// further deletion until a run finds nothing to delete or the operator
/// removes the hold and allows more.
#[test]
fn rsync_max_delete_stops_the_run_and_holds_further_deletions() {
    if need("rsync", "replicate-rsync --max-delete").is_none() {
        return;
    }
    let dir = tempdir();
    let src = dir.path().join("src");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    static_primary(&src, 1);
    let names: Vec<String> = (0..6).map(|i| format!("many/o{i}")).collect();
    std::fs::create_dir_all(src.join("many")).unwrap();
    for n in &names {
        std::fs::write(src.join(n), n.as_bytes()).unwrap();
    }
    run_script("replicate-rsync", [&src, &replica]).expect(0, "first run");
    for n in &names[..5] {
        std::fs::remove_file(src.join(n)).unwrap();
    }
    write_heartbeat(&src, 2, "static");
    let left = |replica: &Path| names.iter().filter(|n| replica.join(n).exists()).count();

    let out = run_script(
        "replicate-rsync",
        [
            OsStr::new("--max-delete=2"),
            src.as_os_str(),
            replica.as_os_str(),
        ],
    );
    out.expect(6, "more deletions than --max-delete");
    assert!(
        out.err().contains("--max-delete 2") && out.err().contains("real data root"),
        "{}",
        out.describe()
    );
    assert!(left(&replica) >= 6 - 2, "more than --max-delete deleted");
    assert_eq!(
        heartbeat_seq(&replica),
        1,
        "heartbeat advanced over held deletions"
    );
    let hold = replica.join(".putfs/deletes-held");
    assert!(hold.exists());

    // The timer's next run, with the default limit: held, nothing deleted.
    let kept = left(&replica);
    let again = run_script("replicate-rsync", [&src, &replica]);
    again.expect(6, "a run while deletions are held");
    assert!(again.err().contains("held"), "{}", again.describe());
    assert_eq!(left(&replica), kept, "deleted while held");
    assert_eq!(heartbeat_seq(&replica), 1);

    // The source was wrong and is right again: nothing to delete lifts it.
    for n in &names {
        std::fs::write(src.join(n), n.as_bytes()).unwrap();
    }
    run_script("replicate-rsync", [&src, &replica]).expect(0, "source restored");
    assert!(
        !hold.exists(),
        "the hold outlived a run with nothing to delete"
    );
    assert_eq!(heartbeat_seq(&replica), 2);

    // Real deletes: the operator allows them for one run.
    for n in &names[..5] {
        std::fs::remove_file(src.join(n)).unwrap();
    }
    write_heartbeat(&src, 3, "static");
    run_script(
        "replicate-rsync",
        [
            OsStr::new("--max-delete=2"),
            src.as_os_str(),
            replica.as_os_str(),
        ],
    )
    .expect(6, "trips again");
    std::fs::remove_file(&hold).unwrap();
    run_script(
        "replicate-rsync",
        [
            OsStr::new("--max-delete"),
            OsStr::new("unlimited"),
            src.as_os_str(),
            replica.as_os_str(),
        ],
    )
    .expect(0, "--max-delete unlimited");
    assert_eq!(left(&replica), 1);
    assert_eq!(heartbeat_seq(&replica), 3);

    for tool in ["replicate-rsync", "replicate-rclone"] {
        let zero = run_script(tool, ["--max-delete=0", "http://127.0.0.1:9", s(&replica)]);
        zero.expect(2, "--max-delete=0 is ambiguous");
        assert!(zero.err().contains("--no-delete"), "{}", zero.describe());
    }
}

/// A key deleted and re-created on the primary between two runs, with the
/// same size in the same second, arrives with its new bytes (rsync's quick
/// check would otherwise skip it and only copy the new digest xattr).
#[test]
fn rsync_recopies_a_key_deleted_and_recreated_in_the_same_second() {
    if need("rsync", "replicate-rsync re-created key").is_none() {
        return;
    }
    let dir = tempdir();
    let src = dir.path().join("src");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    static_primary(&src, 1);
    let second = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let put = |body: &[u8], ns: u64| {
        let path = src.join("d/k");
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, body).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(second + Duration::from_nanos(ns)).unwrap();
    };
    put(b"old!", 100_000_000);
    run_script("replicate-rsync", [&src, &replica]).expect(0, "first run");
    put(b"new!", 700_000_000);
    write_heartbeat(&src, 2, "static");
    run_script("replicate-rsync", [&src, &replica]).expect(0, "second run");
    assert_eq!(std::fs::read(replica.join("d/k")).unwrap(), b"new!");
}

#[test]
fn rsync_run_finding_the_lock_held_does_nothing() {
    if need("rsync", "replicate-rsync lock").is_none() || need("flock", "lock").is_none() {
        return;
    }
    let dir = tempdir();
    let src = dir.path().join("src");
    let replica = dir.path().join("replica");
    std::fs::create_dir_all(replica.join(".putfs")).unwrap();
    static_primary(&src, 1);
    let before = full_fingerprint(&replica);

    // A replication "already running": the default lock, held by flock.
    let holder = LockHolder::hold(&replica.join(".putfs/replicate.lock"));
    let out = run_script("replicate-rsync", [&src, &replica]);
    out.expect(0, "a run that finds the lock held");
    assert!(
        out.err().contains("another replication"),
        "{}",
        out.describe()
    );
    let mut after = full_fingerprint(&replica);
    after.remove(".putfs/replicate.lock");
    assert_eq!(before, after, "the skipped run changed the replica");

    let waited = run_script(
        "replicate-rsync",
        [OsStr::new("--wait=1"), src.as_os_str(), replica.as_os_str()],
    );
    waited.expect(4, "--wait=1 with the lock held");
    assert!(!replica.join("d/a.txt").exists());

    holder.release();
    run_script("replicate-rsync", [&src, &replica]).expect(0, "after the lock is free");
    assert_eq!(std::fs::read(replica.join("d/a.txt")).unwrap(), b"alpha");
}

#[test]
fn rsync_failures_exit_non_zero_with_a_message() {
    if need("rsync", "replicate-rsync failures").is_none() {
        return;
    }
    let dir = tempdir();
    let replica = dir.path().join("replica");
    marked_replica(&replica);

    let missing = run_script("replicate-rsync", [&dir.path().join("nope"), &replica]);
    missing.expect(1, "missing source");
    assert!(
        missing.err().contains("not a directory"),
        "{}",
        missing.describe()
    );

    // A directory that is not a putfs root (or an unmounted one): refused
    // before anything is copied, so --delete cannot empty the replica.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::write(replica.join("keep"), b"k").unwrap();
    let before = full_fingerprint(&replica);
    // Deleting is the default: an empty mountpoint as the source must not
    // empty the replica.
    let out = run_script("replicate-rsync", [&bare, &replica]);
    out.expect(3, "an empty source without a heartbeat");
    assert!(out.err().contains("heartbeat"), "{}", out.describe());
    let mut after = full_fingerprint(&replica);
    after.remove(".putfs/replicate.lock");
    after.remove(".putfs/rsync-tmp");
    assert_eq!(before, after, "a bare source changed the replica");
    std::fs::write(bare.join("x"), b"x").unwrap();
    let out = run_script(
        "replicate-rsync",
        [
            OsStr::new("--delete"),
            bare.as_os_str(),
            replica.as_os_str(),
        ],
    );
    out.expect(3, "source without a heartbeat");
    assert!(out.err().contains("heartbeat"), "{}", out.describe());
    assert!(replica.join("keep").exists() && !replica.join("x").exists());

    let usage = run_script("replicate-rsync", [&bare]);
    usage.expect(2, "one argument");
}

/// An unreadable part of the source: rsync fails mid-copy, the script says
/// so and exits 1, and the replica's heartbeat stays where it was. Root
/// reads everything, so the script then runs as `nobody` (setpriv).
#[test]
fn rsync_unreadable_source_fails_and_keeps_the_old_heartbeat() {
    if need("rsync", "replicate-rsync unreadable source").is_none() {
        return;
    }
    let is_root = rustix::process::geteuid().is_root();
    if is_root && need("setpriv", "replicate-rsync unreadable source").is_none() {
        return;
    }
    let dir = tempdir();
    let base = dir.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = base.join("src");
    static_primary(&src, 2);
    std::fs::create_dir_all(src.join("locked")).unwrap();
    std::fs::write(src.join("locked/secret.txt"), b"s").unwrap();
    std::fs::set_permissions(src.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let replica = base.join("replica");
    std::fs::create_dir_all(replica.join(".putfs")).unwrap();
    write_heartbeat(&replica, 1, "static");
    // The replica holds what the source cannot show (the unreadable
    // directory's object) and an object the primary really deleted: with
    // a partial read of the source, neither may go.
    std::fs::create_dir_all(replica.join("locked")).unwrap();
    std::fs::write(replica.join("locked/secret.txt"), b"s").unwrap();
    std::fs::create_dir_all(replica.join("d")).unwrap();
    std::fs::write(replica.join("d/gone.txt"), b"deleted on the primary").unwrap();
    let script_copy = base.join("replicate-rsync");
    std::fs::copy(repo().join("scripts/replicate-rsync"), &script_copy).unwrap();

    let mut cmd = if is_root {
        for rel in std::iter::once(PathBuf::new()).chain(walk(&replica)) {
            std::os::unix::fs::chown(replica.join(rel), Some(65534), Some(65534)).unwrap();
        }
        let mut c = clean_command(require_tool("setpriv"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&script_copy);
        c
    } else {
        clean_command(&script_copy)
    };
    cmd.arg(&src).arg(&replica);
    let out = run(cmd);
    std::fs::set_permissions(src.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    out.expect(1, "unreadable source directory");
    assert!(
        out.err().contains("failed (rsync exit 23"),
        "no clear message\n{}",
        out.describe()
    );
    assert_eq!(
        heartbeat_seq(&replica),
        1,
        "heartbeat advanced over a failed copy"
    );
    assert_eq!(std::fs::read(replica.join("d/a.txt")).unwrap(), b"alpha");
    assert!(
        replica.join("locked/secret.txt").exists() && replica.join("d/gone.txt").exists(),
        "deleted after a partial read of the source"
    );
}

#[test]
fn rsync_dry_run_changes_nothing() {
    if need("rsync", "replicate-rsync --dry-run").is_none() {
        return;
    }
    let dir = tempdir();
    let src = dir.path().join("src");
    let replica = dir.path().join("replica");
    std::fs::create_dir_all(&replica).unwrap();
    static_primary(&src, 1);
    let before = full_fingerprint(&replica);
    let out = run_script(
        "replicate-rsync",
        [
            OsStr::new("--dry-run"),
            OsStr::new("--init"),
            src.as_os_str(),
            replica.as_os_str(),
        ],
    );
    out.expect(0, "--dry-run --init");
    assert!(out.combined().contains("d/a.txt"), "{}", out.describe());
    assert!(out.err().contains("would mark"), "{}", out.describe());
    assert_eq!(before, full_fingerprint(&replica));
}

// ---------------------------------------------------------------------------
// scripts/replicate-rclone
// ---------------------------------------------------------------------------

#[test]
fn rclone_pulls_objects_and_heartbeat_from_a_putfs_primary_over_http() {
    if need("rclone", "replicate-rclone").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("primary");
    let replica = dir.path().join("replica");
    std::fs::create_dir_all(replica.join("kept")).unwrap();
    std::fs::write(replica.join("kept/only-here.txt"), b"replica's own").unwrap();
    let primary = primary_with_objects(&root);
    let url = format!("http://{}", primary.addr);

    let s0 = heartbeat_seq(&root);
    let out = run_script("replicate-rclone", ["--init", url.as_str(), s(&replica)]);
    out.expect(0, "replicate-rclone --init");
    let s1 = heartbeat_seq(&root);
    let got = heartbeat_seq(&replica);
    assert!(
        (s0..=s1).contains(&got),
        "heartbeat seq {got} not in {s0}..={s1}"
    );
    assert_replica_complete(&root, &replica, ".putfs/rclone-stage");

    // Nothing new: nothing downloaded.
    let again = run_script("replicate-rclone", [url.as_str(), s(&replica)]);
    again.expect(0, "second run");
    assert!(
        again.err().contains("0 object(s) new or changed"),
        "{}",
        again.describe()
    );

    // A DELETE reaches the replica in the next run by default, with the
    // directories it emptied; --no-delete keeps it, --delete is accepted.
    assert_eq!(primary.delete(&key_url("a b/c d.txt")).status, 204);
    assert_eq!(primary.delete(&key_url("deep/1/2/3/4/5/leaf")).status, 204);
    std::fs::write(replica.join("plain/.putfs-tmp.inflight.3"), b"tmp").unwrap();
    run_script(
        "replicate-rclone",
        ["--no-delete", url.as_str(), s(&replica)],
    )
    .expect(0, "--no-delete");
    assert!(replica.join("a b/c d.txt").exists());
    let seq_before = heartbeat_seq(&replica);
    let s0 = heartbeat_seq(&root);
    run_script("replicate-rclone", ["--delete", url.as_str(), s(&replica)]).expect(0, "one run");
    assert!(!replica.join("a b/c d.txt").exists());
    assert!(!replica.join("deep").exists(), "emptied directories stay");
    assert!(!replica.join("kept/only-here.txt").exists());
    assert_eq!(object_tree(&replica), object_tree(&root));
    assert!(
        replica.join("plain/.putfs-tmp.inflight.3").exists(),
        "an upload in flight was deleted"
    );
    assert!(replica.join(".putfs/replicate.lock").exists());
    let seq = heartbeat_seq(&replica);
    assert!(
        seq > seq_before && seq >= s0,
        "heartbeat {seq} not advanced past {seq_before}/{s0}"
    );

    // The same lock as rsync: a held lock skips the run.
    std::fs::write(root.join("plain/new.bin"), b"new").unwrap();
    let holder = LockHolder::hold(&replica.join(".putfs/replicate.lock"));
    let skipped = run_script("replicate-rclone", [url.as_str(), s(&replica)]);
    skipped.expect(0, "lock held");
    assert!(
        skipped.err().contains("another replication"),
        "{}",
        skipped.describe()
    );
    assert!(!replica.join("plain/new.bin").exists());
    holder.release();
}

/// More objects gone than --max-delete: nothing is deleted at all, the run
/// exits 6 with a message and the heartbeat stays; a larger limit lets the
/// deletes through.
#[test]
fn rclone_max_delete_deletes_nothing_and_keeps_the_heartbeat() {
    if need("rclone", "replicate-rclone --max-delete").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("primary");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    let primary = Server::start(&root, &["--heartbeat-interval", "100ms"]);
    for i in 0..5 {
        assert_eq!(primary.put(&format!("/m/o{i}"), "x").status, 201);
    }
    assert!(wait_until(Duration::from_secs(30), || read_heartbeat(
        &root
    )
    .is_some()));
    let url = format!("http://{}", primary.addr);
    run_script("replicate-rclone", [url.as_str(), s(&replica)]).expect(0, "first run");
    for i in 0..4 {
        assert_eq!(primary.delete(&format!("/m/o{i}")).status, 204);
    }
    let seq = heartbeat_seq(&replica);
    assert!(wait_until(Duration::from_secs(30), || heartbeat_seq(&root) > seq));

    let out = run_script(
        "replicate-rclone",
        ["--max-delete", "3", url.as_str(), s(&replica)],
    );
    out.expect(6, "more deletions than --max-delete");
    assert!(
        out.err().contains("--max-delete 3") && out.err().contains("nothing deleted"),
        "{}",
        out.describe()
    );
    assert_eq!(object_tree(&replica).len(), 5, "deleted over the limit");
    assert_eq!(
        heartbeat_seq(&replica),
        seq,
        "heartbeat advanced over skipped deletes"
    );

    run_script(
        "replicate-rclone",
        ["--max-delete=4", url.as_str(), s(&replica)],
    )
    .expect(0, "within the limit");
    assert_eq!(object_tree(&replica), object_tree(&root));
    assert!(heartbeat_seq(&replica) > seq);
}

/// A primary whose answers fail for part of the tree: a HEAD that fails
/// (rclone 1.60's HTTP listing then leaves the object out and still exits
/// 0), or a directory page that fails. Nothing the primary still has may
/// be deleted, and a failed listing fails the run without a new heartbeat.
#[test]
fn rclone_partial_listing_deletes_nothing() {
    if need("rclone", "replicate-rclone partial listing").is_none() {
        return;
    }
    for failing in [FlakyPart::Head, FlakyPart::Dir] {
        let dir = tempdir();
        let replica = dir.path().join("replica");
        marked_replica(&replica);
        write_heartbeat(&replica, 1, "flaky");
        std::fs::create_dir_all(replica.join("sub")).unwrap();
        for rel in ["a.txt", "b.txt", "sub/c.txt"] {
            std::fs::write(replica.join(rel), b"data").unwrap();
        }
        let url = FlakyPrimary::start(failing);
        let out = run_script("replicate-rclone", [url.as_str(), s(&replica)]);
        for rel in ["a.txt", "b.txt", "sub/c.txt"] {
            assert!(
                replica.join(rel).exists(),
                "{failing:?}: {rel} deleted though the primary has it\n{}",
                out.describe()
            );
        }
        if failing == FlakyPart::Dir {
            out.expect(1, "a directory page that fails");
            assert_eq!(
                heartbeat_seq(&replica),
                1,
                "heartbeat advanced over a failed listing"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FlakyPart {
    /// HEAD /b.txt answers 500.
    Head,
    /// GET /sub/ answers 500.
    Dir,
}

/// A minimal HTTP primary on 127.0.0.1: a heartbeat, `a.txt`, `b.txt`
/// and `sub/c.txt` in putfs-style HTML listings, one part failing. It
/// serves until the test process ends.
struct FlakyPrimary;

impl FlakyPrimary {
    fn start(failing: FlakyPart) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req);
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let path = parts.next().unwrap_or("").to_string();
                    let html = "text/html; charset=utf-8";
                    let (status, ctype, body): (&str, &str, &str) = match path.as_str() {
                        "/" => (
                            "200 OK",
                            html,
                            r#"<a href="a.txt">a.txt</a> <a href="b.txt">b.txt</a> <a href="sub/">sub/</a>"#,
                        ),
                        "/sub/" if failing == FlakyPart::Dir => {
                            ("500 Internal Server Error", "text/plain", "boom")
                        }
                        "/sub/" => ("200 OK", html, r#"<a href="c.txt">c.txt</a>"#),
                        "/b.txt" if failing == FlakyPart::Head && method == "HEAD" => {
                            ("500 Internal Server Error", "text/plain", "boom")
                        }
                        "/.putfs/heartbeat" => (
                            "200 OK",
                            "application/json",
                            r#"{"unix_ms":1700000000002,"seq":2,"node":"flaky"}"#,
                        ),
                        "/a.txt" | "/b.txt" | "/sub/c.txt" => {
                            ("200 OK", "application/octet-stream", "data")
                        }
                        _ => ("404 Not Found", "text/plain", "no"),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                         Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes());
                    if method != "HEAD" {
                        let _ = conn.write_all(body.as_bytes());
                    }
                });
            }
        });
        url
    }
}

#[test]
fn rclone_refuses_a_node_without_heartbeat() {
    if need("rclone", "replicate-rclone without heartbeat").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("primary");
    let replica = dir.path().join("replica");
    marked_replica(&replica);
    let server = Server::start(&root, &["--heartbeat-interval", "0s"]);
    assert_eq!(server.put("/x.txt", "x").status, 201);
    let url = format!("http://{}", server.addr);
    let out = run_script("replicate-rclone", [url.as_str(), s(&replica)]);
    out.expect(3, "no heartbeat");
    assert!(!replica.join("x.txt").exists());
    run_script(
        "replicate-rclone",
        ["--no-heartbeat", url.as_str(), s(&replica)],
    )
    .expect(0, "--no-heartbeat");
    assert_eq!(std::fs::read(replica.join("x.txt")).unwrap(), b"x");
}

// ---------------------------------------------------------------------------
// Both scripts: a destination that is not a data root
// ---------------------------------------------------------------------------

/// The bare mountpoint of a filesystem that is not mounted is a plain
/// directory without `.putfs/`. Neither script may copy into it nor mark
/// it (a replica promoted later would serve writes from the bare
/// directory); `--init` marks a new replica's root on purpose.
#[test]
fn scripts_refuse_a_bare_mountpoint_as_destination_unless_init() {
    let dir = tempdir();
    let src = dir.path().join("src");
    static_primary(&src, 1);
    let primary_root = dir.path().join("primary");
    let primary = Server::start(&primary_root, &["--heartbeat-interval", "100ms"]);
    assert_eq!(primary.put("/d/a.txt", "alpha").status, 201);
    assert!(wait_until(Duration::from_secs(30), || read_heartbeat(
        &primary_root
    )
    .is_some()));
    let url = format!("http://{}", primary.addr);

    let mut tried = 0;
    for tool in ["rsync", "rclone"] {
        if need(tool, "a bare mountpoint as destination").is_none() {
            continue;
        }
        tried += 1;
        let script_name = format!("replicate-{tool}");
        let source = if tool == "rsync" {
            s(&src)
        } else {
            url.as_str()
        };
        // An empty directory, as a mountpoint is before its filesystem mounts.
        let bare = dir.path().join(format!("mnt-{tool}"));
        std::fs::create_dir_all(&bare).unwrap();
        for extra in [
            &[][..],
            &["--delete"][..],
            &["--no-delete"][..],
            &["--dry-run"][..],
        ] {
            let mut args: Vec<&str> = extra.to_vec();
            args.extend([source, s(&bare)]);
            let out = run_script(&script_name, &args);
            out.expect(5, &format!("{script_name} {args:?} into a bare mountpoint"));
            assert!(
                out.err().contains("not a putfs data root") && out.err().contains("--init"),
                "{}",
                out.describe()
            );
            assert!(
                walk(&bare).is_empty(),
                "{script_name} {args:?} wrote into the bare mountpoint: {:?}",
                walk(&bare)
            );
        }
        let out = run_script(&script_name, ["--init", source, s(&bare)]);
        out.expect(0, &format!("{script_name} --init"));
        assert!(bare.join(".putfs").is_dir());
        assert_eq!(std::fs::read(bare.join("d/a.txt")).unwrap(), b"alpha");
        // Marked now: later runs need no --init.
        run_script(&script_name, [source, s(&bare)]).expect(0, "second run");
    }
    if tried == 0 {
        println!("SKIP: neither rsync nor rclone is installed");
    }
}

/// A destination that does not exist is a pool that was not imported or a
/// filesystem that was not mounted (or a typo): never something to create,
/// and never something to `--init` once an operator has created it. Both
/// scripts refuse it as not a data root (exit 5), say to import or mount
/// it, create nothing, with or without `--init`, and tell when `--init`
/// is right.
#[test]
fn scripts_refuse_a_missing_destination_and_never_suggest_creating_it() {
    let dir = tempdir();
    let src = dir.path().join("src");
    static_primary(&src, 1);
    let primary_root = dir.path().join("primary");
    let primary = Server::start(&primary_root, &["--heartbeat-interval", "100ms"]);
    assert!(wait_until(Duration::from_secs(30), || read_heartbeat(
        &primary_root
    )
    .is_some()));
    let url = format!("http://{}", primary.addr);

    let mut tried = 0;
    for tool in ["rsync", "rclone"] {
        if need(tool, "a missing destination").is_none() {
            continue;
        }
        tried += 1;
        let script_name = format!("replicate-{tool}");
        let source = if tool == "rsync" {
            s(&src)
        } else {
            url.as_str()
        };
        // Where the replica's pool would be mounted, had it been imported.
        let pool_mnt = dir.path().join(format!("pool-{tool}"));
        let missing = pool_mnt.join("srv/putfs");
        for extra in [&[][..], &["--init"][..], &["--dry-run"][..]] {
            let mut args: Vec<&str> = extra.to_vec();
            args.extend([source, s(&missing)]);
            let out = run_script(&script_name, &args);
            out.expect(
                5,
                &format!("{script_name} {args:?} into a missing directory"),
            );
            let err = out.err();
            assert!(
                err.contains("does not exist") && err.contains("mount") && err.contains("import"),
                "the refusal says to import or mount it\n{}",
                out.describe()
            );
            assert!(
                !err.contains("create the replica"),
                "the refusal steers towards creating the directory\n{}",
                out.describe()
            );
            assert!(
                !pool_mnt.exists(),
                "{script_name} {args:?} created {}",
                pool_mnt.display()
            );
        }
        // An existing directory without .putfs/: --init is offered, with
        // when it is right.
        std::fs::create_dir_all(&missing).unwrap();
        let out = run_script(&script_name, [source, s(&missing)]);
        out.expect(5, &format!("{script_name} into an unmarked directory"));
        assert!(
            out.err().contains("--init") && out.err().contains("empty"),
            "the message says when --init is right (a new, empty, mounted filesystem)\n{}",
            out.describe()
        );
        assert!(walk(&missing).is_empty());
    }
    if tried == 0 {
        println!("SKIP: neither rsync nor rclone is installed");
    }
}

// ---------------------------------------------------------------------------
// scripts/failover
// ---------------------------------------------------------------------------

fn failover<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = script("failover");
    cmd.arg("--putfs").arg(putfs_bin()).args(args);
    run(cmd)
}

#[test]
fn failover_recover_drives_find_gap_and_transfer_gap() {
    if need("rsync", "failover recover").is_none() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("old-primary");
    let snap = dir.path().join("snapshot");
    let new_root = dir.path().join("new-primary");
    let old = Server::start(&root, &[]);
    for key in ["before/a.txt", "before/b c.txt"] {
        assert_eq!(old.put(&key_url(key), key.as_bytes().to_vec()).status, 201);
    }
    cp_a(&root, &snap);
    cp_a(&snap, &new_root);
    let gap = ["gap/ünï.txt", "gap/100%.bin"];
    for key in gap {
        assert_eq!(old.put(&key_url(key), key.as_bytes().to_vec()).status, 201);
    }
    let new = Server::start(&new_root, &[]);
    let to = format!("http://{}", new.addr);

    // No terminal and no --yes: refused before anything runs.
    let refused = failover([
        "recover",
        "--root",
        s(&root),
        "--snapshot-dir",
        s(&snap),
        "--to",
        &to,
    ]);
    refused.expect(2, "no terminal, no --yes");
    assert!(refused.err().contains("--yes"), "{}", refused.describe());

    let dry = failover([
        "--dry-run",
        "recover",
        "--root",
        s(&root),
        "--snapshot-dir",
        s(&snap),
        "--to",
        &to,
    ]);
    dry.expect(0, "--dry-run");
    for key in gap {
        assert_eq!(new.get(&key_url(key)).status, 404, "--dry-run copied {key}");
    }

    let out = failover([
        "--yes",
        "recover",
        "--root",
        s(&root),
        "--snapshot-dir",
        s(&snap),
        "--to",
        &to,
    ]);
    out.expect(0, "failover --yes recover");
    out.expect_logged(
        &[putfs_bin(), "ops", "find-gap"],
        "find-gap printed before it ran",
    );
    out.expect_logged(
        &[putfs_bin(), "ops", "transfer-gap"],
        "transfer-gap printed",
    );
    assert_eq!(out.line_set(), gap.iter().map(|k| k.to_string()).collect());
    for key in gap {
        let r = new.get(&key_url(key));
        assert_eq!((r.status, r.body), (200, key.as_bytes().to_vec()), "{key}");
    }
    let state = dir.path().join(".old-primary.putfs-ops.json");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state file")).unwrap();
    assert!(
        state["transfers"].as_array().is_some_and(|t| !t.is_empty()),
        "no transfer recorded: {state}"
    );
    assert!(out.err().contains("no rollback"), "{}", out.describe());
}

#[test]
fn failover_promote_stops_replication_promotes_and_restarts() {
    let dir = tempdir();
    let root = dir.path().join("replica");
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    write_heartbeat(&root, 5, "old-primary");
    let stopped = dir.path().join("replication-stopped");
    let restarted = dir.path().join("restarted");
    let out = failover([
        "--yes",
        "promote",
        "--root",
        s(&root),
        "--stop-replication-cmd",
        &format!("touch '{}'", s(&stopped)),
        "--restart-cmd",
        &format!("touch {}", s(&restarted)),
    ]);
    out.expect(0, "failover --yes promote");
    out.expect_logged(&[putfs_bin(), "ops", "status"], "status printed");
    out.expect_logged(&[putfs_bin(), "ops", "promote"], "promote printed");
    assert!(stopped.exists(), "--stop-replication-cmd did not run");
    assert!(restarted.exists(), "--restart-cmd did not run");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(".replica.putfs-ops.json")).expect("state file"),
    )
    .unwrap();
    assert!(state["promotion"].is_object(), "{state}");

    let bad = failover(["--yes", "promote", "--root", s(&root), "--to", "x"]);
    bad.expect(2, "recover's option given to promote");
}

/// The replica holds exactly the primary's objects (its own
/// `kept/only-here.txt` deleted, as the primary does not have it), no temp
/// files, nothing else, and the script left nothing in its staging folder.
fn assert_replica_complete(root: &Path, replica: &Path, stage: &str) {
    let expected = object_tree(root);
    assert_eq!(object_tree(replica), expected);
    let temps = temp_files(replica);
    assert!(temps.is_empty(), "{temps:?}");
    let strays = strays(replica, &expected);
    assert!(strays.is_empty(), "{strays:?}");
    let stage = replica.join(stage);
    let left = walk(&stage);
    assert!(left.is_empty(), "left in {}: {left:?}", stage.display());
}
