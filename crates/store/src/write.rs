//! The durable, write-once PUT.
//!
//! 1. open (creating as needed) the key's directory beneath the root;
//! 2. stream the body into a fresh `.putfs-tmp.*` file there, hashing it;
//! 3. check the digests the client demanded;
//! 4. record the SHA-256 in an xattr, fsync the file;
//! 5. publish it under the key with a primitive that cannot replace
//!    (or, for a mutable key, an atomic rename);
//! 6. fsync the directory and the parents of every directory created.
//!
//! An `Upload` dropped before `commit` finishes removes its temp file and the
//! directories it created: a failed or abandoned PUT leaves nothing.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::Store;
use super::condition::Condition;
use super::digest::{Digests, Expected, Hashers, StoredDigest};
use super::error::{Result, StoreError};
use super::fsops;
use super::key::{Key, TEMP_PREFIX};
use super::meta::ObjectMeta;

/// What to do when the key turns out to exist at publish time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfExists {
    /// Identical bytes are a success, different bytes a conflict (`verify`).
    Compare,
    /// Always a conflict (`strict`).
    Conflict,
    /// Always a success (`lenient`).
    Accept,
    /// The client said `If-None-Match: *`: precondition failed.
    Fail,
    /// The key is mutable: replace it.
    Replace,
}

/// How a PUT ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written (for a mutable key, possibly replacing older bytes).
    Created(ObjectMeta),
    /// The key already held these bytes (or policy accepts any).
    Identical(ObjectMeta),
}

/// A directory this upload created: removed again if the upload fails, and
/// its parent fsynced if it succeeds.
struct CreatedDir {
    parent: OwnedFd,
    name: String,
    /// Relative to the root, for the unsynced record.
    path: String,
}

/// Makes an attribute's value once the body's SHA-256 is known (see
/// `attrs`).
pub type AttrValue = Box<dyn FnOnce(&[u8; 32]) -> Vec<u8> + Send>;

/// An upload in progress. Not `Sync`; lives on one blocking thread.
pub struct Upload {
    store: Arc<Store>,
    key: Key,
    dir: OwnedFd,
    created: Vec<CreatedDir>,
    tmp_name: String,
    pub(crate) file: File,
    hashers: Hashers,
    expected: Vec<Expected>,
    if_exists: IfExists,
    /// Checked against the object at publish time, under the key's lock.
    condition: Option<Condition>,
    written: u64,
    done: bool,
    /// Attributes to write on the file before it is made durable (`attrs`).
    pub(crate) attached: Vec<(String, AttrValue)>,
}

impl Store {
    /// Start an upload of `key`: its directory is ready and the temp file
    /// open when this returns.
    pub fn begin_upload(
        self: &Arc<Self>,
        key: &Key,
        expected: Vec<Expected>,
        if_exists: IfExists,
        condition: Option<Condition>,
    ) -> Result<Upload> {
        if self.read_only() {
            return Err(StoreError::ReadOnly);
        }
        // A DELETE pruning an empty directory (or an abandoned upload
        // removing one it created) may remove it while we open, create in
        // or walk through it; the next attempt recreates it.
        let mut attempts = 0;
        loop {
            let (dir, created) = match self.ensure_dir(key) {
                Ok(d) => d,
                Err(StoreError::NotFound) if attempts < 8 => {
                    attempts += 1;
                    continue;
                }
                Err(StoreError::NotFound) => {
                    return Err(StoreError::Io(std::io::Error::other(
                        "the key's directory kept disappearing while it was created",
                    )));
                }
                Err(e) => return Err(e),
            };
            let tmp_name = self.temp_name();
            match fsops::create_exclusive(dir.as_fd(), &tmp_name) {
                Ok(fd) => {
                    return Ok(Upload {
                        store: Arc::clone(self),
                        key: key.clone(),
                        dir,
                        created,
                        tmp_name,
                        file: File::from(fd),
                        hashers: Hashers::new(&expected),
                        expected,
                        if_exists,
                        condition,
                        written: 0,
                        done: false,
                        attached: Vec::new(),
                    });
                }
                Err(Errno::NOENT) if attempts < 8 => attempts += 1,
                Err(e) => {
                    self.remove_created(&created);
                    return Err(e.into());
                }
            }
        }
    }

    /// A temp name unique to this process run (`boot_id`) and upload.
    pub(crate) fn temp_name(&self) -> String {
        let n = self
            .temp_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{TEMP_PREFIX}{}.{n:x}", self.boot_id)
    }

    /// Open the key's directory, creating the missing part of the path.
    fn ensure_dir(&self, key: &Key) -> Result<(OwnedFd, Vec<CreatedDir>)> {
        let root = self.root()?;
        let Some(parent) = key.parent() else {
            // The upload keeps its own fd of the directory it publishes in.
            return Ok((rustix::io::dup(&*root)?, Vec::new()));
        };
        match fsops::open_dir(root.as_fd(), parent) {
            Ok(fd) => return Ok((fd, Vec::new())),
            Err(Errno::NOENT) => {}
            Err(Errno::NOTDIR) => return Err(StoreError::ParentNotDir),
            Err(e) => return Err(e.into()),
        }
        let mut created = Vec::new();
        let result = self.create_path(root.as_fd(), key, &mut created);
        if result.is_err() {
            self.remove_created(&created);
        }
        result.map(|dir| (dir, created))
    }

    /// Walk the key's directories from the root, creating missing ones and
    /// recording them in `created`.
    fn create_path(
        &self,
        root: rustix::fd::BorrowedFd<'_>,
        key: &Key,
        created: &mut Vec<CreatedDir>,
    ) -> Result<OwnedFd> {
        let mode = |_: &str| Ok(rustix::fs::Mode::from_raw_mode(0o755));
        let made = |parent: rustix::fd::BorrowedFd<'_>, name: &str, path: &str| {
            if self.config.fsync {
                self.dirs.created(path);
            }
            created.push(CreatedDir {
                parent: rustix::io::dup(parent)?,
                name: name.to_owned(),
                path: path.to_owned(),
            });
            Ok(())
        };
        fsops::create_dirs(root, key.dir_segments(), mode, made).map_err(|e| match e {
            Errno::NOTDIR => StoreError::ParentNotDir,
            e => e.into(),
        })
    }
}

impl Upload {
    /// Append a chunk of the body.
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hashers.update(chunk);
        self.file.write_all(chunk).map_err(StoreError::from_io)?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verify, make durable and publish. On any error the temp is removed.
    pub fn commit(mut self) -> Result<PutOutcome> {
        let hashers = std::mem::replace(&mut self.hashers, Hashers::new(&[]));
        let digests = hashers.finish();
        digests
            .check(&self.expected)
            .map_err(StoreError::DigestMismatch)?;
        let st = rustix::fs::fstat(&self.file).map_err(StoreError::from)?;
        let meta = ObjectMeta::from_stat(&st, Some(digests.sha256));
        fsops::write_digest(
            self.file.as_fd(),
            &StoredDigest {
                sha256: digests.sha256,
                size: meta.size,
                mtime_ns: meta.mtime_ns,
            },
        )?;
        self.write_attached(&digests.sha256)?;
        self.store.sync(self.file.as_fd())?;

        let name = self.key.file_name().to_owned();
        match self.publish(&name) {
            Ok(()) => {}
            Err(StoreError::Exists) => return self.resolve_existing(&name, &digests),
            Err(e) => return Err(e),
        }
        // From here on the name exists: the temp is gone.
        self.done = true;
        self.store.sync_dir(self.dir.as_fd())?;
        self.store.settle_path(self.key.parent().unwrap_or(""))?;
        self.store.observer.written();
        Ok(PutOutcome::Created(meta))
    }

    /// Check the condition and publish, atomically with respect to every
    /// other change of this key (see `keylock.rs`). `Exists`: the key was
    /// taken and may not be replaced.
    fn publish(&self, name: &str) -> Result<()> {
        let replace = self.if_exists == IfExists::Replace;
        // Even a create-only publish: a conditional DELETE or replace that
        // found no object must not see one appear before it acts.
        let _guard = self.store.key_locks.lock(&self.key);
        if let Some(c) = &self.condition {
            c.check(self.store.current_meta(self.dir.as_fd(), name)?.as_ref())?;
        }
        let published = if replace {
            fsops::publish_replace(self.dir.as_fd(), &self.tmp_name, name)
        } else {
            fsops::publish_noreplace(
                self.dir.as_fd(),
                &self.tmp_name,
                name,
                &self.store.use_rename,
            )
        };
        match published {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(StoreError::Exists),
            Err(e) => Err(self.publish_error(e)),
        }
    }

    fn publish_error(&self, e: Errno) -> StoreError {
        match e {
            Errno::ISDIR | Errno::NOTEMPTY => StoreError::IsDirectory,
            // Our own temp file vanished (removed from outside): not the
            // client's "no such object".
            Errno::NOENT => StoreError::Io(std::io::Error::other(
                "the upload's temp file disappeared before it could be published",
            )),
            e => e.into(),
        }
    }

    /// The key was taken while we wrote: apply the policy.
    fn resolve_existing(self, name: &str, ours: &Digests) -> Result<PutOutcome> {
        let st = fsops::stat_at(self.dir.as_fd(), name).map_err(StoreError::from)?;
        if fsops::is_dir(&st) {
            return Err(StoreError::IsDirectory);
        }
        let mut existing = self.store.open_object(&self.key)?;
        let store = self.store.clone();
        let cond = self.condition.as_ref();
        match store.answer_existing(&self.key, &mut existing, self.if_exists, cond, &[], None) {
            Some(answer) => answer,
            None => store.compare_existing(&self.key, &mut existing, &ours.sha256, self.written),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = rustix::fs::unlinkat(self.dir.as_fd(), &self.tmp_name, AtFlags::empty());
        self.store.remove_created(&self.created);
    }
}

impl Store {
    /// Remove directories an abandoned upload created, innermost first; a
    /// directory someone else has meanwhile put something in stays.
    fn remove_created(&self, created: &[CreatedDir]) {
        for c in created.iter().rev() {
            // Forgotten first: a record made by whoever creates it again
            // after our rmdir must survive (see `durable.rs`).
            self.dirs.removed(&c.path);
            if fsops::rmdir_at(c.parent.as_fd(), &c.name).is_err() {
                return;
            }
        }
    }
}

impl Store {
    /// fsync a directory (when configured), shared with concurrent callers
    /// for the same directory (`dirsync`).
    pub(crate) fn sync_dir(&self, dir: rustix::fd::BorrowedFd<'_>) -> Result<()> {
        if !self.config.fsync || self.faults.skip_dir_fsync {
            return Ok(());
        }
        self.dir_syncer.sync(dir, &|fd| self.sync(fd))
    }

    /// fsync (when configured), timed for the observer.
    pub(crate) fn sync(&self, fd: rustix::fd::BorrowedFd<'_>) -> Result<()> {
        if !self.config.fsync {
            return Ok(());
        }
        let t = Instant::now();
        rustix::fs::fsync(fd).map_err(StoreError::from)?;
        self.observer.fsync(t.elapsed().as_secs_f64());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::testutil::temp_store;
    use crate::{IfExists, Key, KeyLimits};

    /// A conditional change that found no object holds the key's lock while
    /// it acts: a create-only PUT must not publish in between.
    #[test]
    fn a_create_only_publish_waits_for_the_keys_lock() {
        let (_t, store) = temp_store();
        let key = Key::parse("a/k", KeyLimits::default()).unwrap();
        let guard = store.key_locks.lock(&key);
        let writer = {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || store.put_bytes(&key, b"x", vec![], IfExists::Compare, None))
        };
        // It must not appear while the lock is held (it would within
        // microseconds if the publish did not take it).
        let path = store.root_path().join("a/k");
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            assert!(!path.exists(), "published while the key was locked");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(guard);
        assert!(writer.join().unwrap().is_ok());
        assert!(path.exists());
    }
}
