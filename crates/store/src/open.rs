//! Opening a data root: what may be served, and by how many writers.
//!
//! A data root is a directory that holds putfs's `.putfs/` folder (every
//! root putfs has served writable has one, and so has every replica the
//! shipped replication feeds). A writable server
//! - creates a root that does not exist yet, durably, and marks it;
//! - refuses an existing directory without the marker: in a failover that
//!   is most often the empty mountpoint of a dataset that is not mounted,
//!   and a writable server there would write beside ZFS, into the bare
//!   directory (`--init` marks such a directory as a new root on purpose);
//! - takes an exclusive lock (`.putfs/lock`, flock) for the life of the
//!   process, so a second writable server on the same root refuses to start.
//!
//! A read-only server needs only an existing directory and takes no lock.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::key::RESERVED_PREFIX;

/// Why a data root cannot be opened. Each message names the path and what
/// to do about it.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "refusing to serve {path} writable: the directory exists but is not a putfs data root \
         (it has no {RESERVED_PREFIX}/ folder). If it is the mountpoint of a ZFS dataset or \
         another filesystem, mount it first (e.g. `zfs mount POOL/DATASET`); to make this \
         directory a new data root, start once with --init"
    )]
    NotARoot { path: PathBuf },
    #[error("the data root {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("the data root {path} does not exist (a read-only server never creates it)")]
    Missing { path: PathBuf },
    #[error(
        "another putfs process{} is already serving {path} writable (it holds {lock}); \
         stop it first, or start this one with --read-only",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        lock = path.join(RESERVED_PREFIX).join(LOCK_FILE).display()
    )]
    Locked { path: PathBuf, holder: Option<u32> },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The writer's lock, in `.putfs/`: `putfs ops` tests it to learn whether a
/// writable server is serving a root.
pub const LOCK_FILE: &str = "lock";

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.to_owned();
    move |source| OpenError::Io { what, path, source }
}

/// Check (and for a writable server, create or mark) the data root.
pub fn prepare(root: &Path, read_only: bool, init: bool) -> Result<(), OpenError> {
    let meta = match std::fs::metadata(root) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("cannot inspect the data root", root)(e)),
    };
    match meta {
        Some(m) if !m.is_dir() => Err(OpenError::NotADirectory {
            path: root.to_owned(),
        }),
        None if read_only => Err(OpenError::Missing {
            path: root.to_owned(),
        }),
        None => {
            create_dir_durably(root)?;
            mark(root)
        }
        Some(_) if read_only => Ok(()),
        Some(_) => {
            let marker = root.join(RESERVED_PREFIX);
            match std::fs::symlink_metadata(&marker) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(OpenError::NotARoot {
                    path: root.to_owned(),
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && init => mark(root),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenError::NotARoot {
                    path: root.to_owned(),
                }),
                Err(e) => Err(io("cannot inspect", &marker)(e)),
            }
        }
    }
}

/// Create `.putfs/` in the root and make its entry durable.
fn mark(root: &Path) -> Result<(), OpenError> {
    let marker = root.join(RESERVED_PREFIX);
    match std::fs::create_dir(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("cannot create", &marker)(e)),
    }
    fsync_dir(root)
}

/// `mkdir -p`, fsyncing the parent of every directory created, so the root
/// itself survives a power cut before the first object is acknowledged.
fn create_dir_durably(path: &Path) -> Result<(), OpenError> {
    let mut missing = Vec::new();
    let mut p = path;
    while !p.exists() {
        missing.push(p);
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("cannot create the data root", dir)(e)),
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fsync_dir(parent)?;
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), OpenError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("cannot fsync", dir))
}

/// Take the writer's lock; held as long as the returned file is open.
pub fn lock_writer(root: &Path) -> Result<File, OpenError> {
    let path = root.join(RESERVED_PREFIX).join(LOCK_FILE);
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        // Never truncate the target of a symlink someone left there.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(io("cannot open the writer's lock", &path))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(OpenError::Locked {
                path: root.to_owned(),
                holder,
            });
        }
        Err(e) => return Err(io("cannot lock", &path)(e.into())),
    }
    // Who holds it, for the next server's message. Not fsynced: a lock
    // does not outlive its process.
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_marks_a_missing_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/b/root");
        prepare(&root, false, false).unwrap();
        assert!(root.join(".putfs").is_dir());
        // Marked: accepted again without --init.
        prepare(&root, false, false).unwrap();
    }

    #[test]
    fn refuses_an_unmarked_directory_unless_init() {
        let t = tempfile::tempdir().unwrap();
        let err = prepare(t.path(), false, false).unwrap_err().to_string();
        assert!(err.contains(&t.path().display().to_string()), "{err}");
        assert!(err.contains("mount") && err.contains("--init"), "{err}");
        assert!(!t.path().join(".putfs").exists(), "nothing created");
        // Read-only servers are unaffected.
        prepare(t.path(), true, false).unwrap();
        prepare(t.path(), false, true).unwrap();
        assert!(t.path().join(".putfs").is_dir());
    }

    #[test]
    fn names_files_and_missing_roots() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = prepare(&file, false, false).unwrap_err().to_string();
        assert!(e.contains("is not a directory") && e.contains("/f"), "{e}");
        let e = prepare(&t.path().join("nope"), true, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist") && e.contains("nope"), "{e}");
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holder() {
        let t = tempfile::tempdir().unwrap();
        prepare(t.path(), false, true).unwrap();
        let _held = lock_writer(t.path()).unwrap();
        let e = lock_writer(t.path()).unwrap_err();
        match &e {
            OpenError::Locked { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains("--read-only"));
    }
}
