//! The `x-amz-checksum-*` values an object carries, by algorithm name
//! (`crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256`), and the checksum of a
//! multipart object: COMPOSITE (the checksum of the parts' checksums, then
//! `-N`) or FULL_OBJECT (of the whole body, CRCs only).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, ChecksumAlgorithm, ChecksumType};

/// The five `checksum_*` fields of any S3 input or part (cloned) as one
/// `Checksum`.
macro_rules! checksum_of {
    ($src:expr) => {{
        let src = &$src;
        s3s::dto::Checksum {
            checksum_crc32: src.checksum_crc32.clone(),
            checksum_crc32c: src.checksum_crc32c.clone(),
            checksum_crc64nvme: src.checksum_crc64nvme.clone(),
            checksum_sha1: src.checksum_sha1.clone(),
            checksum_sha256: src.checksum_sha256.clone(),
            ..Default::default()
        }
    }};
}
pub(crate) use checksum_of;

/// An S3 output struct with the five `checksum_*` fields taken from a
/// `Checksum`, beside the fields given.
macro_rules! with_checksums {
    ($sums:expr, $ty:path { $($field:ident: $value:expr,)* ..$rest:expr }) => {{
        let sums: s3s::dto::Checksum = $sums;
        $ty {
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            $($field: $value,)*
            ..$rest
        }
    }};
}
pub(crate) use with_checksums;

pub const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// `(name, value)` of every checksum in `c`.
pub fn fields(c: &Checksum) -> [(&'static str, &Option<String>); 5] {
    [
        ("crc32", &c.checksum_crc32),
        ("crc32c", &c.checksum_crc32c),
        ("crc64nvme", &c.checksum_crc64nvme),
        ("sha1", &c.checksum_sha1),
        ("sha256", &c.checksum_sha256),
    ]
}

/// The value `c` has for `algo`.
pub fn get(c: &Checksum, algo: &str) -> Option<String> {
    fields(c)
        .into_iter()
        .find(|(name, _)| *name == algo)
        .and_then(|(_, v)| v.clone())
}

/// A checksum set with one value.
pub fn one(algo: &str, value: String) -> Checksum {
    let mut c = Checksum::default();
    let slot = match algo {
        "crc32" => &mut c.checksum_crc32,
        "crc32c" => &mut c.checksum_crc32c,
        "crc64nvme" => &mut c.checksum_crc64nvme,
        "sha1" => &mut c.checksum_sha1,
        "sha256" => &mut c.checksum_sha256,
        _ => return c,
    };
    *slot = Some(value);
    c
}

/// The algorithm's name as this module spells it, if it is one.
pub fn name_of(a: &ChecksumAlgorithm) -> Option<String> {
    let n = a.as_str().to_ascii_lowercase();
    ALGORITHMS.contains(&n.as_str()).then_some(n)
}

/// The algorithm as S3 spells it in a request (`SHA256`).
pub fn algorithm(name: &str) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from(name.to_ascii_uppercase())
}

/// A hasher running `algo` only.
pub fn hasher(algo: &str) -> ChecksumHasher {
    let mut h = ChecksumHasher::default();
    match algo {
        "crc32" => h.crc32 = Some(Default::default()),
        "crc32c" => h.crc32c = Some(Default::default()),
        "crc64nvme" => h.crc64nvme = Some(Default::default()),
        "sha1" => h.sha1 = Some(Default::default()),
        "sha256" => h.sha256 = Some(Default::default()),
        _ => {}
    }
    h
}

/// S3's default type for a multipart upload's checksum: FULL_OBJECT for
/// CRC64NVME, COMPOSITE for the others.
pub fn default_type(algo: &str) -> &'static str {
    if algo == "crc64nvme" {
        ChecksumType::FULL_OBJECT
    } else {
        ChecksumType::COMPOSITE
    }
}

/// Can `algo` be combined as `kind`? (S3: FULL_OBJECT only for CRCs,
/// COMPOSITE for all but CRC64NVME.)
pub fn allowed(algo: &str, kind: &str) -> bool {
    match kind {
        ChecksumType::FULL_OBJECT => algo.starts_with("crc"),
        ChecksumType::COMPOSITE => algo != "crc64nvme",
        _ => false,
    }
}

/// The COMPOSITE checksum of parts with these checksums (base64): the
/// checksum of their bytes one after another, then `-N`.
pub fn composite(algo: &str, parts: &[String]) -> Option<String> {
    let mut h = hasher(algo);
    for p in parts {
        h.update(&STANDARD.decode(p.trim()).ok()?);
    }
    let whole = get(&h.finalize(), algo)?;
    Some(format!("{whole}-{}", parts.len()))
}

/// Does a client's value name this checksum? (A COMPOSITE one may be
/// given with or without its `-N`.)
pub fn matches(given: &str, ours: &str) -> bool {
    let given = given.trim();
    given == ours || ours.split_once('-').is_some_and(|(v, _)| v == given)
}
