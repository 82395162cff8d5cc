//! GetObjectAttributes: what HEAD tells about an object, plus its parts
//! (for one a multipart upload made) and its checksum, in one XML answer.

use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::base::{Backend, checksum_type_if};

/// Most parts in one answer (S3's default and limit).
const MAX_PARTS: i32 = 1000;

pub(super) async fn get(
    backend: &Backend,
    input: GetObjectAttributesInput,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let key = backend.key(&input.bucket, &input.key)?;
    backend.need_bucket(&input.bucket).await?;
    if input.version_id.as_deref().is_some_and(|v| v != "null") {
        return Err(s3_error!(
            NoSuchVersion,
            "this bucket has no versioning: the only version ID is null"
        ));
    }
    let (object, meta) = backend.open(key).await?;
    // One header, `x-amz-object-attributes: ETag,ObjectSize`, may arrive
    // as a single comma-separated item.
    let wants = |name: &str| {
        input
            .object_attributes
            .iter()
            .flat_map(|a| a.as_str().split(','))
            .any(|a| a.trim() == name)
    };
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(Timestamp::from(object.meta.modified())),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(ETag::Strong(meta.etag.clone()));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = i64::try_from(object.meta.size).ok();
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::CHECKSUM) {
        let mut sums = meta.checksum();
        sums.checksum_type = checksum_type_if(&meta, &sums);
        let any = super::checksums::fields(&sums)
            .iter()
            .any(|(_, v)| v.is_some());
        out.checksum = any.then_some(sums);
    }
    if wants(ObjectAttributes::OBJECT_PARTS) && !meta.parts.is_empty() {
        let max = match input.max_parts {
            None => MAX_PARTS,
            Some(n @ 0..=MAX_PARTS) => n,
            Some(_) => MAX_PARTS,
        };
        let after = input.part_number_marker.unwrap_or(0).max(0);
        let total = i32::try_from(meta.parts.len()).unwrap_or(i32::MAX);
        let numbers: Vec<i32> = (after.saturating_add(1)..=total)
            .take(max as usize)
            .collect();
        let truncated = numbers.last().is_some_and(|&n| n < total);
        let parts = numbers
            .iter()
            .map(|&n| {
                let sums = meta.part_checksum(n);
                ObjectPart {
                    part_number: Some(n),
                    size: meta
                        .parts
                        .get(n as usize - 1)
                        .and_then(|s| i64::try_from(*s).ok()),
                    checksum_crc32: sums.checksum_crc32,
                    checksum_crc32c: sums.checksum_crc32c,
                    checksum_crc64nvme: sums.checksum_crc64nvme,
                    checksum_sha1: sums.checksum_sha1,
                    checksum_sha256: sums.checksum_sha256,
                }
            })
            .collect();
        out.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: Some(total),
            part_number_marker: Some(after),
            next_part_number_marker: numbers.last().copied(),
            max_parts: Some(max),
            is_truncated: Some(truncated),
            parts: Some(parts),
        });
    }
    Ok(S3Response::new(out))
}
