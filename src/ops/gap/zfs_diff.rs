//! Classify `zfs diff -H -F SNAPSHOT DATASET` output (OpenZFS) into gap,
//! deleted and conflict entries.
//!
//! `zfs diff` lists changed objects (inodes), not paths, one line each in
//! object-number order: a path deleted and re-created is a `-` and a `+`
//! line in either order, a file renamed over another is an `R` and a `-`
//! line, and an untouched file inside a renamed directory has no line at
//! all. So the last line about a path is not its state. The output only
//! narrows which keys to compare: every path a line names (both sides of a
//! rename) and every file under a directory that was renamed, created or
//! removed, in either tree. Each key is then classified from what the
//! snapshot and the live tree hold there now (`pair::compare`),
//! exactly as the walk would.

use std::collections::BTreeSet;
use std::path::Path;

use super::WalkOptions;
use super::{Change, Summary, addressable, pair};

/// One line of `zfs diff -H -F`: change (`+ - M R`), type (`F` file, `/`
/// directory, …), path, and for a rename the new path.
#[derive(Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub change: char,
    pub kind: char,
    pub path: String,
    pub new_path: Option<String>,
}

/// Parse the output, unescaping ZFS's `\NNNN` octal escapes.
pub fn parse(out: &str) -> Result<Vec<DiffLine>, String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || format!("unexpected `zfs diff` line: {line:?}");
            if f.len() < 3 || f[0].chars().count() != 1 || f[1].chars().count() != 1 {
                return Err(bad());
            }
            let change = f[0].chars().next().ok_or_else(bad)?;
            // A fourth field is the new name of a rename; on an `M` line it
            // is a link-count change such as `(+1)`.
            let new_path = match f.get(3) {
                Some(p) if change == 'R' => Some(unescape(p)?),
                _ => None,
            };
            Ok(DiffLine {
                change,
                kind: f[1].chars().next().ok_or_else(bad)?,
                path: unescape(f[2])?,
                new_path,
            })
        })
        .collect()
}

/// `\0040` → ` `: ZFS prints every byte outside `!`..`~` (and `\`) as a
/// backslash and four octal digits.
fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let digits = b
                .get(i + 1..i + 5)
                .ok_or_else(|| format!("bad escape in {s:?}"))?;
            let text = std::str::from_utf8(digits).map_err(|_| format!("bad escape in {s:?}"))?;
            let v = u32::from_str_radix(text, 8).map_err(|_| format!("bad escape in {s:?}"))?;
            out.push(u8::try_from(v).map_err(|_| format!("bad escape in {s:?}"))?);
            i += 5;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("path is not UTF-8: {s:?}"))
}

/// Turn diff lines into changes. `mountpoint` is the live dataset's mount
/// (the prefix of every path), `live`/`snap` the two trees to read from.
pub fn classify(
    lines: &[DiffLine],
    mountpoint: &Path,
    live: &Path,
    snap: &Path,
    opts: WalkOptions<'_>,
    summary: &mut Summary,
) -> std::io::Result<Vec<Change>> {
    let mut out = Vec::new();
    for key in keys_to_compare(lines, mountpoint, live, snap)? {
        summary.compared += 1;
        if let Some(tick) = opts.on_entry {
            tick();
        }
        if let Some(c) = pair::compare(live, snap, &key, opts)? {
            summary.count(&c);
            out.push(c);
        }
    }
    Ok(out)
}

/// Every key the lines name, and every file under a directory that was
/// renamed, created or removed (in both trees: the files of a renamed
/// directory are not listed, and its old name may hold a new directory).
fn keys_to_compare(
    lines: &[DiffLine],
    mountpoint: &Path,
    live: &Path,
    snap: &Path,
) -> std::io::Result<BTreeSet<String>> {
    let key_of = |p: &str| {
        Path::new(p)
            .strip_prefix(mountpoint)
            .ok()
            .and_then(|k| k.to_str())
            .filter(|k| !k.is_empty() && k.split('/').all(addressable))
            .map(str::to_owned)
    };
    let mut keys = BTreeSet::new();
    for l in lines {
        let old = key_of(&l.path);
        let new = l.new_path.as_deref().and_then(key_of);
        match l.change {
            '-' => expect(snap, old.as_deref(), "the snapshot")?,
            '+' => expect(live, old.as_deref(), "the live tree")?,
            'R' => {
                expect(snap, old.as_deref(), "the snapshot")?;
                expect(live, new.as_deref(), "the live tree")?;
            }
            _ => {}
        }
        for key in [old, new].into_iter().flatten() {
            if l.kind == '/' && l.change != 'M' {
                for root in [live, snap] {
                    files_under(root, &key, &mut keys)?;
                }
            }
            keys.insert(key);
        }
    }
    Ok(keys)
}

/// A path zfs diff names on one side must be there. If not, the trees are
/// not what was diffed (the live tree changed since, or a path was misread):
/// an error, never a silently shorter gap.
fn expect(root: &Path, key: Option<&str>, side: &str) -> std::io::Result<()> {
    let Some(key) = key else {
        return Ok(());
    };
    if pair::lookup(root, key)?.is_some() {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "{}: named by zfs diff but not in {side}; is the dataset still being \
             written? (--no-zfs-diff compares the whole trees instead)",
            root.join(key).display()
        ),
    ))
}

/// Every file under `root/dir` (a real directory there), as keys.
fn files_under(root: &Path, dir: &str, keys: &mut BTreeSet<String>) -> std::io::Result<()> {
    if !pair::lookup(root, dir)?.is_some_and(|m| m.is_dir()) {
        return Ok(());
    }
    let walk = walkdir::WalkDir::new(root.join(dir))
        .follow_links(false)
        .follow_root_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name().to_str().is_some_and(addressable));
    for entry in walk {
        let entry = entry?;
        if entry.file_type().is_file()
            && let Ok(rel) = entry.path().strip_prefix(root)
            && let Some(key) = rel.to_str()
        {
            keys.insert(key.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "zfs_diff_tests.rs"]
mod tests;
