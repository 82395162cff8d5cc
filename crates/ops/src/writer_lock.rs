//! Is a writable putfs serving this data root, and keeping one from
//! starting while `putfs ops` changes it.
//!
//! A writable `putfs serve` holds an exclusive flock on
//! `<root>/.putfs/lock` for its whole life and writes its pid into the
//! file (`store::lock`). The store's probe (a shared lock, taken and
//! dropped at once) answers "who holds it" without a process list, without
//! a pid file that can go stale, without ever blocking, and without
//! getting in the way of another probe; a server that starts during a
//! probe waits for it. Read-only servers take no lock, so this says
//! nothing about them (an unmount is what finds those: "target is busy").
//!
//! Commands that must not run under a live writer (rollback, demote) ask
//! here first, and rollback holds the lock itself until it is done;
//! `status` uses it as the surest sign of a primary.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::OpsError;
use crate::store::RESERVED_PREFIX;
use crate::store::lock::{self, Holder, LockError};

/// The process holding a root's lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Writer {
    /// What the holder wrote into the lock file; `None` if unreadable.
    pub pid: Option<u32>,
    /// What a holder that is not a server is doing (`putfs ops rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    pub lock: PathBuf,
}

impl Writer {
    fn of(root: &Path, h: Holder) -> Writer {
        Writer {
            pid: h.pid,
            what: h.what,
            lock: lock_path(root),
        }
    }

    /// "putfs (pid 123)", "putfs ops rollback (pid 9)" or "a putfs process".
    pub fn who(&self) -> String {
        Holder {
            pid: self.pid,
            what: self.what.clone(),
        }
        .who()
    }

    /// A server, not a tool holding the lock for a moment's work.
    pub fn is_server(&self) -> bool {
        self.what.is_none()
    }
}

/// What is known about a root's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Nobody holds the lock (or there is no lock file: no writer ever ran).
    Free,
    Held(Writer),
    /// The lock could not be tested (its file could not be opened: a user
    /// without access to it): nothing may be concluded either way.
    Unknown(String),
}

/// The lock file of a data root.
pub fn lock_path(root: &Path) -> PathBuf {
    lock::path(root)
}

/// The process holding `root`'s lock, if one does. Never creates the lock
/// file and never waits.
pub fn writer(root: &Path) -> Result<Option<Writer>, OpsError> {
    match lock::probe(root) {
        Ok(h) => Ok(h.map(|h| Writer::of(root, h))),
        Err(error) => Err(OpsError::Io {
            context: format!(
                "cannot tell whether a putfs serves {} writable: testing {}",
                root.display(),
                lock_path(root).display()
            ),
            error,
        }),
    }
}

/// As [`writer`], with a failure to test the lock as [`Known::Unknown`].
pub fn known(root: &Path) -> Known {
    match writer(root) {
        Ok(None) => Known::Free,
        Ok(Some(w)) => Known::Held(w),
        Err(e) => Known::Unknown(e.to_string()),
    }
}

/// Why the lock could not be held.
pub enum NotHeld {
    /// Someone holds it.
    By(Writer),
    /// The root has no `.putfs/`: no putfs serves it writable, and none can
    /// start there without `--init`.
    NoMarker,
    Failed(OpsError),
}

/// Hold `root`'s lock (exclusive) until the returned file is dropped, as
/// `what`: no putfs can start writing there meanwhile (one that tries
/// refuses, naming `what` and this pid).
pub fn hold(root: &Path, what: &str) -> Result<File, NotHeld> {
    if !root.join(RESERVED_PREFIX).is_dir() {
        return Err(NotHeld::NoMarker);
    }
    lock::acquire(root, Some(what), lock::WAIT).map_err(|e| match e {
        LockError::Held { holder, .. } => NotHeld::By(Writer::of(root, holder)),
        e => NotHeld::Failed(OpsError::Other(e.to_string())),
    })
}

/// Refuse (exit 3) while a writable putfs serves `root`, naming it and
/// saying why `what` must wait.
pub fn refuse_if_served(root: &Path, what: &str) -> Result<(), OpsError> {
    match writer(root)? {
        None => Ok(()),
        Some(w) => Err(OpsError::Refused(served_message(root, &w, what))),
    }
}

/// The message for a root whose lock is held.
pub fn served_message(root: &Path, w: &Writer, what: &str) -> String {
    if !w.is_server() {
        return format!(
            "{} holds the writer's lock of {} ({}): {what}. Wait for it to finish",
            w.who(),
            root.display(),
            w.lock.display()
        );
    }
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
    use std::time::Duration;

    #[test]
    fn a_held_lock_names_its_holder_and_a_free_one_stays_free() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(writer(t.path()).unwrap(), None, "no .putfs/ at all");
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        assert_eq!(writer(t.path()).unwrap(), None, "no lock file");

        // What a writable server does.
        let held = lock::acquire(t.path(), None, Duration::ZERO).unwrap();
        let w = writer(t.path()).unwrap().expect("held");
        assert_eq!(w.pid, Some(std::process::id()));
        assert!(w.is_server());
        let msg = served_message(t.path(), &w, "a rollback would pull the data from under it");
        let pid = std::process::id();
        assert!(
            msg.contains(&format!("pid {pid}")) && msg.contains(&format!("kill {pid}")),
            "{msg}"
        );
        let e = refuse_if_served(t.path(), "x").unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(matches!(
            hold(t.path(), "putfs ops rollback"),
            Err(NotHeld::By(_))
        ));

        drop(held);
        assert_eq!(writer(t.path()).unwrap(), None, "released with its holder");
        // Our own probe took and dropped it: still free for a holder.
        let mine = hold(t.path(), "putfs ops rollback").ok().expect("free");
        let w = writer(t.path()).unwrap().expect("held by us");
        assert_eq!(w.who(), format!("putfs ops rollback (pid {pid})"));
        assert!(!w.is_server());
        drop(mine);
    }

    #[test]
    fn an_untestable_lock_is_unknown() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        std::os::unix::fs::symlink("/dev/null", lock_path(t.path())).unwrap();
        assert!(matches!(known(t.path()), Known::Unknown(_)));
        assert!(matches!(hold(t.path(), "x"), Err(NotHeld::Failed(_))));
    }
}
