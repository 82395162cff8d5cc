//! A data root reached as a directory (the rsync transfer's destination):
//! checked to be a putfs data root, opened once as a directory fd that
//! every later path resolves beneath, read through the store's own
//! read-only view (`Store::lookup`), and locked against a second
//! transfer-gap into it.
//!
//! A live putfs may serve and write it meanwhile (B is the new primary):
//! nothing here takes the server's lock, and nothing is ever placed at a
//! key's path except by a rename that refuses to replace (`publish.rs`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};

use super::peer_root::{exclusive, require_marked, store_config};
use crate::error::OpsError;
use crate::store::{Store, Unobserved};

/// Where rsync writes the gap, under the target's `.putfs/`: invisible to
/// readers (no key can start with `.putfs`, listings skip it) and on the
/// target's own filesystem, so moving a file into place is a rename.
pub const STAGE: &str = ".putfs/transfer-stage";
const LOCK: &str = ".putfs/transfer.lock";

pub struct Target {
    pub path: PathBuf,
    root: OwnedFd,
    /// The target's objects as its own putfs reads them.
    pub store: Store,
    /// Cleared once the filesystem refuses `renameat2(RENAME_NOREPLACE)`.
    use_rename: AtomicBool,
    /// `None` in a dry run, which creates nothing.
    _lock: Option<File>,
}

impl Target {
    pub fn open(path: &Path, dry_run: bool) -> Result<Target, OpsError> {
        let shown = path.display();
        let root = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| OpsError::NotFound(format!("destination {shown}: {e}")))?;
        require_marked(path)?;
        let store = Store::open(store_config(path, true), std::sync::Arc::new(Unobserved))
            .map_err(|e| OpsError::Other(e.to_string()))?;
        if dry_run {
            return Ok(Target {
                path: path.to_owned(),
                root,
                store,
                use_rename: AtomicBool::new(true),
                _lock: None,
            });
        }
        let busy = format!("another transfer-gap into {shown} is running; wait for it");
        let lock = exclusive(&path.join(LOCK), &busy)?;
        Ok(Target {
            path: path.to_owned(),
            root,
            store,
            use_rename: AtomicBool::new(true),
            _lock: Some(lock),
        })
    }

    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    pub fn use_rename(&self) -> &AtomicBool {
        &self.use_rename
    }

    /// An empty staging folder (what an interrupted run left is removed).
    pub fn fresh_stage(&self) -> Result<PathBuf, OpsError> {
        let stage = self.path.join(STAGE);
        self.remove_stage()?;
        std::fs::create_dir(&stage)
            .map_err(OpsError::io(format!("creating {}", stage.display())))?;
        Ok(stage)
    }

    pub fn remove_stage(&self) -> Result<(), OpsError> {
        let stage = self.path.join(STAGE);
        match std::fs::remove_dir_all(&stage) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(OpsError::io(format!("removing {}", stage.display()))(e)),
        }
    }
}
