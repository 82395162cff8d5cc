//! Object keys: what a request path may name, checked before any filesystem
//! access.
//!
//! A key is the percent-decoded path after the first `/`. Validation is purely
//! lexical; where the key leads on disk (symlinks, files in the way) is the
//! resolver's business (`fsops::open_beneath`).

use std::fmt;

/// Every segment that starts with this is putfs's own: `.putfs/` (heartbeat,
/// probes) and `.putfs-tmp.*` (in-flight uploads). No key may use it, so
/// internal endpoints and temp files can never collide with an object.
pub const RESERVED_PREFIX: &str = ".putfs";

/// Prefix of the temp file a PUT writes before publishing (upstream's name, so
/// an upstream data root and ours clean up the same way).
pub const TEMP_PREFIX: &str = ".putfs-tmp.";

/// ZFS's snapshot directory at a dataset's root: reading through it would
/// serve deleted objects from snapshots, so no key may pass through it.
const ZFS_SNAPDIR: &str = ".zfs";

/// Could a key name this directory entry? putfs's own entries (temp files,
/// `.putfs/`), `.zfs` and names with control characters never are: listings,
/// tree comparisons and replication metrics skip them.
pub fn addressable_name(name: &str) -> bool {
    !name.starts_with(RESERVED_PREFIX) && name != ZFS_SNAPDIR && !name.chars().any(char::is_control)
}

/// Longest segment most filesystems accept (NAME_MAX).
const MAX_SEGMENT_BYTES: usize = 255;

/// Limits on keys, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct KeyLimits {
    pub max_depth: usize,
    pub max_key_bytes: usize,
}

impl Default for KeyLimits {
    fn default() -> Self {
        KeyLimits {
            max_depth: 32,
            max_key_bytes: 1024,
        }
    }
}

/// Why a key was refused; the text is the one-line reason a client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not valid UTF-8 after percent-decoding")]
    NotUtf8,
    #[error("key contains a control character (NUL, newline, ...)")]
    ControlChar,
    #[error("key contains a '.' or '..' segment")]
    DotSegment,
    #[error("key contains an empty segment ('//')")]
    EmptySegment,
    #[error("key segments starting with '.putfs', and '.zfs', are reserved")]
    Reserved,
    #[error("key has {0} segments, more than the limit of {1}")]
    TooDeep(usize, usize),
    #[error("a key segment is longer than 255 bytes")]
    SegmentTooLong,
    #[error("key is {0} bytes, longer than the limit of {1}")]
    TooLong(usize, usize),
}

/// A validated object key (no trailing slash), e.g. `albums/2024/a.jpg`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

/// A validated listing prefix: `""` (the root) or `dir/sub/` with the slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Object(Key),
    Listing(Prefix),
}

impl Target {
    /// Validate a decoded request path (without the leading `/`).
    pub fn parse(path: &str, limits: KeyLimits) -> Result<Target, KeyError> {
        if path.is_empty() {
            return Ok(Target::Listing(Prefix(String::new())));
        }
        if path.len() > limits.max_key_bytes {
            return Err(KeyError::TooLong(path.len(), limits.max_key_bytes));
        }
        if path.chars().any(char::is_control) {
            return Err(KeyError::ControlChar);
        }
        let (body, listing) = match path.strip_suffix('/') {
            Some(body) => (body, true),
            None => (path, false),
        };
        let mut depth = 0;
        for segment in body.split('/') {
            depth += 1;
            check_segment(segment)?;
        }
        if depth > limits.max_depth {
            return Err(KeyError::TooDeep(depth, limits.max_depth));
        }
        if listing {
            Ok(Target::Listing(Prefix(path.to_owned())))
        } else {
            Ok(Target::Object(Key(path.to_owned())))
        }
    }

    /// Percent-decode a raw request path (which starts with `/`) and validate it.
    pub fn from_request_path(raw: &str, limits: KeyLimits) -> Result<Target, KeyError> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| KeyError::NotUtf8)?;
        Target::parse(&decoded, limits)
    }
}

fn check_segment(segment: &str) -> Result<(), KeyError> {
    match segment {
        "" => Err(KeyError::EmptySegment),
        "." | ".." => Err(KeyError::DotSegment),
        s if s.starts_with(RESERVED_PREFIX) || s == ZFS_SNAPDIR => Err(KeyError::Reserved),
        s if s.len() > MAX_SEGMENT_BYTES => Err(KeyError::SegmentTooLong),
        _ => Ok(()),
    }
}

impl Key {
    /// Validate a key that must name an object.
    pub fn parse(key: &str, limits: KeyLimits) -> Result<Key, KeyError> {
        match Target::parse(key, limits)? {
            Target::Object(k) => Ok(k),
            Target::Listing(_) => Err(KeyError::EmptySegment),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory part (`a/b` for `a/b/c`), `None` at the root.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// The last segment (`c` for `a/b/c`).
    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, name)| name)
    }

    /// The directory segments, outermost first.
    pub fn dir_segments(&self) -> impl Iterator<Item = &str> {
        self.parent().into_iter().flat_map(|p| p.split('/'))
    }
}

impl Prefix {
    /// The root listing.
    pub fn root() -> Prefix {
        Prefix(String::new())
    }

    /// `""` or `a/b/` (with the trailing slash).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory path without the trailing slash (`""` for the root).
    pub fn dir(&self) -> &str {
        self.0.strip_suffix('/').unwrap_or(&self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> Result<Target, KeyError> {
        Target::from_request_path(p, KeyLimits::default())
    }

    #[test]
    fn objects_and_listings() {
        assert_eq!(parse("/"), Ok(Target::Listing(Prefix::root())));
        assert!(matches!(parse("/a/b/"), Ok(Target::Listing(p)) if p.dir() == "a/b"));
        assert!(matches!(parse("/a/b.txt"), Ok(Target::Object(k)) if k.as_str() == "a/b.txt"));
    }

    #[test]
    fn decoding() {
        assert!(matches!(parse("/a%20b"), Ok(Target::Object(k)) if k.as_str() == "a b"));
        assert!(matches!(parse("/a%2Fb"), Ok(Target::Object(k)) if k.as_str() == "a/b"));
        assert!(matches!(parse("/%C3%A9t%C3%A9"), Ok(Target::Object(k)) if k.as_str() == "été"));
        assert_eq!(parse("/%FF"), Err(KeyError::NotUtf8));
    }

    #[test]
    fn hostile_keys() {
        for bad in [
            "/a/../b",
            "/%2e%2e/x",
            "/a/./b",
            "/..",
            "/a/..",
            "/a//b",
            "//a",
            "/a%00",
            "/a%0Ab",
            "/a%01",
            "/a%7F",
            "/%C2%85",
            "/.putfs/metrics",
            "/a/.putfs-tmp.x",
            "/.putfs",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn limits() {
        let deep32 = format!("/{}", vec!["d"; 32].join("/"));
        let deep33 = format!("/{}", vec!["d"; 33].join("/"));
        assert!(parse(&deep32).is_ok());
        assert_eq!(parse(&deep33), Err(KeyError::TooDeep(33, 32)));
        assert_eq!(
            parse(&format!("/{}", "x".repeat(256))),
            Err(KeyError::SegmentTooLong)
        );
        assert!(parse(&format!("/{}", "x".repeat(255))).is_ok());
        let long = format!("/{}", vec!["x".repeat(200); 6].join("/"));
        assert!(matches!(parse(&long), Err(KeyError::TooLong(..))));
    }

    #[test]
    fn key_parts() {
        let k = Key::parse("a/b/c.txt", KeyLimits::default()).unwrap();
        assert_eq!(k.parent(), Some("a/b"));
        assert_eq!(k.file_name(), "c.txt");
        assert_eq!(k.dir_segments().collect::<Vec<_>>(), ["a", "b"]);
        let top = Key::parse("c", KeyLimits::default()).unwrap();
        assert_eq!(top.parent(), None);
        assert_eq!(top.dir_segments().count(), 0);
    }
}
