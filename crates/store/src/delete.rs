//! Durable DELETE with pruning of emptied directories.

use rustix::fd::AsFd;
use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::Store;
use super::condition::Condition;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::Key;

impl Store {
    /// Remove the object `key` (if `condition` holds for it, checked under
    /// the key's lock), fsync its directory, then remove the directories
    /// above it that are left empty (up to, not including, the root),
    /// fsyncing each parent.
    pub fn delete(&self, key: &Key, condition: Option<&Condition>) -> Result<()> {
        self.delete_keeping(key, condition, 0)
    }

    /// As [`Store::delete`], but the `keep` outermost directories of the
    /// key's path stay even when emptied (an S3 bucket is the first).
    pub fn delete_keeping(
        &self,
        key: &Key,
        condition: Option<&Condition>,
        keep: usize,
    ) -> Result<()> {
        if self.read_only() {
            return Err(StoreError::ReadOnly);
        }
        if !self.config.policy.may_delete(key) {
            return Err(StoreError::Retained);
        }
        let root = self.root()?;
        let parent = key.parent().unwrap_or("");
        let dir = fsops::open_dir(root.as_fd(), parent).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => StoreError::NotFound,
            e => e.into(),
        })?;
        let name = key.file_name();
        {
            let _guard = self.key_locks.lock(key);
            // No object: 404 whatever the conditions say (RFC 9110 §13.2.1:
            // they apply only where the request would otherwise succeed).
            if let Some(c) = condition {
                let current = match self.current_meta(dir.as_fd(), name) {
                    Err(StoreError::IsDirectory) | Ok(None) => return Err(StoreError::NotFound),
                    current => current?,
                };
                c.check(current.as_ref())?;
            } else {
                let st = fsops::stat_at(dir.as_fd(), name)?;
                if fsops::is_dir(&st) {
                    return Err(StoreError::NotFound);
                }
            }
            rustix::fs::unlinkat(&dir, name, AtFlags::empty())?;
        }
        self.sync_dir(dir.as_fd())?;
        self.observer.deleted();
        self.prune(root.as_fd(), key, keep);
        Ok(())
    }

    /// Remove emptied directories above `key`, innermost first. Best effort:
    /// a directory that is not empty (or anything else going wrong) stops the
    /// climb, and the delete itself has already succeeded.
    fn prune(&self, root: rustix::fd::BorrowedFd<'_>, key: &Key, keep: usize) {
        let mut dir = key.parent();
        while let Some(d) = dir {
            if d.split('/').count() <= keep {
                return;
            }
            let (parent, name) = d.rsplit_once('/').unwrap_or(("", d));
            let Ok(pfd) = fsops::open_dir(root, parent) else {
                return;
            };
            // Forgotten before the rmdir, so a re-creation's record that
            // follows it is never erased (see `durable.rs`).
            self.dirs.removed(d);
            if fsops::rmdir_at(pfd.as_fd(), name).is_err() {
                return;
            }
            if self.sync_dir(pfd.as_fd()).is_err() {
                return;
            }
            dir = (!parent.is_empty()).then_some(parent);
        }
    }
}
