//! The data root's directory fd, kept open between requests.
//!
//! Opening the root by path on every request was 7% of a small GET's CPU
//! time. But a filesystem mounted over the root after start-up (a ZFS
//! dataset imported late, say) must be what the next requests see, so the
//! cached fd is checked against a fresh `stat` of the path at most once per
//! `RECHECK` and reopened when the path now leads elsewhere.
//!
//! Not so for a writable store: its lock, its marker and what it knows to be
//! durable belong to the filesystem it opened, so when the path leads
//! elsewhere (an unmount, a mount over the root) it refuses every request
//! until it is restarted, rather than write somewhere no check has approved.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::error::{Result, StoreError};

const RECHECK: Duration = Duration::from_secs(1);

pub struct RootDir {
    path: PathBuf,
    /// A writable store's: never follow the path elsewhere.
    pinned: bool,
    cached: RwLock<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    fd: Arc<OwnedFd>,
    dev: u64,
    ino: u64,
    checked: Instant,
    /// A pinned root found changed: refused from then on.
    changed: bool,
}

impl RootDir {
    pub fn new(path: &Path, pinned: bool) -> RootDir {
        RootDir {
            path: path.to_owned(),
            pinned,
            cached: RwLock::new(None),
        }
    }

    /// The root's fd, reopened if the path has changed underneath.
    pub fn get(&self) -> Result<Arc<OwnedFd>> {
        if let Ok(guard) = self.cached.read()
            && let Some(c) = guard.as_ref()
            && c.checked.elapsed() < RECHECK
        {
            return if c.changed {
                Err(StoreError::RootChanged)
            } else {
                Ok(c.fd.clone())
            };
        }
        let mut guard = self
            .cached
            .write()
            .map_err(|_| StoreError::Io(std::io::Error::other("root cache poisoned")))?;
        if let Some(c) = guard.as_mut() {
            if c.changed {
                return Err(StoreError::RootChanged);
            }
            match rustix::fs::stat(&self.path) {
                Ok(st) if st.st_dev == c.dev && st.st_ino == c.ino => {
                    c.checked = Instant::now();
                    return Ok(c.fd.clone());
                }
                _ if self.pinned => {
                    c.changed = true;
                    tracing::error!(
                        root = %self.path.display(),
                        "the data root changed under this writable server (unmounted, or \
                         mounted over); refusing requests until restarted"
                    );
                    return Err(StoreError::RootChanged);
                }
                _ => *guard = None,
            }
        }
        let fresh = self.open()?;
        let fd = fresh.fd.clone();
        *guard = Some(fresh);
        Ok(fd)
    }

    /// Open the root afresh, bypassing the cache (readiness checks).
    pub fn open_fresh(&self) -> Result<OwnedFd> {
        open_dir(&self.path)
    }

    fn open(&self) -> Result<Cached> {
        let fd = open_dir(&self.path)?;
        let st = rustix::fs::fstat(&fd)?;
        Ok(Cached {
            fd: Arc::new(fd),
            dev: st.st_dev,
            ino: st.st_ino,
            checked: Instant::now(),
            changed: false,
        })
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the data root is missing",
        )),
        e => e.into(),
    })
}
