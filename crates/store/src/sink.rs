//! Consumers of a request body, chunk by chunk, on a blocking thread: an
//! upload into the store, or a comparison with an existing object. The
//! front end feeds them (see the server's pump); the store knows nothing of
//! where the chunks come from.

use super::digest::{Digests, Expected, Hashers};
use super::error::{Result, StoreError};
use super::read::Object;
use super::write::{PutOutcome, Upload};

/// Something that consumes a body chunk by chunk on a blocking thread.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn write(&mut self, chunk: &[u8]) -> Result<()>;
    fn finish(self) -> Result<Self::Output>;
}

impl Sink for Upload {
    type Output = PutOutcome;
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        Upload::write(self, chunk)
    }
    fn finish(self) -> Result<PutOutcome> {
        self.commit()
    }
}

/// Hashes a body that is not going to be stored, to compare it with an
/// existing object (PUT of an existing key, policy `verify`).
pub struct Compare {
    store: std::sync::Arc<super::Store>,
    key: super::key::Key,
    existing: Object,
    hashers: Hashers,
    expected: Vec<Expected>,
    len: u64,
}

impl Compare {
    pub fn new(
        store: std::sync::Arc<super::Store>,
        key: super::key::Key,
        existing: Object,
        expected: Vec<Expected>,
    ) -> Compare {
        Compare {
            store,
            key,
            existing,
            hashers: Hashers::new(&expected),
            expected,
            len: 0,
        }
    }
}

impl Sink for Compare {
    /// `Identical` when the body equals the existing object (and meets every
    /// digest sent with it), else a conflict.
    type Output = PutOutcome;
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hashers.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }
    fn finish(mut self) -> Result<PutOutcome> {
        let ours: Digests = self.hashers.finish();
        ours.check(&self.expected)
            .map_err(StoreError::DigestMismatch)?;
        self.store
            .compare_existing(&self.key, &mut self.existing, &ours.sha256, self.len)
    }
}
