//! Is a directory on a network filesystem? Then it is no destination for
//! a transfer by directory.
//!
//! What makes the directory transfer safe is local: the writer's lock
//! (flock) that keeps B's putfs and transfer-gap's deletes apart, and the
//! fsyncs that make the gap durable before it is recorded. On NFS the
//! flock taken here is not the one B's putfs holds on its own disk (an
//! emulated lock, or one held only on the server's side), so both write;
//! on sshfs, SMB or 9p an fsync promises what the far side chooses. Such a
//! destination is refused in favour of B's HTTP address, where B's own
//! putfs does the locking and the fsyncs. Filesystems in user space are
//! judged by their subtype: the local ones (the crash-model filesystem
//! the tests use) are fine.
//!
//! The type comes from `/proc/self/mountinfo`: the mount whose device is
//! the directory's (or, where a filesystem reports another device for its
//! files, as btrfs subvolumes do, the longest mount point above it).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Filesystem types (as mountinfo names them) whose locking or fsync
/// cannot be relied on from this machine.
const REMOTE: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "virtiofs",
    "afs",
    "ncpfs",
    "coda",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "beegfs",
    "davfs",
    "sshfs",
    "fuse.sshfs",
    "fuse.rclone",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.goofys",
    "fuse.davfs2",
    "fuse.glusterfs",
    "fuse.ceph-fuse",
    "fuse.cephfs",
];

/// The type of the filesystem holding `dir`, if mountinfo tells.
pub fn fs_type(dir: &Path) -> Option<String> {
    let meta = std::fs::metadata(dir).ok()?;
    let canonical = std::fs::canonicalize(dir).ok()?;
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let dev = (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()));
    find(&text, dev, &canonical)
}

/// The network filesystem type of `fstype`, if it is one.
pub fn is_remote(fstype: &str) -> bool {
    REMOTE.contains(&fstype) || fstype.starts_with("nfs")
}

/// The type of the mount with device `dev`, else of the longest mount
/// point that is a prefix of `path` (the last such line wins: a later
/// mount hides an earlier one on the same point).
fn find(mountinfo: &str, dev: (u32, u32), path: &Path) -> Option<String> {
    let mut by_dev = None;
    let mut by_path: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let Some(m) = Mount::parse(line) else {
            continue;
        };
        if m.dev == dev {
            by_dev = Some(m.fstype.clone());
        }
        let point = Path::new(&m.point);
        if path.starts_with(point) {
            let depth = point.components().count();
            if by_path.as_ref().is_none_or(|(d, _)| depth >= *d) {
                by_path = Some((depth, m.fstype));
            }
        }
    }
    by_dev.or(by_path.map(|(_, t)| t))
}

struct Mount {
    dev: (u32, u32),
    point: String,
    fstype: String,
}

impl Mount {
    /// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER`
    fn parse(line: &str) -> Option<Mount> {
        let (head, tail) = line.split_once(" - ")?;
        let mut f = head.split(' ');
        let (maj, min) = f.nth(2)?.split_once(':')?;
        let point = unescape(f.nth(1)?);
        Some(Mount {
            dev: (maj.parse().ok()?, min.parse().ok()?),
            point,
            fstype: tail.split(' ').next()?.to_owned(),
        })
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(v) = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
40 22 0:45 / /mnt/b\\040root rw,relatime shared:20 - nfs4 host:/srv/putfs rw,vers=4.2
41 22 0:46 / /mnt/ssh rw,nosuid,nodev shared:21 - fuse.sshfs me@host:/srv rw,user_id=0
42 22 0:47 / /tmp/crash rw,nosuid,nodev shared:22 - fuse.crashfs crashfs rw,user_id=0
43 22 0:48 / /srv rw shared:23 - btrfs /dev/vdb rw
";

    #[test]
    fn finds_the_type_by_device_then_by_mount_point() {
        assert_eq!(
            find(INFO, (0, 45), Path::new("/mnt/b root/x")).as_deref(),
            Some("nfs4")
        );
        assert_eq!(
            find(INFO, (0, 46), Path::new("/mnt/ssh")).as_deref(),
            Some("fuse.sshfs")
        );
        // A btrfs subvolume's files report a device of their own.
        assert_eq!(
            find(INFO, (0, 99), Path::new("/srv/putfs")).as_deref(),
            Some("btrfs")
        );
        assert_eq!(
            find(INFO, (9, 9), Path::new("/home/x")).as_deref(),
            Some("ext4")
        );
    }

    #[test]
    fn network_types_are_refused_and_local_fuse_is_not() {
        for t in [
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "9p",
            "fuse.sshfs",
            "fuse.rclone",
        ] {
            assert!(is_remote(t), "{t}");
        }
        for t in [
            "ext4",
            "xfs",
            "zfs",
            "fuse",
            "fuse.crashfs",
            "btrfs",
            "tmpfs",
        ] {
            assert!(!is_remote(t), "{t}");
        }
    }

    #[test]
    fn this_machines_root_has_a_type() {
        assert!(fs_type(Path::new("/")).is_some());
    }
}
