//! What keeps find-gap, transfer-gap and rollback from missing an object
//! the old primary wrote (which the rollback would then destroy) or from
//! taking a tree that is not the data for it, on real zfs-fuse datasets:
//!
//! 1. a dataset that is not mounted (its mountpoint a bare directory), or
//!    one with another filesystem mounted over it, is refused, so nothing
//!    counts as "deleted since" and nothing is deleted on the new primary;
//! 2. a mountpoint reached through a symlink: `zfs diff` prefixes its paths
//!    with the mount table's path, not the `mountpoint` property, and the
//!    gap must still be found; a path outside the mount is an error;
//! 3. hard links: `zfs diff` names one path of a file whose link count
//!    changed (`M F /a (+1)`), and one name of a new file with two;
//! 4. a file `zfs diff` cannot see at all (created, linked elsewhere, that
//!    link removed: ZFS's recorded parent no longer holds it): rollback
//!    compares the trees by walking them, and refuses while `zfs diff`
//!    disagrees or the transfer missed it; `--no-zfs-diff` everywhere;
//! 5. a snapshot stamped `creation` a second after a write of the next
//!    txg: a file rewritten in place in that second must still be found.
//!
//! zfs-fuse has no `zfs diff`: a `zfs` placed first on PATH answers it
//! with what OpenZFS prints for the history (written out below, per
//! snapshot), reports `written@`, can shift a snapshot's `creation`, and
//! hands everything else to the real zfs.
//!
//! ONE test (zfs-fuse is one machine-wide daemon), on a pool named after
//! this process, destroyed when the lab is dropped. Without zfs-fuse the
//! test prints `SKIP:` and passes, unless `PUTFS_REQUIRE_ZFS=1`.
//! `GAP_SAFETY_CASES=2,4` runs only those cases.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ops::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The stand-in `zfs` and the answers it gives.
struct FakeZfs {
    bin: PathBuf,
    answers: PathBuf,
}

impl FakeZfs {
    fn new(lab: &ZfsLab) -> FakeZfs {
        let bin = lab.dir().join("bin");
        let answers = lab.dir().join("answers");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&answers).unwrap();
        let real = require_tool("zfs");
        let script = format!(
            r#"#!/bin/sh
# zfs diff, written@ and a shifted creation, as recorded in {a}.
A='{a}'
if [ "$1" = diff ]; then
  if [ "$#" -eq 1 ]; then echo 'missing snapshot argument' >&2; exit 2; fi
  f="$A/diff-$(printf %s "$4" | tr / _)"
  if [ "$2 $3 $5" = "-H -F $(printf %s "$4" | cut -d@ -f1)" ] && [ -f "$f" ]; then exec cat "$f"; fi
  echo "no recorded answer for: zfs $*" >&2; exit 1
fi
case "$1 $5" in
  "get written@"*) echo 4096; exit 0 ;;
esac
if [ "$1 $2" = "get -rHp" ] && [ -f "$A/creation-offset" ]; then
  off=$(cat "$A/creation-offset")
  '{real}' "$@" | awk -F '\t' -v off="$off" 'BEGIN {{ OFS = "\t" }} $1 ~ /@/ && $2 == "creation" {{ $3 = $3 + off }} {{ print }}'
  exit 0
fi
exec '{real}' "$@"
"#,
            a = answers.display(),
            real = real.display(),
        );
        let path = bin.join("zfs");
        std::fs::write(&path, script).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
        FakeZfs { bin, answers }
    }

    /// What `zfs diff -H -F DS@SNAP DS` prints: `lines` with `MP` replaced
    /// by `mount` (as the mount table has it) and `|` by a tab.
    fn diff(&self, ds: &str, snap: &str, mount: &Path, lines: &[&str]) {
        let text: String = lines
            .iter()
            .map(|l| format!("{}\n", l.replace("MP", s(mount)).replace('|', "\t")))
            .collect();
        let name = format!("diff-{}", format!("{ds}@{snap}").replace('/', "_"));
        std::fs::write(self.answers.join(name), text).unwrap();
    }

    fn creation_offset(&self, secs: Option<i64>) {
        let p = self.answers.join("creation-offset");
        match secs {
            Some(s) => std::fs::write(p, s.to_string()).unwrap(),
            None => {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    fn ops<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        putfs_ops_with_path_first(&self.bin, args)
    }
}

/// A dataset mounted at `mountpoint` (default: inherited), marked as a
/// data root, holding `files`, snapshotted as `@s1`; returns its root.
fn dataset(lab: &ZfsLab, ds: &str, mountpoint: Option<&Path>, files: &[(&str, &str)]) -> PathBuf {
    match mountpoint {
        Some(m) => lab.zfs_ok(["create", "-o", &format!("mountpoint={}", s(m)), ds]),
        None => lab.zfs_ok(["create", ds]),
    };
    let root = lab.ensure_mounted(ds);
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    for (k, v) in files {
        let p = root.join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    }
    lab.zfs_ok(["snapshot", &format!("{ds}@s1")]);
    root
}

fn gap_set(out: &Output) -> BTreeSet<(String, String)> {
    parse_gap_json(out)
        .entries
        .into_iter()
        .map(|e| (e.change, e.key))
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(c, k)| ((*c).to_owned(), (*k).to_owned()))
        .collect()
}

/// A replica directory for transfer-gap: a data root holding `root`'s
/// objects as they are now.
fn replica_of(lab: &ZfsLab, root: &Path, name: &str) -> PathBuf {
    let dest = lab.dir().join(name);
    cp_a(root, &dest);
    dest
}

/// 1. Not mounted, or something else mounted over it.
fn not_the_dataset_is_refused(lab: &ZfsLab, pool: &str) {
    let ds = format!("{pool}/unmounted");
    let files = [("a", "1"), ("d/b", "2"), ("d/c", "3"), ("e", "4")];
    let root = dataset(lab, &ds, None, &files);
    let replica = replica_of(lab, &root, "replica-unmounted");
    let before = object_tree(&replica);
    let state = lab.dir().join("state-unmounted.json");
    lab.zfs_ok(["umount", &ds]);
    assert!(root.is_dir(), "zfs-fuse removed the mountpoint directory");

    let find = putfs_ops(["find-gap", "--dataset", &ds, "--snapshot", "s1"]);
    find.expect(3, "find-gap on an unmounted dataset");
    assert!(
        find.err().contains("not mounted") && find.err().contains("zfs mount"),
        "{}",
        find.describe()
    );
    let apply = putfs_ops([
        "transfer-gap",
        "--dataset",
        &ds,
        "--snapshot",
        "s1",
        "--to",
        s(&replica),
        "--apply-deletes",
        "--yes",
        "--state",
        s(&state),
    ]);
    apply.expect(3, "transfer-gap --apply-deletes from an unmounted dataset");
    assert_eq!(object_tree(&replica), before, "{}", apply.describe());

    // Mounted, but hidden under another filesystem that looks like a data
    // root: ZFS says `mounted=yes`, the mount table says otherwise.
    lab.zfs_ok(["mount", &ds]);
    let over = run_tool("mount", ["-t", "tmpfs", "putfs-test-over", s(&root)]);
    if over.code != Some(0) {
        println!(
            "NOTE: cannot mount a tmpfs here, skipping the case:\n{}",
            over.describe()
        );
        return;
    }
    std::fs::create_dir(root.join(".putfs")).unwrap();
    let find = putfs_ops(["find-gap", "--dataset", &ds, "--snapshot", "s1"]);
    run_tool_ok("umount", [s(&root)]);
    find.expect(3, "find-gap with a tmpfs mounted over the dataset");
    assert!(find.err().contains("tmpfs"), "{}", find.describe());
}

/// 2. `mountpoint` through a symlink: zfs diff prints the real path.
fn symlinked_mountpoint(lab: &ZfsLab, fake: &FakeZfs, pool: &str) {
    let real = lab.dir().join("real");
    std::fs::create_dir_all(&real).unwrap();
    let link = lab.dir().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let ds = format!("{pool}/linked");
    let root = dataset(lab, &ds, Some(&link.join("mnt")), &[("old", "o")]);
    assert!(root.starts_with(&link), "{}", root.display());
    std::fs::write(root.join("new1"), "n1").unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    std::fs::write(root.join("d/new2"), "n2").unwrap();
    let mount = real.join("mnt");
    fake.diff(
        &ds,
        "s1",
        &mount,
        &[
            "M|/|MP",
            "+|F|MP/new1",
            "+|/|MP/d",
            "+|F|MP/d/new2",
            "-|F|MP(on_delete_queue)",
        ],
    );
    let args = ["find-gap", "--dataset", &ds, "--snapshot", "s1", "--json"];
    let out = fake.ops(args);
    out.expect(0, "find-gap, zfs diff through a symlinked mountpoint");
    assert_eq!(
        parse_gap_json(&out).summary_str("method"),
        "zfs-diff",
        "{}",
        out.describe()
    );
    assert_eq!(
        gap_set(&out),
        set(&[("gap", "d/new2"), ("gap", "new1")]),
        "{}",
        out.describe()
    );

    // A path that is not under the dataset's mount: never dropped.
    fake.diff(&ds, "s1", &mount, &["+|F|/elsewhere/new1", "M|/|MP"]);
    let out = fake.ops(args);
    out.expect(1, "find-gap with a zfs diff path outside the mount");
    assert!(out.err().contains("/elsewhere/new1"), "{}", out.describe());
}

/// 3. Hard links: one name per line, or a link count.
fn hard_links(lab: &ZfsLab, fake: &FakeZfs, pool: &str) {
    let ds = format!("{pool}/links");
    let root = dataset(lab, &ds, None, &[("a", "AAAA"), ("x", "X")]);
    let mount = root.clone();
    let args = ["find-gap", "--dataset", &ds, "--snapshot", "s1", "--json"];

    // ln a b: a's link count 1 -> 2.
    std::fs::hard_link(root.join("a"), root.join("b")).unwrap();
    fake.diff(&ds, "s1", &mount, &["M|/|MP", "M|F|MP/a|(+1)"]);
    let out = fake.ops(args);
    out.expect(0, "find-gap after ln a b");
    assert_eq!(gap_set(&out), set(&[("gap", "b")]), "{}", out.describe());

    // mv a c: still `M F /a (+1)`, the name of the snapshot's side.
    std::fs::rename(root.join("a"), root.join("c")).unwrap();
    let out = fake.ops(args);
    out.expect(0, "find-gap after ln a b; mv a c");
    assert_eq!(
        gap_set(&out),
        set(&[("deleted", "a"), ("gap", "b"), ("gap", "c")]),
        "{}",
        out.describe()
    );

    // A new file with two names: one `+` line.
    std::fs::write(root.join("n1"), "new").unwrap();
    std::fs::hard_link(root.join("n1"), root.join("n2")).unwrap();
    fake.diff(&ds, "s1", &mount, &["M|/|MP", "M|F|MP/a|(+1)", "+|F|MP/n1"]);
    let out = fake.ops(args);
    out.expect(0, "find-gap after a new file with two names");
    assert_eq!(
        gap_set(&out),
        set(&[
            ("deleted", "a"),
            ("gap", "b"),
            ("gap", "c"),
            ("gap", "n1"),
            ("gap", "n2")
        ]),
        "{}",
        out.describe()
    );
}

/// 4. A file zfs diff cannot see: the rollback walks.
fn rollback_walks(lab: &ZfsLab, fake: &FakeZfs, pool: &str) {
    let ds = format!("{pool}/blind");
    let root = dataset(lab, &ds, None, &[("keep", "k"), ("d/old", "o")]);
    let replica = lab.dir().join("replica-blind");
    std::fs::create_dir_all(replica.join(".putfs")).unwrap();
    let state = lab.dir().join("state-blind.json");
    // d/x, linked as y (ZFS now records / as its parent), y removed: ZFS
    // finds no path for it, and zfs diff lists it nowhere.
    std::fs::write(root.join("d/x"), "only here").unwrap();
    std::fs::hard_link(root.join("d/x"), root.join("y")).unwrap();
    std::fs::remove_file(root.join("y")).unwrap();
    std::fs::write(root.join("visible"), "v").unwrap();
    fake.diff(&ds, "s1", &root, &["M|/|MP", "M|/|MP/d", "+|F|MP/visible"]);
    let common = |cmd: &'static str| {
        vec![
            cmd.to_owned(),
            "--dataset".into(),
            ds.clone(),
            "--snapshot".into(),
            "s1".into(),
            "--state".into(),
            s(&state).to_owned(),
        ]
    };
    let with = |mut v: Vec<String>, extra: &[&str]| {
        v.extend(extra.iter().map(|e| (*e).to_owned()));
        v
    };
    fake.ops(with(common("transfer-gap"), &["--to", s(&replica)]))
        .expect(0, "transfer-gap with zfs diff");
    assert!(replica.join("visible").is_file());

    let rb = fake.ops(with(common("rollback"), &["--yes"]));
    rb.expect(3, "rollback while zfs diff misses d/x");
    assert!(
        rb.err().contains("d/x") && rb.err().contains("--no-zfs-diff"),
        "{}",
        rb.describe()
    );
    assert!(root.join("d/x").is_file(), "the rollback destroyed d/x");

    fake.ops(with(
        common("transfer-gap"),
        &["--to", s(&replica), "--no-zfs-diff"],
    ))
    .expect(0, "transfer-gap --no-zfs-diff");
    assert_eq!(std::fs::read(replica.join("d/x")).unwrap(), b"only here");
    // zfs diff still disagrees with the walk: refused until told.
    fake.ops(with(common("rollback"), &["--yes"]))
        .expect(3, "rollback while zfs diff disagrees with the walk");
    fake.ops(with(common("rollback"), &["--yes", "--no-zfs-diff"]))
        .expect(0, "rollback --no-zfs-diff after a complete transfer");
    assert!(!root.join("d/x").exists() && !root.join("visible").exists());
}

/// 5. `creation` stamped a second after a rewrite of the next txg.
fn creation_after_the_rewrite(lab: &ZfsLab, fake: &FakeZfs, pool: &str) {
    use std::os::unix::fs::MetadataExt;
    let ds = format!("{pool}/lag");
    let root = dataset(lab, &ds, None, &[]);
    for attempt in 0..5 {
        let name = format!("t{attempt}");
        let path = root.join("k");
        std::fs::write(&path, b"before").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        lab.zfs_ok(["snapshot", &format!("{ds}@{name}")]);
        std::fs::write(&path, b"after!").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(before.modified().unwrap()).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        if after.ctime_nsec() != 0 {
            println!("NOTE: this filesystem keeps sub-second ctimes; case 5 skipped");
            return;
        }
        if after.ctime() != before.ctime() {
            continue; // a second boundary fell in between: again
        }
        fake.creation_offset(Some(1));
        let out = fake.ops([
            "find-gap",
            "--dataset",
            &ds,
            "--snapshot",
            &name,
            "--json",
            "--no-zfs-diff",
        ]);
        fake.creation_offset(None);
        out.expect(
            0,
            "find-gap after a rewrite in the second before `creation`",
        );
        assert!(
            gap_set(&out).contains(&("conflict".to_owned(), "k".to_owned())),
            "k was rewritten after the snapshot, in the second before its `creation`\n{}",
            out.describe()
        );
        return;
    }
    panic!("could not rewrite a file in the second it was written (5 attempts)");
}

#[test]
fn gap_safety_on_zfs() {
    if let Some(why) = zfs_unavailable() {
        if std::env::var("PUTFS_REQUIRE_ZFS").as_deref() == Ok("1") {
            panic!("PUTFS_REQUIRE_ZFS=1 but ZFS tests cannot run: {why}");
        }
        println!("SKIP: gap_safety_on_zfs: {why}");
        return;
    }
    let mut lab = ZfsLab::start();
    let pool = format!("pgs{}", std::process::id());
    lab.create_pool(&pool);
    let fake = FakeZfs::new(&lab);
    let only = std::env::var("GAP_SAFETY_CASES").ok();
    let run = |case: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|c| c == case))
    };
    if run("1") {
        not_the_dataset_is_refused(&lab, &pool);
    }
    if run("2") {
        symlinked_mountpoint(&lab, &fake, &pool);
    }
    if run("3") {
        hard_links(&lab, &fake, &pool);
    }
    if run("4") {
        rollback_walks(&lab, &fake, &pool);
    }
    if run("5") {
        creation_after_the_rewrite(&lab, &fake, &pool);
    }
}
