//! Per-key mutual exclusion for changes that must be atomic with a check:
//! a conditional PUT (`If-Match`, `If-None-Match` with tags) or DELETE
//! compares the object's current ETag and publishes or unlinks under the
//! key's lock, and every replacing publish and every unlink takes the same
//! lock, so no other change of that key can fall between the check and the
//! act. One writable server owns a root (the writer's lock), so locks in
//! this process cover every writer.
//!
//! Striped: a fixed array of mutexes indexed by a hash of the key, so
//! memory does not grow with the number of keys. Two keys sharing a stripe
//! only wait for each other for the length of one rename or unlink.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use super::error::{Result, StoreError};
use super::key::Key;

const STRIPES: usize = 256;

pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl KeyLocks {
    pub fn lock(&self, key: &Key) -> Result<MutexGuard<'_, ()>> {
        let i = (self.hasher.hash_one(key.as_str()) % STRIPES as u64) as usize;
        self.stripes[i]
            .lock()
            .map_err(|_| StoreError::Io(std::io::Error::other("key lock poisoned")))
    }
}
