//! What a PUT on a key that already exists answers, in one place for every
//! path that can find out: before the body (fast path), after it (small
//! bodies read whole), and at publish time (a racing writer got there first).

use std::sync::Arc;

use super::Store;
use super::digest::{Expected, Hashers};
use super::error::{Result, StoreError};
use super::key::Key;
use super::meta::ObjectMeta;
use super::read::Object;
use super::write::{IfExists, PutOutcome};

impl IfExists {
    /// The answer when the policy needs no look at the body; `None` means
    /// compare the bytes.
    pub fn without_body(self, existing: ObjectMeta) -> Option<Result<PutOutcome>> {
        match self {
            IfExists::Fail => Some(Err(StoreError::Exists)),
            IfExists::Conflict => Some(Err(StoreError::Conflict)),
            IfExists::Accept => Some(Ok(PutOutcome::Identical(existing))),
            IfExists::Compare | IfExists::Replace => None,
        }
    }
}

impl Object {
    /// Identical if the body has this object's SHA-256 and length, else a
    /// conflict.
    pub fn compare_body(&mut self, sha256: &[u8; 32], len: u64) -> Result<PutOutcome> {
        let theirs = self.digests(&[])?;
        if theirs.sha256 == *sha256 && self.meta.size == len {
            Ok(PutOutcome::Identical(self.meta))
        } else {
            Err(StoreError::Conflict)
        }
    }
}

impl Store {
    /// A whole PUT of a body already in memory, in one blocking call: look
    /// the key up, and either answer for the existing object or write,
    /// verify and publish. Used for small bodies, where one thread hand-off
    /// instead of three is most of the cost.
    pub fn put_bytes(
        self: &Arc<Self>,
        key: &Key,
        body: &[u8],
        expected: Vec<Expected>,
        if_exists: IfExists,
    ) -> Result<PutOutcome> {
        if if_exists != IfExists::Replace
            && let Some(mut existing) = self.lookup(key)?
        {
            if let Some(answer) = if_exists.without_body(existing.meta) {
                return answer;
            }
            let mut h = Hashers::new(&expected);
            h.update(body);
            let ours = h.finish();
            ours.check(&expected).map_err(StoreError::DigestMismatch)?;
            return existing.compare_body(&ours.sha256, body.len() as u64);
        }
        let mut upload = self.begin_upload(key, expected, if_exists)?;
        upload.write(body)?;
        upload.commit()
    }
}
