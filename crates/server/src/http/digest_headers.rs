//! Digests a client sends with a PUT, and the digest we send back.
//!
//! RFC 9530 `Content-Digest` / `Repr-Digest` (structured-field dictionaries,
//! parsed with `sfv`; `sha-256` and `sha-512`, other algorithms ignored),
//! `Content-MD5` and S3's `x-amz-checksum-sha256` (base64).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;

use crate::store::{Algo, Expected};

/// Every digest the request demands. A header that cannot be parsed is an
/// error (400), not silently ignored.
pub fn expected(headers: &HeaderMap) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for (name, source) in [
        ("content-digest", "Content-Digest"),
        ("repr-digest", "Repr-Digest"),
    ] {
        for value in headers.get_all(name) {
            parse_rfc9530(value.as_bytes(), source, &mut out)?;
        }
    }
    if let Some(v) = headers.get("content-md5") {
        out.push(base64_digest(v.as_bytes(), Algo::Md5, 16, "Content-MD5")?);
    }
    if let Some(v) = headers.get("x-amz-checksum-sha256") {
        out.push(base64_digest(
            v.as_bytes(),
            Algo::Sha256,
            32,
            "x-amz-checksum-sha256",
        )?);
    }
    Ok(out)
}

fn parse_rfc9530(raw: &[u8], source: &'static str, out: &mut Vec<Expected>) -> Result<(), String> {
    let dict: sfv::Dictionary = sfv::Parser::new(raw)
        .parse()
        .map_err(|e| format!("{source}: not a structured-field dictionary: {e}"))?;
    for (key, entry) in &dict {
        let (algo, len) = match key.as_str() {
            "sha-256" => (Algo::Sha256, 32),
            "sha-512" => (Algo::Sha512, 64),
            _ => continue,
        };
        let sfv::ListEntry::Item(item) = entry else {
            return Err(format!(
                "{source}: {} must be a byte sequence",
                key.as_str()
            ));
        };
        let bytes = item
            .bare_item
            .as_byte_sequence()
            .ok_or_else(|| format!("{source}: {} must be a byte sequence", key.as_str()))?;
        if bytes.len() != len {
            return Err(format!(
                "{source}: {} must be {len} bytes, got {}",
                key.as_str(),
                bytes.len()
            ));
        }
        out.push(Expected {
            algo,
            bytes: bytes.to_vec(),
            source,
        });
    }
    Ok(())
}

fn base64_digest(
    raw: &[u8],
    algo: Algo,
    len: usize,
    source: &'static str,
) -> Result<Expected, String> {
    let bytes = B64
        .decode(raw.trim_ascii())
        .map_err(|_| format!("{source}: not base64"))?;
    if bytes.len() != len {
        return Err(format!(
            "{source}: must be {len} bytes, got {}",
            bytes.len()
        ));
    }
    Ok(Expected {
        algo,
        bytes,
        source,
    })
}

/// The `Repr-Digest` value for a SHA-256.
pub fn repr_digest(sha256: &[u8; 32]) -> String {
    format!("sha-256=:{}:", B64.encode(sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn parses_supported_digests() {
        let sha = [1u8; 32];
        let v = repr_digest(&sha);
        let e = expected(&map(&[("content-digest", &v)])).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].bytes, sha);
        let e = expected(&map(&[(
            "repr-digest",
            &format!("md5=:AAAAAAAAAAAAAAAAAAAAAA==:, {v}"),
        )]))
        .unwrap();
        assert_eq!(e.len(), 1, "unknown algorithms are ignored");
        let e = expected(&map(&[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")])).unwrap();
        assert_eq!(e[0].algo, Algo::Md5);
    }

    #[test]
    fn rejects_malformed() {
        assert!(expected(&map(&[("content-digest", "sha-256=abc")])).is_err());
        assert!(expected(&map(&[("content-digest", "sha-256=:AAAA:")])).is_err());
        assert!(expected(&map(&[("content-md5", "!!")])).is_err());
        assert!(expected(&map(&[("x-amz-checksum-sha256", "AAAA")])).is_err());
    }
}
