//! What a PUT on a key that already exists answers, in one place for every
//! path that can find out: before the body (fast path), after it (small
//! bodies read whole, or streamed into a comparison), and at publish time (a
//! racing writer got there first).
//!
//! A success here (204) promises what a 201 promises: the object is durable.
//! It may have been published a moment ago by a PUT that has not fsynced
//! its directory yet, so the answer makes sure first.

use std::sync::Arc;

use super::Store;
use super::condition::Condition;
use super::digest::{Expected, Hashers};
use super::error::{Result, StoreError};
use super::key::Key;
use super::read::Object;
use super::write::{IfExists, PutOutcome};

impl Store {
    /// Decide about an existing object without its body where that is
    /// possible: the policy alone, a Content-Length that differs, or digests
    /// the client sent. `None`: the body must be compared
    /// ([`Store::compare_existing`]).
    pub fn answer_existing(
        &self,
        key: &Key,
        existing: &mut Object,
        if_exists: IfExists,
        condition: Option<&Condition>,
        expected: &[Expected],
        length: Option<u64>,
    ) -> Option<Result<PutOutcome>> {
        // The request's own conditions come first (RFC 9110 §13.2.2); no
        // change is made here, so checking them against what we read is
        // atomic enough.
        if let Some(c) = condition
            && let Err(e) = c.check(Some(&existing.meta))
        {
            return Some(Err(e));
        }
        match if_exists {
            IfExists::Fail => Some(Err(StoreError::Exists)),
            IfExists::Conflict => Some(Err(StoreError::Conflict)),
            IfExists::Accept => Some(self.identical(key, existing)),
            IfExists::Compare | IfExists::Replace => {
                if length.is_some_and(|l| l != existing.meta.size) {
                    return Some(Err(StoreError::Conflict));
                }
                if expected.is_empty() {
                    return None;
                }
                // The client told us its body's digests: compare them with
                // the object's.
                Some(
                    existing
                        .digests(expected)
                        .and_then(|d| match d.check(expected) {
                            Ok(()) => self.identical(key, existing),
                            Err(_) => Err(StoreError::Conflict),
                        }),
                )
            }
        }
    }

    /// Identical if a body with this SHA-256 and length equals the object,
    /// else a conflict.
    pub fn compare_existing(
        &self,
        key: &Key,
        existing: &mut Object,
        sha256: &[u8; 32],
        len: u64,
    ) -> Result<PutOutcome> {
        let theirs = existing.digests(&[])?;
        if theirs.sha256 == *sha256 && existing.meta.size == len {
            self.identical(key, existing)
        } else {
            Err(StoreError::Conflict)
        }
    }

    fn identical(&self, key: &Key, existing: &Object) -> Result<PutOutcome> {
        self.make_durable(key, &existing.file)?;
        Ok(PutOutcome::Identical(existing.meta))
    }

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
        condition: Option<Condition>,
    ) -> Result<PutOutcome> {
        // A condition that already fails costs no write (the upload checks
        // it again, atomically, when it publishes).
        if if_exists == IfExists::Replace
            && let Some(c) = &condition
        {
            c.check(self.lookup(key)?.as_ref().map(|o| &o.meta))?;
        }
        if if_exists != IfExists::Replace
            && let Some(mut existing) = self.lookup(key)?
        {
            let len = Some(body.len() as u64);
            let cond = condition.as_ref();
            if let Some(answer) =
                self.answer_existing(key, &mut existing, if_exists, cond, &[], len)
            {
                return answer;
            }
            let mut h = Hashers::new(&expected);
            h.update(body);
            let ours = h.finish();
            ours.check(&expected).map_err(StoreError::DigestMismatch)?;
            return self.compare_existing(key, &mut existing, &ours.sha256, body.len() as u64);
        }
        let mut upload = self.begin_upload(key, expected, if_exists, condition)?;
        upload.write(body)?;
        upload.commit()
    }
}
