//! Opening a data root: what may be served, and by how many writers.
//!
//! A data root is a directory that holds putfs's `.putfs/` folder (every
//! root putfs has served writable has one, and so has every replica the
//! shipped replication feeds). A writable server
//! - creates a root that does not exist yet, durably, and marks it (a tool
//!   writing into another node's root never does: a missing root there is
//!   a filesystem that is not mounted, `StoreConfig::create_root`);
//! - refuses an existing directory without the marker: in a failover that
//!   is most often the empty mountpoint of a dataset that is not mounted,
//!   and a writable server there would write beside ZFS, into the bare
//!   directory (`--init` marks such a directory as a new root on purpose);
//! - takes the writer's lock (`lock.rs`) for the life of the process, so a
//!   second writable server on the same root refuses to start.
//!
//! A read-only server needs only an existing directory and takes no lock.

use std::fs::File;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::key::RESERVED_PREFIX;
use super::lock::{self, Holder, LockError};
use super::probe::{Step, Unwritable};

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
    #[error("the data root {path} is {what}, not a directory")]
    NotADirectory { path: PathBuf, what: &'static str },
    #[error("the data root {path} cannot exist: {file} is a file, not a directory")]
    UnderAFile { path: PathBuf, file: PathBuf },
    #[error(
        "the data root {path} is a symbolic link to {target}, which does not exist: \
         create that directory (or mount its filesystem), or give --root another path"
    )]
    DanglingLink { path: PathBuf, target: PathBuf },
    #[error("the data root {path} does not exist ({why})")]
    Missing { path: PathBuf, why: &'static str },
    #[error("{}", unwritable(root, dir, *step, source))]
    Unwritable {
        root: PathBuf,
        dir: PathBuf,
        step: Step,
        source: std::io::Error,
    },
    #[error("{}", locked(path, holder))]
    Locked { path: PathBuf, holder: Holder },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl OpenError {
    /// The refusal of a root putfs cannot write, as the probe found it.
    pub fn unwritable(root: &Path, u: Unwritable) -> OpenError {
        OpenError::Unwritable {
            root: root.to_owned(),
            dir: u.dir,
            step: u.step,
            source: u.source,
        }
    }
}

impl From<LockError> for OpenError {
    fn from(e: LockError) -> OpenError {
        match e {
            LockError::Held { root, holder } => OpenError::Locked { path: root, holder },
            LockError::Io { what, path, source } => OpenError::Io { what, path, source },
        }
    }
}

/// What a writer that finds the lock held is told.
fn locked(root: &Path, holder: &Holder) -> String {
    let lock = lock::path(root);
    match &holder.what {
        None => format!(
            "another putfs process{} is already serving {} writable (it holds {}); stop it \
             first, or start this one with --read-only",
            holder
                .pid
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default(),
            root.display(),
            lock.display()
        ),
        Some(_) => format!(
            "{} holds the writer's lock of {} ({}), and no putfs may write there until it \
             ends: wait for it, or start this one with --read-only",
            holder.who(),
            root.display(),
            lock.display()
        ),
    }
}

/// What a writable server that cannot write is told: where, what it could
/// not do, and what to do about it.
fn unwritable(root: &Path, dir: &Path, step: Step, e: &std::io::Error) -> String {
    let root = root.display();
    let cannot = step.describe(dir);
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::ACCESS | Errno::PERM) => format!(
            "refusing to serve {root} writable: putfs cannot {cannot}: permission denied (it \
             runs as uid {}, gid {}). Give that user write access to {}, or serve the root \
             with --read-only",
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
            dir.display()
        ),
        Some(Errno::ROFS) => format!(
            "refusing to serve {root} writable: it is on a read-only filesystem (putfs cannot \
             {cannot}). Mount it read-write, or serve it with --read-only"
        ),
        _ => format!("refusing to serve {root} writable: putfs cannot {cannot}: {e}"),
    }
}

/// The writer's lock could not be opened: a root putfs may not write says
/// so in the words of [`unwritable`].
pub fn lock_error(root: &Path, e: LockError) -> OpenError {
    match e {
        LockError::Io { source, .. }
            if matches!(
                source.raw_os_error().map(Errno::from_raw_os_error),
                Some(Errno::ACCESS | Errno::PERM | Errno::ROFS)
            ) =>
        {
            OpenError::Unwritable {
                root: root.to_owned(),
                dir: lock::path(root),
                step: Step::OpenLock,
                source,
            }
        }
        e => e.into(),
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OpenError {
    let path = path.to_owned();
    move |source| OpenError::Io { what, path, source }
}

/// Check (and for a writable server, create or mark) the data root.
pub fn prepare(root: &Path, read_only: bool, init: bool, create: bool) -> Result<(), OpenError> {
    let meta = match std::fs::metadata(root) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Ok(target) = std::fs::read_link(root) {
                return Err(OpenError::DanglingLink {
                    path: root.to_owned(),
                    target,
                });
            }
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(match file_above(root) {
                Some(file) => OpenError::UnderAFile {
                    path: root.to_owned(),
                    file,
                },
                None => io("cannot inspect the data root", root)(e),
            });
        }
        Err(e) => return Err(io("cannot inspect the data root", root)(e)),
    };
    match meta {
        Some(m) if !m.is_dir() => Err(OpenError::NotADirectory {
            path: root.to_owned(),
            what: if m.is_file() {
                "a file"
            } else {
                "a special file"
            },
        }),
        None if read_only => Err(OpenError::Missing {
            path: root.to_owned(),
            why: "a read-only server never creates it",
        }),
        None if !create => Err(OpenError::Missing {
            path: root.to_owned(),
            why: "it is not created here: is its filesystem mounted?",
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

/// The nearest ancestor of `path` that exists and is not a directory: the
/// file that stands where a directory of the path should be.
fn file_above(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .find_map(|a| std::fs::metadata(a).ok().map(|m| (a, m)))
        .filter(|(_, m)| !m.is_dir())
        .map(|(a, _)| a.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_marks_a_missing_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/b/root");
        prepare(&root, false, false, true).unwrap();
        assert!(root.join(".putfs").is_dir());
        // Marked: accepted again without --init.
        prepare(&root, false, false, true).unwrap();
    }

    #[test]
    fn a_tool_never_creates_a_missing_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("mnt/b-root");
        let e = prepare(&root, false, true, false).unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("mounted"), "{e}");
        assert!(!t.path().join("mnt").exists(), "created");
    }

    #[test]
    fn refuses_an_unmarked_directory_unless_init() {
        let t = tempfile::tempdir().unwrap();
        let err = prepare(t.path(), false, false, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&t.path().display().to_string()), "{err}");
        assert!(err.contains("mount") && err.contains("--init"), "{err}");
        assert!(!t.path().join(".putfs").exists(), "nothing created");
        // Read-only servers are unaffected.
        prepare(t.path(), true, false, true).unwrap();
        prepare(t.path(), false, true, true).unwrap();
        assert!(t.path().join(".putfs").is_dir());
    }

    #[test]
    fn names_files_and_missing_roots() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = prepare(&file, false, false, true).unwrap_err().to_string();
        assert!(e.contains("/f is a file, not a directory"), "{e}");
        let under = file.join("root");
        for read_only in [false, true] {
            let e = prepare(&under, read_only, false, true)
                .unwrap_err()
                .to_string();
            let wanted = format!("{} is a file, not a directory", file.display());
            assert!(e.contains(&wanted) && e.contains("/f/root"), "{e}");
        }
        let link = t.path().join("link");
        std::os::unix::fs::symlink(t.path().join("gone"), &link).unwrap();
        let e = prepare(&link, false, false, true).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("/gone"), "{e}");
        assert!(!t.path().join("gone").exists());
        let e = prepare(&t.path().join("nope"), true, false, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist") && e.contains("nope"), "{e}");
    }
}
