//! The find-gap property test (see tests/gap_property.rs) on a real ZFS
//! dataset, on zfs-fuse: rounds of `zfs snapshot`, a random history (create,
//! delete, rename files and directories over others, re-create, replace in
//! place or through a temp file, mtimes set back), then `putfs ops
//! find-gap --dataset --snapshot`, compared with a tree-compare oracle (the
//! tree read byte for byte just before the snapshot, and after the
//! history).
//!
//! Each round runs find-gap twice:
//! - as zfs-fuse is (no `.zfs`, no `zfs diff`): through a temporary clone
//!   of the snapshot, the walk;
//! - through the zfs-diff path. zfs-fuse has no `zfs diff`, so a `zfs`
//!   placed first on PATH answers `zfs diff -H -F DS@SNAP DS` with what
//!   OpenZFS prints for the history (common/gap_model.rs; objects numbered
//!   by the inode numbers zfs-fuse gave them), `written@SNAP` with a
//!   non-zero count, and hands every other command to the real zfs. The
//!   dataset, snapshot, clone and files are real. Where the output cannot
//!   be trusted (hard links) find-gap walks, and says so; keys `zfs diff`
//!   cannot see at all are only required to be right where reported.
//!
//! First, one fixed case the random rounds only meet by chance: a key
//! rewritten in place in the second it was written before the snapshot
//! (zfs-fuse keeps whole-second timestamps, so inode, ctime, mtime and size
//! all match the snapshot's).
//!
//! zfs-fuse is one machine-wide daemon, so this is ONE test, on a pool
//! named after this process, destroyed when the lab is dropped (panics
//! included). Without zfs-fuse the test prints `SKIP:` and passes, unless
//! `PUTFS_REQUIRE_ZFS=1`.

mod common;
#[path = "common/gap_model.rs"]
mod gap_model;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use gap_model::*;
use ops::*;
use putfs_ops::gap_report::WALK_INSTEAD;

/// Snapshot-and-history rounds; each builds on the tree the last one left.
const ROUNDS: u64 = 16;
const SEED: u64 = 0x9a9_2026;

fn gap_of(out: &Output, method: &str) -> BTreeSet<(String, String)> {
    let report = parse_gap_json(out);
    // zfs diff set aside (hard links), as find-gap said on stderr.
    let walked_instead = method == "zfs-diff"
        && report.summary_str("method") == "walk"
        && out.err().contains(WALK_INSTEAD);
    assert!(
        report.summary_str("method") == method || walked_instead,
        "find-gap took another path than {method}\n{}",
        out.describe()
    );
    report
        .entries
        .into_iter()
        .map(|e| (e.change, e.key))
        .collect()
}

/// A `zfs` that answers `zfs diff -H -F DS@SNAP DS` from `answer` and runs
/// the real zfs for anything else.
fn write_zfs_with_diff(dir: &Path, ds: &str, snapshot: &str, answer: &Path) {
    let real = require_tool("zfs");
    let script = format!(
        "#!/bin/sh\n\
         # zfs diff as OpenZFS has it, for one recorded answer.\n\
         if [ \"$1\" = diff ]; then\n\
         \x20 if [ \"$#\" -eq 1 ]; then echo 'missing snapshot argument' >&2; exit 2; fi\n\
         \x20 if [ \"$*\" = 'diff -H -F {ds}@{snapshot} {ds}' ]; then exec cat '{answer}'; fi\n\
         \x20 echo \"unexpected: zfs $*\" >&2; exit 1\n\
         fi\n\
         if [ \"$*\" = 'get -Hp -o value written@{snapshot} {ds}' ]; then echo 4096; exit 0; fi\n\
         exec '{real}' \"$@\"\n",
        answer = answer.display(),
        real = real.display(),
    );
    let path = dir.join("zfs");
    std::fs::write(&path, script).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
}

/// A key written just before a snapshot and rewritten in place just after,
/// in the same second, with the same size and its mtime set back: on
/// zfs-fuse, whose timestamps are whole seconds, its inode, ctime, mtime
/// and size all match the snapshot's, and only its bytes differ.
fn same_second_rewrite_is_a_conflict(lab: &ZfsLab, ds: &str, root: &Path) {
    use std::os::unix::fs::MetadataExt;
    for attempt in 0..5 {
        let name = format!("same-second-{attempt}");
        let path = root.join(&name);
        std::fs::write(&path, b"before").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        lab.zfs_ok(["snapshot", &format!("{ds}@{name}")]);
        std::fs::write(&path, b"after!").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(before.modified().unwrap()).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        if after.ctime_nsec() != 0 {
            println!("NOTE: this filesystem keeps sub-second ctimes; nothing to check");
            std::fs::remove_file(&path).unwrap();
            return;
        }
        if after.ctime() != before.ctime() {
            std::fs::remove_file(&path).unwrap();
            continue; // a second boundary fell in between: again
        }
        let out = putfs_ops([
            "find-gap",
            "--dataset",
            ds,
            "--snapshot",
            &name,
            "--json",
            "--accept-mass-delete",
        ]);
        out.expect(0, "find-gap after a same-second rewrite");
        let conflict = ("conflict".to_owned(), name.clone());
        assert!(
            gap_of(&out, "walk").contains(&conflict),
            "{name} was rewritten after the snapshot (same inode, size, ctime and mtime, \
             other bytes) and is not a conflict\n{}",
            out.describe()
        );
        std::fs::remove_file(&path).unwrap();
        return;
    }
    panic!("could not rewrite a file in the second it was written (5 attempts)");
}

#[test]
fn find_gap_on_zfs_matches_a_tree_compare() {
    if let Some(why) = zfs_unavailable() {
        if std::env::var("PUTFS_REQUIRE_ZFS").as_deref() == Ok("1") {
            panic!("PUTFS_REQUIRE_ZFS=1 but ZFS tests cannot run: {why}");
        }
        println!("SKIP: find_gap_on_zfs_matches_a_tree_compare: {why}");
        return;
    }
    let started = std::time::Instant::now();
    let mut lab = ZfsLab::start();
    let pool = format!("pgp{}", std::process::id());
    lab.create_pool(&pool);
    let ds = format!("{pool}/putfs");
    lab.zfs_ok(["create", &ds]);
    let root = lab.mountpoint(&ds);
    std::fs::create_dir(root.join(".putfs")).unwrap();
    let mountpoint = root.to_str().unwrap().to_owned();
    let bin = lab.dir().join("bin");
    std::fs::create_dir(&bin).unwrap();

    same_second_rewrite_is_a_conflict(&lab, &ds, &root);

    let (mut set_aside, mut blinded, mut queued) = (0u64, 0u64, 0u64);
    let mut rng = Rng::new(SEED);
    let mut m = Model::new(&root, Numbering::Inode);
    m.populate(&mut rng, 14);
    for round in 0..ROUNDS {
        let name = format!("p{round}");
        // Changes just before the snapshot: in the same second as the
        // snapshot and the history after it, which whole-second
        // timestamps (zfs-fuse) cannot tell apart.
        let first = m.log.len();
        for _ in 0..rng.range(2, 6) {
            m.random_op(&mut rng);
        }
        let at_snapshot = tree_files(&root);
        lab.zfs_ok(["snapshot", &format!("{ds}@{name}")]);
        let from = m.snapshot_taken(&format!("@{name}"));
        for _ in 0..rng.range(5, 30) {
            m.random_op(&mut rng);
        }
        m.check_disk();
        let expected = expected_gap(&at_snapshot, &tree_files(&root));
        let context = |out: &Output| {
            format!(
                "round {round}, history around the snapshot:\n  {}\n{}",
                m.log[first..].join("\n  "),
                out.describe()
            )
        };

        // Random histories may delete all of a small tree.
        let args = [
            "find-gap",
            "--dataset",
            &ds,
            "--snapshot",
            &name,
            "--json",
            "--accept-mass-delete",
        ];
        let walked = putfs_ops(args);
        walked.expect(0, "find-gap through a clone");
        assert_same_gap(
            "find-gap through a temporary clone",
            &expected,
            &gap_of(&walked, "walk"),
            &context(&walked),
        );

        let diff = zfs_diff_output(&mountpoint, &from, &m.side());
        let answer = lab.dir().join(format!("zfs-diff-{name}.txt"));
        std::fs::write(&answer, &diff).unwrap();
        write_zfs_with_diff(&bin, &ds, &name, &answer);
        let diffed = putfs_ops_with_path_first(&bin, args);
        diffed.expect(0, "find-gap with zfs diff");
        set_aside += u64::from(diffed.err().contains(WALK_INSTEAD));
        queued += u64::from(diff.contains("(on_delete_queue)"));
        let blind = blind_keys(&from, &m.side());
        blinded += u64::from(!blind.is_empty());
        assert_gap_but_blind(
            "find-gap from zfs diff",
            &expected,
            &gap_of(&diffed, "zfs-diff"),
            &blind,
            &format!("{}\nzfs diff -H -F:\n{diff}", context(&diffed)),
        );
    }
    eprintln!(
        "{ROUNDS} rounds in {:?}; zfs diff set aside for the walk in {set_aside} (hard links), \
         keys it cannot see in {blinded}, files on the delete queue in {queued}",
        started.elapsed()
    );
}
