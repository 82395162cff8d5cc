//! ListObjectVersions for buckets that have no versioning: every object is
//! its only version, `null` as S3 names it, and there are no delete
//! markers. Clients that empty a bucket version by version (the usual
//! clean-up code, ceph's s3-tests) then work on putfs as on an unversioned
//! AWS bucket.

use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::base::{Backend, encoder, max_keys, owner};

/// The version ID S3 gives every object of an unversioned bucket.
const NULL_VERSION: &str = "null";

pub(super) async fn list(
    backend: &Backend,
    input: ListObjectVersionsInput,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    backend.need_bucket(&input.bucket).await?;
    // Each key has one version, so a version marker other than `null` names
    // one that does not exist.
    if let Some(v) = input.version_id_marker.as_deref()
        && !v.is_empty()
        && v != NULL_VERSION
    {
        return Err(s3_error!(
            InvalidArgument,
            "this bucket has no versioning: the only version ID is null"
        ));
    }
    let after = input.key_marker.clone().unwrap_or_default();
    let max = max_keys(input.max_keys);
    let page = backend
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
    let next_key = truncated.then(|| page.last.clone().map(&enc)).flatten();
    let (contents, prefixes) = backend.render(&input.bucket, page, &enc).await?;
    let versions = contents
        .into_iter()
        .map(|o| ObjectVersion {
            key: o.key,
            version_id: Some(NULL_VERSION.to_owned()),
            is_latest: Some(true),
            owner: Some(owner()),
            last_modified: o.last_modified,
            e_tag: o.e_tag,
            size: o.size,
            storage_class: Some(ObjectVersionStorageClass::from_static(
                ObjectVersionStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc(input.prefix.unwrap_or_default())),
        delimiter: input.delimiter.filter(|d| !d.is_empty()).map(&enc),
        key_marker: Some(enc(input.key_marker.unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: Some(i32::try_from(max).unwrap_or(i32::MAX)),
        is_truncated: Some(truncated),
        next_version_id_marker: next_key.is_some().then(|| NULL_VERSION.to_owned()),
        next_key_marker: next_key,
        versions: Some(versions),
        common_prefixes: Some(prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
