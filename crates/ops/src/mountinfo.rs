//! The kernel's mount table (`/proc/self/mountinfo`): which filesystem a
//! path really shows, and where a dataset is mounted.
//!
//! ZFS's `mounted` property says that a dataset is mounted somewhere, not
//! that the path `putfs ops` reads shows it: another filesystem may be
//! mounted over it, and a `mountpoint` property that runs through a
//! symlink names a path the kernel resolved when it mounted. Only the
//! mount table, with the device of the path itself, answers that. It is
//! also where `zfs diff` takes the prefix of every path it prints (libzfs
//! reads the mount table, `get_mountpoint` in libzfs_diff.c), so the gap's
//! keys are cut from that prefix, not from the property.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::error::OpsError;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the filesystem: what `stat` gives as `st_dev` for
    /// every file on it.
    pub dev: (u64, u64),
    /// The directory of the filesystem mounted here (`/` unless a bind
    /// mount of a subdirectory).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    /// For ZFS, the dataset's name.
    pub source: String,
}

impl Mount {
    /// A ZFS dataset (OpenZFS: `zfs`; zfs-fuse: `fuse.zfs`).
    pub fn is_zfs(&self) -> bool {
        self.fstype == "zfs" || self.fstype == "fuse.zfs"
    }

    /// "tmpfs (none)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.fstype, self.source)
    }
}

/// This process's mount table, in mount order.
pub fn read() -> Result<Vec<Mount>, OpsError> {
    let text = std::fs::read(MOUNTINFO).map_err(OpsError::io(format!(
        "reading {MOUNTINFO} (the mount table, to check what is mounted where)"
    )))?;
    Ok(parse(&text))
}

/// Parse mountinfo lines (`proc(5)`): `ID PARENT MAJ:MIN ROOT MOUNTPOINT
/// OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTIONS`. Lines that do not
/// have this shape are skipped.
pub fn parse(text: &[u8]) -> Vec<Mount> {
    text.split(|b| *b == b'\n')
        .filter_map(|line| {
            let f: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
            let sep = f.iter().position(|x| *x == b"-")?;
            let (maj, min) = std::str::from_utf8(f.get(2)?).ok()?.split_once(':')?;
            Some(Mount {
                dev: (maj.parse().ok()?, min.parse().ok()?),
                root: path(f.get(3)?),
                mount_point: path(f.get(4)?),
                fstype: text_field(f.get(sep + 1)?),
                source: text_field(f.get(sep + 2)?),
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash as `\NNN` (octal).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn text_field(field: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

/// `major:minor` of an `st_dev`.
pub fn dev_of(st_dev: u64) -> (u64, u64) {
    (
        u64::from(rustix::fs::major(st_dev)),
        u64::from(rustix::fs::minor(st_dev)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
45 27 0:40 / /tank rw,relatime - fuse.zfs tank rw,user_id=0
46 45 0:41 / /var/srv/put\\040fs rw,relatime shared:7 - zfs tank/put\\040fs rw,xattr
47 46 0:52 / /var/srv/put\\040fs rw - tmpfs none rw
garbage line
";

    #[test]
    fn parses_fields_optional_fields_and_escapes() {
        let m = parse(TABLE.as_bytes());
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].dev, (0, 40));
        assert!(m[1].is_zfs());
        assert_eq!(m[2].mount_point, PathBuf::from("/var/srv/put fs"));
        assert_eq!(m[2].source, "tank/put fs");
        assert_eq!(m[2].fstype, "zfs");
        assert_eq!(m[2].root, PathBuf::from("/"));
        assert!(!m[3].is_zfs());
        assert_eq!(m[3].describe(), "tmpfs (none)");
    }

    #[test]
    fn reads_this_process_s_table() {
        let m = read().unwrap();
        assert!(m.iter().any(|m| m.mount_point == std::path::Path::new("/")));
    }

    #[test]
    fn a_device_number_splits_as_the_table_writes_it() {
        let dev = rustix::fs::makedev(0, 41);
        assert_eq!(dev_of(dev), (0, 41));
    }
}
