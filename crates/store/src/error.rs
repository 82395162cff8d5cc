//! The store's one error type. The HTTP layer maps it onto status codes in
//! exactly one place (`http::error`).

use super::key::KeyError;
use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    InvalidKey(#[from] KeyError),
    #[error("no such object")]
    NotFound,
    #[error("a parent segment of the key is a file, not a directory")]
    ParentNotDir,
    #[error("the key names a directory")]
    IsDirectory,
    #[error("the path leaves the data root through a symlink")]
    Escape,
    #[error("the object exists with different content")]
    Conflict,
    #[error("the object already exists")]
    Exists,
    #[error(
        "precondition failed: the object's current state does not match the request's conditions"
    )]
    PreconditionFailed,
    #[error("digest mismatch: {0}")]
    DigestMismatch(String),
    #[error(
        "the data root changed under the server (unmounted, or something mounted over it); \
         restart putfs once the right filesystem is mounted there"
    )]
    RootChanged,
    #[error("no space left on the data root")]
    NoSpace,
    /// The server's own files refused it: a misconfiguration of the host,
    /// never the client's fault.
    #[error(
        "the filesystem refused putfs access to its own files ({0}): check the owner and mode \
         of the data root and of the files and directories under it"
    )]
    PermissionDenied(Errno),
    #[error(
        "the data root's filesystem is mounted read-only (a dataset left readonly=on, \
         or a failing disk remounted read-only?)"
    )]
    ReadOnlyFilesystem,
    #[error("deletion of this key is forbidden by a retention rule")]
    Retained,
    #[error("this node is a read-only replica: send writes to the primary")]
    ReadOnly,
    #[error("upload aborted: {0}")]
    Aborted(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<Errno> for StoreError {
    /// The context-free mapping; callers handle ENOENT/ENOTDIR/EEXIST first
    /// where those mean something specific.
    fn from(e: Errno) -> StoreError {
        match e {
            Errno::NOSPC | Errno::DQUOT => StoreError::NoSpace,
            Errno::ACCESS | Errno::PERM => StoreError::PermissionDenied(e),
            Errno::ROFS => StoreError::ReadOnlyFilesystem,
            Errno::XDEV | Errno::LOOP => StoreError::Escape,
            Errno::NOENT => StoreError::NotFound,
            Errno::ISDIR => StoreError::IsDirectory,
            other => StoreError::Io(std::io::Error::from(other)),
        }
    }
}

impl StoreError {
    /// Classify a `std::io::Error` the same way as a raw errno.
    pub fn from_io(e: std::io::Error) -> StoreError {
        match e.raw_os_error() {
            Some(code) => Errno::from_raw_os_error(code).into(),
            None => StoreError::Io(e),
        }
    }
}
