//! What every S3 operation stands on: the backend (the app's store, the
//! region, the multipart uploads), opening objects with their S3
//! description, conditions, listings, and the small helpers the
//! operations share. The operations themselves are in `backend.rs` and
//! the files it hands some to.

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::StreamExt;
use putfs_store::{IfExists, Key, Object, PutOutcome, Store, StoreError};
use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::checksums::{self, with_checksums};
use super::errors;
use super::listing::{self, Query};
use super::meta::S3Meta;
use super::multipart::{MpuError, UploadInfo, Uploads};
use crate::http::App;
use crate::http::pump::Pump;

/// Chunk size when streaming an object's body.
pub(super) const CHUNK: usize = 256 * 1024;

/// Largest object a listing reads to compute an ETag nobody recorded.
pub(super) const LIST_DESCRIBE_MAX: u64 = 8 * 1024 * 1024;

/// Most keys in one listing page (S3's limit).
pub(super) const MAX_KEYS: usize = 1000;

pub struct Backend {
    pub(super) app: App,
    pub(super) region: String,
    pub(super) uploads: Arc<Uploads>,
}

impl Backend {
    pub fn new(app: App, cfg: &crate::config::S3Config) -> Backend {
        let uploads = Uploads::new(app.store.root_path(), app.store.fsyncs(), cfg.upload_expiry);
        Backend {
            app,
            region: cfg.region.clone(),
            uploads: Arc::new(uploads),
        }
    }

    /// `open`, then a read's conditions: 412, or 304 (an error here).
    pub(super) async fn open_checked(
        &self,
        key: Key,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> S3Result<(Object, S3Meta, SystemTime)> {
        let (object, meta) = self.open(key).await?;
        let modified = object.meta.modified();
        let c = (
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        );
        if !conditions(&meta, modified, c.0, c.1, c.2, c.3)? {
            return Err(not_modified(&meta, modified));
        }
        Ok((object, meta, modified))
    }

    /// Upload `id`, which must be of `key` in `bucket`.
    pub(super) async fn upload_of(
        &self,
        id: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<UploadInfo> {
        let uploads = self.uploads.clone();
        let id = id.to_owned();
        let info = mpu(move || uploads.info(&id)).await?;
        if info.bucket != bucket || info.key != key {
            return Err(s3_error!(NoSuchUpload));
        }
        Ok(info)
    }

    pub(super) fn uploads(&self) -> &Arc<Uploads> {
        &self.uploads
    }

    /// The policy's answer to a key that exists at publish time.
    pub(super) fn if_exists(&self, key: &Key, if_none_match: Option<&ETagCondition>) -> IfExists {
        let create_only = matches!(if_none_match, Some(ETagCondition::Any));
        self.store().policy().if_exists(key, create_only)
    }

    /// A write that found its bytes already there (`Identical`) under a
    /// write-once key succeeded only if the object also has the description
    /// (content type, metadata, headers) the write asked for: the same bytes
    /// with other metadata are another object, which write-once refuses.
    pub(super) async fn same_description(
        &self,
        key: &Key,
        outcome: PutOutcome,
        wanted: &S3Meta,
        if_exists: IfExists,
    ) -> S3Result<Option<S3Meta>> {
        if !matches!(outcome, PutOutcome::Identical(_)) {
            return Ok(None);
        }
        let store = self.store().clone();
        let k = key.clone();
        let existing = blocking(move || {
            let object = store.open_object(&k)?;
            Ok(S3Meta::of(&object))
        })
        .await?;
        if matches!(if_exists, IfExists::Compare | IfExists::Conflict)
            && !S3Meta::same_as(existing.as_ref(), wanted)
        {
            return Err(s3_error!(
                AccessDenied,
                "the key is write-once and already holds these bytes with other metadata"
            ));
        }
        // The answer describes what is stored: its ETag (which another
        // upload of the same bytes, in other parts, may have made
        // differently) and checksums.
        Ok(existing)
    }

    /// The answer to a Complete of an upload that no longer exists: the
    /// object this very upload published (a retry whose first answer was
    /// lost, or a second Complete that waited for the first), or `e`.
    pub(super) async fn completed_before(
        &self,
        input: &CompleteMultipartUploadInput,
        key: &Key,
        tag: &str,
        e: s3s::S3Error,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let gone = matches!(
            e.code(),
            s3s::S3ErrorCode::NoSuchUpload | s3s::S3ErrorCode::NoSuchKey
        );
        let meta = if gone { self.meta_of(key).await } else { None };
        let Some(meta) =
            meta.filter(|m| m.upload.as_deref() == Some(input.upload_id.as_str()) && m.etag == tag)
        else {
            return Err(e);
        };
        Ok(completed(
            input,
            &meta.etag,
            meta.checksum(),
            meta.checksum_type,
        ))
    }

    /// The recorded S3 description of the object at `key`, if it has one.
    pub(super) async fn meta_of(&self, key: &Key) -> Option<S3Meta> {
        let store = self.store().clone();
        let k = key.clone();
        blocking(move || Ok(S3Meta::of(&store.open_object(&k)?)))
            .await
            .ok()
            .flatten()
    }

    /// Feed a request body into a pump. `Err(Some)`: the body failed or
    /// stalled; `Err(None)`: the sink stopped (see [`stopped`]).
    pub(super) async fn feed<T: Send + 'static>(
        &self,
        body: Option<StreamingBlob>,
        pump: &mut Pump<T>,
    ) -> Result<(), Option<s3s::S3Error>> {
        let Some(mut body) = body else {
            return Ok(());
        };
        loop {
            let next = tokio::time::timeout(self.app.cfg.body_timeout, body.next()).await;
            let chunk = match next {
                Err(_) => return Err(Some(s3_error!(RequestTimeout))),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => {
                    return Err(Some(s3_error!(IncompleteBody, "reading the body: {e}")));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            self.app.metrics.bytes_in.inc_by(chunk.len() as u64);
            if pump.send(chunk).await.is_err() {
                return Err(None);
            }
        }
    }

    pub(super) fn store(&self) -> &Arc<Store> {
        &self.app.store
    }

    /// The store key of `key` in `bucket`, or S3's error for a key a plain
    /// file cannot hold.
    pub(super) fn key(&self, bucket: &str, key: &str) -> S3Result<Key> {
        if key.is_empty() {
            return Err(errors::invalid_key("it is empty"));
        }
        if key.ends_with('/') {
            return Err(errors::invalid_key("it ends in `/`"));
        }
        Key::parse(&format!("{bucket}/{key}"), self.store().limits())
            .map_err(|e| errors::invalid_key(&e.to_string()))
    }

    pub(super) async fn need_bucket(&self, bucket: &str) -> S3Result<()> {
        let store = self.store().clone();
        let b = bucket.to_owned();
        let exists = blocking(move || store.has_top_dir(&b)).await?;
        if exists {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    /// Open an object for a read, with its S3 metadata (the MD5 ETag
    /// computed and remembered if nobody recorded it yet).
    pub(super) async fn open(&self, key: Key) -> S3Result<(Object, S3Meta)> {
        let store = self.store().clone();
        blocking(move || {
            let mut object = store.open_object(&key)?;
            let meta = describe(&mut object)?;
            Ok((object, meta))
        })
        .await
    }
}

/// The error of a body that could not be fed: the body's own, or the one
/// that stopped the sink. Dropping the pump aborts the sink, which removes
/// what it wrote.
pub(super) async fn stopped<T: Send + 'static>(
    e: Option<s3s::S3Error>,
    pump: Pump<T>,
) -> s3s::S3Error {
    match e {
        Some(e) => e,
        None => match pump.join().await {
            Err(store_error) => errors::any(store_error),
            Ok(_) => s3_error!(InternalError, "the writer stopped without an error"),
        },
    }
}

/// Run blocking multipart work off the event loop.
pub(super) async fn mpu<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MpuError> + Send + 'static,
) -> S3Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(mpu_error),
        Err(e) => Err(s3_error!(InternalError, "{e}")),
    }
}

/// S3's error for a multipart failure.
pub(super) fn mpu_error(e: MpuError) -> s3s::S3Error {
    match e {
        MpuError::NoSuchUpload => s3_error!(NoSuchUpload),
        MpuError::InvalidPart(m) => s3_error!(InvalidPart, "{m}"),
        MpuError::InvalidPartOrder => s3_error!(InvalidPartOrder),
        MpuError::EntityTooSmall => s3_error!(EntityTooSmall),
        MpuError::BadDigest(m) => s3_error!(BadDigest, "{m}"),
        MpuError::InvalidRequest(m) => s3_error!(InvalidRequest, "{m}"),
        MpuError::Store(e) => errors::any(e),
    }
}

/// Run blocking store work off the event loop.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> S3Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(errors::object),
        Err(e) => Err(s3_error!(InternalError, "{e}")),
    }
}

/// The object's S3 metadata: recorded, or (an object written over the plain
/// API, or changed since) computed now and remembered.
pub(super) fn describe(object: &mut Object) -> Result<S3Meta, StoreError> {
    if let Some(meta) = S3Meta::of(object) {
        return Ok(meta);
    }
    use s3s::crypto::{Checksum as _, Md5};
    use std::io::Seek;
    let mut md5 = Md5::default();
    object.file.rewind().map_err(StoreError::from_io)?;
    super::upload::feed_from(&mut object.file, |chunk| {
        md5.update(chunk);
        Ok(())
    })?;
    let meta = S3Meta {
        sha256: object.meta.sha256.map(hex::encode).unwrap_or_default(),
        stamp: object
            .meta
            .sha256
            .is_none()
            .then(|| super::meta::stamp(object)),
        etag: hex::encode(md5.finalize()),
        ..S3Meta::default()
    };
    object.remember_attr(super::meta::ATTR, &meta.encode());
    Ok(meta)
}

/// The answer to a CompleteMultipartUpload: what the object at its key is.
pub(super) fn completed(
    input: &CompleteMultipartUploadInput,
    tag: &str,
    sums: Checksum,
    kind: Option<String>,
) -> S3Response<CompleteMultipartUploadOutput> {
    S3Response::new(with_checksums!(
        sums,
        CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(tag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            checksum_type: kind.map(ChecksumType::from),
            ..Default::default()
        }
    ))
}

/// The bucket and key a copy reads from: a bucket's object, and no
/// version but `null` (buckets here have no versioning).
pub(super) fn copy_source(source: &CopySource) -> S3Result<(&str, &str)> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(
            NotImplemented,
            "copies from access points are not supported"
        ));
    };
    if version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(s3_error!(NotImplemented, "versions are not supported"));
    }
    Ok((bucket, key))
}

/// The checksums a read gives back: none unless it asked
/// (`x-amz-checksum-mode: ENABLED`); a part's for a part; the object's for
/// the `whole` object, none for a range of it (SDKs check what they are
/// given against the bytes they received).
pub(super) fn read_checksums(
    meta: &S3Meta,
    part: Option<(i32, (u64, u64))>,
    mode: Option<&ChecksumMode>,
    whole: bool,
) -> Checksum {
    let wants = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    match part {
        Some((n, _)) if wants => meta.part_checksum(n),
        None if wants && whole => meta.checksum(),
        _ => Checksum::default(),
    }
}

/// The part a read asked for (`partNumber`), with where it lies.
pub(super) fn part_at(
    meta: &S3Meta,
    size: u64,
    n: Option<i32>,
) -> S3Result<Option<(i32, (u64, u64))>> {
    n.map(|n| Ok((n, part_of(meta, n, size)?))).transpose()
}

/// Where part `n` of the object lies, or S3's error for a part it lacks.
pub(super) fn part_of(meta: &S3Meta, n: i32, size: u64) -> S3Result<(u64, u64)> {
    meta.part_range(n, size).ok_or_else(|| {
        s3_error!(
            InvalidPart,
            "the object has {} part(s); part {n} does not exist",
            meta.parts_count()
        )
    })
}

/// The one owner of every bucket and object: keys share one namespace.
pub(super) fn owner() -> Owner {
    Owner {
        display_name: Some("putfs".into()),
        id: Some("putfs".into()),
    }
}

/// The type of the checksums a read gives back: the multipart upload's
/// (COMPOSITE or FULL_OBJECT), FULL_OBJECT for a single-part one.
pub(super) fn checksum_type_if(meta: &S3Meta, given: &Checksum) -> Option<ChecksumType> {
    let any = checksums::fields(given).iter().any(|(_, v)| v.is_some());
    any.then(|| {
        ChecksumType::from(
            meta.checksum_type
                .clone()
                .unwrap_or_else(|| ChecksumType::FULL_OBJECT.to_owned()),
        )
    })
}

pub(super) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// S3's conditional read rules (RFC 9110 order): `Ok(false)` is 304.
pub(super) fn conditions(
    meta: &S3Meta,
    modified: SystemTime,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<bool> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == meta.etag,
    };
    // Whole seconds: what Last-Modified can say.
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let ts = |t: &Timestamp| secs(SystemTime::from(time::OffsetDateTime::from(t.clone())));
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = if_unmodified_since
        && secs(modified) > ts(t)
    {
        return Err(s3_error!(PreconditionFailed));
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Ok(false);
        }
    } else if let Some(t) = if_modified_since
        && secs(modified) <= ts(t)
    {
        return Ok(false);
    }
    Ok(true)
}

pub(super) fn not_modified(meta: &S3Meta, modified: SystemTime) -> s3s::S3Error {
    let mut e = s3_error!(NotModified);
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

pub(super) fn max_keys(m: Option<i32>) -> usize {
    m.map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS))
}

/// `encoding-type=url`: keys and prefixes percent-encoded in the answer.
pub(super) fn encoder(encoding: Option<&EncodingType>) -> impl Fn(String) -> String + use<> {
    let url = encoding.is_some_and(|e| e.as_str() == EncodingType::URL);
    move |s: String| {
        if url {
            percent_encoding::utf8_percent_encode(&s, URL_KEY).to_string()
        } else {
            s
        }
    }
}

/// What S3 leaves unencoded in `encoding-type=url` answers.
pub(super) const URL_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

impl Backend {
    pub(super) async fn list(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        delimiter: Option<&str>,
        after: &str,
        max: usize,
    ) -> S3Result<listing::Page> {
        let store = self.store().clone();
        let (bucket, prefix, delimiter, after) = (
            bucket.to_owned(),
            prefix.unwrap_or_default().to_owned(),
            delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
            after.to_owned(),
        );
        blocking(move || {
            listing::list(
                &store,
                &Query {
                    bucket: &bucket,
                    prefix: &prefix,
                    delimiter: delimiter.as_deref(),
                    after: &after,
                    max,
                },
            )
        })
        .await
    }

    /// The page's objects with their ETags (each object's attribute, or its
    /// MD5 computed once and remembered), and its common prefixes.
    pub(super) async fn render(
        &self,
        bucket: &str,
        page: listing::Page,
        enc: &impl Fn(String) -> String,
    ) -> S3Result<(Vec<s3s::dto::Object>, Vec<CommonPrefix>)> {
        let store = self.store().clone();
        let bucket = bucket.to_owned();
        let objects = page.objects;
        let described = blocking(move || {
            let mut out = Vec::with_capacity(objects.len());
            for o in objects {
                // A listing reads no large file: an object nobody has
                // described yet (written over the plain API) above
                // LIST_DESCRIBE_MAX is listed without an ETag until its
                // first S3 read records one.
                let tag = Key::parse(&format!("{bucket}/{}", o.key), store.limits())
                    .ok()
                    .and_then(|k| store.open_object(&k).ok())
                    .and_then(|mut obj| {
                        if obj.meta.size > LIST_DESCRIBE_MAX {
                            S3Meta::of(&obj)
                        } else {
                            describe(&mut obj).ok()
                        }
                    })
                    .map(|m| m.etag);
                out.push((o, tag));
            }
            Ok(out)
        })
        .await?;
        let contents = described
            .into_iter()
            .map(|(o, tag)| s3s::dto::Object {
                key: Some(enc(o.key)),
                size: i64::try_from(o.size).ok(),
                last_modified: Some(Timestamp::from(o.modified)),
                e_tag: tag.as_deref().map(etag),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        let prefixes = page
            .prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(enc(p)),
            })
            .collect();
        Ok((contents, prefixes))
    }
}

pub(super) fn encode_token(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

pub(super) fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "the continuation token is not one this server gave"
            )
        })
}
