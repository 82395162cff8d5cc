//! The disaster-recovery runbook (README "Disaster recovery: putfs ops")
//! end to end on real zfs-fuse pools: A replicates to B by zfs send/recv
//! as zrepl would, A fails with unreplicated writes, B is promoted, A comes
//! back, its gap is transferred to B, A is rolled back to the shared
//! snapshot and turned into B's receiver, and B→A replication continues
//! incrementally.
//!
//! zfs-fuse is one machine-wide daemon and Rust has no global teardown,
//! so the whole story is ONE test, with pool names unique to this process.
//! Without zfs-fuse the test prints `SKIP:` and passes, unless
//! `PUTFS_REQUIRE_ZFS=1` (scripts/test) makes that a failure.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use ops::*;

/// PUTs `key` and records it as acknowledged (201).
fn put_acked(s: &Server, key: &str, body: Vec<u8>, acked: &mut BTreeMap<String, String>) {
    let r = s.put(&key_url(key), body.clone());
    assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
    acked.insert(key.to_string(), sha_hex(&body));
}

/// `n` objects with varied sizes (0 bytes to 48 KiB) under `prefix`.
fn batch(rng: &mut Rng, prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key = format!("{prefix}/d{}/obj-{i:02}.bin", i % 4);
            let len = if i == 0 {
                0
            } else {
                rng.range(1, 48 * 1024) as usize
            };
            (key, rng.bytes(len))
        })
        .collect()
}

fn parse_json(out: &Output) -> serde_json::Value {
    serde_json::from_str(out.out().trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", out.describe()))
}

/// A snapshot named in JSON: `"name"` or `{"name": "name", …}`.
fn snapshot_name(v: &serde_json::Value) -> Option<String> {
    v.as_str()
        .or_else(|| v.get("name").and_then(|n| n.as_str()))
        .map(str::to_string)
}

/// Every non-null `"shared_snapshot"` in a `status --json` document (the
/// peer comparison at the top, the one recorded at promotion nested).
fn shared_snapshots(out: &Output) -> Vec<String> {
    fn rec(v: &serde_json::Value, found: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, x) in map {
                    if k == "shared_snapshot"
                        && let Some(name) = snapshot_name(x)
                    {
                        found.push(name);
                    }
                    rec(x, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| rec(x, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    rec(&parse_json(out), &mut found);
    found
}

/// The top-level `"shared_snapshot"` (newest snapshot shared with the peer).
fn peer_shared_snapshot(out: &Output) -> Option<String> {
    parse_json(out)
        .get("shared_snapshot")
        .and_then(snapshot_name)
}

/// The reversal steps of `plan.json` (a bare array, or under `"plan"` or
/// `"steps"`; `"flip_back"` is the later return and not run here).
fn plan_steps(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    plan.as_array()
        .or_else(|| plan.get("plan").and_then(|s| s.as_array()))
        .or_else(|| plan.get("steps").and_then(|s| s.as_array()))
        .unwrap_or_else(|| panic!("plan.json has no step list: {plan:#}"))
        .clone()
}

fn yaml(path: &Path) -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML ({e}):\n{text}", path.display()))
}

fn job_of_type<'a>(config: &'a serde_yaml_ng::Value, kind: &str) -> &'a serde_yaml_ng::Value {
    config["jobs"]
        .as_sequence()
        .and_then(|jobs| jobs.iter().find(|j| j["type"].as_str() == Some(kind)))
        .unwrap_or_else(|| panic!("no {kind} job in {config:?}"))
}

/// A rollback that stopped short changed nothing of A but the writer's
/// lock file, which it held meanwhile and which names it (putfs's own
/// file; the rollback that follows restores it with the rest).
#[track_caller]
fn assert_refused_rollback_left(root: &Path, before: &BTreeMap<String, String>) {
    let lock = ".putfs/lock";
    let mut now = full_fingerprint(root);
    let mut before = before.clone();
    now.remove(lock);
    before.remove(lock);
    assert_eq!(now, before, "a refused rollback changed A's files");
    let holder = std::fs::read_to_string(root.join(lock)).unwrap_or_default();
    assert!(
        holder.contains("putfs ops rollback") || holder.trim().parse::<u32>().is_ok(),
        "the writer's lock holds {holder:?}"
    );
}

#[test]
fn runbook_on_zfs_fuse() {
    if let Some(why) = zfs_unavailable() {
        if std::env::var("PUTFS_REQUIRE_ZFS").as_deref() == Ok("1") {
            panic!("PUTFS_REQUIRE_ZFS=1 but ZFS tests cannot run: {why}");
        }
        println!("SKIP: runbook_on_zfs_fuse: {why}");
        return;
    }

    let pid = std::process::id();
    let pool_a = format!("pfa{pid}");
    let pool_b = format!("pfb{pid}");
    let ds_a = format!("{pool_a}/putfs");
    // Where a zrepl sink with root_fs <B>/sink receives client "a"'s data.
    let ds_b = format!("{pool_b}/sink/a/{ds_a}");
    let snap = |ds: &str, s: &str| format!("{ds}@{s}");

    // Declared first: dropped last, after every server on its mounts.
    let mut lab = ZfsLab::start();
    let mut rng = Rng::from_time();
    let mut acked: BTreeMap<String, String> = BTreeMap::new();

    // ---- 1. pools, A's dataset, writes on A -------------------------------
    lab.create_pool(&pool_a);
    lab.create_pool(&pool_b);
    lab.zfs_ok(["create", &ds_a]);
    let root_a = lab.mountpoint(&ds_a);
    let mut server_a = Server::start(&root_a, &[]);
    let mut batch1 = batch(&mut rng, "b1", 30);
    batch1.push(("b1/with space.txt".into(), b"spaces".to_vec()));
    for (key, body) in batch1 {
        put_acked(&server_a, &key, body, &mut acked);
    }

    // ---- 2. replicate @zrepl_1 (full) and @zrepl_2 (incremental) ---------
    lab.zfs_ok(["snapshot", &snap(&ds_a, "zrepl_1")]);
    lab.zfs_ok(["create", "-p", &format!("{pool_b}/sink/a/{pool_a}")]);
    lab.send_recv_ok(&[&snap(&ds_a, "zrepl_1")], &[&ds_b]);
    // Before anything reads it: an atime update counts as a modification
    // and breaks the next incremental receive.
    lab.zfs_ok(["set", "atime=off", &ds_b]);
    lab.zfs_ok(["set", "readonly=on", &ds_b]);

    for (key, body) in batch(&mut rng, "b2", 10) {
        put_acked(&server_a, &key, body, &mut acked);
    }
    let at_zrepl_2 = object_tree(&root_a);
    assert_eq!(at_zrepl_2, acked, "A holds exactly the acknowledged writes");
    lab.zfs_ok(["snapshot", &snap(&ds_a, "zrepl_2")]);
    lab.send_recv_ok(
        &["-i", &snap(&ds_a, "zrepl_1"), &snap(&ds_a, "zrepl_2")],
        &[&ds_b],
    );
    let root_b = lab.mountpoint(&ds_b);
    // Before putfs holds the mount (the check unmounts on zfs-fuse).
    assert_eq!(lab.prop_as_set("readonly", &ds_b), "on");
    let server_b = Server::start(&root_b, &["--read-only"]);
    for (key, sha) in &at_zrepl_2 {
        let r = server_b.get(&key_url(key));
        assert_eq!(r.status, 200, "replica GET {key}");
        assert_eq!(&sha_hex(&r.body), sha, "replica bytes of {key}");
    }
    assert_eq!(object_tree(&root_b), at_zrepl_2, "B's tree after @zrepl_2");
    // A receiver with readonly=on is not a primary, also on zfs-fuse, whose
    // `zfs get readonly` of a mounted dataset says "off" (source temporary).
    let replica_status = putfs_ops(["status", "--dataset", &ds_b, "--json"]);
    replica_status.expect(0, "status on the replica");
    let role = parse_json(&replica_status)["role"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        !role.contains("primary"),
        "B (readonly=on, never promoted) is reported as {role:?}\n{}",
        replica_status.describe()
    );

    // ---- 3. the gap: writes on A after @zrepl_2 that never reach B --------
    let mut gap: BTreeMap<String, String> = BTreeMap::new();
    let gap_first: Vec<(String, Vec<u8>)> = vec![
        ("gap/a b.txt".into(), b"gap with a space".to_vec()),
        ("gap/ünïcødé.bin".into(), rng.bytes(3000)),
        ("gap/100%.txt".into(), b"percent".to_vec()),
        ("gap/-dash.bin".into(), rng.bytes(10)),
        ("gap/br[a]ck*.bin".into(), rng.bytes(777)),
        ("b1/d0/late.bin".into(), rng.bytes(20_000)),
    ];
    for (key, body) in gap_first {
        put_acked(&server_a, &key, body, &mut gap);
    }
    // A snapshot zrepl took on A but never replicated: rollback -r must
    // show it and destroy it.
    lab.zfs_ok(["snapshot", &snap(&ds_a, "zrepl_unsent")]);
    let gap_second: Vec<(String, Vec<u8>)> = vec![
        ("gap/deep/er/x.bin".into(), rng.bytes(65_536)),
        ("gap/old-mtime.bin".into(), rng.bytes(1234)),
        ("gap/empty".into(), Vec::new()),
        ("b2/d1/late2.bin".into(), rng.bytes(99)),
    ];
    for (key, body) in gap_second {
        put_acked(&server_a, &key, body, &mut gap);
    }
    touch_date(&root_a.join("gap/old-mtime.bin"), "2001-01-01");
    let deleted_key = "b1/d2/obj-02.bin".to_string();
    assert!(at_zrepl_2.contains_key(&deleted_key));
    assert_eq!(server_a.delete(&key_url(&deleted_key)).status, 204);
    acked.extend(gap.clone());

    // ---- 4. A fails; B is promoted and takes writes -----------------------
    server_a.kill9();
    // What a crash leaves behind; never part of a gap.
    std::fs::write(root_a.join("gap/.putfs-tmp.crashed.1"), b"partial").unwrap();
    let a_after_failure = full_fingerprint(&root_a);
    let a_snapshots_after_failure = lab.snapshots(&ds_a);
    assert_eq!(
        a_snapshots_after_failure,
        ["zrepl_1", "zrepl_2", "zrepl_unsent"]
    );

    let promote = putfs_ops(["promote", "--dataset", &ds_b, "--yes"]);
    promote
        .expect(0, "promote B")
        .expect_logged(&["zfs", "set", "readonly=off", &ds_b], "promote B");
    assert!(
        promote.combined().contains("zrepl_2"),
        "promote names the shared snapshot\n{}",
        promote.describe()
    );
    assert_eq!(
        lab.get("readonly", &ds_b),
        "off",
        "promote sets readonly=off"
    );
    let status = putfs_ops(["status", "--dataset", &ds_b, "--json"]);
    status.expect(0, "status on B");
    assert!(
        shared_snapshots(&status).contains(&"zrepl_2".to_string()),
        "status --json reports the shared snapshot recorded at promotion\n{}",
        status.describe()
    );
    let status_peer = putfs_ops([
        "status",
        "--dataset",
        &ds_b,
        "--peer-dataset",
        &ds_a,
        "--json",
    ]);
    status_peer.expect(0, "status on B with A as peer");
    assert_eq!(
        peer_shared_snapshot(&status_peer).as_deref(),
        Some("zrepl_2"),
        "newest snapshot B shares with A (A's @zrepl_unsent is not on B)\n{}",
        status_peer.describe()
    );

    drop(server_b);
    let server_b = Server::start(&root_b, &[]);
    let mut b_writes = BTreeMap::new();
    for (key, body) in batch(&mut rng, "on-b", 6) {
        put_acked(&server_b, &key, body, &mut b_writes);
    }
    acked.extend(b_writes.clone());

    // ---- 5. A is back: refusals first --------------------------------------
    let early = putfs_ops([
        "rollback",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--yes",
    ]);
    early.expect(3, "rollback before any verified transfer is refused");
    assert_refused_rollback_left(&root_a, &a_after_failure);
    assert_eq!(lab.snapshots(&ds_a), a_snapshots_after_failure);

    let unknown = putfs_ops(["find-gap", "--dataset", &ds_a, "--snapshot", "nope"]);
    unknown.expect(1, "find-gap with an unknown snapshot");
    assert!(
        unknown.err().contains("nope"),
        "the error names the snapshot\n{}",
        unknown.describe()
    );

    // ---- 6. find the gap -----------------------------------------------------
    let datasets_before = lab.datasets(&pool_a);
    let find = putfs_ops(["find-gap", "--dataset", &ds_a, "--snapshot", "zrepl_2"]);
    find.expect(0, "find-gap")
        .expect_logged(&["zfs"], "find-gap");
    assert_eq!(
        find.line_set(),
        keys(&gap),
        "find-gap stdout\n{}",
        find.describe()
    );
    assert!(
        find.line_set().iter().all(|k| !is_internal(Path::new(k))),
        "putfs's own files listed\n{}",
        find.describe()
    );

    let find0 = putfs_ops([
        "find-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "-0",
    ]);
    find0.expect(0, "find-gap -0");
    assert_eq!(
        find0.nul_set(),
        keys(&gap),
        "find-gap -0\n{}",
        find0.describe()
    );

    let deleted = putfs_ops([
        "find-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--list",
        "deleted",
    ]);
    deleted.expect(0, "find-gap --list deleted");
    assert_eq!(
        deleted.line_set(),
        BTreeSet::from([deleted_key.clone()]),
        "--list deleted\n{}",
        deleted.describe()
    );
    let conflicts = putfs_ops([
        "find-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--list",
        "conflicts",
    ]);
    conflicts.expect(0, "find-gap --list conflicts");
    assert!(conflicts.line_set().is_empty(), "{}", conflicts.describe());

    let json = putfs_ops([
        "find-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--json",
    ]);
    json.expect(0, "find-gap --json");
    let report = parse_gap_json(&json);
    let gap_entries = report.of("gap");
    assert_eq!(keys(&gap_entries), keys(&gap), "{}", json.describe());
    let mut gap_bytes = 0;
    for (key, e) in &gap_entries {
        let path = root_a.join(key);
        let len = std::fs::metadata(&path).unwrap().len();
        gap_bytes += len;
        assert_eq!(e.sha256.as_ref(), Some(&gap[key]), "sha256 of {key}");
        assert_eq!(e.size, Some(len), "size of {key}");
        assert_eq!(
            e.mtime_ns,
            Some(mtime_ns(&path) as i64),
            "mtime_ns of {key}"
        );
    }
    assert!(
        gap_entries["gap/old-mtime.bin"].mtime_ns.unwrap() < 1_000_000_000 * 1_000_000_000,
        "the past mtime is reported as it is"
    );
    assert_eq!(
        keys(&report.of("deleted")),
        BTreeSet::from([deleted_key.clone()])
    );
    assert!(report.of("conflict").is_empty(), "{}", json.describe());
    assert_eq!(report.summary_u64("gap"), gap.len() as u64);
    assert_eq!(report.summary_u64("gap_bytes"), gap_bytes);
    assert_eq!(report.summary_u64("deleted"), 1);
    assert_eq!(report.summary_u64("conflicts"), 0);
    assert!(report.summary_str("snapshot").contains("zrepl_2"));
    assert_eq!(
        report.summary_str("method"),
        "walk",
        "zfs-fuse has no zfs diff"
    );
    // Temporary clones (zfs-fuse has no .zfs dir) are gone again.
    let clean = wait_until(std::time::Duration::from_secs(30), || {
        lab.datasets(&pool_a) == datasets_before
    });
    assert!(
        clean,
        "find-gap left datasets behind: before {datasets_before:?}, now {:?}",
        lab.datasets(&pool_a)
    );

    // ---- 7. transfer the gap to B --------------------------------------------
    let root_b_str = root_b.to_str().unwrap().to_string();
    let rsync = putfs_ops([
        "transfer-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--to",
        &root_b_str,
    ]);
    rsync
        .expect(0, "transfer-gap to B's root (rsync)")
        .expect_logged(&["rsync"], "transfer-gap (rsync)");
    for (key, sha) in &gap {
        assert_eq!(
            file_sha(&root_b.join(key)).as_ref(),
            Some(sha),
            "gap object {key} on B after rsync"
        );
    }
    for (key, sha) in &b_writes {
        assert_eq!(
            file_sha(&root_b.join(key)).as_ref(),
            Some(sha),
            "B's own {key}"
        );
    }
    assert!(root_b.join(&deleted_key).is_file(), "nothing deleted on B");
    assert!(
        rsync.err().contains(&deleted_key) && rsync.err().contains("--apply-deletes"),
        "the delete A acknowledged is shown with the command that applies it\n{}",
        rsync.describe()
    );

    let http = putfs_ops([
        "transfer-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--to",
        &format!("http://{}", server_b.addr),
    ]);
    http.expect(0, "transfer-gap to B's putfs (all identical)");
    for (key, sha) in &gap {
        let r = server_b.get(&key_url(key));
        assert_eq!(r.status, 200, "B's putfs GET {key}");
        assert_eq!(&sha_hex(&r.body), sha, "B's putfs bytes of {key}");
    }

    // ---- 8. roll A back to the shared snapshot --------------------------------
    // Not while the delete A acknowledged is undone at B: after the
    // rollback nothing would list it any more.
    let undone = putfs_ops([
        "rollback",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--yes",
    ]);
    undone.expect(3, "rollback with the acknowledged delete not applied at B");
    assert!(
        undone.err().contains(&deleted_key) && undone.err().contains("--keep-deleted"),
        "{}",
        undone.describe()
    );
    assert_eq!(lab.snapshots(&ds_a), a_snapshots_after_failure);
    putfs_ops([
        "transfer-gap",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--to",
        &format!("http://{}", server_b.addr),
        "--apply-deletes",
        "--yes",
    ])
    .expect(0, "transfer-gap --apply-deletes");
    assert!(
        !root_b.join(&deleted_key).exists(),
        "the delete applied at B"
    );
    let dry = putfs_ops([
        "rollback",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--dry-run",
    ]);
    dry.expect(0, "rollback --dry-run");
    let shown = dry.combined();
    assert!(
        shown.contains("zrepl_unsent"),
        "dry run shows the snapshot it destroys\n{}",
        dry.describe()
    );
    for key in gap.keys() {
        assert!(
            shown.contains(key.as_str()),
            "dry run shows gap object {key}\n{}",
            dry.describe()
        );
    }
    assert_refused_rollback_left(&root_a, &a_after_failure);
    assert_eq!(lab.snapshots(&ds_a), a_snapshots_after_failure);

    let rollback = putfs_ops([
        "rollback",
        "--dataset",
        &ds_a,
        "--snapshot",
        "zrepl_2",
        "--yes",
    ]);
    rollback
        .expect(0, "rollback after a verified transfer")
        .expect_logged(
            &["zfs", "rollback", "-r", &snap(&ds_a, "zrepl_2")],
            "rollback",
        );
    assert_eq!(lab.snapshots(&ds_a), ["zrepl_1", "zrepl_2"]);
    assert_eq!(object_tree(&root_a), at_zrepl_2, "A equals @zrepl_2");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root_a.parent().unwrap().join(format!(
            ".{}.putfs-ops.json",
            root_a.file_name().unwrap().to_string_lossy()
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["saved_deletes"][0]["objects"][0]["key"], deleted_key,
        "the list of deletes outlives the rollback: {state:#}"
    );
    assert!(temp_files(&root_a).is_empty(), "crash leftover rolled back");

    // ---- 9. reverse replication -----------------------------------------------
    let cfg = lab.dir().join("zrepl");
    std::fs::create_dir_all(&cfg).unwrap();
    let a_yml = cfg.join("a.yml");
    let b_yml = cfg.join("b.yml");
    std::fs::write(
        &a_yml,
        format!(
            r#"jobs:
  - name: putfs-push
    type: push
    connect:
      type: tcp
      address: "127.0.0.3:8888"
    filesystems: {{
      "{ds_a}": true
    }}
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
"#
        ),
    )
    .unwrap();
    std::fs::write(
        &b_yml,
        format!(
            r#"jobs:
  - name: putfs-sink
    type: sink
    serve:
      type: tcp
      listen: "127.0.0.3:8888"
      clients: {{
        "127.0.0.1": "a"
      }}
    root_fs: {pool_b}/sink
    recv:
      properties:
        override: {{readonly: "on", atime: "off"}}
"#
        ),
    )
    .unwrap();
    putfs_ops([
        "zrepl-check",
        a_yml.to_str().unwrap(),
        b_yml.to_str().unwrap(),
    ])
    .expect(0, "the test's own input configs are valid");

    let out_dir = cfg.join("reversed");
    let recovered_root_fs = format!("{pool_a}/sink");
    let reverse = putfs_ops([
        "reverse-zrepl",
        "--old-primary-config",
        a_yml.to_str().unwrap(),
        "--old-secondary-config",
        b_yml.to_str().unwrap(),
        "--shared-snapshot",
        "zrepl_2",
        "--new-primary-identity",
        "b",
        "--new-primary-ip",
        "127.0.0.3",
        "--recovered-address",
        "127.0.0.1:8888",
        "--recovered-listen",
        "127.0.0.1:8888",
        "--recovered-root-fs",
        &recovered_root_fs,
        "--recovered-mountpoint",
        root_a.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    reverse.expect(0, "reverse-zrepl");
    assert!(!reverse.out().trim().is_empty(), "no human plan on stdout");
    let new_primary_yml = out_dir.join("new-primary.yml");
    let recovered_yml = out_dir.join("recovered.yml");
    let plan_json = out_dir.join("plan.json");
    for f in [&new_primary_yml, &recovered_yml, &plan_json] {
        assert!(
            f.is_file(),
            "{} missing\n{}",
            f.display(),
            reverse.describe()
        );
    }
    putfs_ops([
        "zrepl-check",
        new_primary_yml.to_str().unwrap(),
        recovered_yml.to_str().unwrap(),
    ])
    .expect(0, "generated configs pass zrepl-check");
    let push = yaml(&new_primary_yml);
    let push_job = job_of_type(&push, "push");
    assert_eq!(
        push_job["connect"]["address"].as_str(),
        Some("127.0.0.1:8888")
    );
    let sink = yaml(&recovered_yml);
    let sink_job = job_of_type(&sink, "sink");
    assert_eq!(
        sink_job["root_fs"].as_str(),
        Some(recovered_root_fs.as_str())
    );
    assert_eq!(
        sink_job["serve"]["clients"]["127.0.0.3"].as_str(),
        Some("b")
    );

    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_json).unwrap()).unwrap();
    let rename_target = format!("{recovered_root_fs}/b/{ds_b}");
    let mut ran = Vec::new();
    let mut rename_workaround = false;
    for step in plan_steps(&plan) {
        let Some(run) = step.get("run").and_then(|r| r.as_array()) else {
            continue;
        };
        let argv: Vec<String> = run
            .iter()
            .map(|a| a.as_str().expect("argv of strings").to_string())
            .collect();
        if step["node"].as_str() != Some("recovered") {
            continue;
        }
        if argv[..2] == ["putfs", "ops"] {
            // The plan's own checks and role changes (rollback again,
            // demote, mount): the end-to-end drill of the plans is
            // tests/ops_plans_zfs.rs; here they must simply succeed.
            putfs_ops(&argv[2..]).expect(0, &format!("plan step {:?}", step["description"]));
            ran.push(argv.join(" "));
            continue;
        }
        if argv.first().map(String::as_str) != Some("zfs") {
            continue;
        }
        if argv.get(1).map(String::as_str) == Some("rename") {
            rename_workaround |= zfs_rename_across(&lab, &argv);
        } else {
            let out = lab.zfs(&argv[1..]);
            assert_eq!(
                out.code,
                Some(0),
                "plan step {:?} failed\n{}",
                step["description"],
                out.describe()
            );
            // The operator compares this with the other side's GUID: it must
            // be the exact number (zfs-fuse abbreviates it, e.g. "10.1E",
            // unless -p is given).
            if argv.iter().any(|a| a == "guid") && argv.get(1).map(String::as_str) == Some("get") {
                let guid = out.out().trim().to_string();
                assert!(
                    !guid.is_empty() && guid.bytes().all(|b| b.is_ascii_digit()),
                    "plan step {:?} prints the GUID as {guid:?}, not comparable\n{}",
                    step["description"],
                    out.describe()
                );
            }
        }
        ran.push(argv.join(" "));
    }
    eprintln!("plan steps run on the recovered node: {ran:#?}");
    if rename_workaround {
        eprintln!(
            "NOTE (zfs-fuse): the plan's `zfs rename` answered \"dataset is busy\"; it succeeded \
             after `zfs umount` of the source and of the target's parent"
        );
    }
    assert!(
        ran.iter().any(|c| c.starts_with("zfs rename ")),
        "the plan renames nothing on the recovered node: {ran:?}"
    );
    assert_eq!(
        lab.zfs_ok(["list", "-H", "-o", "name", &rename_target])
            .trim(),
        rename_target,
        "A's dataset is where the new sink looks for it"
    );
    assert_eq!(
        lab.get("guid", &snap(&rename_target, "zrepl_2")),
        lab.get("guid", &snap(&ds_b, "zrepl_2")),
        "the shared snapshot is the same on both sides"
    );
    assert_eq!(
        lab.prop_as_set("readonly", &rename_target),
        "on",
        "the renamed dataset must be a read-only receiver; plan steps run: {ran:#?}"
    );

    // Act as zrepl: an incremental send from the shared snapshot.
    lab.zfs_ok(["snapshot", &snap(&ds_b, "zrepl_3")]);
    let (send, recv) = lab.send_recv(
        &["-i", &snap(&ds_b, "zrepl_2"), &snap(&ds_b, "zrepl_3")],
        &[&rename_target],
    );
    assert!(
        send.code == Some(0) && recv.code == Some(0),
        "B→A incremental replication from @zrepl_2 failed\n{}\n{}",
        send.describe(),
        recv.describe()
    );

    // ---- 10. both sides hold the same objects; no acknowledged write lost ----
    let root_a_new = lab.ensure_mounted(&rename_target);
    let tree_a = object_tree(&root_a_new);
    let tree_b = object_tree(&root_b);
    assert_eq!(tree_a, tree_b, "A and B differ after reverse replication");
    let mut lost = Vec::new();
    for (key, sha) in &acked {
        if key == &deleted_key {
            continue;
        }
        for (side, tree) in [("A", &tree_a), ("B", &tree_b)] {
            if tree.get(key) != Some(sha) {
                lost.push(format!("{key} on {side}"));
            }
        }
    }
    assert!(lost.is_empty(), "acknowledged writes missing: {lost:?}");
    assert_eq!(
        (tree_a.get(&deleted_key), tree_b.get(&deleted_key)),
        (None, None),
        "the object deleted on A after the snapshot came back"
    );

    let final_status = putfs_ops([
        "status",
        "--dataset",
        &rename_target,
        "--peer-dataset",
        &ds_b,
        "--json",
    ]);
    final_status.expect(0, "status on the recovered node");
    assert_eq!(
        peer_shared_snapshot(&final_status).as_deref(),
        Some("zrepl_3"),
        "{}",
        final_status.describe()
    );

    drop(server_b);
    drop(lab);
}
