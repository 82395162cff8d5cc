//! The S3 operations putfs answers, on the same store as the plain API.
//! Operations not here answer 501 NotImplemented (s3s's default).

use std::time::SystemTime;

use putfs_store::{PutOutcome, StoreError};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::checksums::{self, checksum_of, with_checksums};
use super::errors;
use super::meta::{Headers, S3Meta};
use super::multipart::{self, UploadInfo};
use super::upload::{self, S3Sink, Written};
use crate::http::pump::Pump;

use super::base::*;

#[async_trait::async_trait]
impl S3 for Backend {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let input = req.input;
        let after = match &input.continuation_token {
            Some(t) => decode_token(t)?,
            None => String::new(),
        };
        let max = match input.max_buckets {
            None => usize::MAX,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be between 1 and 10000"
                ));
            }
        };
        let store = self.store().clone();
        let mut dirs = blocking(move || store.top_dirs()).await?;
        dirs.retain(|d| {
            s3s::path::check_bucket_name(&d.name)
                && d.name.as_str() > after.as_str()
                && d.name
                    .starts_with(input.prefix.as_deref().unwrap_or_default())
        });
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        let next = (dirs.len() > max).then(|| encode_token(&dirs[max - 1].name));
        dirs.truncate(max);
        let buckets = dirs
            .into_iter()
            .map(|d| Bucket {
                name: Some(d.name),
                creation_date: Some(Timestamp::from(d.created)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            continuation_token: next,
            prefix: input.prefix,
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let store = self.store().clone();
        let name = req.input.bucket.clone();
        match tokio::task::spawn_blocking(move || store.make_top_dir(&name)).await {
            Ok(Ok(())) => {}
            // As AWS answers: us-east-1 accepts creating a bucket its owner
            // already has, other regions say so.
            Ok(Err(StoreError::Exists)) if self.region != "us-east-1" => {
                return Err(s3_error!(BucketAlreadyOwnedByYou));
            }
            // Something of that name is there: a bucket only if it is a
            // directory (a plain-API object at the top is not).
            Ok(Err(StoreError::Exists)) => {
                self.need_bucket(&req.input.bucket).await.map_err(|_| {
                    s3_error!(
                        BucketAlreadyExists,
                        "an object, not a bucket, has this name at the top of the root"
                    )
                })?
            }
            Ok(Err(e)) => return Err(errors::any(e)),
            Err(e) => return Err(s3_error!(InternalError, "{e}")),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.need_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let store = self.store().clone();
        let name = req.input.bucket.clone();
        match tokio::task::spawn_blocking(move || store.remove_top_dir(&name)).await {
            Ok(Ok(())) => Ok(S3Response::new(DeleteBucketOutput {})),
            Ok(Err(StoreError::NotFound)) => Err(s3_error!(NoSuchBucket)),
            Ok(Err(StoreError::Conflict)) => Err(s3_error!(BucketNotEmpty)),
            Ok(Err(e)) => Err(errors::any(e)),
            Err(e) => Err(s3_error!(InternalError, "{e}")),
        }
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.need_bucket(&req.input.bucket).await?;
        // us-east-1 is said by saying nothing.
        let location = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: location,
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        let key = self.key(&input.bucket, &input.key)?;
        self.need_bucket(&input.bucket).await?;
        if input.if_match.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "If-Match on PutObject is not supported"
            ));
        }
        let store = self.store().clone();
        let if_exists = self.if_exists(&key, input.if_none_match.as_ref());
        let given = checksum_of!(input);
        let (checks, expected) = upload::expectations(
            &headers,
            input.content_md5.clone(),
            given,
            input.checksum_algorithm.as_ref(),
        );
        let meta = S3Meta {
            content_type: input.content_type.clone(),
            metadata: input.metadata.clone().unwrap_or_default(),
            headers: Headers::new(
                input.cache_control.clone(),
                input.content_disposition.clone(),
                input.content_encoding.clone(),
                input.content_language.clone(),
                input.expires.as_ref(),
            ),
            ..S3Meta::default()
        };
        let wanted = meta.clone();
        let k = key.clone();
        let st = store.clone();
        let upload = blocking(move || st.begin_upload(&k, Vec::new(), if_exists, None))
            .await
            .map_err(|e| match e.code() {
                s3s::S3ErrorCode::NoSuchKey => errors::any(StoreError::ParentNotDir),
                _ => e,
            })?;
        let mut pump = Pump::spawn(S3Sink::new(upload, checks, meta, expected.clone()));
        if let Err(e) = self.feed(input.body, &mut pump).await {
            return Err(stopped(e, pump).await);
        }
        if let Some(trailer) = trailing_headers.and_then(|t| t.take()) {
            let mut e = expected.lock().unwrap_or_else(|p| p.into_inner());
            upload::from_trailer(&trailer, &mut e.checksums);
        }
        let result = pump.finish().await;
        self.app.read_cache.forget(&key);
        let Written {
            outcome,
            etag: tag,
            checksums,
        } = result.map_err(errors::any)?;
        let existing = self
            .same_description(&key, outcome, &wanted, if_exists)
            .await?;
        let tag = existing.map_or(tag, |m| m.etag);
        let size = match outcome {
            PutOutcome::Created(m) | PutOutcome::Identical(m) => m.size,
        };
        Ok(S3Response::new(with_checksums!(
            checksums,
            PutObjectOutput {
                e_tag: Some(etag(&tag)),
                size: i64::try_from(size).ok(),
                ..Default::default()
            }
        )))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let key = self.key(&input.bucket, &input.key)?;
        self.need_bucket(&input.bucket).await?;
        if input.part_number.is_some() && input.range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "a part number and a range cannot go together"
            ));
        }
        let (object, meta, modified) = self
            .open_checked(
                key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            )
            .await?;
        let size = object.meta.size;
        let part = part_at(&meta, size, input.part_number)?;
        let (start, len, content_range) = match (&input.range, part) {
            (_, Some((_, (start, len)))) => (
                start,
                len,
                (len > 0).then(|| format!("bytes {start}-{}/{size}", start + len - 1)),
            ),
            (None, None) => (0, size, None),
            (Some(r), None) => {
                let range = r.check(size).map_err(|_| s3_error!(InvalidRange))?;
                let end = range.end - 1;
                (
                    range.start,
                    range.end - range.start,
                    Some(format!("bytes {}-{end}/{size}", range.start)),
                )
            }
        };
        // From `start` whatever was read before (an MD5 computed now).
        let mut file = tokio::fs::File::from_std(object.file);
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| s3_error!(InternalError, "{e}"))?;
        self.app.metrics.bytes_out.inc_by(len);
        let body = StreamingBlob::wrap(ReaderStream::with_capacity(file.take(len), CHUNK));
        let sums = read_checksums(
            &meta,
            part,
            input.checksum_mode.as_ref(),
            content_range.is_none(),
        );
        let sums_type = checksum_type_if(&meta, &sums);
        let parts_count = part.map(|_| i32::try_from(meta.parts_count()).unwrap_or(i32::MAX));
        Ok(S3Response::new(with_checksums!(
            sums,
            GetObjectOutput {
                parts_count: parts_count,
                body: Some(body),
                content_length: i64::try_from(len).ok(),
                content_range: content_range,
                accept_ranges: Some("bytes".into()),
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(Timestamp::from(modified)),
                content_type: meta.content_type.clone(),
                metadata: (!meta.metadata.is_empty()).then(|| meta.metadata.clone()),
                cache_control: meta.headers.cache_control.clone(),
                content_disposition: meta.headers.content_disposition.clone(),
                content_encoding: meta.headers.content_encoding.clone(),
                content_language: meta.headers.content_language.clone(),
                expires: meta.headers.expires(),
                checksum_type: sums_type,
                ..Default::default()
            }
        )))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let key = self.key(&input.bucket, &input.key)?;
        self.need_bucket(&input.bucket).await?;
        let (object, meta, modified) = self
            .open_checked(
                key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            )
            .await?;
        let size = object.meta.size;
        let part = part_at(&meta, size, input.part_number)?;
        let sums = read_checksums(&meta, part, input.checksum_mode.as_ref(), true);
        let sums_type = checksum_type_if(&meta, &sums);
        Ok(S3Response::new(with_checksums!(
            sums,
            HeadObjectOutput {
                content_length: i64::try_from(part.map_or(size, |(_, (_, len))| len)).ok(),
                parts_count: part.map(|_| i32::try_from(meta.parts_count()).unwrap_or(i32::MAX)),
                cache_control: meta.headers.cache_control.clone(),
                content_disposition: meta.headers.content_disposition.clone(),
                content_encoding: meta.headers.content_encoding.clone(),
                content_language: meta.headers.content_language.clone(),
                expires: meta.headers.expires(),
                checksum_type: sums_type,
                accept_ranges: Some("bytes".into()),
                e_tag: Some(etag(&meta.etag)),
                last_modified: Some(Timestamp::from(modified)),
                content_type: meta.content_type.clone(),
                metadata: (!meta.metadata.is_empty()).then(|| meta.metadata.clone()),
                ..Default::default()
            }
        )))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let key = self.key(&input.bucket, &input.key)?;
        self.need_bucket(&input.bucket).await?;
        if input.version_id.as_deref().is_some_and(|v| v != "null") {
            return Err(s3_error!(
                InvalidArgument,
                "this bucket has no versioning: the only version ID is null"
            ));
        }
        if input.if_match.is_some() || input.if_match_size.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "conditional DeleteObject is not supported"
            ));
        }
        let store = self.store().clone();
        let k = key.clone();
        let r = tokio::task::spawn_blocking(move || store.delete_keeping(&k, None, 1)).await;
        self.app.read_cache.forget(&key);
        match r {
            // Deleting what is not there is a success in S3.
            Ok(Ok(()) | Err(StoreError::NotFound | StoreError::ParentNotDir)) => {
                Ok(S3Response::new(DeleteObjectOutput::default()))
            }
            Ok(Err(e)) => Err(errors::any(e)),
            Err(e) => Err(s3_error!(InternalError, "{e}")),
        }
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.need_bucket(&input.bucket).await?;
        if input.delete.objects.len() > MAX_KEYS {
            return Err(s3_error!(
                MalformedXML,
                "at most {MAX_KEYS} keys per request"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for object in input.delete.objects {
            let result = match self.key(&input.bucket, &object.key) {
                Err(e) => Err(e),
                Ok(key) => {
                    let store = self.store().clone();
                    let k = key.clone();
                    let r = tokio::task::spawn_blocking(move || store.delete_keeping(&k, None, 1))
                        .await;
                    self.app.read_cache.forget(&key);
                    match r {
                        Ok(Ok(()) | Err(StoreError::NotFound | StoreError::ParentNotDir)) => Ok(()),
                        Ok(Err(e)) => Err(errors::any(e)),
                        Err(e) => Err(s3_error!(InternalError, "{e}")),
                    }
                }
            };
            match result {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Err(e) => failed.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(object.key),
                    message: e.message().map(str::to_owned),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(failed),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let src = self.key(src_bucket, src_key)?;
        let dest = self.key(&input.bucket, &input.key)?;
        self.need_bucket(src_bucket).await?;
        self.need_bucket(&input.bucket).await?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src == dest && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "copying an object onto itself needs the metadata directive REPLACE"
            ));
        }
        let (object, mut meta) = self.open(src).await?;
        let modified = object.meta.modified();
        if !conditions(
            &meta,
            modified,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )? {
            return Err(s3_error!(PreconditionFailed));
        }
        if replace {
            meta.content_type = input.content_type.clone();
            meta.metadata = input.metadata.clone().unwrap_or_default();
            meta.headers = Headers::new(
                input.cache_control.clone(),
                input.content_disposition.clone(),
                input.content_encoding.clone(),
                input.content_language.clone(),
                input.expires.as_ref(),
            );
        }
        let wanted = meta.clone();
        let if_exists = self.if_exists(&dest, None);
        let store = self.store().clone();
        let d = dest.clone();
        let etag_value = meta.etag.clone();
        let (outcome, tag) = blocking(move || {
            use std::io::Seek;
            let mut file = object.file;
            file.rewind().map_err(StoreError::from_io)?;
            let mut upload = store.begin_upload(&d, Vec::new(), if_exists, None)?;
            upload::feed_from(file, |chunk| upload.write(chunk))?;
            meta.attach_to(&mut upload)?;
            Ok((upload.commit()?, etag_value))
        })
        .await
        .map_err(|e| match e.code() {
            s3s::S3ErrorCode::NoSuchKey => errors::any(StoreError::ParentNotDir),
            _ => e,
        })?;
        self.app.read_cache.forget(&dest);
        let existing = self
            .same_description(&dest, outcome, &wanted, if_exists)
            .await?;
        let tag = existing.map_or(tag, |m| m.etag);
        let written = match outcome {
            PutOutcome::Created(m) | PutOutcome::Identical(m) => m.modified(),
        };
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&tag)),
                last_modified: Some(Timestamp::from(written)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.key(&input.bucket, &input.key)?;
        self.need_bucket(&input.bucket).await?;
        if self.store().read_only() {
            return Err(errors::any(StoreError::ReadOnly));
        }
        let algo = match &input.checksum_algorithm {
            None => None,
            Some(a) => Some(checksums::name_of(a).ok_or_else(|| {
                s3_error!(InvalidRequest, "unknown checksum algorithm {}", a.as_str())
            })?),
        };
        let kind = match (&algo, &input.checksum_type) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "a checksum type needs a checksum algorithm"
                ));
            }
            (Some(a), None) => Some(checksums::default_type(a).to_owned()),
            (Some(a), Some(t)) if checksums::allowed(a, t.as_str()) => Some(t.as_str().to_owned()),
            (Some(a), Some(t)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "the {} checksum type is not supported for {a}",
                    t.as_str()
                ));
            }
        };
        let info = UploadInfo {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default(),
            headers: Headers::new(
                input.cache_control,
                input.content_disposition,
                input.content_encoding,
                input.content_language,
                input.expires.as_ref(),
            ),
            checksum_algorithm: algo,
            checksum_type: kind.clone(),
            initiated_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let uploads = self.uploads.clone();
        let id = mpu(move || uploads.create(&info)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: kind.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        if self.store().read_only() {
            return Err(errors::any(StoreError::ReadOnly));
        }
        let info = self
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let given = checksum_of!(input);
        // An upload begun with a checksum algorithm computes it for every
        // part, whatever the part's request names.
        let upload_algo = info.checksum_algorithm.as_deref().map(checksums::algorithm);
        let (checks, expected) = upload::expectations(
            &headers,
            input.content_md5.clone(),
            given,
            upload_algo.as_ref().or(input.checksum_algorithm.as_ref()),
        );
        let uploads = self.uploads.clone();
        let (id, n, e) = (input.upload_id.clone(), input.part_number, expected.clone());
        let algo = info.checksum_algorithm.clone();
        let sink = mpu(move || uploads.part(&id, n, checks, e, algo)).await?;
        let mut pump = Pump::spawn(sink);
        if let Err(e) = self.feed(input.body, &mut pump).await {
            return Err(stopped(e, pump).await);
        }
        if let Some(trailer) = trailing_headers.and_then(|t| t.take()) {
            let mut e = expected.lock().unwrap_or_else(|p| p.into_inner());
            upload::from_trailer(&trailer, &mut e.checksums);
        }
        let written = pump.finish().await.map_err(errors::any)?;
        Ok(S3Response::new(with_checksums!(
            written.checksums,
            UploadPartOutput {
                e_tag: Some(etag(&written.etag)),
                ..Default::default()
            }
        )))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let mut input = req.input;
        let key = self.key(&input.bucket, &input.key)?;
        let mut chosen = Vec::new();
        for p in input
            .multipart_upload
            .take()
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let n = p
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part without a number"))?;
            chosen.push(multipart::Chosen {
                checksums: checksum_of!(p),
                number: n,
                etag: p.e_tag.map(|t| t.value().to_owned()).unwrap_or_default(),
            });
        }
        let want = checksum_of!(input);
        // The ETag these parts make: a Complete answered before must have
        // named the same.
        let tag = multipart::multipart_etag(chosen.iter().map(|c| c.etag.as_str()));
        let info = match self
            .upload_of(&input.upload_id, &input.bucket, &input.key)
            .await
        {
            Ok(info) => info,
            Err(e) => return self.completed_before(&input, &key, &tag, e).await,
        };
        let wanted = S3Meta {
            content_type: info.content_type,
            metadata: info.metadata,
            headers: info.headers,
            ..S3Meta::default()
        };
        if input.if_match.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "If-Match on CompleteMultipartUpload is not supported"
            ));
        }
        let if_exists = self.if_exists(&key, input.if_none_match.as_ref());
        let (uploads, store, id, k) = (
            self.uploads.clone(),
            self.store().clone(),
            input.upload_id.clone(),
            key.clone(),
        );
        let r = mpu(move || uploads.complete(&store, &id, &k, &chosen, &want, if_exists)).await;
        self.app.read_cache.forget(&key);
        let done = match r {
            Ok(done) => done,
            // Another Complete of this upload finished while this one
            // waited for its turn.
            Err(e) => return self.completed_before(&input, &key, &tag, e).await,
        };
        let existing = self
            .same_description(&key, done.outcome, &wanted, if_exists)
            .await?;
        let (tag, sums, kind) = match existing {
            Some(m) => (m.etag.clone(), m.checksum(), m.checksum_type),
            None => (done.etag, done.checksum, done.checksum_type),
        };
        Ok(completed(&input, &tag, sums, kind))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let uploads = self.uploads.clone();
        let id = input.upload_id.clone();
        mpu(move || uploads.abort(&id)).await?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            http::StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.upload_of(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let uploads = self.uploads.clone();
        let id = input.upload_id.clone();
        let all = mpu(move || uploads.parts(&id)).await?;
        let after = input.part_number_marker.unwrap_or(0);
        let max = input
            .max_parts
            .map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS));
        let rest: Vec<_> = all.into_iter().filter(|p| p.number > after).collect();
        let truncated = rest.len() > max;
        let page: Vec<_> = rest.into_iter().take(max).collect();
        let next = truncated.then(|| page.last().map(|p| p.number)).flatten();
        let parts = page
            .into_iter()
            .map(|p| Part {
                part_number: Some(p.number),
                size: i64::try_from(p.size).ok(),
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(Timestamp::from(p.modified)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.need_bucket(&input.bucket).await?;
        let uploads = self.uploads.clone();
        let all = tokio::task::spawn_blocking(move || uploads.list())
            .await
            .map_err(|e| s3_error!(InternalError, "{e}"))?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let max = input
            .max_uploads
            .map_or(MAX_KEYS, |m| usize::try_from(m).unwrap_or(0).min(MAX_KEYS));
        let rest: Vec<_> = all
            .into_iter()
            .filter(|(_, u)| u.bucket == input.bucket && u.key.starts_with(&prefix))
            .filter(|(_, u)| u.key > key_marker)
            .collect();
        let truncated = rest.len() > max;
        let page: Vec<_> = rest.into_iter().take(max).collect();
        let (next_key, next_id) = match page.last() {
            Some((id, u)) if truncated => (Some(u.key.clone()), Some(id.clone())),
            _ => (None, None),
        };
        let list = page
            .into_iter()
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(id),
                initiated: Some(Timestamp::from(
                    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(u.initiated_ms),
                )),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            uploads: Some(list),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.need_bucket(&input.bucket).await?;
        let after = match &input.continuation_token {
            Some(t) => decode_token(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let max = max_keys(input.max_keys);
        let page = self
            .list(
                &input.bucket,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                &after,
                max,
            )
            .await?;
        let enc = encoder(input.encoding_type.as_ref());
        let count = page.objects.len() + page.prefixes.len();
        let next = page
            .truncated
            .then(|| page.last.as_deref().map(encode_token))
            .flatten();
        let (mut contents, prefixes) = self.render(&input.bucket, page, &enc).await?;
        if input.fetch_owner == Some(true) {
            for o in &mut contents {
                o.owner = Some(owner());
            }
        }
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(input.prefix.unwrap_or_default())),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
            start_after: input.start_after.map(&enc),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            key_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
            is_truncated: Some(next.is_some()),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        super::part_copy::copy(self, req.input).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        super::attributes::get(self, req.input).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        super::versions::list(self, req.input).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.need_bucket(&input.bucket).await?;
        let after = input.marker.clone().unwrap_or_default();
        let max = max_keys(input.max_keys);
        let page = self
            .list(
                &input.bucket,
                input.prefix.as_deref(),
                input.delimiter.as_deref(),
                &after,
                max,
            )
            .await?;
        let enc = encoder(input.encoding_type.as_ref());
        let truncated = page.truncated;
        // S3 gives NextMarker only with a delimiter; clients without one
        // continue from the last key.
        let next_marker = (truncated && input.delimiter.is_some())
            .then(|| page.last.clone().map(&enc))
            .flatten();
        let (mut contents, prefixes) = self.render(&input.bucket, page, &enc).await?;
        // V1 names every object's owner.
        for o in &mut contents {
            o.owner = Some(owner());
        }
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            // V1 gives the prefix back as sent, encoding-type or not (SDKs
            // decode V1's keys, prefixes, delimiter and markers, not this).
            prefix: Some(input.prefix.unwrap_or_default()),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
            marker: Some(enc(input.marker.unwrap_or_default())),
            max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
            is_truncated: Some(truncated),
            next_marker,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
