//! `putfs ops find-gap` / `transfer-gap` with `--snapshot-dir` (a snapshot
//! made by copying, no ZFS), and `putfs ops zrepl-check` on broken configs.
//!
//! Each test builds its own primary: a served root, a `cp -a` snapshot of
//! it, then gap writes (one with its mtime moved into the past) and one
//! delete. Destinations are `cp -a` copies of the snapshot (what a replica
//! holds), written by rsync or served by a second putfs.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use ops::*;

struct Primary {
    dir: tempfile::TempDir,
    root: PathBuf,
    snap: PathBuf,
    /// Serves the primary root while the ops commands run, as in production.
    _server: Server,
    /// Every object at snapshot time.
    at_snapshot: BTreeMap<String, String>,
    /// Objects written after the snapshot: key → sha256.
    gap: BTreeMap<String, String>,
    /// Deleted (over HTTP) after the snapshot.
    deleted: String,
}

impl Primary {
    fn new() -> Primary {
        require_tool("rsync");
        let dir = tempdir();
        let root = dir.path().join("primary");
        let snap = dir.path().join("snapshot");
        let server = Server::start(&root, &[]);
        let mut rng = Rng::from_time();
        let put = |key: &str, body: Vec<u8>| {
            let r = server.put(&key_url(key), body.clone());
            assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
            (key.to_string(), sha_hex(&body))
        };
        for i in 0..12 {
            let len = rng.range(1, 20_000) as usize;
            put(&format!("old/d{}/o{i}.bin", i % 3), rng.bytes(len));
        }
        put("old/same-size.txt", b"0123456789".to_vec());
        put("old/sneaky.txt", b"abcdefghij".to_vec());
        put("old/a b.txt", b"spaced".to_vec());
        let at_snapshot = object_tree(&root);
        cp_a(&root, &snap);

        let mut gap = BTreeMap::new();
        let gap_objects: Vec<(&str, Vec<u8>)> = vec![
            ("new/a b.txt", b"space in the name".to_vec()),
            ("new/ünï.bin", rng.bytes(4096)),
            ("new/100%.txt", b"percent".to_vec()),
            ("new/-dash", rng.bytes(5)),
            ("new/br[a]ck*.bin", rng.bytes(300)),
            ("old/d1/late.bin", rng.bytes(50_000)),
            ("new/old-mtime.bin", rng.bytes(2222)),
            ("new/empty", Vec::new()),
        ];
        for (key, body) in gap_objects {
            let (k, v) = put(key, body);
            gap.insert(k, v);
        }
        touch_date(&root.join("new/old-mtime.bin"), "2001-01-01");
        let deleted = "old/d0/o3.bin".to_string();
        assert!(at_snapshot.contains_key(&deleted));
        assert_eq!(server.delete(&key_url(&deleted)).status, 204);
        // A crash leftover: never part of a gap.
        std::fs::write(root.join("new/.putfs-tmp.crashed.9"), b"partial").unwrap();
        Primary {
            dir,
            root,
            snap,
            _server: server,
            at_snapshot,
            gap,
            deleted,
        }
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    /// `putfs ops CMD --snapshot-dir SNAP --root ROOT EXTRA…`
    fn ops(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            cmd,
            "--snapshot-dir",
            Self::s(&self.snap),
            "--root",
            Self::s(&self.root),
        ];
        args.extend_from_slice(extra);
        putfs_ops(args)
    }

    /// A replica: a copy of the snapshot at `name` under the temp dir.
    fn replica(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        cp_a(&self.snap, &dest);
        dest
    }

    fn gap_keys(&self) -> BTreeSet<String> {
        keys(&self.gap)
    }
}

#[test]
fn find_gap_lists_exactly_the_gap_and_the_deletion() {
    let p = Primary::new();
    let snap_before = full_fingerprint(&p.snap);
    let root_before = full_fingerprint(&p.root);
    let out = p.ops("find-gap", &[]);
    out.expect(0, "find-gap");
    assert_eq!(out.line_set(), p.gap_keys(), "gap keys\n{}", out.describe());
    assert!(
        out.line_set().iter().all(|k| !is_internal(Path::new(k))),
        "putfs's own files listed\n{}",
        out.describe()
    );

    let nul = p.ops("find-gap", &["-0"]);
    nul.expect(0, "find-gap -0");
    assert_eq!(nul.nul_set(), p.gap_keys(), "{}", nul.describe());

    let del = p.ops("find-gap", &["--list", "deleted"]);
    del.expect(0, "find-gap --list deleted");
    assert_eq!(
        del.line_set(),
        BTreeSet::from([p.deleted.clone()]),
        "{}",
        del.describe()
    );
    let conflicts = p.ops("find-gap", &["--list", "conflicts"]);
    conflicts.expect(0, "find-gap --list conflicts");
    assert!(conflicts.line_set().is_empty(), "{}", conflicts.describe());

    let json = p.ops("find-gap", &["--json"]);
    json.expect(0, "find-gap --json");
    let report = parse_gap_json(&json);
    let gap = report.of("gap");
    assert_eq!(keys(&gap), p.gap_keys(), "{}", json.describe());
    let mut bytes = 0;
    for (key, e) in &gap {
        let path = p.root.join(key);
        let len = std::fs::metadata(&path).unwrap().len();
        bytes += len;
        assert_eq!(e.sha256.as_ref(), Some(&p.gap[key]), "sha256 of {key}");
        assert_eq!(e.size, Some(len), "size of {key}");
        assert_eq!(
            e.mtime_ns,
            Some(mtime_ns(&path) as i64),
            "mtime_ns of {key}"
        );
    }
    let deleted = report.of("deleted");
    assert_eq!(keys(&deleted), BTreeSet::from([p.deleted.clone()]));
    assert_eq!(
        deleted[&p.deleted].sha256.as_ref(),
        Some(&p.at_snapshot[&p.deleted]),
        "a deleted entry carries the snapshot's sha256"
    );
    assert!(report.of("conflict").is_empty());
    assert_eq!(report.summary_u64("gap"), p.gap.len() as u64);
    assert_eq!(report.summary_u64("gap_bytes"), bytes);
    assert_eq!(report.summary_u64("deleted"), 1);
    assert_eq!(report.summary_u64("conflicts"), 0);
    assert_eq!(report.summary_str("method"), "walk");
    assert_eq!(
        full_fingerprint(&p.snap),
        snap_before,
        "find-gap changed the snapshot"
    );
    assert_eq!(
        full_fingerprint(&p.root),
        root_before,
        "find-gap changed the root"
    );
}

#[test]
fn find_gap_usage_and_missing_snapshot_dir() {
    let p = Primary::new();
    // Neither --snapshot nor --snapshot-dir: a usage error.
    let none = putfs_ops(["find-gap", "--root", Primary::s(&p.root)]);
    none.expect(2, "find-gap without a snapshot");
    let missing = p.dir.path().join("no-such-snapshot");
    let out = putfs_ops([
        "find-gap",
        "--snapshot-dir",
        Primary::s(&missing),
        "--root",
        Primary::s(&p.root),
    ]);
    out.expect(1, "find-gap with a missing snapshot dir");
    assert!(
        out.err().contains("no-such-snapshot"),
        "the error names the snapshot dir\n{}",
        out.describe()
    );
}

#[test]
fn transfer_gap_to_an_rsync_destination_then_rerun() {
    let p = Primary::new();
    let dest = p.replica("replica");
    let before: BTreeMap<String, String> = object_tree(&dest);
    let out = p.ops("transfer-gap", &["--to", Primary::s(&dest)]);
    out.expect(0, "transfer-gap to a local rsync destination")
        .expect_logged(&["rsync"], "transfer-gap");
    let after = object_tree(&dest);
    for (key, sha) in &p.gap {
        assert_eq!(
            after.get(key),
            Some(sha),
            "gap object {key} at the destination"
        );
    }
    for (key, sha) in &before {
        assert_eq!(
            after.get(key),
            Some(sha),
            "{key} changed at the destination"
        );
    }
    assert_eq!(
        keys(&after),
        &keys(&before) | &p.gap_keys(),
        "the destination holds the snapshot plus the gap, nothing else"
    );
    assert!(temp_files(&dest).is_empty(), "temp files copied");

    let fp = full_fingerprint(&dest);
    let again = p.ops("transfer-gap", &["--to", Primary::s(&dest)]);
    again.expect(0, "rerun after success");
    assert_eq!(
        full_fingerprint(&dest),
        fp,
        "the rerun changed the destination"
    );
}

#[test]
fn transfer_gap_to_a_putfs_node_then_rerun() {
    let p = Primary::new();
    let dest = p.replica("replica");
    let before = object_tree(&dest);
    let node = Server::start(&dest, &[]);
    let url = format!("http://{}", node.addr);
    let out = p.ops("transfer-gap", &["--to", &url]);
    out.expect(0, "transfer-gap to a putfs node");
    for (key, sha) in &p.gap {
        let r = node.get(&key_url(key));
        assert_eq!(r.status, 200, "GET {key} on the destination node");
        assert_eq!(&sha_hex(&r.body), sha, "bytes of {key}");
    }
    let r = node.get(&key_url(&p.deleted));
    assert_eq!(r.status, 200, "the destination keeps the deleted object");

    let objects = object_tree(&dest);
    assert_eq!(
        keys(&objects),
        &keys(&before) | &p.gap_keys(),
        "the destination holds the snapshot plus the gap, nothing else"
    );
    let again = p.ops("transfer-gap", &["--to", &url]);
    again.expect(0, "rerun after success");
    assert_eq!(
        object_tree(&dest),
        objects,
        "the rerun changed the destination"
    );
}

/// Bytes of the same size as `original`, but different.
fn same_size_other_bytes(original: &[u8]) -> Vec<u8> {
    let mut v = original.to_vec();
    if v.is_empty() {
        return b"x".to_vec();
    }
    v[0] ^= 0xff;
    v
}

#[test]
fn transfer_gap_refuses_a_conflict_at_an_rsync_destination() {
    let p = Primary::new();
    let dest = p.replica("replica");
    let key = "old/d1/late.bin";
    let theirs = same_size_other_bytes(&std::fs::read(p.root.join(key)).unwrap());
    std::fs::write(dest.join(key), &theirs).unwrap();
    // Same size and mtime: only the bytes tell them apart.
    touch_like(&dest.join(key), &p.root.join(key));

    let out = p.ops("transfer-gap", &["--to", Primary::s(&dest)]);
    out.expect(4, "transfer-gap onto a different object");
    assert!(
        out.combined().contains(key),
        "names the key\n{}",
        out.describe()
    );
    assert_eq!(
        std::fs::read(dest.join(key)).unwrap(),
        theirs,
        "the destination's object was overwritten"
    );

    let ignore = p.ops(
        "transfer-gap",
        &["--to", Primary::s(&dest), "--ignore-conflicts"],
    );
    ignore.expect(0, "transfer-gap --ignore-conflicts");
    assert_eq!(
        std::fs::read(dest.join(key)).unwrap(),
        theirs,
        "overwritten"
    );
    for (k, sha) in &p.gap {
        if k != key {
            assert_eq!(
                file_sha(&dest.join(k)).as_ref(),
                Some(sha),
                "{k} transferred"
            );
        }
    }
}

#[test]
fn transfer_gap_refuses_a_conflict_at_a_putfs_node() {
    let p = Primary::new();
    let dest = p.replica("replica");
    let node = Server::start(&dest, &[]);
    let url = format!("http://{}", node.addr);
    let key = "new/a b.txt";
    let theirs = same_size_other_bytes(&std::fs::read(p.root.join(key)).unwrap());
    assert_eq!(node.put(&key_url(key), theirs.clone()).status, 201);

    let out = p.ops("transfer-gap", &["--to", &url]);
    out.expect(4, "transfer-gap onto a different object");
    assert!(
        out.combined().contains(key),
        "names the key\n{}",
        out.describe()
    );
    assert_eq!(node.get(&key_url(key)).body, theirs, "overwritten");

    let ignore = p.ops("transfer-gap", &["--to", &url, "--ignore-conflicts"]);
    ignore.expect(0, "transfer-gap --ignore-conflicts");
    assert_eq!(node.get(&key_url(key)).body, theirs, "overwritten");
    for (k, sha) in &p.gap {
        if k != key {
            let r = node.get(&key_url(k));
            assert_eq!((r.status, sha_hex(&r.body)), (200, sha.clone()), "{k}");
        }
    }
}

#[test]
fn a_key_changed_since_the_snapshot_is_a_conflict() {
    let p = Primary::new();
    let key = "old/same-size.txt";
    std::fs::write(p.root.join(key), b"9876543210").unwrap();

    let out = p.ops("find-gap", &["--list", "conflicts"]);
    out.expect(0, "find-gap --list conflicts");
    assert_eq!(
        out.line_set(),
        BTreeSet::from([key.to_string()]),
        "{}",
        out.describe()
    );
    let gap = p.ops("find-gap", &[]);
    gap.expect(0, "find-gap");
    assert_eq!(gap.line_set(), p.gap_keys(), "a changed key is not gap");

    let dest = p.replica("replica");
    let t = p.ops("transfer-gap", &["--to", Primary::s(&dest)]);
    t.expect(4, "transfer-gap with a key changed since the snapshot");
    assert!(
        t.combined().contains(key),
        "names the key\n{}",
        t.describe()
    );
    assert_eq!(
        file_sha(&dest.join(key)),
        Some(p.at_snapshot[key].clone()),
        "the destination's copy was overwritten"
    );
}

#[test]
fn a_change_with_the_same_size_and_mtime_is_still_a_conflict() {
    let p = Primary::new();
    let key = "old/sneaky.txt";
    std::fs::write(p.root.join(key), b"jihgfedcba").unwrap();
    touch_like(&p.root.join(key), &p.snap.join(key));

    let out = p.ops("find-gap", &["--list", "conflicts"]);
    out.expect(0, "find-gap --list conflicts");
    assert_eq!(
        out.line_set(),
        BTreeSet::from([key.to_string()]),
        "same size and mtime, other bytes\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------
// zrepl-check
// ---------------------------------------------------------------------------

const GOOD_PUSH: &str = r#"jobs:
  - name: putfs-push
    type: push
    connect:
      type: tcp
      address: "127.0.0.3:8888"
    filesystems: {
      "tank/putfs<": true
    }
    snapshotting:
      type: periodic
      prefix: zrepl_
      interval: 10m
    pruning:
      keep_sender:
        - type: not_replicated
        - type: last_n
          count: 10
      keep_receiver:
        - type: last_n
          count: 30
"#;

const GOOD_SINK: &str = r#"jobs:
  - name: putfs-sink
    type: sink
    serve:
      type: tcp
      listen: "127.0.0.3:8888"
      clients: {
        "127.0.0.2": "a"
      }
    root_fs: tankB/sink
"#;

/// Writes `yaml` and runs `zrepl-check` on it.
fn zrepl_check(name: &str, yaml: &str) -> Output {
    let dir = tempdir();
    let path = dir.path().join(name);
    std::fs::write(&path, yaml).unwrap();
    putfs_ops(["zrepl-check", path.to_str().unwrap()])
}

#[track_caller]
fn expect_rejected(name: &str, yaml: &str, mentions: &[&str]) {
    let out = zrepl_check(name, yaml);
    out.expect(1, &format!("zrepl-check {name}"));
    let text = out.combined();
    for m in mentions {
        assert!(
            text.contains(m),
            "zrepl-check {name}: message does not name {m:?}\n{}",
            out.describe()
        );
    }
}

#[test]
fn zrepl_check_accepts_valid_configs() {
    zrepl_check("push.yml", GOOD_PUSH).expect(0, "valid push");
    zrepl_check("sink.yml", GOOD_SINK).expect(0, "valid sink");
}

#[test]
fn zrepl_check_sink_without_root_fs() {
    let yaml = GOOD_SINK.replace("    root_fs: tankB/sink\n", "");
    assert_ne!(yaml, GOOD_SINK);
    expect_rejected("no-root-fs.yml", &yaml, &["root_fs"]);
}

#[test]
fn zrepl_check_bad_duration() {
    let yaml = GOOD_PUSH.replace("interval: 10m", "interval: 10 minutes");
    assert_ne!(yaml, GOOD_PUSH);
    expect_rejected("bad-interval.yml", &yaml, &["interval", "10 minutes"]);
}

#[test]
fn zrepl_check_empty_keep_sender() {
    let yaml = GOOD_PUSH.replace(
        "      keep_sender:\n        - type: not_replicated\n        - type: last_n\n          count: 10\n",
        "      keep_sender: []\n",
    );
    assert_ne!(yaml, GOOD_PUSH);
    expect_rejected("empty-keep-sender.yml", &yaml, &["keep_sender"]);
}

#[test]
fn zrepl_check_misplaced_subtree_marker() {
    let yaml = GOOD_PUSH.replace("\"tank/putfs<\": true", "\"tank/<putfs\": true");
    assert_ne!(yaml, GOOD_PUSH);
    expect_rejected("misplaced-lt.yml", &yaml, &["tank/<putfs"]);
}

#[test]
fn zrepl_check_reports_every_problem_of_a_file() {
    let yaml = GOOD_PUSH
        .replace("interval: 10m", "interval: 10 minutes")
        .replace("\"tank/putfs<\": true", "\"tank/<putfs\": true")
        .replace(
            "      keep_sender:\n        - type: not_replicated\n        - type: last_n\n          count: 10\n",
            "      keep_sender: []\n",
        )
        + &GOOD_SINK
            .replace("jobs:\n", "")
            .replace("    root_fs: tankB/sink\n", "");
    expect_rejected(
        "everything-wrong.yml",
        &yaml,
        &["10 minutes", "tank/<putfs", "keep_sender", "root_fs"],
    );
}
