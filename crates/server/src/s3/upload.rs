//! The body of an S3 PutObject, on its way into the store: the MD5 (the
//! ETag S3 clients check) and the checksums the client named are computed
//! as the bytes go by, checked before the object is published (a mismatch
//! leaves nothing), and recorded in the object's S3 attribute.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use putfs_store::{PutOutcome, Result, Sink, StoreError, Upload};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::Checksum;

use super::meta::S3Meta;

/// What the body must match: Content-MD5 and `x-amz-checksum-*`, from the
/// headers, or (checksums) from the trailer that follows an `aws-chunked`
/// body, which is filled in just before the sink finishes.
#[derive(Default)]
pub struct Expected {
    pub content_md5: Option<String>,
    pub checksums: Checksum,
}

/// Which algorithms to run: those with an expected value, the one the SDK
/// named (`x-amz-sdk-checksum-algorithm`), and the one a trailer will carry
/// (`x-amz-trailer`).
fn hasher_for(expected: &Checksum, named: &[&str]) -> ChecksumHasher {
    let wants = |field: &Option<String>, name: &str| {
        field.is_some() || named.iter().any(|n| n.eq_ignore_ascii_case(name))
    };
    let mut h = ChecksumHasher::default();
    if wants(&expected.checksum_crc32, "crc32") {
        h.crc32 = Some(Default::default());
    }
    if wants(&expected.checksum_crc32c, "crc32c") {
        h.crc32c = Some(Default::default());
    }
    if wants(&expected.checksum_crc64nvme, "crc64nvme") {
        h.crc64nvme = Some(Default::default());
    }
    if wants(&expected.checksum_sha1, "sha1") {
        h.sha1 = Some(Default::default());
    }
    if wants(&expected.checksum_sha256, "sha256") {
        h.sha256 = Some(Default::default());
    }
    h
}

/// The hashers to run over a body and what it must match, from the
/// request's Content-MD5, `x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`
/// and `x-amz-trailer` (whose values arrive after the body).
pub fn expectations(
    headers: &HeaderMap,
    content_md5: Option<String>,
    given: Checksum,
    algorithm: Option<&s3s::dto::ChecksumAlgorithm>,
) -> (ChecksumHasher, Arc<Mutex<Expected>>) {
    let mut named: Vec<String> = Vec::new();
    if let Some(a) = algorithm {
        named.push(a.as_str().to_owned());
    }
    if let Some(t) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for name in t.split(',') {
            if let Some(algo) = name.trim().strip_prefix("x-amz-checksum-") {
                named.push(algo.to_owned());
            }
        }
    }
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let checks = hasher_for(&given, &named);
    let expected = Expected {
        content_md5,
        checksums: given,
    };
    (checks, Arc::new(Mutex::new(expected)))
}

/// Expected checksums carried by a trailer (`x-amz-checksum-crc32: …`).
pub fn from_trailer(trailer: &HeaderMap, into: &mut Checksum) {
    let get = |name: &str| {
        trailer
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let set = |slot: &mut Option<String>, name: &str| {
        if let Some(v) = get(name) {
            *slot = Some(v);
        }
    };
    set(&mut into.checksum_crc32, "x-amz-checksum-crc32");
    set(&mut into.checksum_crc32c, "x-amz-checksum-crc32c");
    set(&mut into.checksum_crc64nvme, "x-amz-checksum-crc64nvme");
    set(&mut into.checksum_sha1, "x-amz-checksum-sha1");
    set(&mut into.checksum_sha256, "x-amz-checksum-sha256");
}

/// Feed everything `from` holds to `write`, a buffer at a time; the number
/// of bytes fed. (Copies, part copies and completed uploads all move an
/// existing file's bytes into a new one this way.)
pub fn feed_from(
    mut from: impl std::io::Read,
    mut write: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf).map_err(StoreError::from_io)?;
        if n == 0 {
            return Ok(total);
        }
        write(&buf[..n])?;
        total += n as u64;
    }
}

/// What a finished S3 upload reports.
pub struct Written {
    pub outcome: PutOutcome,
    pub etag: String,
    pub checksums: Checksum,
}

pub struct S3Sink {
    upload: Upload,
    md5: Md5,
    checks: ChecksumHasher,
    meta: S3Meta,
    expected: Arc<Mutex<Expected>>,
}

impl S3Sink {
    pub fn new(
        upload: Upload,
        checks: ChecksumHasher,
        meta: S3Meta,
        expected: Arc<Mutex<Expected>>,
    ) -> S3Sink {
        S3Sink {
            upload,
            md5: Md5::default(),
            checks,
            meta,
            expected,
        }
    }
}

/// Check the body's MD5 and checksums against what the client sent.
pub fn verify(expected: &Mutex<Expected>, md5: &[u8; 16], computed: &Checksum) -> Result<()> {
    let e = expected.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(want) = &e.content_md5
        && STANDARD.decode(want.trim()).ok().as_deref() != Some(&md5[..])
    {
        return Err(mismatch("Content-MD5"));
    }
    let pairs = [
        (
            &e.checksums.checksum_crc32,
            &computed.checksum_crc32,
            "crc32",
        ),
        (
            &e.checksums.checksum_crc32c,
            &computed.checksum_crc32c,
            "crc32c",
        ),
        (
            &e.checksums.checksum_crc64nvme,
            &computed.checksum_crc64nvme,
            "crc64nvme",
        ),
        (&e.checksums.checksum_sha1, &computed.checksum_sha1, "sha1"),
        (
            &e.checksums.checksum_sha256,
            &computed.checksum_sha256,
            "sha256",
        ),
    ];
    for (want, got, name) in pairs {
        if let Some(want) = want
            && got.as_deref() != Some(want.trim())
        {
            return Err(mismatch(&format!("x-amz-checksum-{name}")));
        }
    }
    Ok(())
}

fn mismatch(what: &str) -> StoreError {
    StoreError::DigestMismatch(format!(
        "the {what} you specified did not match the calculated one"
    ))
}

impl Sink for S3Sink {
    type Output = Written;

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.md5.update(chunk);
        self.checks.update(chunk);
        self.upload.write(chunk)
    }

    fn finish(self) -> Result<Written> {
        let S3Sink {
            mut upload,
            md5,
            checks,
            mut meta,
            expected,
        } = self;
        let md5 = md5.finalize();
        let computed = checks.finalize();
        verify(&expected, &md5, &computed)?;
        meta.etag = hex::encode(md5);
        meta.record_checksums(&computed);
        let etag = meta.etag.clone();
        meta.attach_to(&mut upload)?;
        let outcome = upload.commit()?;
        Ok(Written {
            outcome,
            etag,
            checksums: computed,
        })
    }
}
