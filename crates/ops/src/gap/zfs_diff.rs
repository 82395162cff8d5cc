//! Classify `zfs diff -H -F SNAPSHOT DATASET` output (OpenZFS) into gap,
//! deleted and conflict entries, or say why it cannot be trusted.
//!
//! `zfs diff` lists changed objects (inodes), not paths, one line each in
//! object-number order (lib/libzfs/libzfs_diff.c, `write_inuse_diffs_one`):
//! a path deleted and re-created is a `-` and a `+` line in either order,
//! a file renamed over another is an `R` and a `-` line, and an untouched
//! file inside a renamed directory has no line at all. So the last line
//! about a path is not its state. The output only narrows which keys to
//! compare: every path a line names (both sides of a rename) and every
//! file under a directory that was renamed, created or removed, in either
//! tree. Each key is then classified from what the snapshot and the live
//! tree hold there now (`pair::compare`), exactly as the walk would.
//!
//! What it cannot narrow, it hands to the walk ([`Classified::NeedsWalk`]):
//! - hard links. ZFS finds one path per object (from the parent directory
//!   it recorded last), so a file whose link count changed is one line,
//!   `M F /a (+1)`, naming one of its paths, and a new file with two names
//!   is one `+` line: `ln a b` never names `b`, `ln a b; mv a c` names
//!   only `a`. Any link-count line, and any compared file with more than
//!   one link on either side, sends the comparison to the walk.
//!
//! Every path must lie under the dataset's mount as the mount table has
//! it (the caller's `prefix`: libzfs prints that path, with symlinks
//! resolved, not the `mountpoint` property). A path elsewhere is an error,
//! never a line silently dropped; the one exception is the
//! `PREFIX(on_delete_queue)` that stands for a file unlinked while still
//! open, which has no path and is no object.
//!
//! Not visible here at all: a file whose recorded parent no longer holds
//! it (linked into another directory, that link removed since) has no
//! path, and `zfs diff` leaves it out. Only a walk sees it, which is why
//! `rollback` walks the trees before it destroys anything.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::WalkOptions;
use super::{Change, Summary, addressable, pair};

/// What `zfs diff` prints for a file unlinked while still open.
const ON_DELETE_QUEUE: &str = "(on_delete_queue)";

/// One line of `zfs diff -H -F`: change (`+ - M R`), type (`F` file, `/`
/// directory, …), path, and for a rename the new path, for a link-count
/// change the count's change.
#[derive(Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub change: char,
    pub kind: char,
    pub path: String,
    pub new_path: Option<String>,
    /// `M … (+1)`: the object's link count went up by one.
    pub links: Option<i64>,
}

/// What the output says.
#[derive(Debug)]
pub enum Classified {
    /// Every change, and how many files were compared (none: `zfs diff`
    /// named no file at all).
    Changes { changes: Vec<Change>, files: u64 },
    /// `zfs diff` cannot name every path that changed (the reason): compare
    /// the whole trees instead.
    NeedsWalk(String),
}

/// Parse the output, unescaping ZFS's `\NNNN` octal escapes.
pub fn parse(out: &str) -> Result<Vec<DiffLine>, String> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || format!("unexpected `zfs diff` line: {line:?}");
            if f.len() < 3 || f.len() > 4 || f[0].chars().count() != 1 || f[1].chars().count() != 1
            {
                return Err(bad());
            }
            let change = f[0].chars().next().ok_or_else(bad)?;
            // A fourth field is the new name of a rename, or on an `M`
            // line a link-count change such as `(+1)`.
            let (new_path, links) = match (change, f.get(3)) {
                (_, None) => (None, None),
                ('R', Some(p)) => (Some(unescape(p)?), None),
                ('M', Some(n)) => (None, Some(link_change(n).ok_or_else(bad)?)),
                _ => return Err(bad()),
            };
            Ok(DiffLine {
                change,
                kind: f[1].chars().next().ok_or_else(bad)?,
                path: unescape(f[2])?,
                new_path,
                links,
            })
        })
        .collect()
}

/// `(+1)` → 1, `(-2)` → -2.
fn link_change(field: &str) -> Option<i64> {
    let n = field.strip_prefix('(')?.strip_suffix(')')?;
    if !n.starts_with(['+', '-']) {
        return None;
    }
    n.parse().ok()
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

/// Turn diff lines into changes. `prefix` is where the mount table has the
/// live dataset (the prefix of every path), `live`/`snap` the two trees to
/// read from.
pub fn classify(
    lines: &[DiffLine],
    prefix: &Path,
    live: &Path,
    snap: &Path,
    opts: WalkOptions<'_>,
    summary: &mut Summary,
) -> std::io::Result<Classified> {
    if let Some(l) = lines.iter().find(|l| l.links.is_some()) {
        return Ok(Classified::NeedsWalk(format!(
            "zfs diff reports a changed link count for {} (hard links), and names only one \
             path of such a file",
            l.path
        )));
    }
    let mut out = Vec::new();
    let mut files = 0;
    for key in keys_to_compare(lines, prefix, live, snap)? {
        summary.compared += 1;
        if let Some(tick) = opts.on_entry {
            tick();
        }
        let l = pair::lookup(live, &key)?.filter(|m| m.is_file());
        let s = pair::lookup(snap, &key)?.filter(|m| m.is_file());
        if let Some(n) = [&l, &s].into_iter().flatten().map(|m| m.nlink()).max()
            && n > 1
        {
            return Ok(Classified::NeedsWalk(format!(
                "{key} has {n} hard links, and zfs diff names only one path of such a file"
            )));
        }
        files += u64::from(l.is_some() || s.is_some());
        if let Some(c) = pair::compare(live, snap, &key, l, s, opts)? {
            summary.count(&c);
            out.push(c);
        }
    }
    Ok(Classified::Changes {
        changes: out,
        files,
    })
}

/// Every key the lines name, and every file under a directory that was
/// renamed, created or removed (in both trees: the files of a renamed
/// directory are not listed, and its old name may hold a new directory).
fn keys_to_compare(
    lines: &[DiffLine],
    prefix: &Path,
    live: &Path,
    snap: &Path,
) -> std::io::Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    for l in lines {
        let old = key_of(&l.path, prefix)?;
        let new = l
            .new_path
            .as_deref()
            .map(|p| key_of(p, prefix))
            .transpose()?;
        let new = new.flatten();
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

/// The key a printed path names: `None` for the dataset's root, for a
/// name no key can address (putfs's own files) and for a file on the
/// delete queue; an error for a path outside the dataset's mount.
fn key_of(path: &str, prefix: &Path) -> std::io::Result<Option<String>> {
    // libzfs prints a dataset mounted at `/` with no prefix at all.
    let mount = prefix.to_str().filter(|p| *p != "/").unwrap_or("");
    if path.strip_prefix(mount) == Some(ON_DELETE_QUEUE) {
        return Ok(None);
    }
    let Ok(rel) = Path::new(path).strip_prefix(prefix) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "zfs diff named {path}, which is not under {}, where the mount table has the \
                 dataset: the gap cannot be read from it. Compare the whole trees instead \
                 (--no-zfs-diff), and check the dataset's mounts (`grep {} \
                 /proc/self/mountinfo`)",
                prefix.display(),
                prefix.display()
            ),
        ));
    };
    Ok(rel
        .to_str()
        .filter(|k| !k.is_empty() && k.split('/').all(addressable))
        .map(str::to_owned))
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
