//! One key in both trees: what the snapshot and the live tree hold there,
//! and whether the bytes are the same.
//!
//! The zfs-diff classification asks this for every path `zfs diff` names:
//! `zfs diff` lists changed objects, not paths, so a path deleted and
//! re-created, or renamed over, appears in several lines in an order set by
//! object numbers, and only the final state of the path on each side says
//! gap, deleted or conflict. The walk uses the same content comparison.

use std::fs::Metadata;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Change, Kind, WalkOptions};
use crate::store::hash_file;

/// Compare `key` in the live tree with `key` in the snapshot: a file on one
/// side only is a gap or a deletion, a file on both with other bytes a
/// conflict. Only regular files reached through real directories count
/// (as in the walk: a symlink is not an object, nor a way to one).
pub fn compare(
    live_root: &Path,
    snap_root: &Path,
    key: &str,
    opts: WalkOptions<'_>,
) -> std::io::Result<Option<Change>> {
    let live = lookup(live_root, key)?.filter(Metadata::is_file);
    let snap = lookup(snap_root, key)?.filter(Metadata::is_file);
    Ok(match (live, snap) {
        (Some(l), Some(s)) => {
            if same_content(live_root, snap_root, key, &l, &s, opts)? {
                None
            } else {
                Some(Change::of_file(Kind::Conflict, key.to_owned(), &l))
            }
        }
        (Some(l), None) => Some(Change::of_file(Kind::Gap, key.to_owned(), &l)),
        (None, Some(s)) => Some(Change::of_file(Kind::Deleted, key.to_owned(), &s)),
        (None, None) => None,
    })
}

/// The entry at `root/key`, if every component before the last is a real
/// directory (not a symlink to one); `None` if there is nothing there.
pub fn lookup(root: &Path, key: &str) -> std::io::Result<Option<Metadata>> {
    let mut path = root.to_path_buf();
    let mut parts = key.split('/').peekable();
    while let Some(part) = parts.next() {
        path.push(part);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ));
            }
        };
        if parts.peek().is_none() {
            return Ok(Some(meta));
        }
        if !meta.is_dir() {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Same bytes? Different sizes settle it; metadata proves a file untouched
/// (same inode, ctime, mtime and size: an unchanged file seen through a ZFS
/// snapshot or clone) only when its ctime can tell a later change apart;
/// otherwise the content is compared.
pub fn same_content(
    live_root: &Path,
    snap_root: &Path,
    key: &str,
    l: &Metadata,
    s: &Metadata,
    opts: WalkOptions<'_>,
) -> std::io::Result<bool> {
    if l.len() != s.len() {
        return Ok(false);
    }
    let untouched = l.ino() == s.ino()
        && l.ctime() == s.ctime()
        && l.ctime_nsec() == s.ctime_nsec()
        && l.mtime() == s.mtime()
        && l.mtime_nsec() == s.mtime_nsec();
    if untouched && settled(s, opts.snapshot_time) && !opts.verify_content {
        return Ok(true);
    }
    Ok(hash_file(&live_root.join(key))? == hash_file(&snap_root.join(key))?)
}

/// Would a change after the snapshot have moved this ctime? Not on a
/// filesystem that keeps whole seconds (zfs-fuse) for a file last changed
/// in the second the snapshot was taken: a rewrite in that second keeps
/// the same ctime. Nanoseconds in the ctime show a finer clock; a ctime in
/// an earlier second than the snapshot is safe at any resolution.
fn settled(snap: &Metadata, snapshot_time: Option<i64>) -> bool {
    snap.ctime_nsec() != 0 || snapshot_time.is_some_and(|t| snap.ctime() < t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn lookup_does_not_pass_through_symlinks_or_files() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("d")).unwrap();
        fs::write(t.path().join("d/x"), "x").unwrap();
        fs::write(t.path().join("f"), "f").unwrap();
        std::os::unix::fs::symlink("d", t.path().join("link")).unwrap();
        assert!(lookup(t.path(), "d/x").unwrap().unwrap().is_file());
        assert!(lookup(t.path(), "link/x").unwrap().is_none());
        assert!(lookup(t.path(), "f/x").unwrap().is_none());
        assert!(lookup(t.path(), "nope/x").unwrap().is_none());
        assert!(lookup(t.path(), "link").unwrap().unwrap().is_symlink());
    }
}
