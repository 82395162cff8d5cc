//! Per-key mutual exclusion for changes that must be atomic with a check:
//! a conditional PUT (`If-Match`, `If-None-Match`) or DELETE compares the
//! object's current ETag and publishes or unlinks under the key's lock, and
//! every publish and every unlink takes the same lock, so no other change of
//! that key can fall between the check and the act. One writable server owns a root (the writer's lock), so locks in
//! this process cover every writer.
//!
//! Striped: a fixed array of mutexes indexed by a hash of the key, so
//! memory does not grow with the number of keys. Two keys sharing a stripe
//! only wait for each other for the length of one rename or unlink.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

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
    /// The mutex guards no data, so a panic while it was held leaves
    /// nothing inconsistent: a poisoned stripe is taken all the same.
    pub fn lock(&self, key: &Key) -> MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one(key.as_str()) % STRIPES as u64) as usize;
        self.stripes[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
