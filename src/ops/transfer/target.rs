//! A data root reached as a directory (the rsync transfer's destination):
//! checked to be a putfs data root, opened once as a directory fd that
//! every later path resolves beneath, and locked against a second
//! transfer-gap into it.
//!
//! A live putfs may serve and write it meanwhile (B is the new primary):
//! nothing here takes the server's lock, and nothing is ever placed at a
//! key's path except by a rename that refuses to replace (`publish.rs`).

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::ops::error::OpsError;
use crate::store::RESERVED_PREFIX;

/// Where rsync writes the gap, under the target's `.putfs/`: invisible to
/// readers (no key can start with `.putfs`, listings skip it) and on the
/// target's own filesystem, so moving a file into place is a rename.
pub const STAGE: &str = ".putfs/transfer-stage";
const LOCK: &str = ".putfs/transfer.lock";

pub struct Target {
    pub path: PathBuf,
    root: OwnedFd,
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
        match rustix::fs::statat(
            &root,
            RESERVED_PREFIX,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => {}
            _ => {
                return Err(OpsError::Refused(format!(
                    "the destination {shown} is not a putfs data root (it has no \
                     {RESERVED_PREFIX}/ folder): is the new primary's data root mounted there? \
                     Nothing was copied"
                )));
            }
        }
        if dry_run {
            return Ok(Target {
                path: path.to_owned(),
                root,
                _lock: None,
            });
        }
        let lock_path = path.join(LOCK);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(OpsError::io(format!("opening {}", lock_path.display())))?;
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(OpsError::Refused(format!(
                    "another transfer-gap into {shown} is running (it holds {}); wait for it",
                    lock_path.display()
                )));
            }
            Err(e) => {
                return Err(OpsError::Other(format!(
                    "locking {}: {e}",
                    lock_path.display()
                )));
            }
        }
        Ok(Target {
            path: path.to_owned(),
            root,
            _lock: Some(lock),
        })
    }

    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
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
