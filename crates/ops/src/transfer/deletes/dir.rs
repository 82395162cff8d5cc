//! Deletes at a data root reached as a directory.
//!
//! Reading an object and then unlinking it is a race with any other writer:
//! a putfs serving the directory could replace the object in between, and
//! the unlink would destroy its new version. So deletes here go through the
//! store itself, opened writable on an existing root only (never created:
//! `dest.rs` has refused a missing one already): it takes the writer's lock
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

use super::{Backend, Deleted, Found};
use crate::error::OpsError;
use crate::store::{Condition, Key, OpenError, Store, StoreError, Unobserved};
use crate::transfer::{parse_key, peer_root};
use crate::writer_lock;

const REPLICATE_LOCK: &str = ".putfs/replicate.lock";

pub struct DirBackend {
    store: Store,
    _replication: Option<File>,
}

impl DirBackend {
    /// Open `path` for deleting, holding its locks; in a dry run only for
    /// reading (and a held lock is reported as what a real run would meet).
    pub fn open(path: &Path, dry_run: bool) -> Result<DirBackend, OpsError> {
        let config = peer_root::store_config(path, dry_run);
        let observer = std::sync::Arc::new(Unobserved);
        let store = Store::open_as(
            config,
            observer,
            Some("putfs ops transfer-gap --apply-deletes"),
        )
        .map_err(|e| refusal(path, e))?;
        let replication = lock(&path.join(REPLICATE_LOCK), dry_run)?;
        if dry_run && let Ok(Some(w)) = writer_lock::writer(path) {
            eprintln!(
                "note: {} holds the writer's lock of {}: a real run would refuse to delete there",
                w.who(),
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
        let key = parse_key(key)?;
        let mut obj = match self.store.lookup(&key) {
            Ok(Some(o)) => o,
            Ok(None) | Err(StoreError::IsDirectory | StoreError::ParentNotDir) => return Ok(None),
            Err(e) => return Err(failed(&key, e)),
        };
        let sha = obj.digests(&[]).map_err(|e| failed(&key, e))?.sha256;
        Ok(Some(Found {
            etag: obj.meta.etag(),
            sha256: hex::encode(sha),
            modified: Some(obj.meta.mtime_ns.div_euclid(1_000_000_000) as i64),
        }))
    }

    fn delete_if_match(&self, key: &str, etag: &str) -> Result<Deleted, OpsError> {
        let key = parse_key(key)?;
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

fn failed(key: &Key, e: StoreError) -> OpsError {
    OpsError::Other(format!("deleting {}: {e}", key.as_str()))
}

/// Why the directory cannot be opened for deleting, for the operator.
fn refusal(path: &Path, e: OpenError) -> OpsError {
    match e {
        OpenError::Locked { holder, .. } if holder.what.is_none() => OpsError::Refused(format!(
            "a writable putfs{} serves {}: deleting beside it could remove an object it writes \
             meanwhile, so transfer-gap deletes at a directory only while no writable putfs \
             serves it. Apply the deletes through that server, whose conditional DELETE is \
             atomic: rerun with --to http://ITS-ADDRESS --apply-deletes. Nothing was changed",
            holder
                .pid
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default(),
            path.display()
        )),
        OpenError::Locked { holder, .. } => OpsError::Refused(format!(
            "{} holds the writer's lock of {}: wait for it to finish and run again. Nothing \
             was changed",
            holder.who(),
            path.display()
        )),
        OpenError::NotARoot { .. }
        | OpenError::Missing { .. }
        | OpenError::NotADirectory { .. }
        | OpenError::UnderAFile { .. }
        | OpenError::DanglingLink { .. } => OpsError::Refused(format!(
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
    let busy = "a replication run into this directory is going on: stop replication into \
                the new primary first. Nothing was changed";
    peer_root::exclusive(path, busy).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn never_creates_a_missing_root() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("mnt/b-root");
        let e = DirBackend::open(&missing, false).err().unwrap();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(!t.path().join("mnt").exists(), "created the root");
    }

    #[test]
    fn refused_while_a_writer_holds_the_root() {
        let t = root();
        // A writable server: deletes go through its HTTP address.
        let server = crate::store::lock::acquire(t.path(), None, Duration::ZERO).unwrap();
        let e = DirBackend::open(t.path(), false).err().unwrap();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("http://"), "{e}");
        drop(server);
        // Another run of ours: wait for it.
        let held = DirBackend::open(t.path(), false).unwrap();
        let e = DirBackend::open(t.path(), false).err().unwrap();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(
            e.to_string().contains("transfer-gap --apply-deletes (pid"),
            "{e}"
        );
        assert!(writer_lock::writer(t.path()).unwrap().is_some());
        drop(held);
        assert!(writer_lock::writer(t.path()).unwrap().is_none());
        // A dry run only reads.
        DirBackend::open(t.path(), true).unwrap();
    }
}
