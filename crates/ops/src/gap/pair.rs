//! One key in both trees: what the snapshot and the live tree hold there,
//! and whether the bytes are the same.
//!
//! The zfs-diff classification asks this for every path `zfs diff` names:
//! `zfs diff` lists changed objects, not paths, so a path deleted and
//! re-created, or renamed over, appears in several lines in an order set by
//! object numbers, and only the final state of the path on each side says
//! gap, deleted or conflict. The walk uses the same content comparison.
//!
//! Same bytes are proven by metadata only where a change after the
//! snapshot would have moved the file's ctime (see [`settled`]);
//! everywhere else the content is compared.

use std::fs::Metadata;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Change, Kind, WalkOptions};
use crate::store::hash_file;

/// How far before a snapshot's `creation` a file's ctime must lie for its
/// metadata to prove it unchanged since (see [`settled`]).
pub const CREATION_MARGIN_SECS: i64 = 30;

/// Compare `key`, found as `live` in the live tree and as `snap` in the
/// snapshot (regular files reached through real directories, see
/// [`lookup`]): a file on one side only is a gap or a deletion, a file on
/// both with other bytes a conflict.
pub fn compare(
    live_root: &Path,
    snap_root: &Path,
    key: &str,
    live: Option<Metadata>,
    snap: Option<Metadata>,
    opts: WalkOptions<'_>,
) -> std::io::Result<Option<Change>> {
    let live = live.filter(Metadata::is_file);
    let snap = snap.filter(Metadata::is_file);
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

/// Would a change after the snapshot have moved this ctime, so that an
/// equal ctime proves the file untouched?
///
/// With the snapshot's `creation` known (ZFS): only for a ctime at least
/// [`CREATION_MARGIN_SECS`] before it. `creation` is stamped when the
/// snapshot's transaction group syncs, after its dirty data is written,
/// while writes of the next group (after the snapshot) go on with ctimes
/// from before that moment. And timestamps are coarse: whole seconds on
/// zfs-fuse, a clock tick on Linux even where they show nanoseconds. So a
/// file written just before the snapshot and rewritten in place just after
/// it, in the same second or tick, keeps its ctime; a ctime further back
/// than the longest plausible sync cannot be such a rewrite. The files
/// inside the margin are compared by content: those changed in the last
/// half minute before the snapshot, few and cheap.
///
/// Without it (`--snapshot-dir`): only a ctime with sub-second digits (a
/// filesystem with a fine clock, as btrfs) is trusted; `--verify-content`
/// compares every file.
fn settled(snap: &Metadata, snapshot_time: Option<i64>) -> bool {
    match snapshot_time {
        Some(t) => snap.ctime() <= t - CREATION_MARGIN_SECS,
        None => snap.ctime_nsec() != 0,
    }
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

    #[test]
    fn a_ctime_just_before_the_snapshot_is_no_proof() {
        // A snapshot's `creation` is stamped when its txg syncs: a write of
        // the next txg may carry a ctime a second (or more) before it.
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("k"), "k").unwrap();
        let m = fs::metadata(t.path().join("k")).unwrap();
        assert!(!settled(&m, Some(m.ctime() + 1)));
        assert!(!settled(&m, Some(m.ctime() + CREATION_MARGIN_SECS - 1)));
        assert!(settled(&m, Some(m.ctime() + CREATION_MARGIN_SECS)));
        assert!(settled(&m, Some(m.ctime() + 3600)));
    }
}
