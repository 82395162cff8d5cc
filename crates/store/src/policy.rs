//! Which keys are write-once, which may be replaced, which may not be
//! deleted, and which carry their own digest: the store's write rules, built
//! once from the configuration.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;

use super::digest::{Algo, Expected};
use super::key::Key;

/// What a PUT on an existing write-once key answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Identical bytes → 204, different bytes → 409.
    Verify,
    /// Always 409.
    Strict,
    /// Always 204, without reading the body (upstream's default).
    Lenient,
}

/// A set of key patterns: globs (ours, upstream's `PUTFS_WORM_GLOBS`) and
/// regexes (upstream's `PUTFS_WORM_PATHS`).
#[derive(Debug, Clone, Default)]
pub struct KeyMatcher {
    globs: Option<GlobSet>,
    regexes: Vec<Regex>,
}

impl KeyMatcher {
    /// Globs (`*` stays within a segment, `**` crosses them) and regexes.
    pub fn new(globs: &[String], regexes: &[String]) -> Result<KeyMatcher, String> {
        let globs = if globs.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for p in globs {
                b.add(build_glob(p)?);
            }
            Some(b.build().map_err(|e| e.to_string())?)
        };
        let regexes = regexes
            .iter()
            .map(|p| Regex::new(p).map_err(|e| format!("bad regex {p:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(KeyMatcher { globs, regexes })
    }

    pub fn from_globs(patterns: &[String]) -> Result<KeyMatcher, String> {
        KeyMatcher::new(patterns, &[])
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_none() && self.regexes.is_empty()
    }

    pub fn matches(&self, key: &str) -> bool {
        self.globs.as_ref().is_some_and(|g| g.is_match(key))
            || self.regexes.iter().any(|r| r.is_match(key))
    }
}

/// Compile one glob with putfs's semantics.
pub fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    Ok(build_glob(pattern)?.compile_matcher())
}

fn build_glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("bad glob {pattern:?}: {e}"))
}

/// The write rules of a store.
#[derive(Debug, Clone)]
pub struct Policy {
    pub on_existing: OnExisting,
    /// Keys that are replaced instead of write-once.
    pub mutable: KeyMatcher,
    /// When set (upstream mode), only these keys are write-once.
    pub worm_only: Option<KeyMatcher>,
    /// Keys that may not be deleted.
    pub retain: KeyMatcher,
    /// In upstream mode without `PUTFS_WORM_ALLOW_DELETE`, write-once keys may
    /// not be deleted either.
    pub retain_worm: bool,
    /// Content-addressed keys: a named group holds the hex digest.
    pub checksum_paths: Vec<Regex>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            on_existing: OnExisting::Verify,
            mutable: KeyMatcher::default(),
            worm_only: None,
            retain: KeyMatcher::default(),
            retain_worm: false,
            checksum_paths: Vec::new(),
        }
    }
}

impl Policy {
    /// What a write of `key` does if the key exists when it publishes:
    /// `create_only` is the client's `If-None-Match: *`.
    pub fn if_exists(&self, key: &Key, create_only: bool) -> super::write::IfExists {
        use super::write::IfExists;
        if create_only {
            IfExists::Fail
        } else if !self.is_write_once(key) {
            IfExists::Replace
        } else {
            match self.on_existing {
                OnExisting::Verify => IfExists::Compare,
                OnExisting::Strict => IfExists::Conflict,
                OnExisting::Lenient => IfExists::Accept,
            }
        }
    }

    /// Is this key write-once?
    pub fn is_write_once(&self, key: &Key) -> bool {
        let k = key.as_str();
        if self.checksum_paths.iter().any(|r| r.is_match(k)) {
            return true;
        }
        if let Some(worm) = &self.worm_only {
            return worm.matches(k);
        }
        !self.mutable.matches(k)
    }

    /// May this key be deleted?
    pub fn may_delete(&self, key: &Key) -> bool {
        !(self.retain.matches(key.as_str()) || (self.retain_worm && self.is_write_once(key)))
    }

    /// The digest a content-addressed key names, if any. A pattern that
    /// matches without a usable group is a configuration error the client
    /// cannot fix, reported as such.
    pub fn key_digest(&self, key: &Key) -> Result<Option<Expected>, String> {
        for re in &self.checksum_paths {
            let Some(caps) = re.captures(key.as_str()) else {
                continue;
            };
            for (group, algo) in [
                ("sha256", Algo::Sha256),
                ("sha1", Algo::Sha1),
                ("sha512", Algo::Sha512),
            ] {
                if let Some(m) = caps.name(group) {
                    let bytes = hex::decode(m.as_str())
                        .map_err(|_| format!("the {group} digest in the key is not hex"))?;
                    return Ok(Some(Expected {
                        algo,
                        bytes,
                        source: "key",
                    }));
                }
            }
            return Err(format!(
                "checksum pattern {:?} matched but has no sha256, sha1 or sha512 group",
                re.as_str()
            ));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyLimits;

    fn key(s: &str) -> Key {
        Key::parse(s, KeyLimits::default()).unwrap()
    }

    #[test]
    fn default_everything_write_once() {
        let p = Policy::default();
        assert!(p.is_write_once(&key("a/b")));
        assert!(p.may_delete(&key("a/b")));
    }

    #[test]
    fn mutable_and_retain_globs() {
        let p = Policy {
            mutable: KeyMatcher::from_globs(&["tmp/**".into(), "*.json".into()]).unwrap(),
            retain: KeyMatcher::from_globs(&["keep/**".into()]).unwrap(),
            ..Policy::default()
        };
        assert!(!p.is_write_once(&key("tmp/x/y")));
        assert!(!p.is_write_once(&key("a.json")));
        assert!(p.is_write_once(&key("dir/a.json")), "* must not cross /");
        assert!(!p.may_delete(&key("keep/a")));
        assert!(p.may_delete(&key("other")));
    }

    #[test]
    fn upstream_worm_mode() {
        let worm = KeyMatcher::new(&[], &["^archive/".into()]).unwrap();
        let p = Policy {
            worm_only: Some(worm),
            retain_worm: true,
            ..Policy::default()
        };
        assert!(p.is_write_once(&key("archive/a")));
        assert!(!p.is_write_once(&key("scratch/a")));
        assert!(!p.may_delete(&key("archive/a")));
        assert!(p.may_delete(&key("scratch/a")));
    }

    #[test]
    fn checksum_paths() {
        let p = Policy {
            checksum_paths: vec![Regex::new("^cas/(?P<sha256>[0-9a-f]{64})$").unwrap()],
            ..Policy::default()
        };
        let h = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let e = p.key_digest(&key(&format!("cas/{h}"))).unwrap().unwrap();
        assert_eq!(e.algo, Algo::Sha256);
        assert_eq!(hex::encode(e.bytes), h);
        assert!(p.key_digest(&key("other")).unwrap().is_none());
    }
}
