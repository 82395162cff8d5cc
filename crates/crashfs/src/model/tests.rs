//! Unit tests of the model: no mount needed.

use super::content::{XATTR_CREATE, XATTR_REPLACE};
use super::*;

const FILE: u32 = libc_s_ifmt::REG | 0o644;
const ROOT_USER: Owner = Owner { uid: 0, gid: 0 };

fn model() -> Model {
    Model::new(Meta::new(0o755, 0, 0, now()), Xattrs::new())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The durable entries of `dir` in the tree, by name.
fn durable_names(tree: &DurableTree, dir: Ino) -> Vec<String> {
    match tree.nodes.get(&dir).map(|v| &v.body) {
        Some(Body::Dir(e)) => e.keys().map(|k| k.to_string_lossy().into_owned()).collect(),
        _ => Vec::new(),
    }
}

fn durable_data(tree: &DurableTree, ino: Ino) -> Option<Vec<u8>> {
    match tree.nodes.get(&ino).map(|v| &v.body) {
        Some(Body::File(d)) => Some(d.clone()),
        _ => None,
    }
}

#[test]
fn file_data_is_durable_up_to_its_last_fsync() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.fsync(ROOT, false).unwrap();
    m.write(f, 0, b"hello").unwrap();
    assert_eq!(durable_data(&m.durable_tree(), f), Some(vec![]));
    m.fsync(f, true).unwrap();
    m.write(f, 5, b" world").unwrap();
    assert_eq!(durable_data(&m.durable_tree(), f).unwrap(), b"hello");
}

#[test]
fn fdatasync_keeps_metadata_and_xattrs_volatile() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.fsync(ROOT, false).unwrap();
    m.setxattr(f, os("user.a"), b"1", 0).unwrap();
    m.setattr(
        f,
        &SetAttr {
            perm: Some(0o600),
            ..SetAttr::default()
        },
    )
    .unwrap();
    m.fsync(f, true).unwrap();
    let v = &m.durable_tree().nodes[&f];
    assert!(v.xattrs.is_empty());
    assert_eq!(v.meta.perm, 0o644);
    m.fsync(f, false).unwrap();
    let v = &m.durable_tree().nodes[&f];
    assert_eq!(
        v.xattrs.get(os("user.a")).map(Vec::as_slice),
        Some(&b"1"[..])
    );
    assert_eq!(v.meta.perm, 0o600);
}

#[test]
fn entries_need_a_sync_of_their_directory() {
    let mut m = model();
    let a = m.mkdir(ROOT, os("a"), 0o755, ROOT_USER).unwrap().ino;
    let b = m.mkdir(a, os("b"), 0o755, ROOT_USER).unwrap().ino;
    m.mknod(b, os("f"), FILE, 0, ROOT_USER).unwrap();
    m.fsync(b, false).unwrap();
    assert!(durable_names(&m.durable_tree(), ROOT).is_empty());
    m.fsync(ROOT, false).unwrap();
    let tree = m.durable_tree();
    assert_eq!(durable_names(&tree, ROOT), ["a"]);
    assert!(durable_names(&tree, a).is_empty());
    assert!(!tree.nodes.contains_key(&b));
    m.fsync(a, false).unwrap();
    let tree = m.durable_tree();
    assert_eq!(durable_names(&tree, b), ["f"]);
    assert_eq!(m.lost_entries(&tree), 0);
}

#[test]
fn a_rename_synced_only_at_its_target_leaves_two_names() {
    let mut m = model();
    let a = m.mkdir(ROOT, os("a"), 0o755, ROOT_USER).unwrap().ino;
    let b = m.mkdir(ROOT, os("b"), 0o755, ROOT_USER).unwrap().ino;
    let f = m.mknod(a, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.sync_all();
    m.rename(a, os("f"), b, os("g"), RenameMode::Replace)
        .unwrap();
    m.fsync(b, false).unwrap();
    let tree = m.durable_tree();
    assert_eq!(durable_names(&tree, a), ["f"]);
    assert_eq!(durable_names(&tree, b), ["g"]);
    assert_eq!(m.lost_entries(&tree), 0, "both visible names are durable");
    m.fsync(a, false).unwrap();
    assert!(durable_names(&m.durable_tree(), a).is_empty());
    assert!(m.durable_tree().nodes.contains_key(&f));
}

#[test]
fn rename_flags_and_errors() {
    let mut m = model();
    let x = m.mknod(ROOT, os("x"), FILE, 0, ROOT_USER).unwrap().ino;
    let y = m.mknod(ROOT, os("y"), FILE, 0, ROOT_USER).unwrap().ino;
    let d = m.mkdir(ROOT, os("d"), 0o755, ROOT_USER).unwrap().ino;
    m.mknod(d, os("inner"), FILE, 0, ROOT_USER).unwrap();
    let e = m.mkdir(ROOT, os("e"), 0o755, ROOT_USER).unwrap().ino;
    let r = |m: &mut Model, a: &str, b: &str, mode| m.rename(ROOT, os(a), ROOT, os(b), mode);
    assert_eq!(
        r(&mut m, "x", "y", RenameMode::NoReplace),
        Err(Errno::EXIST)
    );
    assert_eq!(r(&mut m, "x", "d", RenameMode::Replace), Err(Errno::ISDIR));
    assert_eq!(r(&mut m, "d", "x", RenameMode::Replace), Err(Errno::NOTDIR));
    assert_eq!(
        r(&mut m, "e", "d", RenameMode::Replace),
        Err(Errno::NOTEMPTY)
    );
    assert_eq!(
        m.rename(ROOT, os("d"), d, os("sub"), RenameMode::Replace),
        Err(Errno::INVAL)
    );
    assert_eq!(
        r(&mut m, "nope", "z", RenameMode::Replace),
        Err(Errno::NOENT)
    );
    r(&mut m, "x", "y", RenameMode::Exchange).unwrap();
    assert_eq!(m.lookup(ROOT, os("x")).unwrap().ino, y);
    assert_eq!(m.lookup(ROOT, os("y")).unwrap().ino, x);
    r(&mut m, "d", "e", RenameMode::Replace).unwrap();
    assert_eq!(m.getattr(ROOT).unwrap().nlink, 3);
    assert_eq!(m.getattr(e).unwrap().nlink, 0);
    assert_eq!(m.lookup(ROOT, os("e")).unwrap().ino, d);
}

#[test]
fn unlinked_but_open_files_stay_readable_then_are_freed() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.write(f, 0, b"data").unwrap();
    let fh = m.open(f).unwrap();
    m.unlink(ROOT, os("f")).unwrap();
    assert_eq!(m.read(f, 0, 10).unwrap(), b"data");
    m.forget(f, 1);
    assert_eq!(m.live_inodes(), 2);
    m.release(fh);
    assert_eq!(m.live_inodes(), 1);
}

#[test]
fn durable_entries_keep_unlinked_inodes_alive() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.write(f, 0, b"kept").unwrap();
    m.sync_all();
    m.unlink(ROOT, os("f")).unwrap();
    m.forget(f, 1);
    assert_eq!(durable_data(&m.durable_tree(), f).unwrap(), b"kept");
    assert_eq!(m.lost_entries(&m.durable_tree()), 0);
    m.fsync(ROOT, false).unwrap();
    assert_eq!(m.live_inodes(), 1);
}

#[test]
fn removed_directories_free_what_only_they_held() {
    let mut m = model();
    let d = m.mkdir(ROOT, os("d"), 0o755, ROOT_USER).unwrap().ino;
    let f = m.mknod(d, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.sync_all();
    m.unlink(d, os("f")).unwrap();
    m.rmdir(ROOT, os("d")).unwrap();
    m.forget(f, 1);
    m.forget(d, 1);
    assert_eq!(m.live_inodes(), 3, "the durable tree still names both");
    m.fsync(ROOT, false).unwrap();
    assert_eq!(m.live_inodes(), 1);
}

#[test]
fn xattr_flags() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    assert_eq!(
        m.setxattr(f, os("user.a"), b"1", XATTR_REPLACE),
        Err(Errno::NODATA)
    );
    m.setxattr(f, os("user.a"), b"1", XATTR_CREATE).unwrap();
    assert_eq!(
        m.setxattr(f, os("user.a"), b"2", XATTR_CREATE),
        Err(Errno::EXIST)
    );
    m.setxattr(f, os("user.b"), b"2", 0).unwrap();
    assert_eq!(m.listxattr(f).unwrap(), b"user.a\0user.b\0");
    m.removexattr(f, os("user.a")).unwrap();
    assert_eq!(m.getxattr(f, os("user.a")), Err(Errno::NODATA));
    assert_eq!(m.removexattr(f, os("user.a")), Err(Errno::NODATA));
}

#[test]
fn errnos_of_entry_operations() {
    let mut m = model();
    let d = m.mkdir(ROOT, os("d"), 0o755, ROOT_USER).unwrap().ino;
    let f = m.mknod(d, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    assert_eq!(
        m.mknod(d, os("f"), FILE, 0, ROOT_USER).unwrap_err(),
        Errno::EXIST
    );
    assert_eq!(m.rmdir(ROOT, os("d")), Err(Errno::NOTEMPTY));
    assert_eq!(m.unlink(ROOT, os("d")), Err(Errno::ISDIR));
    assert_eq!(m.rmdir(d, os("f")), Err(Errno::NOTDIR));
    assert_eq!(m.lookup(f, os("x")).unwrap_err(), Errno::NOTDIR);
    assert_eq!(m.link(d, ROOT, os("d2")).unwrap_err(), Errno::PERM);
    let long = "x".repeat(256);
    assert_eq!(
        m.mknod(ROOT, os(&long), FILE, 0, ROOT_USER).unwrap_err(),
        Errno::NAMETOOLONG
    );
    m.link(f, ROOT, os("g")).unwrap();
    assert_eq!(m.getattr(f).unwrap().nlink, 2);
}

#[test]
fn readdir_snapshot_survives_concurrent_changes() {
    let mut m = model();
    for n in ["a", "b", "c"] {
        m.mknod(ROOT, os(n), FILE, 0, ROOT_USER).unwrap();
    }
    let fh = m.opendir(ROOT).unwrap();
    let first: Vec<_> = m.readdir(fh, 0).unwrap()[..3].to_vec();
    m.unlink(ROOT, os("a")).unwrap();
    let rest: Vec<_> = m.readdir(fh, 3).unwrap().to_vec();
    let names: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".", "..", "a", "b", "c"]);
    m.release(fh);
}

#[test]
fn fallocate_and_lseek() {
    let mut m = model();
    let f = m.mknod(ROOT, os("f"), FILE, 0, ROOT_USER).unwrap().ino;
    m.write(f, 0, b"abcdef").unwrap();
    m.fallocate(f, 0, 10, 0).unwrap();
    assert_eq!(m.getattr(f).unwrap().size, 10);
    m.fallocate(f, 0, 100, 1).unwrap();
    assert_eq!(m.getattr(f).unwrap().size, 10);
    m.fallocate(f, 1, 2, 3).unwrap();
    assert_eq!(&m.read(f, 0, 10).unwrap()[..4], b"a\0\0d");
    assert_eq!(m.lseek(f, 2, 3), Ok(2));
    assert_eq!(m.lseek(f, 2, 4), Ok(10));
    assert_eq!(m.lseek(f, 10, 3), Err(Errno::NXIO));
}
