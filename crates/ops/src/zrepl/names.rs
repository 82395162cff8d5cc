//! ZFS names as zrepl checks them: dataset paths, single components
//! (client identities, job names, snapshot names) and filter patterns.
//!
//! The rules mirror zrepl's `internal/zfs/namecheck.go`, which mirrors
//! OpenZFS `zfs_namecheck.c`: a component is ASCII letters, digits and
//! `-_.: ` (space included, as in OpenZFS). We check them here rather than
//! let `zfs` refuse later because by then a failover is half done.
//!
//! zrepl itself checks `root_fs` and filter patterns more loosely
//! ([`dataset_path`], [`filter_pattern`]); what only the strict rules
//! refuse is a warning of the config check, not an error.

use std::collections::BTreeMap;

/// OpenZFS `ZFS_MAX_DATASET_NAME_LEN - 1`.
const MAX_NAME_LEN: usize = 255;

/// One path component: a client identity, a job name, a snapshot name.
pub fn check_component(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("must not be longer than {MAX_NAME_LEN} characters"));
    }
    if let Some(c) = s.chars().find(|c| !valid_char(*c)) {
        return Err(format!(
            "contains {c:?}; only ASCII letters, digits and any of \"-_.: \" are allowed"
        ));
    }
    if s == "." || s == ".." {
        return Err(format!("must not be {s:?}"));
    }
    Ok(())
}

pub fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.: ".contains(c)
}

/// A filesystem name such as `tank/putfs`: no leading, trailing or double
/// slash, no snapshot or bookmark part.
pub fn check_dataset(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("must not be longer than {MAX_NAME_LEN} characters"));
    }
    if s.contains('@') || s.contains('#') {
        return Err("names a snapshot or bookmark ('@' or '#'), not a filesystem".into());
    }
    if s.starts_with('/') || s.ends_with('/') {
        return Err("must not start or end with '/'".into());
    }
    for comp in s.split('/') {
        if comp.is_empty() {
            return Err("contains an empty component ('//')".into());
        }
        check_component(comp).map_err(|e| format!("component {comp:?} {e}"))?;
    }
    Ok(())
}

/// zrepl's own check of `root_fs` and filter patterns (`zfs.NewDatasetPath`):
/// none of `@#|<>*` or a tab, and no trailing `/`.
pub fn dataset_path(s: &str) -> Result<(), String> {
    if let Some(c) = s.chars().find(|c| "@#|\t<>*".contains(*c)) {
        return Err(format!(
            "contains {c:?}, which zrepl forbids in a dataset path"
        ));
    }
    if s.ends_with('/') {
        return Err("must not end with '/'".into());
    }
    Ok(())
}

/// A filter key as zrepl's `DatasetMapFilter.Add` reads it: a dataset path
/// with an optional `<` at the end.
pub fn filter_pattern(p: &str) -> Result<(), String> {
    if p.matches('<').count() == 1 && !p.ends_with('<') {
        return Err("'<' is only allowed once, at the end of the pattern".into());
    }
    dataset_path(p.strip_suffix('<').unwrap_or(p))
}

/// A client identity becomes one dataset component under the sink's
/// `root_fs`, so it has a component's rules.
pub fn check_identity(s: &str) -> Result<(), String> {
    check_component(s).map_err(|e| format!("client identity {s:?} {e}"))
}

/// zrepl uses job names in hold tags and bookmark names; names starting
/// with `_` are reserved for its internal jobs.
pub fn check_job_name(s: &str) -> Result<(), String> {
    check_component(s)?;
    if s.starts_with('_') {
        return Err("names starting with '_' are reserved for zrepl's internal jobs".into());
    }
    Ok(())
}

/// A parsed filesystems-filter key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Dataset path; empty only for the match-everything pattern `<`.
    pub path: String,
    /// `true` for a trailing `<`: the dataset and everything below it.
    pub subtree: bool,
}

/// Parse a filter key. `<` is only meaningful at the very end; zrepl
/// rejects it anywhere else.
pub fn parse_pattern(p: &str) -> Result<Pattern, String> {
    let subtree = p.ends_with('<');
    let path = p.strip_suffix('<').unwrap_or(p);
    if path.contains('<') {
        return Err("'<' is only allowed once, at the end of the pattern".into());
    }
    if path.is_empty() && subtree {
        return Ok(Pattern {
            path: String::new(),
            subtree,
        });
    }
    check_dataset(path).map_err(|e| format!("dataset {path:?} {e}"))?;
    Ok(Pattern {
        path: path.to_string(),
        subtree,
    })
}

/// Does the filter pass `dataset`? zrepl's rule: an exact pattern beats a
/// subtree pattern, a longer subtree pattern beats a shorter one, and no
/// match means "no".
pub fn filter_passes(filter: &BTreeMap<String, bool>, dataset: &str) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for (key, &pass) in filter {
        let Ok(p) = parse_pattern(key) else { continue };
        if !p.subtree && p.path == dataset {
            return pass;
        }
        if p.subtree && is_within(dataset, &p.path) {
            let len = if p.path.is_empty() {
                0
            } else {
                p.path.split('/').count()
            };
            if best.is_none_or(|(l, _)| len > l) {
                best = Some((len, pass));
            }
        }
    }
    best.is_some_and(|(_, pass)| pass)
}

/// `dataset` equals `ancestor` or lies below it (component-wise).
pub fn is_within(dataset: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || dataset == ancestor
        || dataset
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Pool (first component) of a dataset.
pub fn pool(dataset: &str) -> &str {
    dataset.split('/').next().unwrap_or(dataset)
}

/// Check a snapshot prefix: zrepl names snapshots `prefix + timestamp` and
/// refuses a prefix that would make an invalid snapshot name.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = prefix.chars().find(|c| !valid_char(*c)) {
        return Err(format!(
            "contains {c:?}; snapshot names allow only ASCII letters, digits and \"-_.: \""
        ));
    }
    Ok(())
}

/// A property name in `recv.properties` (zrepl's `zfs/property`).
pub fn check_property(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 256 {
        return Err(format!("property name {p:?} must be 1 to 256 characters"));
    }
    if p.starts_with('-') {
        return Err(format!("property name {p:?} must not start with '-'"));
    }
    if !p
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(format!(
            "property name {p:?} may only contain ASCII letters, digits and \"-_.:\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets() {
        assert!(check_dataset("tank/putfs").is_ok());
        assert!(check_dataset("tank/my data:1.2_x-y").is_ok());
        for bad in [
            "", "/tank", "tank/", "tank//x", "tank/a@s", "tank/é", "tank/..", "ta%nk",
        ] {
            assert!(check_dataset(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(
            parse_pattern("tank/putfs<"),
            Ok(Pattern {
                path: "tank/putfs".into(),
                subtree: true
            })
        );
        assert_eq!(parse_pattern("<").map(|p| p.path), Ok(String::new()));
        let err = parse_pattern("tank/<putfs").unwrap_err();
        assert!(err.contains("'<' is only allowed"), "{err}");
        assert!(parse_pattern("tank<<").is_err());
        assert!(parse_pattern("tank/").is_err());
    }

    #[test]
    fn filter_rules() {
        let f: BTreeMap<String, bool> = [
            ("tank<".to_string(), true),
            ("tank/foo<".to_string(), false),
            ("tank/foo/bar".to_string(), true),
        ]
        .into();
        // The examples of zrepl's filter_syntax.rst.
        assert!(!filter_passes(&f, "tank/foo/bar/loo"));
        assert!(filter_passes(&f, "tank/bar"));
        assert!(filter_passes(&f, "tank/foo/bar"));
        assert!(!filter_passes(&f, "zroot"));
        assert!(filter_passes(&f, "tank/var/log"));
        assert!(!filter_passes(&f, "tankx"));
    }

    #[test]
    fn identities_and_jobs() {
        assert!(check_identity("db-1.example").is_ok());
        assert!(check_identity("a/b").is_err());
        assert!(check_job_name("_internal").is_err());
        assert!(check_prefix("zrepl_").is_ok());
        assert!(check_prefix("zrepl@").is_err());
    }
}
