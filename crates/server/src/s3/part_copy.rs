//! UploadPartCopy: a part of a multipart upload taken from an existing
//! object (or a byte range of it), written like any part: to a temp name,
//! fsynced, renamed into place. Clients copy large objects this way (the
//! aws cli above its multipart threshold, rclone above its copy cutoff).

use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use putfs_store::Sink;
use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::base::{Backend, conditions, copy_source};
use super::checksums;
use super::upload::{Expected, feed_from};

pub(super) async fn copy(
    backend: &Backend,
    input: UploadPartCopyInput,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    if backend.store().read_only() {
        return Err(super::errors::any(putfs_store::StoreError::ReadOnly));
    }
    let info = backend
        .upload_of(&input.upload_id, &input.bucket, &input.key)
        .await?;
    let (src_bucket, src_key) = copy_source(&input.copy_source)?;
    let src = backend.key(src_bucket, src_key)?;
    backend.need_bucket(src_bucket).await?;
    let (mut object, meta) = backend.open(src).await?;
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
    let size = object.meta.size;
    let (start, len) = match input.copy_source_range.as_deref() {
        None => (0, size),
        Some(r) => range(r, size)?,
    };
    let algo = info.checksum_algorithm.clone();
    let checks = algo.as_deref().map(checksums::hasher).unwrap_or_default();
    let expected = Arc::new(Mutex::new(Expected::default()));
    let uploads = backend.uploads().clone();
    let (id, n) = (input.upload_id.clone(), input.part_number);
    let written = tokio::task::spawn_blocking(move || {
        let mut sink = uploads
            .part(&id, n, checks, expected, algo)
            .map_err(super::base::mpu_error)?;
        let mpu = |e: putfs_store::StoreError| super::base::mpu_error(e.into());
        let io = |e: std::io::Error| mpu(putfs_store::StoreError::from_io(e));
        object.file.seek(SeekFrom::Start(start)).map_err(io)?;
        let copied =
            feed_from(Read::take(&mut object.file, len), |chunk| sink.write(chunk)).map_err(mpu)?;
        if copied < len {
            return Err(s3_error!(
                InternalError,
                "the source object became shorter while it was copied"
            ));
        }
        sink.finish().map_err(mpu)
    })
    .await
    .map_err(|e| s3_error!(InternalError, "{e}"))??;
    let sums = written.checksums;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(written.etag)),
            last_modified: Some(Timestamp::from(SystemTime::now())),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
        }),
        ..Default::default()
    }))
}

/// `bytes=FIRST-LAST` of an object of `size` bytes: offset and length.
/// Anything else is `InvalidArgument`; a range past the end `InvalidRange`.
fn range(r: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "x-amz-copy-source-range must be bytes=FIRST-LAST"
        )
    };
    match Range::parse(r).map_err(|_| bad())? {
        Range::Int {
            first,
            last: Some(last),
        } if first <= last => {
            if last >= size {
                return Err(s3_error!(
                    InvalidRange,
                    "the range ends past the object's {size} bytes"
                ));
            }
            Ok((first, last - first + 1))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn copy_ranges() {
        assert_eq!(range("bytes=0-9", 10).ok(), Some((0, 10)));
        assert_eq!(range("bytes=3-3", 10).ok(), Some((3, 1)));
        for bad in [
            "0-2",
            "bytes=0",
            "bytes=hello-world",
            "bytes=0-bar",
            "bytes=hello-",
            "bytes=0-2,3-5",
            "bytes=-5",
            "bytes=5-2",
        ] {
            let e = range(bad, 10).err().map(|e| e.code().as_str().to_owned());
            assert_eq!(e.as_deref(), Some("InvalidArgument"), "{bad}");
        }
        let e = range("bytes=0-10", 10)
            .err()
            .map(|e| e.code().as_str().to_owned());
        assert_eq!(e.as_deref(), Some("InvalidRange"));
    }
}
