//! Is a writable putfs serving this data root?
//!
//! A writable `putfs serve` holds an exclusive flock on
//! `<root>/.putfs/lock` for its whole life and writes its pid into the
//! file (`store::open`). A non-blocking lock attempt from here answers
//! the question without a process list, without a pid file that can go
//! stale, and without ever blocking: the attempt fails exactly while the
//! server lives. Read-only servers take no lock, so this says nothing
//! about them (an unmount is what finds those: "target is busy").
//!
//! Commands that must not run under a live writer (rollback, demote) ask
//! here first; `status` uses it as the surest sign of a primary.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::error::OpsError;
use crate::store::{LOCK_FILE, RESERVED_PREFIX};

/// The writable server holding a root's lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Writer {
    /// What the server wrote into the lock file; `None` if unreadable.
    pub pid: Option<u32>,
    pub lock: PathBuf,
}

impl Writer {
    /// "putfs (pid 123)" or "a putfs process".
    pub fn who(&self) -> String {
        match self.pid {
            Some(pid) => format!("putfs (pid {pid})"),
            None => "a putfs process".to_owned(),
        }
    }
}

/// The lock file of a data root.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join(RESERVED_PREFIX).join(LOCK_FILE)
}

/// The writable putfs serving `root`, if one does. Never creates the lock
/// file and never waits: the lock is taken and dropped at once.
pub fn writer(root: &Path) -> Result<Option<Writer>, OpsError> {
    let path = lock_path(root);
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // A symlink planted there must not lead us to lock something else.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
    {
        Ok(f) => f,
        // No lock file: no writable server ever ran here, none runs now.
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OpsError::Io {
                context: format!(
                    "cannot tell whether a putfs serves {} writable: opening {}",
                    root.display(),
                    path.display()
                ),
                error: e,
            });
        }
    };
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        // Free: dropping `file` releases it again.
        Ok(()) => Ok(None),
        Err(Errno::WOULDBLOCK) => Ok(Some(Writer {
            pid: read_pid(&file),
            lock: path,
        })),
        Err(e) => Err(OpsError::Io {
            context: format!("testing the lock {}", path.display()),
            error: e.into(),
        }),
    }
}

fn read_pid(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).ok()?;
    text.trim().parse().ok()
}

/// Refuse (exit 3) while a writable putfs serves `root`, naming it and
/// saying why `what` must wait.
pub fn refuse_if_served(root: &Path, what: &str) -> Result<(), OpsError> {
    match writer(root)? {
        None => Ok(()),
        Some(w) => Err(OpsError::Refused(served_message(root, &w, what))),
    }
}

/// The message for a root that a writable putfs still serves.
pub fn served_message(root: &Path, w: &Writer, what: &str) -> String {
    format!(
        "{} is serving {} writable (it holds {}): {what}. Stop it first (systemctl stop \
         putfs-primary{}), or start it with --read-only",
        w.who(),
        root.display(),
        w.lock.display(),
        w.pid.map(|p| format!(", or kill {p}")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_a_free_one_stays_free() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(writer(t.path()).unwrap(), None, "no .putfs/ at all");
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        assert_eq!(writer(t.path()).unwrap(), None, "no lock file");

        // What a writable server does (store::open::lock_writer).
        let held = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(lock_path(t.path()))
            .unwrap();
        rustix::fs::flock(&held, FlockOperation::NonBlockingLockExclusive).unwrap();
        std::fs::write(lock_path(t.path()), "4242\n").unwrap();
        let w = writer(t.path()).unwrap().expect("held");
        assert_eq!(w.pid, Some(4242));
        let msg = served_message(t.path(), &w, "a rollback would pull the data from under it");
        assert!(
            msg.contains("pid 4242") && msg.contains("kill 4242"),
            "{msg}"
        );
        let e = refuse_if_served(t.path(), "x").unwrap_err();
        assert_eq!(e.exit_code(), 3);

        drop(held);
        assert_eq!(writer(t.path()).unwrap(), None, "released with its holder");
        // Our own test took and dropped it: still free for a server.
        assert_eq!(writer(t.path()).unwrap(), None);
    }
}
