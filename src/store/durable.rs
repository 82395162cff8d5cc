//! Making names durable, including names a *different* PUT created.
//!
//! A PUT that creates `a/b/` fsyncs `a/` (for `b`) and the root (for `a`)
//! before it answers. But a second PUT can find `a/b/` already there, publish
//! into it and answer first, while the first is still streaming its body:
//! the second must not answer until the entries it relies on are durable.
//! So every directory created is recorded here until its parent has been
//! fsynced, and every PUT settles the records on its own path before it
//! answers, whoever created them.

use std::collections::HashSet;
use std::sync::Mutex;

use rustix::fd::AsFd;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::Key;

#[derive(Default)]
pub struct Unsynced {
    /// Directory paths (relative to the root) whose entry in their parent
    /// may not be durable yet.
    dirs: Mutex<HashSet<String>>,
}

impl Unsynced {
    pub fn add(&self, dir: &str) {
        if let Ok(mut d) = self.dirs.lock() {
            d.insert(dir.to_owned());
        }
    }

    pub fn remove(&self, dir: &str) {
        if let Ok(mut d) = self.dirs.lock() {
            d.remove(dir);
        }
    }

    fn contains(&self, dir: &str) -> bool {
        self.dirs.lock().map(|d| d.contains(dir)).unwrap_or(true)
    }

    fn is_empty(&self) -> bool {
        self.dirs.lock().map(|d| d.is_empty()).unwrap_or(false)
    }
}

impl Store {
    /// Make the entries of every directory on `dir_path` (e.g. `a/b`)
    /// durable: fsync the parent of each one still recorded as unsynced.
    pub(crate) fn settle_path(&self, dir_path: &str) -> Result<()> {
        // The common case, one lock instead of one per path segment.
        if !self.config.fsync || dir_path.is_empty() || self.unsynced.is_empty() {
            return Ok(());
        }
        let mut prefix = dir_path;
        loop {
            if self.unsynced.contains(prefix) {
                let parent = prefix.rsplit_once('/').map_or("", |(p, _)| p);
                let root = self.root()?;
                let fd = fsops::open_dir(root.as_fd(), parent)?;
                self.sync_dir(fd.as_fd())?;
                self.unsynced.remove(prefix);
            }
            match prefix.rsplit_once('/') {
                Some((p, _)) => prefix = p,
                None => return Ok(()),
            }
        }
    }

    /// Make an existing object durable before a 204 relies on it: its bytes,
    /// its directory entry and the entries on its path.
    pub(crate) fn make_durable(&self, key: &Key, file: &std::fs::File) -> Result<()> {
        if !self.config.fsync {
            return Ok(());
        }
        self.sync(file.as_fd())?;
        let root = self.root()?;
        let dir =
            fsops::open_dir(root.as_fd(), key.parent().unwrap_or("")).map_err(StoreError::from)?;
        self.sync_dir(dir.as_fd())?;
        self.settle_path(key.parent().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testutil::temp_store_with;
    use crate::store::{IfExists, Key, KeyLimits};

    #[test]
    fn created_directories_stay_recorded_until_a_put_settles_them() {
        let (_t, store) = temp_store_with(true);
        let key = |k: &str| Key::parse(k, KeyLimits::default()).unwrap();
        // A slow upload creates a/b and is still streaming...
        let slow = store
            .begin_upload(&key("a/b/slow"), vec![], IfExists::Compare)
            .unwrap();
        assert!(store.unsynced.contains("a") && store.unsynced.contains("a/b"));
        // ...while a fast PUT into the same directory must settle both.
        store
            .put_bytes(&key("a/b/fast"), b"x", vec![], IfExists::Compare)
            .unwrap();
        assert!(!store.unsynced.contains("a") && !store.unsynced.contains("a/b"));
        drop(slow);
        // An abandoned upload's directories are removed and forgotten.
        let gone = store
            .begin_upload(&key("c/d/k"), vec![], IfExists::Compare)
            .unwrap();
        assert!(store.unsynced.contains("c/d"));
        drop(gone);
        assert!(!store.unsynced.contains("c") && !store.unsynced.contains("c/d"));
        assert!(!store.root_path().join("c").exists());
    }
}
