//! Store errors in S3's words.

use putfs_store::StoreError;
use s3s::{S3Error, S3ErrorCode, s3_error};

/// What a store error means to an S3 client, for an operation on an object.
pub fn object(e: StoreError) -> S3Error {
    match e {
        StoreError::NotFound | StoreError::ParentNotDir | StoreError::IsDirectory => {
            s3_error!(NoSuchKey)
        }
        other => any(other),
    }
}

/// What a store error means to an S3 client, whatever the operation.
pub fn any(e: StoreError) -> S3Error {
    match e {
        StoreError::NotFound => s3_error!(NoSuchKey),
        StoreError::InvalidKey(k) => invalid_key(&k.to_string()),
        StoreError::ParentNotDir => s3_error!(
            InvalidArgument,
            "a part of the key's path is an object: a plain file cannot also be a directory"
        ),
        StoreError::IsDirectory => s3_error!(
            InvalidArgument,
            "the key names a directory of other keys: a plain file cannot also be a directory"
        ),
        StoreError::Escape => s3_error!(InvalidArgument, "the key leaves the data root"),
        StoreError::Exists | StoreError::PreconditionFailed => s3_error!(PreconditionFailed),
        StoreError::Conflict => s3_error!(
            AccessDenied,
            "the key is write-once and already holds other bytes"
        ),
        StoreError::Retained => s3_error!(AccessDenied, "the object is retained (--retain)"),
        StoreError::DigestMismatch(m) => s3_error!(BadDigest, "{m}"),
        StoreError::ReadOnly | StoreError::ReadOnlyFilesystem => {
            s3_error!(AccessDenied, "this node is read-only: write to the primary")
        }
        StoreError::NoSpace => {
            let mut e = S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "no space left on the data root",
            );
            e.set_status_code(http::StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        StoreError::Aborted(m) => s3_error!(IncompleteBody, "{m}"),
        StoreError::PermissionDenied(e) => {
            s3_error!(InternalError, "permission denied on the data root: {e}")
        }
        StoreError::RootChanged => {
            s3_error!(ServiceUnavailable, "the data root changed under the server")
        }
        StoreError::Io(e) => s3_error!(InternalError, "{e}"),
    }
}

/// A key a plain file cannot hold.
pub fn invalid_key(why: &str) -> S3Error {
    s3_error!(
        InvalidArgument,
        "this key cannot be a plain file ({why}): keys are paths of non-empty segments, without `.` or `..`, and do not end in `/`"
    )
}
