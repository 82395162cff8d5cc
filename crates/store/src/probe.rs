//! The start-up check that a writable data root can be written.
//!
//! In the root and in its `.putfs/` folder, putfs creates a file, fsyncs
//! it, renames it, removes it and fsyncs the directory: the steps of every
//! PUT and every heartbeat. Without the check, a root putfs may not write
//! (another user's directory, a read-only mount) was served as if all was
//! well, and every PUT then failed. The check leaves nothing behind; a
//! probe file that a crash interrupts is a temp file like any other,
//! removed at the next start.
//!
//! A full filesystem is not refused: reads are still worth serving, and
//! writes answer 507 until space is freed.

use std::path::{Path, PathBuf};

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::fsops;
use super::key::{RESERVED_PREFIX, TEMP_PREFIX};

/// What putfs could not do in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Open,
    OpenLock,
    Create,
    FsyncFile,
    Rename,
    Remove,
    FsyncDir,
}

impl Step {
    /// "create files in DIR", "fsync DIR", …
    pub fn describe(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Step::Open => format!("open {dir}"),
            Step::OpenLock => format!("open the writer's lock {dir}"),
            Step::Create => format!("create files in {dir}"),
            Step::FsyncFile => format!("fsync files in {dir}"),
            Step::Rename => format!("rename files in {dir}"),
            Step::Remove => format!("remove files in {dir}"),
            Step::FsyncDir => format!("fsync {dir}"),
        }
    }
}

/// Where and at which step putfs could not write; opening the root turns
/// it into an `OpenError` that says what to do about it.
#[derive(Debug)]
pub struct Unwritable {
    pub dir: PathBuf,
    pub step: Step,
    pub source: std::io::Error,
}

/// Check that putfs can write where it will: the root and `.putfs/`.
/// `fsync` is false under `--fsync never`, which never fsyncs.
pub fn check(root: &Path, fsync: bool) -> Result<(), Unwritable> {
    for dir in [root.to_owned(), root.join(RESERVED_PREFIX)] {
        match probe(&dir, fsync) {
            Ok(()) => {}
            Err((_, Errno::NOSPC | Errno::DQUOT)) => {
                tracing::warn!(
                    dir = %dir.display(),
                    "the data root's filesystem is full: PUTs will fail (507) until space is freed"
                );
            }
            Err((step, e)) => {
                return Err(Unwritable {
                    dir,
                    step,
                    source: e.into(),
                });
            }
        }
    }
    Ok(())
}

/// Create, fsync, rename and remove a file in `dir`, then fsync `dir`.
/// On failure, the step that failed, with the probe file removed.
fn probe(dir: &Path, fsync: bool) -> Result<(), (Step, Errno)> {
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| (Step::Open, e))?;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|_| (Step::Create, Errno::IO))?;
    let first = format!("{TEMP_PREFIX}probe-{}", hex::encode(id));
    let second = format!("{first}-renamed");
    let file = fsops::create_exclusive(fd.as_fd(), &first).map_err(|e| (Step::Create, e))?;
    let steps = (|| {
        if fsync {
            rustix::fs::fsync(&file).map_err(|e| (Step::FsyncFile, e))?;
        }
        drop(file);
        fsops::publish_replace(fd.as_fd(), &first, &second).map_err(|e| (Step::Rename, e))?;
        rustix::fs::unlinkat(&fd, &second, AtFlags::empty()).map_err(|e| (Step::Remove, e))
    })();
    if steps.is_err() {
        for name in [&first, &second] {
            let _ = rustix::fs::unlinkat(&fd, name, AtFlags::empty());
        }
    }
    steps?;
    if fsync {
        rustix::fs::fsync(&fd).map_err(|e| (Step::FsyncDir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_root_passes_and_keeps_nothing() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(RESERVED_PREFIX)).unwrap();
        check(t.path(), true).unwrap();
        let left: Vec<_> = walkdir::WalkDir::new(t.path())
            .into_iter()
            .map(|e| e.unwrap().path().to_owned())
            .collect();
        assert_eq!(left, [t.path().to_owned(), t.path().join(RESERVED_PREFIX)]);
    }

    #[test]
    fn a_missing_folder_is_named_with_the_step() {
        let t = tempfile::tempdir().unwrap();
        let e = check(t.path(), true).unwrap_err();
        assert_eq!(e.dir, t.path().join(RESERVED_PREFIX));
        assert_eq!(e.step, Step::Open);
        let folder = e.dir.display().to_string();
        let said = crate::open::OpenError::unwritable(t.path(), e).to_string();
        assert!(said.contains(&format!("cannot open {folder}")), "{said}");
    }
}
