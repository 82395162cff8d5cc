//! Making a transferred gap durable on the target before the transfer is
//! recorded as verified: the old primary's rollback destroys its own copies
//! on the strength of that record.
//!
//! Each object's data and xattrs survive a power cut only up to its last
//! fsync, and its name only once its directory has been fsynced since the
//! name was made; a directory created for it needs its parent fsynced, and
//! so on up to the root. So every object is fsynced, then every directory
//! on their paths, deepest first, root last. rsync's own `--fsync` covers
//! only file data (it sets xattrs after the fsync, and never fsyncs a
//! directory), and a `syncfs` is not passed on by FUSE and promises nothing
//! on the crash model: the per-file, per-directory walk does what a syncfs
//! would where it works, and also where it does not.

use std::collections::BTreeSet;

use rustix::fd::{AsFd, BorrowedFd};

use crate::error::OpsError;
use crate::store::fsops;

/// fsync every object in `keys` and every directory on their paths.
pub fn sync_paths(root: BorrowedFd<'_>, keys: &[&str], shown: &str) -> Result<(), OpsError> {
    if crate::store::fault_switched_on("skip-transfer-fsync") {
        eprintln!("FAULT INJECTION: the transferred objects are not fsynced");
        return Ok(());
    }
    let failed = |what: &str, e: rustix::io::Errno| {
        OpsError::Other(format!("making {what} durable at {shown}: {e}"))
    };
    let mut dirs = BTreeSet::new();
    for key in keys {
        let fd = fsops::open_read(root, key).map_err(|e| failed(key, e))?;
        rustix::fs::fsync(&fd).map_err(|e| failed(key, e))?;
        let mut dir = key.rsplit_once('/').map(|(d, _)| d);
        while let Some(d) = dir {
            dirs.insert(d.to_owned());
            dir = d.rsplit_once('/').map(|(p, _)| p);
        }
    }
    let mut dirs: Vec<String> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for d in &dirs {
        let fd = fsops::open_dir(root, d).map_err(|e| failed(d, e))?;
        rustix::fs::fsync(&fd).map_err(|e| failed(d, e))?;
    }
    if !keys.is_empty() {
        rustix::fs::fsync(root.as_fd()).map_err(|e| failed("the data root", e))?;
    }
    Ok(())
}
