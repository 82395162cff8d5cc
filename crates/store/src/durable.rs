//! Making directory entries durable, including entries this PUT did not
//! create.
//!
//! An object `a/b/k` survives a power cut only if the entries `a` (in the
//! root), `b` (in `a`) and `k` (in `a/b`) are all durable, and a directory
//! entry is durable only once its directory has been fsynced after it was
//! made. A PUT always fsyncs `a/b` after publishing `k`. For the directories
//! on the path it relies on a record, kept here:
//! - `unsynced`: directories this process created whose entry in their
//!   parent has not been fsynced since. Another PUT may find `a/b/` there,
//!   publish into it and answer before the PUT that created it does, so
//!   every PUT settles the records on its own path, whoever made them.
//! - `settled`: directories whose entry this process has seen fsynced
//!   after the directory existed.
//!
//! A directory in neither is one this process found on disk: an earlier
//! process (killed before it fsynced, say) or another tool may have created
//! it, and nothing says its entry is durable, so the first PUT that relies
//! on it fsyncs its parent. No acknowledgement therefore rests on anything
//! a crash forgets: what the record holds is only ever positive knowledge
//! of fsyncs this process made, and losing it costs an fsync, never an
//! object. (A start-up `syncfs` would do the same on ext4 or ZFS, but it
//! promises nothing on every filesystem: FUSE does not pass it on.)
//!
//! Creations carry a generation, so an fsync that began before a directory
//! was removed and created again never settles the new one.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rustix::fd::AsFd;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::Key;

/// Bytes of directory paths remembered as settled; past this the record
/// starts over (costing one parent fsync per directory in use, nothing else).
const SETTLED_CAP_BYTES: usize = 8 << 20;

#[derive(Default)]
pub struct DirEntries {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_generation: u64,
    /// Directory path (relative to the root) -> generation of its creation.
    unsynced: HashMap<String, u64>,
    settled: HashSet<String>,
    settled_bytes: usize,
}

/// What settling one directory's entry needs: `None` when it is known
/// durable, else the generation to settle (0 for a directory found on disk).
type Need = Option<u64>;

impl Inner {
    fn unsettle(&mut self, dir: &str) {
        if self.settled.remove(dir) {
            self.settled_bytes = self.settled_bytes.saturating_sub(dir.len());
        }
    }
}

impl DirEntries {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Io(std::io::Error::other("directory record poisoned")))
    }

    /// This process just created `dir`.
    pub fn created(&self, dir: &str) {
        if let Ok(mut i) = self.lock() {
            i.next_generation += 1;
            let g = i.next_generation;
            i.unsynced.insert(dir.to_owned(), g);
            i.unsettle(dir);
        }
    }

    /// This process is about to remove `dir` (called before the rmdir, so
    /// it never erases the record of a creation that follows the rmdir).
    pub fn removed(&self, dir: &str) {
        if let Ok(mut i) = self.lock() {
            i.unsynced.remove(dir);
            i.unsettle(dir);
        }
    }

    /// For each directory on `dir_path` (`a`, `a/b`, ...), what settling it
    /// needs, deepest first. Unknown state counts as unsynced.
    fn needs(&self, dir_path: &str) -> Vec<(String, Need)> {
        let guard = self.lock().ok();
        let mut out = Vec::new();
        let mut prefix = dir_path;
        loop {
            let need = match &guard {
                None => Some(0),
                Some(i) => match i.unsynced.get(prefix) {
                    Some(g) => Some(*g),
                    None if i.settled.contains(prefix) => None,
                    None => Some(0),
                },
            };
            out.push((prefix.to_owned(), need));
            match prefix.rsplit_once('/') {
                Some((p, _)) => prefix = p,
                None => return out,
            }
        }
    }

    /// An fsync of `dir`'s parent that started after `needs` saw generation
    /// `g` has finished.
    fn synced(&self, dir: &str, g: u64) {
        let Ok(mut i) = self.lock() else { return };
        match i.unsynced.get(dir) {
            Some(&current) if current == g => {
                i.unsynced.remove(dir);
            }
            // Created (again) since we looked: that creation is not covered.
            Some(_) => return,
            // Its creation's record is gone: settled by another PUT (which
            // recorded it), or the directory was removed meanwhile.
            None if g != 0 => return,
            None => {}
        }
        if i.settled_bytes >= SETTLED_CAP_BYTES {
            i.settled.clear();
            i.settled_bytes = 0;
        }
        if i.settled.insert(dir.to_owned()) {
            i.settled_bytes += dir.len();
        }
    }

    #[cfg(test)]
    fn is_unsynced(&self, dir: &str) -> bool {
        self.lock().is_ok_and(|i| i.unsynced.contains_key(dir))
    }

    #[cfg(test)]
    fn is_settled(&self, dir: &str) -> bool {
        self.lock()
            .is_ok_and(|i| i.settled.contains(dir) && !i.unsynced.contains_key(dir))
    }
}

impl Store {
    /// Make the entry of every directory on `dir_path` (e.g. `a/b`)
    /// durable: fsync the parent of each one not known durable.
    pub(crate) fn settle_path(&self, dir_path: &str) -> Result<()> {
        if !self.config.fsync || dir_path.is_empty() {
            return Ok(());
        }
        for (dir, need) in self.dirs.needs(dir_path) {
            let Some(g) = need else { continue };
            if !self.faults.skip_parent_fsync {
                let parent = dir.rsplit_once('/').map_or("", |(p, _)| p);
                let root = self.root()?;
                match fsops::open_dir(root.as_fd(), parent) {
                    Ok(fd) => self.sync_dir(fd.as_fd())?,
                    // Removed meanwhile, with what we published in it: a
                    // DELETE came after us, and there is nothing to settle.
                    Err(rustix::io::Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            self.dirs.synced(&dir, g);
        }
        Ok(())
    }

    /// Make an existing object durable before a 204 relies on it: its bytes,
    /// its directory entry and the entries on its path.
    pub(crate) fn make_durable(&self, key: &Key, file: &std::fs::File) -> Result<()> {
        if !self.config.fsync || self.faults.skip_204_durable {
            return Ok(());
        }
        self.sync(file.as_fd())?;
        let root = self.root()?;
        let dir = match fsops::open_dir(root.as_fd(), key.parent().unwrap_or("")) {
            Ok(d) => d,
            // Deleted (and its directory pruned) since we found it: the
            // answer stands, a DELETE came after it.
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(StoreError::from(e)),
        };
        self.sync_dir(dir.as_fd())?;
        self.settle_path(key.parent().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::temp_store_with;
    use crate::{IfExists, Key, KeyLimits};

    fn key(k: &str) -> Key {
        Key::parse(k, KeyLimits::default()).unwrap()
    }

    #[test]
    fn created_directories_stay_recorded_until_a_put_settles_them() {
        let (_t, store) = temp_store_with(true);
        // A slow upload creates a/b and is still streaming...
        let slow = store
            .begin_upload(&key("a/b/slow"), vec![], IfExists::Compare, None)
            .unwrap();
        assert!(store.dirs.is_unsynced("a") && store.dirs.is_unsynced("a/b"));
        // ...while a fast PUT into the same directory must settle both.
        store
            .put_bytes(&key("a/b/fast"), b"x", vec![], IfExists::Compare, None)
            .unwrap();
        assert!(store.dirs.is_settled("a") && store.dirs.is_settled("a/b"));
        drop(slow);
        // An abandoned upload's directories are removed and forgotten.
        let gone = store
            .begin_upload(&key("c/d/k"), vec![], IfExists::Compare, None)
            .unwrap();
        assert!(store.dirs.is_unsynced("c/d"));
        drop(gone);
        assert!(!store.dirs.is_unsynced("c") && !store.dirs.is_settled("c/d"));
        assert!(!store.root_path().join("c").exists());
    }

    #[test]
    fn directories_found_on_disk_are_not_taken_for_durable() {
        let (_t, store) = temp_store_with(true);
        // Made by an earlier process that may have died before any fsync.
        std::fs::create_dir_all(store.root_path().join("old/dir")).unwrap();
        assert!(!store.dirs.is_settled("old") && !store.dirs.is_settled("old/dir"));
        store
            .put_bytes(&key("old/dir/k"), b"x", vec![], IfExists::Compare, None)
            .unwrap();
        assert!(store.dirs.is_settled("old") && store.dirs.is_settled("old/dir"));
    }

    #[test]
    fn an_fsync_older_than_a_creation_does_not_settle_it() {
        let (_t, store) = temp_store_with(true);
        let needs = store.dirs.needs("x");
        assert_eq!(needs, vec![("x".to_string(), Some(0))]);
        // x is created after the fsync for the old x began...
        store.dirs.created("x");
        store.dirs.synced("x", 0);
        assert!(store.dirs.is_unsynced("x") && !store.dirs.is_settled("x"));
        let g = store.dirs.needs("x")[0].1.unwrap();
        store.dirs.created("x");
        store.dirs.synced("x", g);
        assert!(
            store.dirs.is_unsynced("x"),
            "a later creation stays unsynced"
        );
    }

    #[test]
    fn a_prune_never_erases_the_record_of_a_later_creation() {
        let (_t, store) = temp_store_with(true);
        // A PUT starts settling y, found on disk; a DELETE prunes y (its
        // record is dropped before the rmdir); another PUT creates y again.
        assert_eq!(store.dirs.needs("y")[0].1, Some(0));
        store.dirs.removed("y");
        store.dirs.created("y");
        store.dirs.synced("y", 0);
        assert!(store.dirs.is_unsynced("y") && !store.dirs.is_settled("y"));
        // A creation whose record a prune dropped is not settled by the
        // creator's own (now pointless) fsync either.
        let g = store.dirs.needs("y")[0].1.unwrap();
        store.dirs.removed("y");
        store.dirs.synced("y", g);
        assert!(!store.dirs.is_settled("y"));
    }
}
