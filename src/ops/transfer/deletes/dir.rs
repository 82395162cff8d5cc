//! Deletes at a data root reached as a directory.
//!
//! Reading an object and then unlinking it is a race with any other writer:
//! a putfs serving the directory could replace the object in between, and
//! the unlink would destroy its new version. So deletes here go through the
//! store itself, opened writable: it takes the writer's lock
//! (`.putfs/lock`), which a writable putfs holds for as long as it runs, so
//! while a server writes the directory the deletes are refused (and go
//! through that server's HTTP address instead, where its conditional DELETE
//! is atomic), and while transfer-gap holds it no server can start. The
//! replication lock (`.putfs/replicate.lock`, taken by the replication
//! scripts) is held too. Each delete is then the store's own: conditional
//! on the version compared, the directory fsynced, emptied directories
//! pruned.

use std::fs::File;
use std::path::Path;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::{Backend, Deleted, Found};
use crate::ops::error::OpsError;
use crate::store::{
    Condition, Key, KeyLimits, OpenError, Policy, Store, StoreConfig, StoreError, Unobserved,
};

const REPLICATE_LOCK: &str = ".putfs/replicate.lock";

pub struct DirBackend {
    store: Store,
    _replication: Option<File>,
}

impl DirBackend {
    /// Open `path` for deleting, holding its locks; in a dry run only for
    /// reading (and a held lock is reported as what a real run would meet).
    pub fn open(path: &Path, dry_run: bool) -> Result<DirBackend, OpsError> {
        let config = StoreConfig {
            root: path.to_owned(),
            fsync: true,
            read_only: dry_run,
            limits: KeyLimits::default(),
            policy: Policy::default(),
            init: false,
        };
        let store =
            Store::open(config, std::sync::Arc::new(Unobserved)).map_err(|e| refusal(path, e))?;
        let replication = lock(&path.join(REPLICATE_LOCK), dry_run)?;
        if dry_run && let Some(pid) = writer(path) {
            eprintln!(
                "note: a writable putfs{pid} serves {}: a real run would refuse to delete there",
                path.display()
            );
        }
        Ok(DirBackend {
            store,
            _replication: replication,
        })
    }
}

impl Backend for DirBackend {
    fn current(&self, key: &str) -> Result<Option<Found>, OpsError> {
        let key = parse(key)?;
        let mut obj = match self.store.lookup(&key) {
            Ok(Some(o)) => o,
            Ok(None) | Err(StoreError::IsDirectory | StoreError::ParentNotDir) => return Ok(None),
            Err(e) => return Err(failed(&key, e)),
        };
        let sha = obj.digests(&[]).map_err(|e| failed(&key, e))?.sha256;
        Ok(Some(Found {
            etag: obj.meta.etag(),
            sha256: hex::encode(sha),
        }))
    }

    fn delete_if_match(&self, key: &str, etag: &str) -> Result<Deleted, OpsError> {
        let key = parse(key)?;
        let etag = etag.to_owned();
        let same = Condition::new(move |m| m.is_some_and(|m| m.etag() == etag));
        match self.store.delete(&key, Some(&same)) {
            Ok(()) => Ok(Deleted::Done),
            Err(StoreError::NotFound) => Ok(Deleted::Absent),
            Err(StoreError::PreconditionFailed) => Ok(Deleted::Changed),
            Err(StoreError::Retained) => Ok(Deleted::Refused("a retention rule".into())),
            Err(e) => Err(failed(&key, e)),
        }
    }
}

fn parse(key: &str) -> Result<Key, OpsError> {
    Key::parse(key, KeyLimits::default())
        .map_err(|e| OpsError::Other(format!("{key:?} is not a key putfs can delete: {e}")))
}

fn failed(key: &Key, e: StoreError) -> OpsError {
    OpsError::Other(format!("deleting {}: {e}", key.as_str()))
}

/// Why the directory cannot be opened for deleting, for the operator.
fn refusal(path: &Path, e: OpenError) -> OpsError {
    match e {
        OpenError::Locked { holder, .. } => OpsError::Refused(format!(
            "a writable putfs{} serves {}: deleting beside it could remove an object it writes \
             meanwhile, so transfer-gap deletes at a directory only while no writable putfs \
             serves it. Apply the deletes through that server, whose conditional DELETE is \
             atomic: rerun with --to http://ITS-ADDRESS --apply-deletes. Nothing was changed",
            holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            path.display()
        )),
        OpenError::NotARoot { .. }
        | OpenError::Missing { .. }
        | OpenError::NotADirectory { .. } => OpsError::Refused(format!(
            "{e}; nothing was changed (is the new primary's data root mounted there?)"
        )),
        e => OpsError::Other(e.to_string()),
    }
}

/// Take the replication lock, refused while a replication run holds it.
fn lock(path: &Path, dry_run: bool) -> Result<Option<File>, OpsError> {
    if dry_run {
        return Ok(None);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(OpsError::io(format!("opening {}", path.display())))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(Errno::WOULDBLOCK) => Err(OpsError::Refused(format!(
            "a replication run into this directory holds {}: stop replication into the new \
             primary first. Nothing was changed",
            path.display()
        ))),
        Err(e) => Err(OpsError::Other(format!("locking {}: {e}", path.display()))),
    }
}

/// The pid holding the writer's lock, as `" (pid N)"`, if a process holds it.
pub fn writer(path: &Path) -> Option<String> {
    let lock = path.join(".putfs/lock");
    let file = File::open(&lock).ok()?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => None,
        Err(_) => Some(
            std::fs::read_to_string(&lock)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/k"), b"snapshot").unwrap();
        t
    }

    #[test]
    fn deletes_only_the_version_compared() {
        let t = root();
        let b = DirBackend::open(t.path(), false).unwrap();
        let found = b.current("a/b/k").unwrap().unwrap();
        // Another version since: kept.
        std::fs::write(t.path().join("a/b/k"), b"newer, longer").unwrap();
        assert!(matches!(
            b.delete_if_match("a/b/k", &found.etag).unwrap(),
            Deleted::Changed
        ));
        assert!(t.path().join("a/b/k").exists());
        let now = b.current("a/b/k").unwrap().unwrap();
        assert!(matches!(
            b.delete_if_match("a/b/k", &now.etag).unwrap(),
            Deleted::Done
        ));
        assert!(!t.path().join("a").exists(), "emptied directories pruned");
        assert!(matches!(
            b.delete_if_match("a/b/k", &now.etag).unwrap(),
            Deleted::Absent
        ));
        assert!(b.current("a/b/k").unwrap().is_none());
    }

    #[test]
    fn refused_while_a_writer_holds_the_root() {
        let t = root();
        let held = DirBackend::open(t.path(), false).unwrap();
        let e = DirBackend::open(t.path(), false).err().unwrap();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("http://"), "{e}");
        assert!(writer(t.path()).is_some());
        drop(held);
        assert!(writer(t.path()).is_none());
        // A dry run only reads.
        DirBackend::open(t.path(), true).unwrap();
    }
}
