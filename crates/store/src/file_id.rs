//! Which file a key names, by one `stat` and without opening it: what a
//! read cache checks before it answers from memory.
//!
//! A file replaced (a new inode: putfs's own replacement, rsync's rename,
//! a delete and a new PUT), rewritten in place (mtime and ctime move; the
//! ctime cannot be set back from user space), or deleted never keeps the
//! same [`FileId`]. zfs receive and rollback carry the sender's inode
//! numbers and times, so there too a different file on the primary is a
//! different id on the replica.

use rustix::fd::AsFd;
use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::Key;

/// Device, inode, size, mtime and ctime (in nanoseconds) of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileId {
    /// Whether the file's last change (mtime or ctime) is at least `margin`
    /// before `now`. File times tick coarsely on many filesystems (ZFS, and
    /// ext4 or XFS before Linux 6.13: a clock tick, 1-10 ms), so a file
    /// changed twice within one tick can keep its id; one that has been
    /// still for longer than a tick cannot change again without a later
    /// time (the rule git uses for "racily clean" files).
    pub fn settled(&self, now: std::time::SystemTime, margin: std::time::Duration) -> bool {
        let Ok(now) = now.duration_since(std::time::UNIX_EPOCH) else {
            return false;
        };
        let last = self.mtime_ns.max(self.ctime_ns);
        last < now.as_nanos() as i128 - margin.as_nanos() as i128
    }

    pub(crate) fn from_stat(st: &rustix::fs::Stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size as u64,
            mtime_ns: fsops::mtime_ns(st),
            ctime_ns: st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128,
        }
    }
}

impl Store {
    /// The id of the regular file at `key`, `None` when there is none (gone,
    /// a directory, a symlink, a parent that is a file).
    ///
    /// Unlike [`Store::open_object`] this resolves the path with a plain
    /// `fstatat` (no `RESOLVE_BENEATH`), to stay one system call: it only
    /// ever confirms that a key still names the very file an earlier
    /// `open_object` reached beneath the root. A final symlink is not
    /// followed, so it never matches. Should a directory on the path be
    /// replaced by a symlink leading out of the root to that same file
    /// (moved out, same device and inode), a cache keeps answering with the
    /// bytes it read from beneath the root; nothing outside the root is
    /// ever read this way, and the first change to the file ends it.
    pub fn file_id(&self, key: &Key) -> Result<Option<FileId>> {
        let root = self.root()?;
        match rustix::fs::statat(root.as_fd(), key.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if fsops::is_file(&st) => Ok(Some(FileId::from_stat(&st))),
            Ok(_) => Ok(None),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(StoreError::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::FileId;

    fn id(mtime_s: i128, ctime_s: i128) -> FileId {
        FileId {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: mtime_s * 1_000_000_000,
            ctime_ns: ctime_s * 1_000_000_000,
        }
    }

    #[test]
    fn settled_only_when_both_times_are_old_enough() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let second = Duration::from_secs(1);
        assert!(id(900, 998).settled(now, second));
        assert!(
            !id(900, 999).settled(now, second),
            "ctime within the margin"
        );
        assert!(
            !id(1_000, 900).settled(now, second),
            "mtime within the margin"
        );
        assert!(!id(5_000, 900).settled(now, second), "mtime in the future");
    }
}
