//! What keeps find-gap, transfer-gap and rollback from acting on a tree
//! that is not the data, on plain directories (`--snapshot-dir`; the ZFS
//! cases are in gap_safety_zfs.rs):
//!
//! - a live root that is no data root (an unmounted filesystem leaves its
//!   bare mountpoint: empty, no `.putfs/`) would make every object of the
//!   snapshot "deleted since", and `transfer-gap --apply-deletes` would
//!   delete them all on the new primary;
//! - a live root that holds far fewer objects than the snapshot (the
//!   wrong one, or an emptied one) is refused unless the operator says the
//!   deletes are real (`--accept-mass-delete`);
//! - `--no-zfs-diff` exists wherever a gap is computed (the error about
//!   `zfs diff` tells the operator to use it), and scripts/failover
//!   passes it on.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ops::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A data root holding `n` objects (`obj/NN`), its `cp -a` snapshot, and a
/// replica holding what the snapshot holds (the new primary).
struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    snap: PathBuf,
    replica: PathBuf,
}

impl Setup {
    fn new(n: usize) -> Setup {
        let dir = tempdir();
        let root = dir.path().join("primary");
        std::fs::create_dir_all(root.join(".putfs")).unwrap();
        for i in 0..n {
            let p = root
                .join(format!("obj/{:02}", i % 7))
                .join(format!("{i:03}"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("object {i}")).unwrap();
        }
        let snap = dir.path().join("snapshot");
        let replica = dir.path().join("replica");
        cp_a(&root, &snap);
        cp_a(&snap, &replica);
        Setup {
            dir: dir.path().to_owned(),
            _dir: dir,
            root,
            snap,
            replica,
        }
    }

    fn keys(&self) -> Vec<String> {
        object_tree(&self.root).into_keys().collect()
    }

    /// `putfs ops CMD --root ROOT --snapshot-dir SNAP EXTRA…`
    fn ops(&self, cmd: &str, root: &Path, extra: &[&str]) -> Output {
        let state = self.dir.join("ops-state.json");
        let mut args = vec![
            cmd,
            "--root",
            s(root),
            "--snapshot-dir",
            s(&self.snap),
            "--state",
            s(&state),
        ];
        args.extend_from_slice(extra);
        putfs_ops(args)
    }

    fn apply_deletes(&self, root: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["--to", s(&self.replica), "--apply-deletes", "--yes"];
        args.extend_from_slice(extra);
        self.ops("transfer-gap", root, &args)
    }
}

#[test]
fn a_live_root_that_is_no_data_root_is_refused() {
    require_tool("rsync");
    let t = Setup::new(6);
    let replica_before = object_tree(&t.replica);
    // What a mountpoint looks like while its filesystem is not mounted.
    let bare = t.dir.join("bare-mountpoint");
    std::fs::create_dir(&bare).unwrap();

    let find = t.ops("find-gap", &bare, &[]);
    find.expect(3, "find-gap on a bare mountpoint");
    assert!(
        find.err().contains(".putfs") && find.err().contains("mount"),
        "the refusal must say what is wrong and what to do\n{}",
        find.describe()
    );

    let apply = t.apply_deletes(&bare, &[]);
    apply.expect(3, "transfer-gap --apply-deletes from a bare mountpoint");
    assert_eq!(
        object_tree(&t.replica),
        replica_before,
        "the new primary lost objects to a bare mountpoint\n{}",
        apply.describe()
    );
}

#[test]
fn deleting_most_of_the_snapshot_is_refused_unless_accepted() {
    require_tool("rsync");
    // Every object gone: what a wrong or emptied data root looks like.
    let t = Setup::new(6);
    let replica_before = object_tree(&t.replica);
    for k in t.keys() {
        std::fs::remove_file(t.root.join(k)).unwrap();
    }
    let find = t.ops("find-gap", &t.root, &["--list", "deleted"]);
    find.expect(3, "find-gap with every object deleted");
    assert!(
        find.err().contains("--accept-mass-delete") && find.err().contains("6"),
        "the refusal must count the deletes and name the flag\n{}",
        find.describe()
    );
    let apply = t.apply_deletes(&t.root, &[]);
    apply.expect(3, "transfer-gap --apply-deletes with every object deleted");
    assert_eq!(
        object_tree(&t.replica),
        replica_before,
        "{}",
        apply.describe()
    );

    let accepted = t.ops(
        "find-gap",
        &t.root,
        &["--list", "deleted", "--accept-mass-delete"],
    );
    accepted.expect(0, "find-gap --accept-mass-delete");
    assert_eq!(accepted.line_set().len(), 6, "{}", accepted.describe());
    t.apply_deletes(&t.root, &["--accept-mass-delete"])
        .expect(0, "transfer-gap --apply-deletes --accept-mass-delete");
    assert_eq!(object_tree(&t.replica), BTreeMap::new());

    // Many objects: under half deleted is ordinary, over half is not.
    let t = Setup::new(40);
    let keys = t.keys();
    for k in &keys[..19] {
        std::fs::remove_file(t.root.join(k)).unwrap();
    }
    t.ops("find-gap", &t.root, &[])
        .expect(0, "find-gap with 19 of 40 objects deleted");
    for k in &keys[19..21] {
        std::fs::remove_file(t.root.join(k)).unwrap();
    }
    let most = t.ops("find-gap", &t.root, &[]);
    most.expect(3, "find-gap with 21 of 40 objects deleted");
    assert!(most.err().contains("21"), "{}", most.describe());
}

#[test]
fn transfer_gap_rollback_and_failover_take_no_zfs_diff() {
    require_tool("rsync");
    let t = Setup::new(3);
    std::fs::write(t.root.join("obj/new"), "gap").unwrap();
    t.ops(
        "transfer-gap",
        &t.root,
        &["--to", s(&t.replica), "--no-zfs-diff"],
    )
    .expect(0, "transfer-gap --no-zfs-diff");
    assert_eq!(
        std::fs::read(t.replica.join("obj/new")).unwrap(),
        b"gap".to_vec()
    );
    let help = putfs_ops(["rollback", "--help"]);
    help.expect(0, "rollback --help");
    assert!(help.out().contains("--no-zfs-diff"), "{}", help.describe());

    // scripts/failover passes it to every command that computes a gap.
    let failover = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/failover");
    let mut cmd = Command::new(failover);
    cmd.env("PATH", tool_path_env())
        .args([
            "--putfs",
            env!("CARGO_BIN_EXE_putfs"),
            "--dry-run",
            "recover",
        ])
        .args(["--root", s(&t.root), "--snapshot-dir", s(&t.snap)])
        .args(["--to", s(&t.replica), "--no-zfs-diff"]);
    let out = run_cmd(cmd, None, CMD_TIMEOUT);
    out.expect(0, "failover --dry-run recover --no-zfs-diff");
    for step in ["find-gap", "transfer-gap"] {
        let passed = out.logged_commands().iter().any(|argv| {
            argv.iter().any(|a| a == step) && argv.iter().any(|a| a == "--no-zfs-diff")
        });
        assert!(
            passed,
            "{step} ran without --no-zfs-diff\n{}",
            out.describe()
        );
    }
}
