//! The writer's lock, `<root>/.putfs/lock`: one writer per data root.
//!
//! A writable server holds an exclusive flock on it for its whole life.
//! `putfs ops` holds it too while it changes a root behind any server's
//! back (a rollback, deletes at a directory), so that no putfs starts
//! writing meanwhile. Whoever holds it writes `PID [WHAT]` into the file,
//! so the next one can say who is in the way (a server writes its pid
//! alone).
//!
//! Tools that only want to know whether someone holds it ask [`probe`]: a
//! shared lock, taken and dropped at once, that never creates the file.
//! Probes never conflict with one another; one that happens at the very
//! moment a server starts costs the server a retry, not its start:
//! [`acquire`] waits a bounded time ([`WAIT`]) before it refuses, longer
//! than any probe holds the lock and far shorter than any real holder.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::key::RESERVED_PREFIX;

/// The lock's file name in `.putfs/`.
pub const LOCK_FILE: &str = "lock";

/// How long [`acquire`] waits for a holder to let go before refusing.
pub const WAIT: Duration = Duration::from_secs(2);

const RETRY: Duration = Duration::from_millis(50);

/// Why [`acquire`] did not get the lock. Opening a root turns it into an
/// `OpenError`, which says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} holds the writer's lock of {}", holder.who(), root.display())]
    Held { root: PathBuf, holder: Holder },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Who holds the lock, as the holder wrote it into the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    /// What a holder that is not a server is doing ("putfs ops rollback").
    pub what: Option<String>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let text = text.trim();
        let (pid, what) = text.split_once(' ').unwrap_or((text, ""));
        let what = what.trim();
        Holder {
            pid: pid.parse().ok(),
            what: (!what.is_empty()).then(|| what.to_owned()),
        }
    }

    fn read(mut file: &File) -> Holder {
        let mut text = String::new();
        match file.read_to_string(&mut text) {
            Ok(_) => Holder::parse(&text),
            Err(_) => Holder::default(),
        }
    }

    /// "putfs ops rollback (pid 12)", "putfs (pid 12)", "a putfs process".
    pub fn who(&self) -> String {
        match (&self.what, self.pid) {
            (Some(w), Some(p)) => format!("{w} (pid {p})"),
            (Some(w), None) => w.clone(),
            (None, Some(p)) => format!("putfs (pid {p})"),
            (None, None) => "a putfs process".to_owned(),
        }
    }
}

/// The lock file of a data root.
pub fn path(root: &Path) -> PathBuf {
    root.join(RESERVED_PREFIX).join(LOCK_FILE)
}

/// Take the lock exclusively, waiting up to `wait` for a holder to let go;
/// held as long as the returned file is open. `what` names a holder that
/// is not a server, for the message of whoever meets the lock next.
pub fn acquire(root: &Path, what: Option<&str>, wait: Duration) -> Result<File, LockError> {
    let lock = path(root);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        // Never truncate the target of a symlink someone left there.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&lock)
        .map_err(|source| LockError::Io {
            what: "cannot open the writer's lock",
            path: lock.clone(),
            source,
        })?;
    let started = Instant::now();
    loop {
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(Errno::WOULDBLOCK) if started.elapsed() < wait => std::thread::sleep(RETRY),
            Err(Errno::WOULDBLOCK) => {
                return Err(LockError::Held {
                    root: root.to_owned(),
                    holder: Holder::read(&file),
                });
            }
            Err(e) => {
                return Err(LockError::Io {
                    what: "cannot lock",
                    path: lock,
                    source: e.into(),
                });
            }
        }
    }
    // Who holds it, for the next one's message. Not fsynced: a lock does
    // not outlive its process.
    let line = match what {
        Some(w) => format!("{} {w}\n", std::process::id()),
        None => format!("{}\n", std::process::id()),
    };
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(line.as_bytes()));
    Ok(file)
}

/// Who holds the lock, `None` if nobody (or there is no lock file: no
/// writer ever ran here). Never creates the file, never waits.
pub fn probe(root: &Path) -> std::io::Result<Option<Holder>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // A symlink planted there must not lead us to lock something else.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path(root))
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
        // Free: dropping `file` releases it again.
        Ok(()) => Ok(None),
        Err(Errno::WOULDBLOCK) => Ok(Some(Holder::read(&file))),
        Err(e) => Err(e.into()),
    }
}

/// Who held the lock last, as they wrote it into the file, whether or not
/// they hold it now (a holder's line stays after it exits): `None` if
/// there is no lock file (no writer ever ran here) or it cannot be read.
/// Never creates the file, never locks.
pub fn last_holder(root: &Path) -> Option<Holder> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path(root))
        .ok()?;
    Some(Holder::read(&file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(RESERVED_PREFIX)).unwrap();
        t
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holder() {
        let t = root();
        let held = acquire(t.path(), Some("putfs ops rollback"), WAIT).unwrap();
        let e = acquire(t.path(), None, Duration::ZERO).unwrap_err();
        match &e {
            LockError::Held { holder, .. } => {
                assert_eq!(holder.pid, Some(std::process::id()));
                assert_eq!(holder.what.as_deref(), Some("putfs ops rollback"));
            }
            other => panic!("{other}"),
        }
        // A server meeting it is told who holds it and what to do.
        let msg = crate::open::OpenError::from(e).to_string();
        assert!(
            msg.contains("putfs ops rollback (pid") && msg.contains("--read-only"),
            "{msg}"
        );
        let probed = probe(t.path()).unwrap().expect("held");
        assert_eq!(probed.what.as_deref(), Some("putfs ops rollback"));
        drop(held);
        assert_eq!(probe(t.path()).unwrap(), None);
        let last = last_holder(t.path()).expect("the line stays");
        assert_eq!(last.what.as_deref(), Some("putfs ops rollback"));
    }

    #[test]
    fn a_probe_neither_creates_nor_keeps_the_lock_and_probes_do_not_collide() {
        let t = root();
        assert_eq!(probe(t.path()).unwrap(), None);
        assert_eq!(last_holder(t.path()), None);
        assert!(!path(t.path()).exists(), "a probe created the lock file");
        drop(acquire(t.path(), None, WAIT).unwrap());
        // Two probes at once (a shared lock each) see no writer.
        let first = File::open(path(t.path())).unwrap();
        rustix::fs::flock(&first, FlockOperation::NonBlockingLockShared).unwrap();
        assert_eq!(probe(t.path()).unwrap(), None);
        drop(first);
    }

    #[test]
    fn a_writer_waits_for_a_probe_to_let_go() {
        let t = root();
        std::fs::write(path(t.path()), "4242\n").unwrap();
        let probe_lock = File::open(path(t.path())).unwrap();
        rustix::fs::flock(&probe_lock, FlockOperation::NonBlockingLockShared).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(probe_lock);
        });
        let got = acquire(t.path(), None, WAIT);
        release.join().unwrap();
        got.unwrap();
        assert_eq!(
            std::fs::read_to_string(path(t.path())).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn holders_are_read_as_written() {
        assert_eq!(
            Holder::parse("12 putfs ops rollback\n"),
            Holder {
                pid: Some(12),
                what: Some("putfs ops rollback".into())
            }
        );
        assert_eq!(Holder::parse("12\n").who(), "putfs (pid 12)");
        assert_eq!(Holder::parse("").who(), "a putfs process");
    }
}
