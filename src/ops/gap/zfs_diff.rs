//! Classify `zfs diff -H -F SNAPSHOT DATASET` output (OpenZFS) into gap,
//! deleted and conflict entries. Only files are objects; a renamed
//! directory is reported once by ZFS, so its files are expanded from both
//! trees here.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Change, Kind, Summary, addressable};
use crate::store::hash_file;

/// One line of `zfs diff -H -F`.
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
            Ok(DiffLine {
                change: f[0].chars().next().ok_or_else(bad)?,
                kind: f[1].chars().next().ok_or_else(bad)?,
                path: unescape(f[2])?,
                new_path: f.get(3).map(|p| unescape(p)).transpose()?,
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
    summary: &mut Summary,
) -> std::io::Result<Vec<Change>> {
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let key_of = |p: &str| {
        Path::new(p)
            .strip_prefix(mountpoint)
            .ok()
            .and_then(|k| k.to_str())
            .filter(|k| !k.is_empty() && k.split('/').all(addressable))
            .map(str::to_owned)
    };

    for l in lines {
        let Some(key) = key_of(&l.path) else {
            continue;
        };
        match (l.kind, l.change) {
            ('F', '+') => add(&mut changes, Kind::Gap, &key, live)?,
            ('F', '-') => add(&mut changes, Kind::Deleted, &key, snap)?,
            ('F', 'M') if hash_file(&live.join(&key))? != hash_file(&snap.join(&key))? => {
                add(&mut changes, Kind::Conflict, &key, live)?;
            }
            ('F', 'R') => {
                add(&mut changes, Kind::Deleted, &key, snap)?;
                if let Some(new) = l.new_path.as_deref().and_then(key_of) {
                    add(&mut changes, Kind::Gap, &new, live)?;
                }
            }
            ('/', 'R') => {
                for_files(snap, &key, &mut |k| {
                    add(&mut changes, Kind::Deleted, k, snap)
                })?;
                if let Some(new) = l.new_path.as_deref().and_then(key_of) {
                    for_files(live, &new, &mut |k| add(&mut changes, Kind::Gap, k, live))?;
                }
            }
            _ => {}
        }
    }
    let out: Vec<Change> = changes.into_values().collect();
    for c in &out {
        summary.count(c);
    }
    Ok(out)
}

fn add(
    changes: &mut BTreeMap<String, Change>,
    kind: Kind,
    key: &str,
    root: &Path,
) -> std::io::Result<()> {
    // A file zfs diff names but that is not there means the trees are not
    // what the diff described (the live tree changed, or the root is wrong):
    // an error, never a silently shorter gap.
    let meta = match std::fs::symlink_metadata(root.join(key)) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(()),
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!(
                    "{}: {e} (named by zfs diff; is the dataset still being written?)",
                    root.join(key).display()
                ),
            ));
        }
    };
    changes.insert(key.to_owned(), Change::of_file(kind, key.to_owned(), &meta));
    Ok(())
}

/// Every file under `root/dir`, as keys.
fn for_files(
    root: &Path,
    dir: &str,
    f: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let base = root.join(dir);
    for entry in walkdir::WalkDir::new(&base).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(root)
            && let Some(key) = rel.to_str()
            && key.split('/').all(addressable)
        {
            f(key)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn parses_and_unescapes() {
        let out = "+\tF\t/tank/putfs/a\\0040b\nR\t/\t/tank/putfs/old\t/tank/putfs/new\n";
        let l = parse(out).unwrap();
        assert_eq!(
            l[0],
            DiffLine {
                change: '+',
                kind: 'F',
                path: "/tank/putfs/a b".into(),
                new_path: None
            }
        );
        assert_eq!(l[1].new_path.as_deref(), Some("/tank/putfs/new"));
        assert!(parse("garbage\n").is_err());
        assert!(parse("+\tF\t/x\\09\n").is_err());
    }

    #[test]
    fn classifies_files_and_renamed_directories() {
        let t = tempfile::tempdir().unwrap();
        let (live, snap) = (t.path().join("live"), t.path().join("snap"));
        fs::create_dir_all(live.join("new")).unwrap();
        fs::create_dir_all(snap.join("old")).unwrap();
        fs::write(live.join("new/x"), "x").unwrap();
        fs::write(snap.join("old/x"), "x").unwrap();
        fs::write(live.join("added"), "a").unwrap();
        fs::write(snap.join("removed"), "r").unwrap();
        fs::write(live.join("mod"), "2").unwrap();
        fs::write(snap.join("mod"), "1").unwrap();
        fs::write(live.join("touched"), "same").unwrap();
        fs::write(snap.join("touched"), "same").unwrap();
        fs::create_dir_all(live.join(".putfs")).unwrap();
        fs::write(live.join(".putfs/heartbeat"), "h").unwrap();
        let mp = Path::new("/tank/putfs");
        let lines = parse(
            "+\tF\t/tank/putfs/added\n-\tF\t/tank/putfs/removed\nM\tF\t/tank/putfs/mod\n\
             M\tF\t/tank/putfs/touched\nR\t/\t/tank/putfs/old\t/tank/putfs/new\n\
             M\tF\t/tank/putfs/.putfs/heartbeat\nM\t/\t/tank/putfs\n",
        )
        .unwrap();
        let mut s = Summary::default();
        let got: Vec<(Kind, String)> = classify(&lines, mp, &live, &snap, &mut s)
            .unwrap()
            .into_iter()
            .map(|c| (c.change, c.key))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Gap, "added".to_owned()),
                (Kind::Conflict, "mod".to_owned()),
                (Kind::Gap, "new/x".to_owned()),
                (Kind::Deleted, "old/x".to_owned()),
                (Kind::Deleted, "removed".to_owned()),
            ]
        );
        assert_eq!((s.gap, s.deleted, s.conflicts), (2, 2, 1));
    }
}
