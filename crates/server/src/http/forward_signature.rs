//! The signature a replica puts on a write it forwards, so the primary can
//! tell a write that came through a replica of ours from one that claims
//! to.
//!
//! ```text
//! PutFS-Forwarded-Signature: t=1700000000, n=:<16 bytes, base64>:, sig=:<32 bytes, base64>:
//! ```
//!
//! (an RFC 8941 dictionary, like `Repr-Digest`). `sig` is
//! HMAC-SHA256(secret, canonical) over
//!
//! ```text
//! putfs-forward-v1 \n METHOD \n PATH \n T \n NONCE \n SHA256
//! ```
//!
//! joined by single newlines, no trailing one: PATH is the request path as
//! the primary receives it (percent-encoded, as sent; no query), T the
//! unix seconds in `t`, NONCE the `n` value in base64, SHA256 the body's
//! digest in lower-case hex. The digest is the first `sha-256` among the
//! digest headers the primary verifies the body against (`Content-Digest`,
//! `Repr-Digest`, `x-amz-checksum-sha256`, in that order), so signing it
//! binds the body: a body swapped on the way fails that check before
//! anything is published. A DELETE signs the digest of the empty body.
//!
//! The nonce makes two identical writes within one second (a client's
//! retry, two DELETEs of one key) two signatures, so the primary can refuse
//! every repeated one as a replay without refusing honest repeats.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

use super::digest_headers;
use crate::store::Algo;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The request header that carries the signature.
pub const HEADER: &str = "putfs-forwarded-signature";

/// First line of the canonical string: a new scheme gets a new name.
const SCHEME: &str = "putfs-forward-v1";

pub const NONCE_BYTES: usize = 16;
const MAC_BYTES: usize = 32;

/// What a signature covers.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub sha256: [u8; 32],
}

/// One parsed or freshly made signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Unix seconds when the replica signed.
    pub t: i64,
    pub nonce: [u8; NONCE_BYTES],
    pub mac: [u8; MAC_BYTES],
}

impl Signature {
    pub fn sign(key: &[u8], what: &Signed<'_>, t: i64, nonce: [u8; NONCE_BYTES]) -> Signature {
        let mac = keyed(key, what, t, &nonce).finalize().into_bytes();
        Signature {
            t,
            nonce,
            mac: mac.into(),
        }
    }

    /// Constant-time check of `mac` against what this key would sign.
    pub fn verify(&self, key: &[u8], what: &Signed<'_>) -> bool {
        keyed(key, what, self.t, &self.nonce)
            .verify_slice(&self.mac)
            .is_ok()
    }

    pub fn header_value(&self) -> HeaderValue {
        let v = format!(
            "t={}, n=:{}:, sig=:{}:",
            self.t,
            B64.encode(self.nonce),
            B64.encode(self.mac)
        );
        // Digits, base64 and punctuation only: always a valid header value.
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn parse(raw: &[u8]) -> Result<Signature, String> {
        let dict: sfv::Dictionary = sfv::Parser::new(raw)
            .parse()
            .map_err(|e| format!("not a structured-field dictionary: {e}"))?;
        let item = |name: &str| match dict.get(name) {
            Some(sfv::ListEntry::Item(item)) => Ok(&item.bare_item),
            Some(_) => Err(format!("{name} must be a single value")),
            None => Err(format!("{name} is missing")),
        };
        let t = item("t")?
            .as_integer()
            .ok_or("t must be an integer")?
            .into();
        let bytes = |name: &str, len: usize| -> Result<Vec<u8>, String> {
            let b = item(name)?
                .as_byte_sequence()
                .ok_or_else(|| format!("{name} must be a byte sequence"))?;
            if b.len() != len {
                return Err(format!("{name} must be {len} bytes, got {}", b.len()));
            }
            Ok(b.to_vec())
        };
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(&bytes("n", NONCE_BYTES)?);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&bytes("sig", MAC_BYTES)?);
        Ok(Signature { t, nonce, mac })
    }
}

fn keyed(key: &[u8], what: &Signed<'_>, t: i64, nonce: &[u8; NONCE_BYTES]) -> HmacSha256 {
    // HMAC takes a key of any length; the secret file's checks make it long.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(&canonical(what, t, nonce));
    mac
}

/// The bytes that are signed (see the module doc).
pub fn canonical(what: &Signed<'_>, t: i64, nonce: &[u8; NONCE_BYTES]) -> Vec<u8> {
    format!(
        "{SCHEME}\n{}\n{}\n{t}\n{}\n{}",
        what.method,
        what.path,
        B64.encode(nonce),
        hex(&what.sha256)
    )
    .into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 a signature on this request covers: the first `sha-256`
/// digest header the primary will verify the body against, if any. `Err`
/// when a digest header cannot be parsed (the PUT would be a 400 anyway).
pub fn body_sha256(headers: &HeaderMap) -> Result<Option<[u8; 32]>, String> {
    Ok(digest_headers::expected(headers)?
        .into_iter()
        .find(|e| e.algo == Algo::Sha256)
        .and_then(|e| e.bytes.try_into().ok()))
}

/// Seconds since the epoch, the clock signatures are made and judged by.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a DELETE signs: it has no body.
pub fn empty_sha256() -> [u8; 32] {
    Sha256::digest([]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn what(path: &str) -> Signed<'_> {
        Signed {
            method: "PUT",
            path,
            sha256: empty_sha256(),
        }
    }

    #[test]
    fn canonical_string_is_stable() {
        let c = canonical(&what("/a%20b/c"), 1_700_000_000, &[0u8; NONCE_BYTES]);
        assert_eq!(
            String::from_utf8(c).unwrap(),
            "putfs-forward-v1\nPUT\n/a%20b/c\n1700000000\nAAAAAAAAAAAAAAAAAAAAAA==\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn round_trips_and_binds_every_field() {
        let nonce = [7u8; NONCE_BYTES];
        let s = Signature::sign(KEY, &what("/k"), 42, nonce);
        let parsed = Signature::parse(s.header_value().as_bytes()).unwrap();
        assert_eq!(parsed, s);
        assert!(parsed.verify(KEY, &what("/k")));
        assert!(!parsed.verify(b"another key, just as long as it is", &what("/k")));
        assert!(!parsed.verify(KEY, &what("/other")));
        let delete = Signed {
            method: "DELETE",
            ..what("/k")
        };
        assert!(!parsed.verify(KEY, &delete));
        let body = Signed {
            sha256: [1; 32],
            ..what("/k")
        };
        assert!(!parsed.verify(KEY, &body));
        assert!(!Signature { t: 43, ..s.clone() }.verify(KEY, &what("/k")));
        assert!(
            !Signature {
                nonce: [8; NONCE_BYTES],
                ..s
            }
            .verify(KEY, &what("/k"))
        );
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = Signature::sign(KEY, &what("/k"), 42, [0; NONCE_BYTES]);
        let v = String::from_utf8(good.header_value().as_bytes().to_vec()).unwrap();
        assert!(Signature::parse(v.as_bytes()).is_ok());
        for bad in [
            "",
            "t=42",
            "t=42, n=:AAAAAAAAAAAAAAAAAAAAAA==:",
            "t=x, n=:AAAAAAAAAAAAAAAAAAAAAA==:, sig=:AAAA:",
            "t=42, n=:AAAA:, sig=:AAAA:",
            "garbage ;; ==",
        ] {
            assert!(Signature::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signs_the_first_sha256_digest_header() {
        let mut h = HeaderMap::new();
        assert_eq!(body_sha256(&h).unwrap(), None);
        h.insert("content-md5", "XUFAKrxLKna5cZ2REBfFkg==".parse().unwrap());
        assert_eq!(body_sha256(&h).unwrap(), None, "MD5 is not signed");
        h.insert(
            "repr-digest",
            digest_headers::repr_digest(&[3; 32]).parse().unwrap(),
        );
        assert_eq!(body_sha256(&h).unwrap(), Some([3; 32]));
        h.insert(
            "content-digest",
            digest_headers::repr_digest(&[4; 32]).parse().unwrap(),
        );
        assert_eq!(body_sha256(&h).unwrap(), Some([4; 32]));
        h.insert("content-digest", "sha-256=bad".parse().unwrap());
        assert!(body_sha256(&h).is_err());
    }
}
