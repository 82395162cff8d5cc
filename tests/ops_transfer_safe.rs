//! `putfs ops transfer-gap` never takes anything from the new primary B:
//! - over HTTP it creates keys only (`If-None-Match: *`), so a key that is
//!   mutable on B keeps B's bytes;
//! - with rsync, nothing of rsync's (temp or partial files) ever shows at a
//!   key's path on B, and a key B holds is never replaced;
//! - the deletes the old primary A acknowledged after the snapshot are
//!   listed with the command that applies them, and applied only where B
//!   still holds the snapshot's bytes (over HTTP with `If-Match`; at a
//!   directory only while no writable putfs serves it), idempotently.
//!
//! Plain directories: A's snapshot is a `cp -a` copy, B a `cp -a` copy of
//! the snapshot (what B held at the failover), served by its own putfs.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use ops::*;

/// B's mutable keys: where a gap key could be replaced.
const B_MUTABLE: &str = "m/**,gone/changed.bin";

struct Lab {
    dir: tempfile::TempDir,
    root: PathBuf,
    snap: PathBuf,
    server: Server,
    /// Objects written on A after the snapshot: key → bytes.
    gap: BTreeMap<String, Vec<u8>>,
}

/// Deleted on A after the snapshot (acknowledged): B still holds the
/// snapshot's bytes of these...
const GONE_SAME: [&str; 2] = ["gone/same.bin", "gone/deep/same2.bin"];
/// ...B replaced this one after the failover...
const GONE_CHANGED: &str = "gone/changed.bin";
/// ...and B deleted this one itself.
const GONE_ALREADY: &str = "gone/already.bin";

impl Lab {
    fn new() -> Lab {
        require_tool("rsync");
        let dir = tempdir();
        let root = dir.path().join("a");
        let snap = dir.path().join("snapshot");
        let server = Server::start(&root, &[]);
        let mut rng = Rng::from_time();
        let put = |key: &str, body: &[u8]| {
            let r = server.put(&key_url(key), body.to_vec());
            assert_eq!(r.status, 201, "PUT {key} on A: {}", r.text());
        };
        for i in 0..3 {
            put(&format!("keep/k{i}.bin"), &rng.bytes(3000));
        }
        for key in GONE_SAME.iter().chain([&GONE_CHANGED, &GONE_ALREADY]) {
            put(key, &rng.bytes(1000));
        }
        cp_a(&root, &snap);
        let mut gap = BTreeMap::new();
        for (key, body) in [
            ("new/a.bin", rng.bytes(70_000)),
            ("new/deep/b b.bin", rng.bytes(10)),
            ("m/new.txt", b"A's version".to_vec()),
            ("m/same.txt", b"the same on both".to_vec()),
            ("keep/late.bin", rng.bytes(500)),
        ] {
            put(key, &body);
            gap.insert(key.to_string(), body);
        }
        for key in GONE_SAME.iter().chain([&GONE_CHANGED, &GONE_ALREADY]) {
            assert_eq!(
                server.delete(&key_url(key)).status,
                204,
                "DELETE {key} on A"
            );
        }
        Lab {
            dir,
            root,
            snap,
            server,
            gap,
        }
    }

    /// B's data root as it was at the failover: a copy of the snapshot.
    fn replica(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        cp_a(&self.snap, &dest);
        dest
    }

    fn args<'a>(&'a self, to: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "transfer-gap",
            "--snapshot-dir",
            self.snap.to_str().unwrap(),
            "--root",
            self.root.to_str().unwrap(),
            "--to",
            to,
        ];
        v.extend_from_slice(extra);
        v
    }

    fn transfer(&self, to: &str, extra: &[&str]) -> Output {
        putfs_ops(self.args(to, extra))
    }

    fn state(&self) -> serde_json::Value {
        let path = self.dir.path().join(".a.putfs-ops.json");
        serde_json::from_slice(&std::fs::read(&path).expect("state file")).expect("state JSON")
    }
}

/// B's own write over HTTP.
#[track_caller]
fn put_on(b: &Server, key: &str, body: &[u8], want: u16) {
    let r = b.put(&key_url(key), body.to_vec());
    assert_eq!(r.status, want, "PUT {key} on B: {}", r.text());
}

// ---------------------------------------------------------------------------
// Additive on every key
// ---------------------------------------------------------------------------

#[test]
fn http_transfer_never_replaces_a_key_mutable_on_the_target() {
    let lab = Lab::new();
    let dest = lab.replica("b");
    let b = Server::start(&dest, &["--mutable", B_MUTABLE]);
    // After the failover, B's clients wrote m/new.txt (other bytes) and
    // m/same.txt (A's bytes exactly).
    put_on(&b, "m/new.txt", b"B's version, newer", 201);
    put_on(&b, "m/same.txt", b"the same on both", 201);
    let url = format!("http://{}", b.addr);

    let out = lab.transfer(&url, &[]);
    out.expect(4, "a key B holds with other bytes is a conflict");
    assert!(
        out.combined().contains("m/new.txt"),
        "the conflict is named\n{}",
        out.describe()
    );
    assert!(
        !out.combined().contains("CONFLICT: m/same.txt"),
        "identical bytes are no conflict\n{}",
        out.describe()
    );
    assert_eq!(
        b.get("/m/new.txt").body,
        b"B's version, newer",
        "transfer-gap replaced B's mutable key\n{}",
        out.describe()
    );
    for (key, body) in &lab.gap {
        if key != "m/new.txt" {
            let r = b.get(&key_url(key));
            assert_eq!((r.status, &r.body), (200, body), "{key} on B");
        }
    }
    // Accepting the conflict records the transfer, still without replacing.
    lab.transfer(&url, &["--ignore-conflicts"])
        .expect(0, "--ignore-conflicts");
    assert_eq!(b.get("/m/new.txt").body, b"B's version, newer");
}

#[test]
fn rsync_transfer_never_replaces_a_key_on_the_target() {
    let lab = Lab::new();
    let dest = lab.replica("b");
    let b = Server::start(&dest, &["--mutable", B_MUTABLE]);
    put_on(&b, "m/new.txt", b"B's version, newer", 201);
    put_on(&b, "m/same.txt", b"the same on both", 201);

    let out = lab.transfer(dest.to_str().unwrap(), &[]);
    out.expect(4, "a key B holds with other bytes is a conflict");
    assert!(out.combined().contains("m/new.txt"), "{}", out.describe());
    assert_eq!(b.get("/m/new.txt").body, b"B's version, newer");
    for (key, body) in &lab.gap {
        if key != "m/new.txt" {
            let r = b.get(&key_url(key));
            assert_eq!((r.status, &r.body), (200, body), "{key} on B");
        }
    }
    let left: Vec<PathBuf> = walk(&dest.join(".putfs"))
        .into_iter()
        .filter(|p| p.starts_with("transfer-stage"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

/// A slow rsync (a wrapper adds --bwlimit) copies a large object while a
/// reader lists B's tree as fast as it can: no name other than the
/// snapshot's and the gap's keys may ever appear outside `.putfs/`, and a
/// gap key must appear whole.
#[test]
fn rsync_temp_files_never_appear_at_a_key_path() {
    let lab = Lab::new();
    let big = Rng::from_time().bytes(12 << 20);
    assert_eq!(
        lab.server.put("/big/blob.bin", big.clone()).status,
        201,
        "PUT the large gap object on A"
    );
    let dest = lab.replica("b");
    let wrappers = lab.dir.path().join("slow-bin");
    std::fs::create_dir(&wrappers).unwrap();
    let real = require_tool("rsync");
    let wrapper = wrappers.join("rsync");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' --bwlimit=4000 \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let mut sizes: BTreeMap<String, u64> = lab
        .gap
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    sizes.insert("big/blob.bin".into(), big.len() as u64);
    for (key, _) in object_tree(&dest) {
        let len = std::fs::metadata(dest.join(&key)).unwrap().len();
        sizes.insert(key, len);
    }
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dest, done, sizes) = (dest.clone(), done.clone(), sizes.clone());
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut scans = 0u64;
            while !done.load(Ordering::SeqCst) {
                scans += 1;
                for rel in user_entries(&dest) {
                    let path = dest.join(&rel);
                    let Ok(md) = std::fs::symlink_metadata(&path) else {
                        continue;
                    };
                    if md.is_dir() {
                        continue;
                    }
                    let key = rel.to_string_lossy().into_owned();
                    match sizes.get(&key) {
                        None => {
                            seen.insert(format!("{key}: not a key of the snapshot or the gap"));
                        }
                        Some(&want) if md.len() != want => {
                            seen.insert(format!("{key}: {} of {want} bytes", md.len()));
                        }
                        Some(_) => {}
                    }
                }
            }
            (seen, scans)
        })
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_putfs"));
    cmd.arg("ops").args(lab.args(dest.to_str().unwrap(), &[]));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PUTFS_") {
            cmd.env_remove(key);
        }
    }
    let mut path = std::ffi::OsString::from(&wrappers);
    path.push(":");
    path.push(tool_path_env());
    cmd.env("PATH", path);
    let started = std::time::Instant::now();
    let out = run_cmd(cmd, None, CMD_TIMEOUT);
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (seen, scans) = watcher.join().unwrap();
    out.expect(0, "slow transfer-gap");
    assert!(
        took > std::time::Duration::from_secs(2),
        "the transfer was not slow ({took:?}): did the wrapper run?\n{}",
        out.describe()
    );
    assert!(scans > 20, "the reader listed B only {scans} times");
    assert!(
        seen.is_empty(),
        "readers of B saw rsync's files at key paths: {seen:#?}\n{}",
        out.describe()
    );
    assert_eq!(file_sha(&dest.join("big/blob.bin")), Some(sha_hex(&big)));
}

// ---------------------------------------------------------------------------
// Deletes acknowledged on A after the snapshot
// ---------------------------------------------------------------------------

/// The line of `out` that is the command to apply the deletes, as argv.
#[track_caller]
fn printed_apply_command(out: &Output) -> Vec<String> {
    let line = out
        .err()
        .lines()
        .map(str::trim)
        .find(|l| {
            l.contains("transfer-gap") && l.contains("--apply-deletes") && !l.starts_with('+')
        })
        .unwrap_or_else(|| {
            panic!(
                "no command to apply the deletes printed\n{}",
                out.describe()
            )
        })
        .to_string();
    shell_split(&line).unwrap_or_else(|| panic!("not a shell command: {line}"))
}

fn run_printed(argv: &[String], extra: &[&str]) -> Output {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).args(extra);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PUTFS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", tool_path_env());
    run_cmd(cmd, None, CMD_TIMEOUT)
}

/// B after the failover: it replaced one of the deleted keys and deleted
/// another itself.
fn b_changes(b: &Server) {
    put_on(b, GONE_CHANGED, b"rewritten on B after the failover", 201);
    assert_eq!(b.delete(&key_url(GONE_ALREADY)).status, 204);
}

#[track_caller]
fn assert_deletes_untouched(b: &Server) {
    for key in GONE_SAME {
        assert_eq!(b.get(&key_url(key)).status, 200, "{key} deleted on B");
    }
    assert_eq!(
        b.get(&key_url(GONE_CHANGED)).body,
        b"rewritten on B after the failover"
    );
}

/// The `deletes` records of the state file, newest last.
fn delete_records(state: &serde_json::Value) -> Vec<serde_json::Value> {
    state["deletes"].as_array().cloned().unwrap_or_default()
}

fn keys_of(record: &serde_json::Value, field: &str) -> BTreeSet<String> {
    record[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {record}"))
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v["key"].as_str().map(str::to_string))
                .unwrap_or_else(|| panic!("odd entry {v}"))
        })
        .collect()
}

#[test]
fn deletes_over_http_only_byte_identical_and_idempotent() {
    let lab = Lab::new();
    let dest = lab.replica("b");
    let b = Server::start(&dest, &["--mutable", B_MUTABLE]);
    b_changes(&b);
    let url = format!("http://{}", b.addr);

    // By default nothing is deleted, but every delete is shown, with the
    // command that applies them.
    let out = lab.transfer(&url, &[]);
    out.expect(0, "transfer-gap");
    assert_deletes_untouched(&b);
    for key in GONE_SAME.iter().chain([&GONE_CHANGED, &GONE_ALREADY]) {
        assert!(
            out.err().contains(key),
            "the delete of {key} is not shown\n{}",
            out.describe()
        );
    }
    let apply = printed_apply_command(&out);

    // The printed command asks before deleting: without a terminal it
    // needs --yes, and changes nothing.
    let refused = run_printed(&apply, &[]);
    refused.expect(3, "deletes without --yes and without a terminal");
    assert!(refused.err().contains("--yes"), "{}", refused.describe());
    assert_deletes_untouched(&b);

    let dry = run_printed(&apply, &["--dry-run"]);
    dry.expect(0, "--apply-deletes --dry-run");
    assert_deletes_untouched(&b);
    for key in GONE_SAME.iter().chain([&GONE_CHANGED]) {
        assert!(
            dry.err().contains(key),
            "{key} not in the plan\n{}",
            dry.describe()
        );
    }

    let applied = run_printed(&apply, &["--yes"]);
    applied.expect(0, "--apply-deletes --yes");
    for key in GONE_SAME {
        assert_eq!(b.get(&key_url(key)).status, 404, "{key} still on B");
    }
    assert_eq!(
        b.get(&key_url(GONE_CHANGED)).body,
        b"rewritten on B after the failover",
        "B's newer version was deleted\n{}",
        applied.describe()
    );
    assert!(
        applied.err().contains(GONE_CHANGED),
        "the kept key is reported\n{}",
        applied.describe()
    );
    for (key, body) in &lab.gap {
        assert_eq!(&b.get(&key_url(key)).body, body, "{key} on B");
    }
    let records = delete_records(&lab.state());
    let last = records.last().expect("deletes recorded in the state file");
    assert_eq!(
        keys_of(last, "deleted"),
        GONE_SAME.iter().map(|k| k.to_string()).collect()
    );
    assert_eq!(
        keys_of(last, "kept"),
        BTreeSet::from([GONE_CHANGED.to_string()])
    );
    assert_eq!(
        keys_of(last, "absent"),
        BTreeSet::from([GONE_ALREADY.to_string()])
    );

    // A rerun changes nothing and says so.
    let tree = object_tree(&dest);
    let again = run_printed(&apply, &["--yes"]);
    again.expect(0, "rerun of --apply-deletes");
    assert_eq!(object_tree(&dest), tree, "the rerun changed B");
    let records = delete_records(&lab.state());
    let last = records.last().unwrap();
    assert!(keys_of(last, "deleted").is_empty(), "{last}");
    assert_eq!(
        keys_of(last, "kept"),
        BTreeSet::from([GONE_CHANGED.to_string()])
    );
    let mut absent: BTreeSet<String> = GONE_SAME.iter().map(|k| k.to_string()).collect();
    absent.insert(GONE_ALREADY.to_string());
    assert_eq!(keys_of(last, "absent"), absent);
}

#[test]
fn deletes_at_a_directory_only_while_no_server_writes_it() {
    let lab = Lab::new();
    let dest = lab.replica("b");
    let b = Server::start(
        &dest,
        &["--mutable", B_MUTABLE, "--heartbeat-interval", "0s"],
    );
    b_changes(&b);
    let to = dest.to_str().unwrap();

    // B's putfs holds the writer lock: a check-then-unlink beside it could
    // delete what it writes meanwhile, so the deletes are refused, before
    // anything is changed.
    let before = full_fingerprint(&dest);
    let out = lab.transfer(to, &["--apply-deletes", "--yes"]);
    out.expect(3, "deletes at a directory a writable putfs serves");
    assert!(
        out.err().contains("http://"),
        "the refusal names the way through B's server\n{}",
        out.describe()
    );
    assert_deletes_untouched(&b);
    assert_eq!(full_fingerprint(&dest), before, "a refused run changed B");
    drop(b);

    let out = lab.transfer(to, &["--apply-deletes", "--yes"]);
    out.expect(0, "deletes at a directory no server writes");
    for key in GONE_SAME {
        assert!(
            !dest.join(key).exists(),
            "{key} still at B\n{}",
            out.describe()
        );
    }
    assert!(
        !dest.join("gone/deep").exists(),
        "emptied directory left behind"
    );
    assert_eq!(
        std::fs::read(dest.join(GONE_CHANGED)).unwrap(),
        b"rewritten on B after the failover"
    );
    let tree = object_tree(&dest);
    lab.transfer(to, &["--apply-deletes", "--yes"])
        .expect(0, "rerun");
    assert_eq!(object_tree(&dest), tree, "the rerun changed B");
    let records = delete_records(&lab.state());
    assert!(keys_of(records.last().unwrap(), "deleted").is_empty());
    // B starts again on what the deletes left.
    let b = Server::start(&dest, &[]);
    assert_eq!(b.get(&key_url(GONE_SAME[0])).status, 404);
}

// ---------------------------------------------------------------------------
// A wrong destination is never a verified transfer
// ---------------------------------------------------------------------------

/// The transfer recorded for `--to`, if any.
fn transfers(state: Option<serde_json::Value>) -> Vec<serde_json::Value> {
    state
        .and_then(|s| s["transfers"].as_array().cloned())
        .unwrap_or_default()
}

impl Lab {
    fn state_if_any(&self) -> Option<serde_json::Value> {
        let path = self.dir.path().join(".a.putfs-ops.json");
        std::fs::read(&path)
            .ok()
            .map(|b| serde_json::from_slice(&b).expect("state JSON"))
    }
}

/// `--to` a directory that does not exist (the NFS mount of B's root is
/// missing, or a typo): nothing may be created there, on A's own disk, and
/// nothing recorded; with `--apply-deletes` too.
#[test]
fn a_destination_directory_that_does_not_exist_is_refused() {
    let lab = Lab::new();
    let mnt = lab.dir.path().join("mnt");
    let missing = mnt.join("b-root");
    for extra in [&["--apply-deletes", "--yes"][..], &[][..]] {
        let out = lab.transfer(missing.to_str().unwrap(), extra);
        out.expect(3, "transfer-gap to a directory that does not exist");
        assert!(
            out.err().contains("does not exist") && out.err().contains("mount"),
            "the refusal says what is wrong and what to check\n{}",
            out.describe()
        );
        assert!(
            !mnt.exists(),
            "transfer-gap created {} ({extra:?})\n{}",
            mnt.display(),
            out.describe()
        );
        assert!(
            transfers(lab.state_if_any()).is_empty(),
            "a transfer was recorded"
        );
    }
}

/// A's own data root (by its path or another path to it) or A's own
/// address as `--to`: every gap object is "already there", and a rollback
/// trusting the record would destroy the gap. Refused, nothing recorded.
#[test]
fn the_old_primary_itself_is_refused_as_destination() {
    let lab = Lab::new();
    let alias = lab.dir.path().join("alias-of-a");
    std::os::unix::fs::symlink(&lab.root, &alias).unwrap();
    let own_addr = format!("http://{}", lab.server.addr);
    let tos = [
        lab.root.to_str().unwrap(),
        alias.to_str().unwrap(),
        own_addr.as_str(),
    ];
    for (to, extra) in tos
        .into_iter()
        .flat_map(|to| [(to, &[][..]), (to, &["--apply-deletes", "--yes"][..])])
    {
        let out = lab.transfer(to, extra);
        out.expect(
            3,
            &format!("transfer-gap --to {to} {extra:?} (this node itself)"),
        );
        assert!(
            out.err().contains("this node"),
            "the refusal says the destination is this node\n{}",
            out.describe()
        );
        assert!(
            transfers(lab.state_if_any()).is_empty(),
            "a transfer to {to} was recorded\n{}",
            out.describe()
        );
    }
    for key in GONE_SAME {
        assert!(lab.snap.join(key).exists());
        assert!(!lab.root.join(key).exists());
    }
}

// ---------------------------------------------------------------------------
// A delete never takes what B's clients wrote since
// ---------------------------------------------------------------------------

/// After the failover a client deleted a key on B and PUT the very same
/// bytes again (or replaced a mutable key with the same bytes): B holds the
/// snapshot's bytes, but as a new object that B acknowledged. A's older
/// delete must not take it, over HTTP or at a directory.
#[test]
fn a_delete_recreated_on_b_with_the_same_bytes_is_kept() {
    let lab = Lab::new();
    let key = GONE_SAME[0];
    let same = std::fs::read(lab.snap.join(key)).unwrap();
    for how in ["http", "dir"] {
        let dest = lab.replica(&format!("b-{how}"));
        let b = Server::start(&dest, &["--heartbeat-interval", "0s"]);
        // Past the second of the snapshot's copy, so the new object's
        // mtime cannot share it.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(b.delete(&key_url(key)).status, 204);
        put_on(&b, key, &same, 201);
        let out = if how == "http" {
            lab.transfer(&format!("http://{}", b.addr), &["--apply-deletes", "--yes"])
        } else {
            drop(b);
            lab.transfer(dest.to_str().unwrap(), &["--apply-deletes", "--yes"])
        };
        out.expect(0, &format!("transfer-gap --apply-deletes ({how})"));
        assert_eq!(
            std::fs::read(dest.join(key)).ok().as_deref(),
            Some(&same[..]),
            "{how}: the object B's client wrote again was deleted\n{}",
            out.describe()
        );
        assert!(
            out.err().contains(key),
            "the kept key is reported\n{}",
            out.describe()
        );
        // The other deletes still apply.
        assert!(!dest.join(GONE_SAME[1]).exists(), "{}", out.describe());
    }
}

// ---------------------------------------------------------------------------
// The rsync deployment's failover: no snapshot at all
// ---------------------------------------------------------------------------

/// ops/RUNBOOK.md, rsync and rclone deployments, "Primary lost" step 2:
/// without a snapshot of A, an empty directory stands for one and every
/// object of A is offered to B through B's putfs. B gains what it lacks,
/// keeps what its clients wrote since (a key written on both is a
/// conflict, and B's version stays), and the transfer is recorded.
#[test]
fn without_a_snapshot_an_empty_directory_offers_b_every_object() {
    let lab = Lab::new();
    let dest = lab.replica("b");
    let b = Server::start(&dest, &["--mutable", B_MUTABLE]);
    put_on(&b, "b-only/new.bin", b"B's own", 201);
    put_on(&b, "m/new.txt", b"B's version, newer", 201);
    let b_before = object_tree(&dest);
    let empty = lab.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let url = format!("http://{}", b.addr);
    let transfer = |extra: &[&str]| {
        let mut args = vec![
            "transfer-gap",
            "--snapshot-dir",
            empty.to_str().unwrap(),
            "--root",
            lab.root.to_str().unwrap(),
            "--to",
            url.as_str(),
        ];
        args.extend_from_slice(extra);
        putfs_ops(args)
    };
    let out = transfer(&[]);
    out.expect(4, "the key written on both nodes is a conflict");
    assert!(out.err().contains("m/new.txt"), "{}", out.describe());
    transfer(&["--ignore-conflicts"]).expect(0, "transfer-gap --ignore-conflicts");
    let a = object_tree(&lab.root);
    let b_after = object_tree(&dest);
    for (key, sha) in &a {
        let want = if key == "m/new.txt" {
            &b_before[key]
        } else {
            sha
        };
        assert_eq!(b_after.get(key), Some(want), "{key} on B");
    }
    for (key, sha) in &b_before {
        assert_eq!(b_after.get(key), Some(sha), "B's {key} was changed");
    }
    let recorded = transfers(lab.state_if_any());
    assert_eq!(recorded.last().unwrap()["verified"], true);
}
