//! Parsing `zfs diff -H -F`, and classifying recorded outputs in OpenZFS's
//! format (tab-separated change, type, path[, new path | link-count
//! change]; one line per changed object, in object-number order, so a
//! re-created path's `+` may come before its `-`), for histories where the
//! last line about a path is not its final state, hard links, paths
//! outside the mount and files on the delete queue.

use std::fs;
use std::path::Path;

use super::*;
use crate::gap::Kind;

const MP: &str = "/tank/putfs";

/// Builds the snapshot tree and the live tree (`(key, bytes)`, directories
/// made as needed), classifies `diff`, returns (kind, key) pairs.
fn run(diff: &str, snap: &[(&str, &str)], live: &[(&str, &str)]) -> Vec<(Kind, String)> {
    let t = tempfile::tempdir().unwrap();
    let (live_root, snap_root) = (t.path().join("live"), t.path().join("snap"));
    for (root, files) in [(&live_root, live), (&snap_root, snap)] {
        fs::create_dir_all(root).unwrap();
        for (key, data) in files {
            let p = root.join(key);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, data).unwrap();
        }
    }
    let lines = parse(diff).unwrap();
    let mut s = Summary::default();
    let mut got: Vec<(Kind, String)> = classify(
        &lines,
        Path::new(MP),
        &live_root,
        &snap_root,
        WalkOptions::default(),
        &mut s,
    )
    .map(changes)
    .unwrap()
    .into_iter()
    .map(|c| (c.change, c.key))
    .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    got
}

/// The changes of a classification that needed no walk.
fn changes(c: Classified) -> Vec<crate::gap::Change> {
    match c {
        Classified::Changes { changes, .. } => changes,
        Classified::NeedsWalk(why) => panic!("needs a walk: {why}"),
    }
}

fn kinds(v: &[(Kind, &str)]) -> Vec<(Kind, String)> {
    v.iter().map(|(k, s)| (*k, (*s).to_owned())).collect()
}

#[test]
fn deleted_then_recreated_with_other_bytes_is_a_conflict() {
    // rm k; write k: the new object got a lower (reused) number, so its
    // `+` line comes first and the old object's `-` line last.
    let diff = "+\tF\t/tank/putfs/k\n-\tF\t/tank/putfs/k\nM\t/\t/tank/putfs\n";
    let got = run(diff, &[("k", "old!")], &[("k", "new!")]);
    assert_eq!(got, kinds(&[(Kind::Conflict, "k")]));
}

#[test]
fn deleted_then_recreated_with_the_same_bytes_is_no_change() {
    for diff in [
        "-\tF\t/tank/putfs/k\n+\tF\t/tank/putfs/k\n",
        "+\tF\t/tank/putfs/k\n-\tF\t/tank/putfs/k\n",
    ] {
        assert_eq!(run(diff, &[("k", "same")], &[("k", "same")]), [], "{diff}");
    }
}

#[test]
fn deleted_then_recreated_is_never_deleted() {
    // rm d/k; write d/k, in a directory that did not change otherwise.
    let diff = "M\t/\t/tank/putfs/d\n+\tF\t/tank/putfs/d/k\n-\tF\t/tank/putfs/d/k\n";
    let got = run(diff, &[("d/k", "v1")], &[("d/k", "version 2")]);
    assert_eq!(got, kinds(&[(Kind::Conflict, "d/k")]));
}

#[test]
fn renamed_over_an_existing_key() {
    // mv b a, with a's object numbered after b's: the rename is listed
    // before a's removal.
    let diff = "R\tF\t/tank/putfs/b\t/tank/putfs/a\n-\tF\t/tank/putfs/a\nM\t/\t/tank/putfs\n";
    let got = run(diff, &[("a", "AAAA"), ("b", "BBBB")], &[("a", "BBBB")]);
    assert_eq!(got, kinds(&[(Kind::Conflict, "a"), (Kind::Deleted, "b")]));
}

#[test]
fn renamed_over_a_key_with_the_same_bytes() {
    for diff in [
        "R\tF\t/tank/putfs/b\t/tank/putfs/a\n-\tF\t/tank/putfs/a\n",
        "-\tF\t/tank/putfs/a\nR\tF\t/tank/putfs/b\t/tank/putfs/a\n",
    ] {
        let got = run(diff, &[("a", "same"), ("b", "same")], &[("a", "same")]);
        assert_eq!(got, kinds(&[(Kind::Deleted, "b")]), "{diff}");
    }
}

#[test]
fn two_keys_swapped() {
    // mv a t; mv b a; mv t b
    let diff = "R\tF\t/tank/putfs/a\t/tank/putfs/b\nR\tF\t/tank/putfs/b\t/tank/putfs/a\n";
    let got = run(diff, &[("a", "1"), ("b", "2")], &[("a", "2"), ("b", "1")]);
    assert_eq!(got, kinds(&[(Kind::Conflict, "a"), (Kind::Conflict, "b")]));
}

#[test]
fn renamed_away_then_recreated_with_the_same_bytes() {
    // mv k k2; write k with k's old bytes.
    let diff = "+\tF\t/tank/putfs/k\nR\tF\t/tank/putfs/k\t/tank/putfs/k2\n";
    let got = run(diff, &[("k", "v")], &[("k", "v"), ("k2", "v")]);
    assert_eq!(got, kinds(&[(Kind::Gap, "k2")]));
}

#[test]
fn directory_renamed_over_another_then_recreated() {
    // rm -r e; mv d e; mkdir d; write d/x with its old bytes. d/x and the
    // renamed e/x (untouched, so not listed itself) come from the rename.
    let diff = "+\tF\t/tank/putfs/d/x\n\
                R\t/\t/tank/putfs/d\t/tank/putfs/e\n\
                -\t/\t/tank/putfs/e\n\
                -\tF\t/tank/putfs/e/y\n\
                +\t/\t/tank/putfs/d\n\
                M\t/\t/tank/putfs\n";
    let got = run(
        diff,
        &[("d/x", "1"), ("e/y", "2")],
        &[("d/x", "1"), ("e/x", "1")],
    );
    assert_eq!(got, kinds(&[(Kind::Gap, "e/x"), (Kind::Deleted, "e/y")]));
}

#[test]
fn file_replaced_by_a_directory() {
    let diff = "+\t/\t/tank/putfs/k\n-\tF\t/tank/putfs/k\n+\tF\t/tank/putfs/k/inner\n";
    let got = run(diff, &[("k", "file")], &[("k/inner", "i")]);
    assert_eq!(got, kinds(&[(Kind::Deleted, "k"), (Kind::Gap, "k/inner")]));
}

#[test]
fn a_symlink_is_no_directory_to_look_through() {
    // rm -r d; ln -s real d: d/x in the live tree only resolves through
    // the link, which is not an object (as in the walk).
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(live.join("real")).unwrap();
    fs::write(live.join("real/x"), "1").unwrap();
    std::os::unix::fs::symlink("real", live.join("d")).unwrap();
    fs::create_dir_all(snap.join("d")).unwrap();
    fs::write(snap.join("d/x"), "1").unwrap();
    let diff = "-\tF\t/tank/putfs/d/x\n-\t/\t/tank/putfs/d\n+\t@\t/tank/putfs/d\n\
                +\t/\t/tank/putfs/real\n+\tF\t/tank/putfs/real/x\n";
    let lines = parse(diff).unwrap();
    let mut s = Summary::default();
    let got: Vec<(Kind, String)> = classify(
        &lines,
        Path::new(MP),
        &live,
        &snap,
        WalkOptions::default(),
        &mut s,
    )
    .map(changes)
    .unwrap()
    .into_iter()
    .map(|c| (c.change, c.key))
    .collect();
    assert_eq!(got, kinds(&[(Kind::Deleted, "d/x"), (Kind::Gap, "real/x")]));
}

#[test]
fn a_path_named_but_missing_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(&live).unwrap();
    fs::create_dir_all(&snap).unwrap();
    let lines = parse("+\tF\t/tank/putfs/gone\n").unwrap();
    let opts = WalkOptions::default();
    let e = classify(
        &lines,
        Path::new(MP),
        &live,
        &snap,
        opts,
        &mut Summary::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gone") && e.contains("--no-zfs-diff"), "{e}");
}

#[test]
fn a_link_count_change_is_not_a_rename() {
    let l = parse("M\tF\t/tank/putfs/h\t(+1)\nM\tF\t/tank/putfs/g\t(-2)\n").unwrap();
    assert_eq!(l[0].path, "/tank/putfs/h");
    assert_eq!(l[0].new_path, None);
    assert_eq!((l[0].links, l[1].links), (Some(1), Some(-2)));
    for bad in [
        "M\tF\t/tank/putfs/h\t/tank/putfs/x\n",
        "M\tF\t/tank/putfs/h\t(1)\n",
        "+\tF\t/tank/putfs/h\t(+1)\n",
        "R\tF\t/a\t/b\t/c\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// Classifies `diff` over the trees; what the classification says.
fn classified(diff: &str, snap: &[(&str, &str)], live: &[(&str, &str)]) -> Classified {
    let t = tempfile::tempdir().unwrap();
    let (live_root, snap_root) = (t.path().join("live"), t.path().join("snap"));
    for (root, files) in [(&live_root, live), (&snap_root, snap)] {
        fs::create_dir_all(root).unwrap();
        for (key, data) in files {
            fs::write(root.join(key), data).unwrap();
        }
    }
    let lines = parse(diff).unwrap();
    let opts = WalkOptions::default();
    classify(
        &lines,
        Path::new(MP),
        &live_root,
        &snap_root,
        opts,
        &mut Summary::default(),
    )
    .unwrap()
}

#[test]
fn a_link_count_line_sends_the_comparison_to_the_walk() {
    // ln a b; mv a c: zfs diff names only a.
    let diff = "M\t/\t/tank/putfs\nM\tF\t/tank/putfs/a\t(+1)\n";
    let got = classified(diff, &[("a", "A")], &[("b", "A"), ("c", "A")]);
    assert!(
        matches!(got, Classified::NeedsWalk(ref w) if w.contains("/tank/putfs/a")),
        "{got:?}"
    );
}

#[test]
fn a_file_with_more_than_one_link_sends_the_comparison_to_the_walk() {
    // A new file with two names: one `+` line, for one of them.
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(&live).unwrap();
    fs::create_dir_all(&snap).unwrap();
    fs::write(live.join("n1"), "new").unwrap();
    fs::hard_link(live.join("n1"), live.join("n2")).unwrap();
    let lines = parse("M\t/\t/tank/putfs\n+\tF\t/tank/putfs/n1\n").unwrap();
    let opts = WalkOptions::default();
    let got = classify(
        &lines,
        Path::new(MP),
        &live,
        &snap,
        opts,
        &mut Summary::default(),
    );
    assert!(
        matches!(got, Ok(Classified::NeedsWalk(ref w)) if w.contains("n1") && w.contains("2 hard links")),
        "{got:?}"
    );
}

#[test]
fn a_file_on_the_delete_queue_is_no_key() {
    // rm k while a reader holds it open: the object has no path.
    for diff in [
        "R\tF\t/tank/putfs/k\t/tank/putfs(on_delete_queue)\nM\t/\t/tank/putfs\n",
        "+\tF\t/tank/putfs(on_delete_queue)\n-\tF\t/tank/putfs(on_delete_queue)\n",
    ] {
        let got = changes(classified(diff, &[("k", "K")], &[]));
        let got: Vec<(Kind, String)> = got.into_iter().map(|c| (c.change, c.key)).collect();
        let want = if diff.starts_with('R') {
            kinds(&[(Kind::Deleted, "k")])
        } else {
            kinds(&[])
        };
        assert_eq!(got, want, "{diff}");
    }
}

#[test]
fn a_dataset_mounted_at_the_root_has_no_prefix() {
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(&live).unwrap();
    fs::create_dir_all(&snap).unwrap();
    fs::write(live.join("new"), "n").unwrap();
    let lines = parse("+\tF\t/new\n-\tF\t(on_delete_queue)\n").unwrap();
    let opts = WalkOptions::default();
    let got = classify(
        &lines,
        Path::new("/"),
        &live,
        &snap,
        opts,
        &mut Summary::default(),
    );
    let got: Vec<(Kind, String)> = changes(got.unwrap())
        .into_iter()
        .map(|c| (c.change, c.key))
        .collect();
    assert_eq!(got, kinds(&[(Kind::Gap, "new")]));
}

#[test]
fn parses_and_unescapes() {
    let out = "+\tF\t/tank/putfs/a\\0040b\nR\t/\t/tank/putfs/old\t/tank/putfs/new\n";
    let l = parse(out).unwrap();
    assert_eq!(
        l[0],
        DiffLine {
            change: '+',
            kind: 'F',
            path: "/tank/putfs/a b".into(),
            new_path: None,
            links: None,
        }
    );
    assert_eq!(l[1].new_path.as_deref(), Some("/tank/putfs/new"));
    assert!(parse("garbage\n").is_err());
    assert!(parse("+\tF\t/x\\09\n").is_err());
}

#[test]
fn classifies_files_and_renamed_directories() {
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(live.join("new")).unwrap();
    fs::create_dir_all(snap.join("old")).unwrap();
    fs::write(live.join("new/x"), "x").unwrap();
    fs::write(snap.join("old/x"), "x").unwrap();
    fs::write(live.join("added"), "a").unwrap();
    fs::write(snap.join("removed"), "r").unwrap();
    fs::write(live.join("mod"), "2").unwrap();
    fs::write(snap.join("mod"), "1").unwrap();
    fs::write(live.join("touched"), "same").unwrap();
    fs::write(snap.join("touched"), "same").unwrap();
    fs::create_dir_all(live.join(".putfs")).unwrap();
    fs::write(live.join(".putfs/heartbeat"), "h").unwrap();
    let mp = Path::new("/tank/putfs");
    let lines = parse(
        "+\tF\t/tank/putfs/added\n-\tF\t/tank/putfs/removed\nM\tF\t/tank/putfs/mod\n\
         M\tF\t/tank/putfs/touched\nR\t/\t/tank/putfs/old\t/tank/putfs/new\n\
         M\tF\t/tank/putfs/.putfs/heartbeat\nM\t/\t/tank/putfs\n",
    )
    .unwrap();
    let mut s = Summary::default();
    let got: Vec<(Kind, String)> =
        classify(&lines, mp, &live, &snap, WalkOptions::default(), &mut s)
            .map(changes)
            .unwrap()
            .into_iter()
            .map(|c| (c.change, c.key))
            .collect();
    assert_eq!(
        got,
        [
            (Kind::Gap, "added".to_owned()),
            (Kind::Conflict, "mod".to_owned()),
            (Kind::Gap, "new/x".to_owned()),
            (Kind::Deleted, "old/x".to_owned()),
            (Kind::Deleted, "removed".to_owned()),
        ]
    );
    assert_eq!((s.gap, s.deleted, s.conflicts), (2, 2, 1));
}

#[test]
fn a_path_outside_the_mountpoint_is_an_error() {
    // The dataset's mountpoint property is /tank/putfs, but /tank is a
    // symlink to /var/tank: zfs diff prints the mount table's path.
    let t = tempfile::tempdir().unwrap();
    let (live, snap) = (t.path().join("live"), t.path().join("snap"));
    fs::create_dir_all(&live).unwrap();
    fs::create_dir_all(&snap).unwrap();
    fs::write(live.join("new"), "gap").unwrap();
    let lines = parse("+\tF\t/var/tank/putfs/new\nM\t/\t/var/tank/putfs\n").unwrap();
    let got = classify(
        &lines,
        Path::new(MP),
        &live,
        &snap,
        WalkOptions::default(),
        &mut Summary::default(),
    );
    let e = format!("{:?}", got.map(|_| ()).unwrap_err());
    assert!(
        e.contains("/var/tank/putfs/new") && e.contains("--no-zfs-diff"),
        "{e}"
    );
}
