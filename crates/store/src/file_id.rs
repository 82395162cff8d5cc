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
    /// `fstatat` (no `RESOLVE_BENEATH`): it only ever confirms that a key
    /// still names the very file an earlier `open_object` reached beneath
    /// the root. A final symlink is not followed, so it never matches.
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
