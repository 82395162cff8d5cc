//! What the S3 listener keeps with an object beside its bytes, in one
//! extended attribute (`user.putfs.s3`, JSON): the ETag S3 clients expect
//! (the MD5 of the body, or of the parts' MD5s with `-N`), the content
//! type and the `x-amz-meta-*` metadata. It names the SHA-256 of the bytes
//! it was written with and is trusted only while the object's SHA-256 (the
//! store's, checked against size and mtime) is still that. An object the
//! store keeps no SHA-256 for (a file put in place by rsync, zfs recv or
//! `cp`) is described by its size and mtime instead, as the store's own
//! digest attribute is: the MD5 is computed on its first S3 read only.

use std::collections::HashMap;

use putfs_store::{Object, Upload};
use serde::{Deserialize, Serialize};

pub const ATTR: &str = "user.putfs.s3";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct S3Meta {
    /// Hex SHA-256 of the bytes this describes.
    pub sha256: String,
    /// The ETag without quotes.
    pub etag: String,
    /// `SIZE:MTIME_NS` of the file this describes, when the store knew no
    /// SHA-256 for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, String>,
}

impl S3Meta {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Record this on the object `upload` publishes, naming the SHA-256 its
    /// bytes turn out to have.
    pub fn attach_to(self, upload: &mut Upload) -> putfs_store::Result<()> {
        let mut meta = self;
        upload.attach(
            ATTR,
            Box::new(move |sha256: &[u8; 32]| {
                meta.sha256 = hex::encode(sha256);
                meta.encode()
            }),
        )
    }

    /// The object's S3 metadata if it has some that still describes it.
    pub fn of(object: &Object) -> Option<S3Meta> {
        let raw = object.attr(ATTR)?;
        let meta: S3Meta = serde_json::from_slice(&raw).ok()?;
        let valid = match object.meta.sha256 {
            Some(sha) => meta.sha256 == hex::encode(sha),
            None => meta.stamp.as_deref() == Some(stamp(object).as_str()),
        };
        valid.then_some(meta)
    }
}

/// What ties a description to a file the store has no SHA-256 for.
pub fn stamp(object: &Object) -> String {
    format!("{}:{}", object.meta.size, object.meta.mtime_ns)
}
