//! The primary's side of signed forwarding: a write that carries a
//! forwarding signature is let through only if the signature is ours,
//! fresh, and not seen before.
//!
//! The header is what marks a forwarded write. A write without it is a
//! client writing directly (through the load balancer), which the write
//! token, not this gate, decides about; a replica with a secret signs every
//! write it forwards, so a replica of ours never sends one unsigned.
//!
//! Fresh means `|now - t| <= WINDOW_SECS` on the primary's clock (nodes
//! must keep their clocks within that of each other). Inside the window,
//! every accepted signature is remembered until it would be stale anyway,
//! so a captured request cannot be sent again. The memory is bounded: past
//! `MAX_SEEN` live signatures, signed writes are refused with 503 until
//! old ones expire, rather than forgetting one that could be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, Method};
use prometheus::{IntCounterVec, Opts};

use super::error::ApiError;
use super::forward_signature::{self as sig, Signature, Signed};
use crate::forward_secret::ForwardSecret;
use crate::metrics::Metrics;

/// How far a signature's time may be from ours, either way, in seconds.
pub const WINDOW_SECS: i64 = 60;

/// Most signatures remembered at once (32 bytes and a time each): far more
/// than a primary accepts in two windows.
const MAX_SEEN: usize = 100_000;

/// Why a signed write was refused: the `reason` label of
/// `putfs_forward_signature_rejected_total`.
#[derive(Debug, Clone, Copy)]
enum Reason {
    /// The header cannot be parsed, or a PUT names no SHA-256 to bind.
    Malformed,
    Stale,
    /// Not signed with our secret, or signed for another request.
    Invalid,
    Replayed,
    /// Too many live signatures to remember another (503, not 403).
    ReplayCacheFull,
}

impl Reason {
    const ALL: [Reason; 5] = [
        Reason::Malformed,
        Reason::Stale,
        Reason::Invalid,
        Reason::Replayed,
        Reason::ReplayCacheFull,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Stale => "stale",
            Reason::Invalid => "invalid",
            Reason::Replayed => "replayed",
            Reason::ReplayCacheFull => "replay_cache_full",
        }
    }
}

pub struct ForwardGate {
    secret: Option<ForwardSecret>,
    seen: Mutex<Seen>,
    rejected: IntCounterVec,
    /// Signed writes reach a primary that cannot check them: said once.
    warned_unverified: AtomicBool,
}

impl ForwardGate {
    pub fn new(secret: Option<ForwardSecret>, metrics: &Metrics) -> ForwardGate {
        let rejected = metrics.register(
            IntCounterVec::new(
                Opts::new(
                    "putfs_forward_signature_rejected_total",
                    "Forwarded writes refused for their signature, by reason",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        for r in Reason::ALL {
            rejected.with_label_values(&[r.as_str()]);
        }
        ForwardGate {
            secret,
            seen: Mutex::new(Seen::default()),
            rejected,
            warned_unverified: AtomicBool::new(false),
        }
    }

    /// Let a write through, or refuse it (403; 503 when the replay memory
    /// is full). Runs before the body is read.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(raw) = headers.get(sig::HEADER) else {
            return Ok(());
        };
        let Some(secret) = &self.secret else {
            if !self.warned_unverified.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "a forwarded write arrived signed, but this node has no \
                     --forward-secret-file to verify it: accepted unverified \
                     (give this node the replicas' secret)"
                );
            }
            return Ok(());
        };
        self.verify(
            secret.key(),
            method,
            path,
            headers,
            raw.as_bytes(),
            sig::unix_now(),
        )
        .map_err(|(reason, why)| {
            self.rejected.with_label_values(&[reason.as_str()]).inc();
            tracing::debug!(
                reason = reason.as_str(),
                why,
                path,
                "forwarded write refused"
            );
            match reason {
                Reason::ReplayCacheFull => ApiError::Overloaded("signed forwarded writes"),
                _ => ApiError::Forbidden(format!("forwarded write refused: {why}")),
            }
        })
    }

    fn verify(
        &self,
        key: &[u8],
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        raw: &[u8],
        now: i64,
    ) -> Result<(), (Reason, String)> {
        let malformed = |e: String| (Reason::Malformed, format!("{}: {e}", sig::HEADER));
        let s = Signature::parse(raw).map_err(malformed)?;
        if (now - s.t).abs() > WINDOW_SECS {
            return Err((
                Reason::Stale,
                format!(
                    "signed at {} but it is {now} here (allowed: {WINDOW_SECS} s either way; \
                     check the nodes' clocks)",
                    s.t
                ),
            ));
        }
        let sha256 = if *method == Method::DELETE {
            sig::empty_sha256()
        } else {
            sig::body_sha256(headers)
                .map_err(|e| (Reason::Malformed, e))?
                .ok_or_else(|| malformed("a signed PUT must carry a sha-256 Repr-Digest".into()))?
        };
        let what = Signed {
            method: method.as_str(),
            path,
            sha256,
        };
        if !s.verify(key, &what) {
            return Err((
                Reason::Invalid,
                "the signature does not match (another secret, or a changed request)".into(),
            ));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(s.mac, s.t + WINDOW_SECS, now)
    }
}

/// Signatures accepted and still fresh, each with the time it goes stale.
#[derive(Default)]
struct Seen {
    until: HashMap<[u8; 32], i64>,
}

impl Seen {
    fn insert(&mut self, mac: [u8; 32], until: i64, now: i64) -> Result<(), (Reason, String)> {
        if self.until.get(&mac).is_some_and(|&u| u >= now) {
            return Err((
                Reason::Replayed,
                "this signature was already used (a replayed request)".into(),
            ));
        }
        if self.until.len() >= MAX_SEEN {
            self.until.retain(|_, &mut u| u >= now);
            if self.until.len() >= MAX_SEEN {
                return Err((
                    Reason::ReplayCacheFull,
                    "too many signed writes in the replay window".into(),
                ));
            }
        }
        self.until.insert(mac, until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::forward_signature::NONCE_BYTES;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signed(method: &str, t: i64, nonce: u8) -> Vec<u8> {
        let what = Signed {
            method,
            path: "/k",
            sha256: sig::empty_sha256(),
        };
        Signature::sign(KEY, &what, t, [nonce; NONCE_BYTES])
            .header_value()
            .as_bytes()
            .to_vec()
    }

    fn gate() -> ForwardGate {
        ForwardGate::new(None, &Metrics::new())
    }

    fn reason(r: Result<(), (Reason, String)>) -> &'static str {
        r.err().map_or("ok", |(r, _)| r.as_str())
    }

    #[test]
    fn fresh_once_only() {
        let g = gate();
        let h = HeaderMap::new();
        let del = Method::DELETE;
        let v = |raw: &[u8], now| reason(g.verify(KEY, &del, "/k", &h, raw, now));
        assert_eq!(v(&signed("DELETE", 1000, 1), 1000 + WINDOW_SECS), "ok");
        assert_eq!(v(&signed("DELETE", 1000, 1), 1000), "replayed");
        assert_eq!(v(&signed("DELETE", 1000, 2), 1000 - WINDOW_SECS), "ok");
        assert_eq!(v(&signed("DELETE", 1000, 3), 1001 + WINDOW_SECS), "stale");
        assert_eq!(v(&signed("DELETE", 1000, 3), 999 - WINDOW_SECS), "stale");
        assert_eq!(v(&signed("PUT", 1000, 4), 1000), "invalid");
        assert_eq!(v(b"t=1000", 1000), "malformed");
        let put = Method::PUT;
        let raw = signed("PUT", 1000, 5);
        let r = g.verify(KEY, &put, "/k", &h, &raw, 1000);
        assert_eq!(reason(r), "malformed", "a PUT without a digest");
    }

    #[test]
    fn replay_memory_is_bounded() {
        let mut s = Seen::default();
        for i in 0..MAX_SEEN {
            let mut mac = [0u8; 32];
            mac[..8].copy_from_slice(&(i as u64).to_le_bytes());
            assert!(s.insert(mac, 100, 50).is_ok());
        }
        let full = s.insert([0xff; 32], 100, 50);
        assert_eq!(reason(full), "replay_cache_full");
        // Once the old ones are stale they are forgotten, and room is made.
        assert!(s.insert([0xff; 32], 200, 101).is_ok());
        assert_eq!(s.until.len(), 1);
    }
}
