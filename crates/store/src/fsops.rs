//! Thin, fd-relative filesystem primitives the store is built from.
//!
//! Everything resolves relative to a directory fd with
//! `openat2(RESOLVE_BENEATH)`, so a key can never reach outside the data root
//! through a symlink, and there is no window between a check and the use
//! (no `canonicalize` then `open`).

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, XattrFlags};
use rustix::io::Errno;

use super::digest::{StoredDigest, XATTR};

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2(dir, path, flags, RESOLVE_BENEATH)`, retried on the EAGAIN the
/// kernel gives when a concurrent rename makes `..` resolution ambiguous.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &str, flags: OFlags) -> Result<OwnedFd, Errno> {
    let path = if path.is_empty() { "." } else { path };
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(dir, path, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE) {
            Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
            other => return other,
        }
    }
}

/// Open a directory beneath `dir` for reading and fsync.
pub fn open_dir(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
    open_beneath(dir, path, OFlags::RDONLY | OFlags::DIRECTORY)
}

/// Open a file beneath `dir` for reading. Non-blocking, so a FIFO someone
/// left in the tree cannot hang the caller; callers reject non-files.
pub fn open_read(dir: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
    open_beneath(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK,
    )
}

/// Create a new file `name` in `dir` (never following or reusing a name).
pub fn create_exclusive(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
}

/// Publish `tmp` as `name` in `dir` without ever replacing an existing entry.
///
/// `renameat2(RENAME_NOREPLACE)` is one atomic step; filesystems without it
/// (EINVAL, e.g. some FUSE filesystems) get `link()` + `unlink()`, which is
/// just as exclusive. `use_rename` remembers which one works.
pub fn publish_noreplace(
    dir: BorrowedFd<'_>,
    tmp: &str,
    name: &str,
    use_rename: &std::sync::atomic::AtomicBool,
) -> Result<(), Errno> {
    rename_noreplace(dir, tmp, dir, name, use_rename)
}

/// Move `from` in `from_dir` to `to` in `to_dir` (same filesystem) without
/// ever replacing an existing entry, as [`publish_noreplace`] does.
pub fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
    use_rename: &std::sync::atomic::AtomicBool,
) -> Result<(), Errno> {
    use std::sync::atomic::Ordering::Relaxed;
    if use_rename.load(Relaxed) {
        match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => use_rename.store(false, Relaxed),
            other => return other,
        }
    }
    rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
    // The object is in place; the old name is now only a second link.
    let _ = rustix::fs::unlinkat(from_dir, from, AtFlags::empty());
    Ok(())
}

/// Open the directory made of `segments` beneath `root`, creating each
/// missing one with `mkdirat` (mode from `mode_of(path so far)`; the
/// umask applies). `created(parent, name, path so far)` is told of every
/// directory this call made, at once (before anything else can fail); one
/// that appears meanwhile (made by someone else) is simply used. ENOTDIR:
/// a file is in the way.
pub fn create_dirs<'s>(
    root: BorrowedFd<'_>,
    segments: impl IntoIterator<Item = &'s str>,
    mut mode_of: impl FnMut(&str) -> Result<Mode, Errno>,
    mut created: impl FnMut(BorrowedFd<'_>, &str, &str) -> Result<(), Errno>,
) -> Result<OwnedFd, Errno> {
    use rustix::fd::AsFd;
    let mut cur = rustix::io::dup(root)?;
    let mut path = String::new();
    for seg in segments {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(seg);
        cur = match open_dir(root, &path) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&cur, seg, mode_of(&path)?) {
                    Ok(()) => created(cur.as_fd(), seg, &path)?,
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir(cur.as_fd(), seg)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// Publish `tmp` as `name`, atomically replacing whatever was there.
pub fn publish_replace(dir: BorrowedFd<'_>, tmp: &str, name: &str) -> Result<(), Errno> {
    rustix::fs::renameat(dir, tmp, dir, name)
}

/// The SHA-256 recorded on an open file, if the xattr exists and still
/// describes this size and mtime.
pub fn read_digest(fd: BorrowedFd<'_>, size: u64, mtime_ns: i128) -> Option<[u8; 32]> {
    let mut buf = [0u8; 128];
    let n = rustix::fs::fgetxattr(fd, XATTR, &mut buf).ok()?;
    StoredDigest::decode(&buf[..n])?.valid_for(size, mtime_ns)
}

/// Record the digest on an open file. Filesystems without user xattrs are
/// fine: reads then fall back to a size/mtime ETag.
pub fn write_digest(fd: BorrowedFd<'_>, d: &StoredDigest) -> Result<(), Errno> {
    match rustix::fs::fsetxattr(fd, XATTR, d.encode().as_bytes(), XattrFlags::empty()) {
        Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::PERM) => Ok(()),
        other => other,
    }
}

/// mtime of a stat in nanoseconds since the epoch.
pub fn mtime_ns(st: &rustix::fs::Stat) -> i128 {
    st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128
}

/// Latest time an HTTP date can say (9999-12-31T23:59:59Z).
const HTTP_DATE_MAX_SECS: i128 = 253_402_300_799;

/// `SystemTime` of an mtime in nanoseconds, clamped to what an HTTP date can
/// carry (1970 to 9999): `rsync -a`, `zfs recv` or `touch` can give a file
/// any mtime, and formatting one outside that range would panic.
pub fn system_time(mtime_ns: i128) -> std::time::SystemTime {
    use std::time::{Duration, UNIX_EPOCH};
    let ns = mtime_ns.clamp(0, HTTP_DATE_MAX_SECS * 1_000_000_000);
    UNIX_EPOCH + Duration::from_nanos(ns as u64)
}

/// Is this a regular file?
pub fn is_file(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
}

/// Is this a directory?
pub fn is_dir(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
}

/// `fstatat` without following a final symlink.
pub fn stat_at(dir: BorrowedFd<'_>, name: &str) -> Result<rustix::fs::Stat, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// Remove the empty directory `name` in `dir`.
pub fn rmdir_at(dir: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}
