//! The new primary's data root, as transfer-gap opens it at a directory:
//! through the store, never creating it (a root missing there is a mount
//! that is missing), and under the locks that keep two tools apart (a
//! second transfer-gap, a replication run into it).

use std::fs::File;
use std::path::Path;

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use crate::error::OpsError;
use crate::mount_state::is_data_root;
use crate::store::{KeyLimits, Policy, RESERVED_PREFIX, StoreConfig};

/// The store's view of the root at `path`: existing and marked only.
pub fn store_config(path: &Path, read_only: bool) -> StoreConfig {
    StoreConfig {
        root: path.to_owned(),
        fsync: !read_only,
        read_only,
        limits: KeyLimits::default(),
        policy: Policy::default(),
        init: false,
        create_root: false,
    }
}

/// Refuse a directory without putfs's `.putfs/` folder.
pub fn require_marked(dir: &Path) -> Result<(), OpsError> {
    if is_data_root(dir) {
        return Ok(());
    }
    Err(OpsError::Refused(format!(
        "the destination {} is not a putfs data root (it has no {RESERVED_PREFIX}/ folder): is \
         the new primary's data root mounted there? Nothing was copied",
        dir.display()
    )))
}

/// Hold the tool lock `lock` (created if missing, never truncated or
/// removed: a lock file deleted while held lets two holders in) until the
/// file is dropped; refused with `busy` while another process holds it.
pub fn exclusive(lock: &Path, busy: &str) -> Result<File, OpsError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(lock)
        .map_err(OpsError::io(format!("opening {}", lock.display())))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(Errno::WOULDBLOCK) => Err(OpsError::Refused(format!(
            "{busy} (it holds {})",
            lock.display()
        ))),
        Err(e) => Err(OpsError::Other(format!("locking {}: {e}", lock.display()))),
    }
}
