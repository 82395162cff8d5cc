//! Compare two trees by walking them side by side.
//!
//! Each directory's entries are read from both sides, sorted and merged, so
//! memory is bounded by the largest directory, not the tree. Files on both
//! sides are the same if the metadata proves it (same inode, ctime, size and
//! mtime: what a ZFS or btrfs snapshot of an untouched file shows; a change
//! to the bytes always moves ctime, given a clock fine enough to see it: see
//! `pair::same_content`), different if the sizes differ, and
//! otherwise compared by content.

use std::cmp::Ordering;
use std::fs::Metadata;
use std::path::Path;

use super::pair::same_content;
use super::{Change, Kind, Summary, WalkOptions, addressable};

struct Side {
    name: String,
    meta: Metadata,
}

/// Walk `live` against `snap`, calling `found` for every difference.
pub fn compare(
    live: &Path,
    snap: &Path,
    opts: WalkOptions<'_>,
    found: &mut dyn FnMut(Change) -> std::io::Result<()>,
    summary: &mut Summary,
) -> std::io::Result<()> {
    compare_dir(live, snap, "", true, true, opts, found, summary)
}

#[allow(clippy::too_many_arguments)]
fn compare_dir(
    live_root: &Path,
    snap_root: &Path,
    rel: &str,
    on_live: bool,
    on_snap: bool,
    opts: WalkOptions<'_>,
    found: &mut dyn FnMut(Change) -> std::io::Result<()>,
    summary: &mut Summary,
) -> std::io::Result<()> {
    let live = if on_live {
        entries(&live_root.join(rel), summary)?
    } else {
        Vec::new()
    };
    let snap = if on_snap {
        entries(&snap_root.join(rel), summary)?
    } else {
        Vec::new()
    };
    let (mut i, mut j) = (0, 0);
    while i < live.len() || j < snap.len() {
        let order = match (live.get(i), snap.get(j)) {
            (Some(l), Some(s)) => l.name.cmp(&s.name),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (l, s) = match order {
            Ordering::Less => (live.get(i), None),
            Ordering::Greater => (None, snap.get(j)),
            Ordering::Equal => (live.get(i), snap.get(j)),
        };
        if l.is_some() {
            i += 1;
        }
        if s.is_some() {
            j += 1;
        }
        summary.compared += 1;
        if let Some(tick) = opts.on_entry {
            tick();
        }
        let name = l.or(s).map(|e| e.name.as_str()).unwrap_or_default();
        let key = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let l_file = l.filter(|e| e.meta.is_file());
        let s_file = s.filter(|e| e.meta.is_file());
        let l_dir = l.is_some_and(|e| e.meta.is_dir());
        let s_dir = s.is_some_and(|e| e.meta.is_dir());
        match (l_file, s_file) {
            (Some(lf), Some(sf)) => {
                if !same_content(live_root, snap_root, &key, &lf.meta, &sf.meta, opts)? {
                    emit(found, summary, Kind::Conflict, key.clone(), &lf.meta)?;
                }
            }
            (Some(lf), None) => emit(found, summary, Kind::Gap, key.clone(), &lf.meta)?,
            (None, Some(sf)) => emit(found, summary, Kind::Deleted, key.clone(), &sf.meta)?,
            (None, None) => {}
        }
        // A directory on either side (possibly a file on the other: then the
        // file was handled above and the directory's files are all new or
        // all gone).
        if l_dir || s_dir {
            compare_dir(
                live_root, snap_root, &key, l_dir, s_dir, opts, found, summary,
            )?;
        }
    }
    Ok(())
}

fn emit(
    found: &mut dyn FnMut(Change) -> std::io::Result<()>,
    summary: &mut Summary,
    kind: Kind,
    key: String,
    meta: &Metadata,
) -> std::io::Result<()> {
    let c = Change::of_file(kind, key, meta);
    summary.count(&c);
    found(c)
}

/// The addressable entries of a directory, sorted by name; symlinks and
/// special files are not objects and are left out. A missing directory is
/// empty (it may vanish while the live tree is in use).
fn entries(dir: &Path, summary: &mut Summary) -> std::io::Result<Vec<Side>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", dir.display()),
            ));
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            summary.skipped += 1;
            continue;
        };
        if !addressable(&name) {
            // putfs's own entries and .zfs are expected; others are not.
            if name.chars().any(char::is_control) {
                summary.skipped += 1;
            }
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() || meta.is_dir() {
            out.push(Side { name, meta });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn diff(live: &Path, snap: &Path) -> Vec<(Kind, String)> {
        let mut out = Vec::new();
        let mut summary = Summary::default();
        compare(
            live,
            snap,
            WalkOptions::default(),
            &mut |c| {
                out.push((c.change, c.key));
                Ok(())
            },
            &mut summary,
        )
        .unwrap();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    #[test]
    fn finds_gap_deleted_and_conflicts() {
        let t = tempfile::tempdir().unwrap();
        let (live, snap) = (t.path().join("live"), t.path().join("snap"));
        for root in [&live, &snap] {
            fs::create_dir_all(root.join("a/b")).unwrap();
            fs::write(root.join("a/same"), "same").unwrap();
            fs::write(root.join("a/b/changed"), "v1").unwrap();
        }
        fs::write(live.join("a/b/changed"), "v2").unwrap();
        fs::write(snap.join("a/gone"), "x").unwrap();
        fs::write(live.join("a/new"), "n").unwrap();
        fs::create_dir_all(live.join("fresh/deep")).unwrap();
        fs::write(live.join("fresh/deep/f"), "f").unwrap();
        fs::create_dir_all(snap.join("old")).unwrap();
        fs::write(snap.join("old/o"), "o").unwrap();
        fs::create_dir_all(live.join(".putfs")).unwrap();
        fs::write(live.join(".putfs/heartbeat"), "hb").unwrap();
        fs::write(live.join("a/.putfs-tmp.x.1"), "tmp").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", live.join("link")).unwrap();
        assert_eq!(
            diff(&live, &snap),
            [
                (Kind::Conflict, "a/b/changed".to_owned()),
                (Kind::Deleted, "a/gone".to_owned()),
                (Kind::Gap, "a/new".to_owned()),
                (Kind::Gap, "fresh/deep/f".to_owned()),
                (Kind::Deleted, "old/o".to_owned()),
            ]
        );
    }

    #[test]
    fn file_replaced_by_directory() {
        let t = tempfile::tempdir().unwrap();
        let (live, snap) = (t.path().join("live"), t.path().join("snap"));
        fs::create_dir_all(live.join("k")).unwrap();
        fs::write(live.join("k/inner"), "i").unwrap();
        fs::create_dir_all(&snap).unwrap();
        fs::write(snap.join("k"), "file").unwrap();
        assert_eq!(
            diff(&live, &snap),
            [
                (Kind::Deleted, "k".to_owned()),
                (Kind::Gap, "k/inner".to_owned())
            ]
        );
    }
}
