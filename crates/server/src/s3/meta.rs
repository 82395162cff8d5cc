//! What the S3 listener keeps with an object beside its bytes, in one
//! extended attribute (`user.putfs.s3`, JSON): the ETag S3 clients expect
//! (the MD5 of the body, or of the parts' MD5s with `-N`), the content
//! type and the `x-amz-meta-*` metadata. It names the SHA-256 of the bytes
//! it was written with and is trusted only while the object's SHA-256 (the
//! store's, checked against size and mtime) is still that. An object the
//! store keeps no SHA-256 for (a file put in place by rsync, zfs recv or
//! `cp`) is described by its size and mtime instead, as the store's own
//! digest attribute is: the MD5 is computed on its first S3 read only.

use std::collections::{BTreeMap, HashMap};

use putfs_store::{Object, Upload};
use s3s::dto::Checksum;
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
    #[serde(flatten)]
    pub headers: Headers,
    /// The checksums the upload was verified with (`crc32`, `sha256`, …:
    /// base64, as S3 gives them back with `x-amz-checksum-mode: ENABLED`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// FULL_OBJECT or COMPOSITE (a multipart upload's checksum of its
    /// parts' checksums); none means FULL_OBJECT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// The sizes of the parts a multipart upload was made of, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// Their checksums, in the upload's algorithm (the one in `checksums`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// The multipart upload that published these bytes: a retried Complete
    /// of it is answered from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// The representation headers an S3 write sets and reads give back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// An HTTP date, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl Headers {
    pub fn new(
        cache_control: Option<String>,
        content_disposition: Option<String>,
        content_encoding: Option<String>,
        content_language: Option<String>,
        expires: Option<&s3s::dto::Timestamp>,
    ) -> Headers {
        Headers {
            cache_control,
            content_disposition,
            content_encoding: content_encoding.and_then(|e| without_aws_chunked(&e)),
            content_language,
            expires: expires.and_then(|t| {
                let mut buf = Vec::new();
                t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
                    .ok()?;
                String::from_utf8(buf).ok()
            }),
        }
    }

    pub fn expires(&self) -> Option<s3s::dto::Timestamp> {
        let e = self.expires.as_deref()?;
        s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, e).ok()
    }
}

/// A Content-Encoding without `aws-chunked`, which names how the request's
/// body was framed, not what the object is; `None` when nothing is left.
fn without_aws_chunked(encoding: &str) -> Option<String> {
    let kept: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
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

    /// Keep the checksums an upload was verified with.
    pub fn record_checksums(&mut self, c: &Checksum) {
        for (name, value) in super::checksums::fields(c) {
            if let Some(v) = value {
                self.checksums.insert(name.to_owned(), v.clone());
            }
        }
    }

    /// The recorded checksums, for a read that asked for them.
    pub fn checksum(&self) -> Checksum {
        let get = |n: &str| self.checksums.get(n).cloned();
        Checksum {
            checksum_crc32: get("crc32"),
            checksum_crc32c: get("crc32c"),
            checksum_crc64nvme: get("crc64nvme"),
            checksum_sha1: get("sha1"),
            checksum_sha256: get("sha256"),
            ..Default::default()
        }
    }

    /// How many parts the object has (1 unless a multipart upload made it).
    pub fn parts_count(&self) -> usize {
        self.parts.len().max(1)
    }

    /// Where part `n` (from 1) of an object of `size` bytes lies: its
    /// offset and length. A single-part object is its own part 1.
    pub fn part_range(&self, n: i32, size: u64) -> Option<(u64, u64)> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        if self.parts.is_empty() {
            return (i == 0).then_some((0, size));
        }
        let len = *self.parts.get(i)?;
        let start = self.parts[..i]
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(*p))?;
        (start.checked_add(len)? <= size).then_some((start, len))
    }

    /// Part `n`'s checksum (multipart with a checksum algorithm), or the
    /// object's when it is a single part.
    pub fn part_checksum(&self, n: i32) -> Checksum {
        let algo = self.checksums.keys().next().cloned();
        match (self.parts.is_empty(), algo) {
            (true, _) => self.checksum(),
            (false, Some(a)) => usize::try_from(n)
                .ok()
                .and_then(|n| self.part_checksums.get(n.checked_sub(1)?))
                .map(|v| super::checksums::one(&a, v.clone()))
                .unwrap_or_default(),
            (false, None) => Checksum::default(),
        }
    }

    /// Does this (an object's recorded description, if any) say what a new
    /// write of the same bytes asks for? A write-once key that already holds
    /// the bytes accepts the write only then: other metadata on the same
    /// bytes is another object.
    pub fn same_as(existing: Option<&S3Meta>, wanted: &S3Meta) -> bool {
        let empty = S3Meta::default();
        let e = existing.unwrap_or(&empty);
        e.content_type == wanted.content_type
            && e.metadata == wanted.metadata
            && e.headers == wanted.headers
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
