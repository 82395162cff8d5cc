//! Small objects kept in memory with the headers that describe them, so a
//! repeated GET or HEAD costs one `stat` instead of open, stat, xattr, read
//! and close.
//!
//! An entry is only ever answered after [`Store::file_id`] finds the key
//! still naming the same file (device, inode, size, mtime, ctime): the
//! server's own DELETE or replacement, rsync's renames and in-place edits,
//! a zfs receive or rollback under a replica all change it, and the entry
//! is dropped on the spot. Nothing is served from memory that the disk no
//! longer has. An entry is only made of a file whose key still names it
//! after it was read (a final symlink never does) and whose last change is
//! more than [`SETTLED`] old: file times tick coarsely on ZFS (and ext4 or
//! XFS before Linux 6.13), so two changes within one tick could otherwise
//! leave the id unchanged ([`FileId::settled`]).
//!
//! Bounded by `--read-cache` bytes (bodies plus a fixed overhead per
//! entry), S3-FIFO eviction (quick_cache); `0` turns it off.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use putfs_store::{FileId, Object};

use super::object_headers::Described;
use crate::store::{Key, Store};

/// Largest object kept: bigger ones are streamed from the file.
pub const MAX_OBJECT: u64 = 128 * 1024;

/// What an entry costs beyond its body (key, headers, bookkeeping).
const ENTRY_OVERHEAD: u64 = 512;

/// How long a file must have been unchanged before it is kept.
pub const SETTLED: Duration = Duration::from_secs(1);

/// One object: its identity on disk, its headers, its bytes.
pub struct Cached {
    id: FileId,
    pub described: Described,
    pub body: Bytes,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Box<str>, Arc<Cached>> for Weight {
    fn weight(&self, key: &Box<str>, val: &Arc<Cached>) -> u64 {
        val.body.len() as u64 + key.len() as u64 + ENTRY_OVERHEAD
    }
}

pub struct ReadCache {
    cache: Option<quick_cache::sync::Cache<Box<str>, Arc<Cached>, Weight>>,
    /// `putfs_read_cache_hits_total`.
    hits: prometheus::IntCounter,
}

impl ReadCache {
    /// A cache of at most `bytes`; `0` keeps nothing.
    pub fn new(bytes: u64, hits: prometheus::IntCounter) -> ReadCache {
        let cache = (bytes > 0).then(|| {
            let items = usize::try_from(bytes / (4 * 1024 + ENTRY_OVERHEAD)).unwrap_or(usize::MAX);
            quick_cache::sync::Cache::with_weighter(items.max(16), bytes, Weight)
        });
        ReadCache { cache, hits }
    }

    /// The entry for `key` if the key still names the file it was read from.
    pub fn get(&self, store: &Store, key: &Key) -> Option<Arc<Cached>> {
        let cache = self.cache.as_ref()?;
        let hit = cache.get(key.as_str())?;
        match store.file_id(key) {
            Ok(Some(id)) if id == hit.id => {
                self.hits.inc();
                Some(hit)
            }
            _ => {
                cache.remove(key.as_str());
                None
            }
        }
    }

    /// Keeps `body` (all of `object`, just read) if it is small enough, the
    /// file has settled, and `key` still names it now that it was read
    /// (nothing replaced or changed it meanwhile).
    pub fn offer(
        &self,
        store: &Store,
        key: &Key,
        object: &Object,
        described: &Described,
        body: &Bytes,
    ) {
        let Some(cache) = &self.cache else { return };
        if body.len() as u64 > MAX_OBJECT || body.len() as u64 != object.meta.size {
            return;
        }
        if !object.id.settled(SystemTime::now(), SETTLED) {
            return;
        }
        if !matches!(store.file_id(key), Ok(Some(id)) if id == object.id) {
            return;
        }
        let entry = Cached {
            id: object.id,
            described: described.clone(),
            body: body.clone(),
        };
        cache.insert(key.as_str().into(), Arc::new(entry));
    }

    /// Drops the entry for `key` (the server deleted or replaced it).
    pub fn forget(&self, key: &Key) {
        if let Some(cache) = &self.cache {
            cache.remove(key.as_str());
        }
    }
}
