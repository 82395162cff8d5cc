//! Multipart uploads: each upload is a directory under the root's
//! `.putfs/s3-uploads/` (never a key), holding `upload.json` (bucket, key,
//! content type, metadata, when it began) and one file per part, written
//! to a temp name, fsynced and renamed into place (a part sent again
//! replaces the earlier one), its MD5 kept in an xattr. Completing copies
//! the parts, in order, into an ordinary upload of the key: the same
//! durable, write-once publish as any PUT; then the directory goes.
//! Uploads older than `--s3-upload-expiry` are removed when another
//! begins.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use putfs_store::{IfExists, Key, PutOutcome, Result, Sink, Store, StoreError};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::Checksum;
use serde::{Deserialize, Serialize};

use super::checksums;
use super::meta::S3Meta;
use super::upload::{self, Expected, verify};

/// Below this, only the last part may be (S3's rule).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// Highest part number.
pub const MAX_PART: i32 = 10_000;

const PART_ATTR: &str = "user.putfs.s3part";
/// A part's checksum in its upload's algorithm (base64).
const PART_SUM_ATTR: &str = "user.putfs.s3partsum";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadInfo {
    pub bucket: String,
    pub key: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
    #[serde(flatten)]
    pub headers: super::meta::Headers,
    /// The checksum algorithm the upload was begun with (`sha256`, …), and
    /// how the object's checksum is made of the parts' (COMPOSITE or
    /// FULL_OBJECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// Milliseconds since the epoch.
    pub initiated_ms: u64,
}

#[derive(Debug, Clone)]
pub struct PartInfo {
    pub number: i32,
    pub size: u64,
    pub etag: String,
    /// Its checksum in the upload's algorithm, when the upload has one.
    pub checksum: Option<String>,
    pub modified: SystemTime,
}

/// A part a CompleteMultipartUpload names.
pub struct Chosen {
    pub number: i32,
    pub etag: String,
    pub checksums: Checksum,
}

/// What a completed upload published.
pub struct Completed {
    pub outcome: PutOutcome,
    pub etag: String,
    pub checksum: Checksum,
    pub checksum_type: Option<String>,
}

/// Why an upload cannot be used.
#[derive(Debug)]
pub enum MpuError {
    NoSuchUpload,
    InvalidPart(String),
    InvalidPartOrder,
    EntityTooSmall,
    BadDigest(String),
    InvalidRequest(String),
    Store(StoreError),
}

impl From<StoreError> for MpuError {
    fn from(e: StoreError) -> MpuError {
        MpuError::Store(e)
    }
}

impl From<std::io::Error> for MpuError {
    fn from(e: std::io::Error) -> MpuError {
        MpuError::Store(StoreError::from_io(e))
    }
}

pub struct Uploads {
    dir: PathBuf,
    fsync: bool,
    expiry: Duration,
    /// Uploads being completed: a second Complete of the same upload (a
    /// client retrying while the first still copies) waits for the first.
    completing: (Mutex<HashSet<String>>, Condvar),
}

/// The right to complete one upload, held while it is completed.
struct Turn<'a> {
    uploads: &'a Uploads,
    id: String,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let (set, done) = &self.uploads.completing;
        set.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        done.notify_all();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn part_name(n: i32) -> String {
    format!("part-{n:05}")
}

impl Uploads {
    pub fn new(root: &Path, fsync: bool, expiry: Duration) -> Uploads {
        Uploads {
            dir: root.join(".putfs").join("s3-uploads"),
            fsync,
            expiry,
            completing: (Mutex::new(HashSet::new()), Condvar::new()),
        }
    }

    fn sync(&self, dir: &Path) -> std::io::Result<()> {
        if self.fsync { sync_dir(dir) } else { Ok(()) }
    }

    /// The directory of upload `id`, which must exist.
    fn upload_dir(&self, id: &str) -> std::result::Result<PathBuf, MpuError> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MpuError::NoSuchUpload);
        }
        let dir = self.dir.join(id);
        if dir.join("upload.json").is_file() {
            Ok(dir)
        } else {
            Err(MpuError::NoSuchUpload)
        }
    }

    /// Wait until no other Complete of `id` runs, and hold the turn.
    fn turn(&self, id: &str) -> Turn<'_> {
        let (set, done) = &self.completing;
        let mut busy = set.lock().unwrap_or_else(|p| p.into_inner());
        while busy.contains(id) {
            busy = done.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        busy.insert(id.to_owned());
        Turn {
            uploads: self,
            id: id.to_owned(),
        }
    }

    /// Begin an upload: its directory and description, durable.
    pub fn create(&self, info: &UploadInfo) -> std::result::Result<String, MpuError> {
        self.expire();
        std::fs::create_dir_all(&self.dir)?;
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(e.to_string()))?;
        let id = hex::encode(raw);
        let dir = self.dir.join(&id);
        std::fs::create_dir(&dir)?;
        let mut f = File::create(dir.join("upload.json.tmp"))?;
        f.write_all(&serde_json::to_vec(info).map_err(std::io::Error::other)?)?;
        if self.fsync {
            f.sync_all()?;
        }
        std::fs::rename(dir.join("upload.json.tmp"), dir.join("upload.json"))?;
        self.sync(&dir)?;
        self.sync(&self.dir)?;
        Ok(id)
    }

    pub fn info(&self, id: &str) -> std::result::Result<UploadInfo, MpuError> {
        let dir = self.upload_dir(id)?;
        let raw = std::fs::read(dir.join("upload.json"))?;
        serde_json::from_slice(&raw)
            .map_err(|e| MpuError::Store(StoreError::Io(std::io::Error::other(e))))
    }

    /// A sink for part `n` of upload `id`.
    pub fn part(
        &self,
        id: &str,
        n: i32,
        checks: ChecksumHasher,
        expected: Arc<Mutex<Expected>>,
        algo: Option<String>,
    ) -> std::result::Result<PartSink, MpuError> {
        if !(1..=MAX_PART).contains(&n) {
            return Err(MpuError::InvalidPart(format!(
                "part numbers are 1 to {MAX_PART}"
            )));
        }
        let dir = self.upload_dir(id)?;
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(e.to_string()))?;
        let tmp = dir.join(format!(".tmp-{}", hex::encode(raw)));
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        Ok(PartSink {
            file,
            tmp,
            dest: dir.join(part_name(n)),
            dir,
            fsync: self.fsync,
            md5: Md5::default(),
            checks,
            expected,
            algo,
            done: false,
        })
    }

    /// The parts uploaded so far, by number.
    pub fn parts(&self, id: &str) -> std::result::Result<Vec<PartInfo>, MpuError> {
        let dir = self.upload_dir(id)?;
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_prefix("part-"))
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let md = entry.metadata()?;
            let etag = part_etag(&path)?;
            parts.push(PartInfo {
                number: n,
                size: md.len(),
                etag,
                checksum: part_sum(&path),
                modified: md.modified()?,
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    pub fn abort(&self, id: &str) -> std::result::Result<(), MpuError> {
        let dir = self.upload_dir(id)?;
        std::fs::remove_dir_all(&dir)?;
        self.sync(&self.dir)?;
        Ok(())
    }

    /// Every upload in progress, oldest first.
    pub fn list(&self) -> Vec<(String, UploadInfo)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut all: Vec<(String, UploadInfo)> = entries
            .flatten()
            .filter_map(|e| {
                let id = e.file_name().to_str()?.to_owned();
                let info = self.info(&id).ok()?;
                Some((id, info))
            })
            .collect();
        all.sort_by(|a, b| {
            (&a.1.key, a.1.initiated_ms, &a.0).cmp(&(&b.1.key, b.1.initiated_ms, &b.0))
        });
        all
    }

    /// Remove uploads begun longer ago than the expiry.
    fn expire(&self) {
        let limit = now_ms().saturating_sub(self.expiry.as_millis() as u64);
        for (id, info) in self.list() {
            if info.initiated_ms < limit {
                tracing::info!(upload = %id, key = %info.key, "removing an expired multipart upload");
                let _ = std::fs::remove_dir_all(self.dir.join(&id));
            }
        }
    }

    /// Copy the parts the client names, in order, into `key` and publish
    /// it like any PUT; then remove the upload. Returns what was published:
    /// the outcome, the ETag (MD5 of the parts' MD5s, `-N`) and, for an
    /// upload with a checksum algorithm, the object's checksum (checked
    /// against what the client gave, `want`, before anything is published).
    pub fn complete(
        &self,
        store: &Arc<Store>,
        id: &str,
        key: &Key,
        chosen: &[Chosen],
        want: &Checksum,
        if_exists: IfExists,
    ) -> std::result::Result<Completed, MpuError> {
        let _turn = self.turn(id);
        let info = self.info(id)?;
        let dir = self.upload_dir(id)?;
        if chosen.is_empty() {
            return Err(MpuError::InvalidPart("no part was named".into()));
        }
        let algo = info.checksum_algorithm.clone();
        // Checksums this upload cannot check are refused, not ignored.
        let foreign = |c: &Checksum| {
            checksums::fields(c)
                .iter()
                .any(|(name, v)| v.is_some() && algo.as_deref() != Some(*name))
        };
        if foreign(want) || chosen.iter().any(|c| foreign(&c.checksums)) {
            return Err(MpuError::InvalidRequest(match &algo {
                None => "the upload was begun without a checksum algorithm".to_owned(),
                Some(a) => format!("the upload's checksum algorithm is {a}"),
            }));
        }
        let have = self.parts(id)?;
        let mut files = Vec::with_capacity(chosen.len());
        let mut sizes = Vec::with_capacity(chosen.len());
        let mut sums = Vec::new();
        let mut previous = 0;
        for (i, c) in chosen.iter().enumerate() {
            let n = c.number;
            if n <= previous {
                return Err(MpuError::InvalidPartOrder);
            }
            previous = n;
            let part = have
                .iter()
                .find(|p| p.number == n)
                .ok_or_else(|| MpuError::InvalidPart(format!("part {n} was not uploaded")))?;
            if part.etag != c.etag.trim_matches('"') {
                return Err(MpuError::InvalidPart(format!("part {n} has another ETag")));
            }
            if part.size < MIN_PART && i + 1 < chosen.len() {
                return Err(MpuError::EntityTooSmall);
            }
            if let Some(algo) = &algo {
                let ours = part.checksum.clone().ok_or_else(|| {
                    MpuError::InvalidPart(format!("part {n} has no recorded {algo} checksum"))
                })?;
                // A part named without its checksum is taken with the one
                // it was uploaded with (as S3 does).
                if let Some(given) = checksums::get(&c.checksums, algo)
                    && given.trim() != ours
                {
                    return Err(MpuError::BadDigest(format!(
                        "part {n}'s {algo} checksum is not the one it was uploaded with"
                    )));
                }
                sums.push(ours);
            }
            files.push(dir.join(part_name(n)));
            sizes.push(part.size);
        }
        let etag = multipart_etag(chosen.iter().map(|c| c.etag.as_str()));
        let kind = info.checksum_type.clone();
        let full_object = kind.as_deref() == Some(s3s::dto::ChecksumType::FULL_OBJECT);
        let mut whole = match (&algo, full_object) {
            (Some(a), true) => Some(checksums::hasher(a)),
            _ => None,
        };
        let mut upload = store.begin_upload(key, Vec::new(), if_exists, None)?;
        for path in &files {
            upload::feed_from(File::open(path)?, |chunk| {
                if let Some(h) = whole.as_mut() {
                    h.update(chunk);
                }
                upload.write(chunk)
            })?;
        }
        // The object's checksum, checked before it is published.
        let checksum = match (&algo, whole) {
            (Some(a), Some(h)) => checksums::get(&h.finalize(), a),
            (Some(a), None) => checksums::composite(a, &sums),
            (None, _) => None,
        };
        if let (Some(a), Some(ours)) = (&algo, &checksum)
            && let Some(given) = checksums::get(want, a)
            && !checksums::matches(&given, ours)
        {
            return Err(MpuError::BadDigest(format!(
                "the {a} checksum you specified did not match the calculated one"
            )));
        }
        let mut meta = S3Meta {
            etag: etag.clone(),
            content_type: info.content_type,
            metadata: info.metadata,
            headers: info.headers,
            parts: sizes,
            upload: Some(id.to_owned()),
            ..S3Meta::default()
        };
        if let (Some(a), Some(v)) = (&algo, &checksum) {
            meta.checksums.insert(a.clone(), v.clone());
            meta.checksum_type = kind.clone();
            meta.part_checksums = sums;
        }
        meta.attach_to(&mut upload)?;
        let outcome = upload.commit()?;
        // Published: the parts are no longer needed.
        if std::fs::remove_dir_all(&dir).is_ok() {
            let _ = self.sync(&self.dir);
        }
        Ok(Completed {
            outcome,
            etag,
            checksum: match (&algo, checksum) {
                (Some(a), Some(v)) => checksums::one(a, v),
                _ => Checksum::default(),
            },
            checksum_type: kind,
        })
    }
}

/// S3's ETag of an object made of parts with these ETags (hex MD5s):
/// the MD5 of their MD5s, then `-` and how many there are.
pub fn multipart_etag<'a>(parts: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = parts.len();
    let mut whole = Md5::default();
    for tag in parts {
        whole.update(&hex::decode(tag.trim_matches('"')).unwrap_or_default());
    }
    format!("{}-{n}", hex::encode(whole.finalize()))
}

/// A part's checksum in its upload's algorithm, if recorded.
fn part_sum(path: &Path) -> Option<String> {
    let mut buf = [0u8; 128];
    let n = rustix::fs::getxattr(path, PART_SUM_ATTR, &mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok().map(str::to_owned)
}

/// A part's MD5: recorded, or computed from its bytes.
fn part_etag(path: &Path) -> std::io::Result<String> {
    let f = File::open(path)?;
    let mut buf = [0u8; 64];
    if let Ok(n) = rustix::fs::fgetxattr(&f, PART_ATTR, &mut buf)
        && let Ok(s) = std::str::from_utf8(&buf[..n])
    {
        return Ok(s.to_owned());
    }
    let mut md5 = Md5::default();
    let mut f = f;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        md5.update(&chunk[..n]);
    }
    Ok(hex::encode(md5.finalize()))
}

/// One part's body on its way to disk.
pub struct PartSink {
    file: File,
    tmp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
    fsync: bool,
    md5: Md5,
    checks: ChecksumHasher,
    expected: Arc<Mutex<Expected>>,
    /// The upload's checksum algorithm: the part's value is kept.
    algo: Option<String>,
    done: bool,
}

pub struct PartWritten {
    pub etag: String,
    pub checksums: Checksum,
}

impl Sink for PartSink {
    type Output = PartWritten;

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.md5.update(chunk);
        self.checks.update(chunk);
        self.file.write_all(chunk).map_err(StoreError::from_io)
    }

    fn finish(mut self) -> Result<PartWritten> {
        let md5 = std::mem::take(&mut self.md5).finalize();
        let computed = std::mem::take(&mut self.checks).finalize();
        verify(&self.expected, &md5, &computed)?;
        let etag = hex::encode(md5);
        let _ = rustix::fs::fsetxattr(
            &self.file,
            PART_ATTR,
            etag.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        );
        if let Some(algo) = &self.algo {
            let sum = checksums::get(&computed, algo).ok_or_else(|| {
                StoreError::Io(std::io::Error::other(
                    "the part's checksum was not computed",
                ))
            })?;
            rustix::fs::fsetxattr(
                &self.file,
                PART_SUM_ATTR,
                sum.as_bytes(),
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(StoreError::from)?;
        }
        if self.fsync {
            self.file.sync_all().map_err(StoreError::from_io)?;
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(StoreError::from_io)?;
        self.done = true;
        if self.fsync {
            sync_dir(&self.dir).map_err(StoreError::from_io)?;
        }
        Ok(PartWritten {
            etag,
            checksums: computed,
        })
    }
}

impl Drop for PartSink {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
