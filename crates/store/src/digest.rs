//! Content digests: the hashers a write runs, the digests a client can
//! demand, and the SHA-256 stored with each object in an extended attribute.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Hash algorithms a client may name (headers or a checksum-path key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    Sha256,
    Sha512,
    Sha1,
    Md5,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
            Algo::Sha1 => "sha1",
            Algo::Md5 => "md5",
        }
    }
}

/// A digest the body must have, and where the demand came from (for the
/// error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub algo: Algo,
    pub bytes: Vec<u8>,
    pub source: &'static str,
}

/// The running hashes of one body: SHA-256 always (it becomes the ETag), the
/// others only when a client asked for them.
pub struct Hashers {
    sha256: Sha256,
    others: Vec<Other>,
}

enum Other {
    Sha512(Box<Sha512>),
    Sha1(Sha1),
    Md5(Md5),
}

/// The finished digests of one body.
#[derive(Debug, Clone)]
pub struct Digests {
    pub sha256: [u8; 32],
    others: Vec<(Algo, Vec<u8>)>,
}

impl Hashers {
    /// Hashers for SHA-256 plus every other algorithm named in `expected`.
    pub fn new(expected: &[Expected]) -> Hashers {
        let mut others: Vec<Other> = Vec::new();
        for e in expected {
            let other = match e.algo {
                Algo::Sha256 => continue,
                Algo::Sha512 => Other::Sha512(Box::default()),
                Algo::Sha1 => Other::Sha1(Sha1::new()),
                Algo::Md5 => Other::Md5(Md5::new()),
            };
            if !others.iter().any(|o| o.algo() == e.algo) {
                others.push(other);
            }
        }
        Hashers {
            sha256: Sha256::new(),
            others,
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        for o in &mut self.others {
            match o {
                Other::Sha512(h) => h.update(chunk),
                Other::Sha1(h) => h.update(chunk),
                Other::Md5(h) => h.update(chunk),
            }
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha256: self.sha256.finalize().into(),
            others: self
                .others
                .into_iter()
                .map(|o| match o {
                    Other::Sha512(h) => (Algo::Sha512, h.finalize().to_vec()),
                    Other::Sha1(h) => (Algo::Sha1, h.finalize().to_vec()),
                    Other::Md5(h) => (Algo::Md5, h.finalize().to_vec()),
                })
                .collect(),
        }
    }
}

impl Other {
    fn algo(&self) -> Algo {
        match self {
            Other::Sha512(_) => Algo::Sha512,
            Other::Sha1(_) => Algo::Sha1,
            Other::Md5(_) => Algo::Md5,
        }
    }
}

impl Digests {
    /// Digests known only by their SHA-256 (from the xattr).
    pub fn from_sha256(sha256: [u8; 32]) -> Digests {
        Digests {
            sha256,
            others: Vec::new(),
        }
    }

    pub fn get(&self, algo: Algo) -> Option<&[u8]> {
        match algo {
            Algo::Sha256 => Some(&self.sha256),
            _ => self
                .others
                .iter()
                .find(|(a, _)| *a == algo)
                .map(|(_, d)| d.as_slice()),
        }
    }

    /// The first expectation these digests do not meet, as a message.
    pub fn check(&self, expected: &[Expected]) -> Result<(), String> {
        for e in expected {
            let got = self.get(e.algo).unwrap_or_default();
            if got != e.bytes.as_slice() {
                return Err(format!(
                    "{} {} {} does not match the body's {}",
                    e.source,
                    e.algo.name(),
                    hex::encode(&e.bytes),
                    hex::encode(got)
                ));
            }
        }
        Ok(())
    }
}

/// Hash a reader with the algorithms in `expected` (and SHA-256).
pub fn hash_reader(mut r: impl std::io::Read, expected: &[Expected]) -> std::io::Result<Digests> {
    let mut h = Hashers::new(expected);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Name of the extended attribute holding an object's SHA-256.
pub const XATTR: &str = "user.putfs.sha256";

/// What the xattr records: the digest, and the size and mtime of the bytes it
/// describes. A file rewritten in place by another tool keeps a stale xattr;
/// the size/mtime check keeps it from being believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredDigest {
    pub sha256: [u8; 32],
    pub size: u64,
    pub mtime_ns: i128,
}

impl StoredDigest {
    pub fn encode(&self) -> String {
        format!(
            "v1 {} {} {}",
            hex::encode(self.sha256),
            self.size,
            self.mtime_ns
        )
    }

    pub fn decode(raw: &[u8]) -> Option<StoredDigest> {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.split(' ');
        if parts.next()? != "v1" {
            return None;
        }
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(parts.next()?, &mut sha256).ok()?;
        let size = parts.next()?.parse().ok()?;
        let mtime_ns = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(StoredDigest {
            sha256,
            size,
            mtime_ns,
        })
    }

    /// The digest, if it still describes a file of this size and mtime.
    pub fn valid_for(&self, size: u64, mtime_ns: i128) -> Option<[u8; 32]> {
        (self.size == size && self.mtime_ns == mtime_ns).then_some(self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_digest_roundtrip_and_validity() {
        let d = StoredDigest {
            sha256: [7; 32],
            size: 10,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        let back = StoredDigest::decode(d.encode().as_bytes()).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.valid_for(10, d.mtime_ns), Some([7; 32]));
        assert_eq!(back.valid_for(11, d.mtime_ns), None);
        assert_eq!(back.valid_for(10, 0), None);
        assert_eq!(StoredDigest::decode(b"v2 00 1 2"), None);
        assert_eq!(StoredDigest::decode(b"garbage"), None);
    }

    #[test]
    fn hashers_check_expectations() {
        let body = b"hello";
        let exp = vec![Expected {
            algo: Algo::Md5,
            bytes: hex::decode("5d41402abc4b2a76b9719d911017c592").unwrap(),
            source: "Content-MD5",
        }];
        let mut h = Hashers::new(&exp);
        h.update(body);
        let d = h.finish();
        assert!(d.check(&exp).is_ok());
        assert_eq!(
            hex::encode(d.sha256),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let wrong = vec![Expected {
            algo: Algo::Sha256,
            bytes: vec![0; 32],
            source: "Repr-Digest",
        }];
        assert!(d.check(&wrong).unwrap_err().contains("Repr-Digest"));
    }
}
