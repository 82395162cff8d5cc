//! Preconditions on a key's current object (`If-Match` and friends, as the
//! front end reads them), checked atomically with the write they guard:
//! under the key's lock (`keylock.rs`), between the last look at the object
//! and the rename or unlink that changes it.

use rustix::fd::BorrowedFd;
use rustix::io::Errno;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::meta::ObjectMeta;

type Test = dyn Fn(Option<&ObjectMeta>) -> bool + Send + Sync;

/// A test of the object's current state: `None` when the key holds no
/// object. The store knows nothing of the headers it came from.
pub struct Condition(Box<Test>);

impl Condition {
    pub fn new(test: impl Fn(Option<&ObjectMeta>) -> bool + Send + Sync + 'static) -> Condition {
        Condition(Box::new(test))
    }

    pub fn holds(&self, current: Option<&ObjectMeta>) -> bool {
        (self.0)(current)
    }

    /// `Ok` if the condition holds for `current`, else `PreconditionFailed`.
    pub fn check(&self, current: Option<&ObjectMeta>) -> Result<()> {
        if self.holds(current) {
            Ok(())
        } else {
            Err(StoreError::PreconditionFailed)
        }
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl Store {
    /// What `name` in `dir` holds now: an object's metadata, `None` if
    /// nothing (or something that is not a regular file, which no key can
    /// name) is there. A directory is `IsDirectory`.
    pub(crate) fn current_meta(
        &self,
        dir: BorrowedFd<'_>,
        name: &str,
    ) -> Result<Option<ObjectMeta>> {
        let fd = match fsops::open_read(dir, name) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let st = rustix::fs::fstat(&fd)?;
        if fsops::is_dir(&st) {
            return Err(StoreError::IsDirectory);
        }
        if !fsops::is_file(&st) {
            return Ok(None);
        }
        let sha = fsops::read_digest(
            rustix::fd::AsFd::as_fd(&fd),
            st.st_size as u64,
            fsops::mtime_ns(&st),
        );
        Ok(Some(ObjectMeta::from_stat(&st, sha)))
    }
}
