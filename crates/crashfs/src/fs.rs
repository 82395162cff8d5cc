//! The fuser adapter: turns kernel requests into calls on the model.
//!
//! Every request takes the one lock that guards the model; while holding it
//! it counts itself, answers EIO if the filesystem was cut, and otherwise
//! runs to completion. So a cut (which takes the same lock) falls between
//! two requests, never inside one.
//!
//! Attribute and entry TTLs are zero: the kernel asks again each time, so
//! what processes see is always the model's visible state, and requests made
//! after a cut reach the daemon and fail.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType,
    Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::Stats;
use crate::model::{Attr, Kind, Model, Owner, RenameMode, Res, SetAttr};

const TTL: Duration = Duration::ZERO;
/// Inode numbers are never reused, so every inode is generation 0.
const GENERATION: Generation = Generation(0);
const BLOCK: u64 = 4096;
/// What `statfs` reports as the filesystem's size (1 TiB).
const CAPACITY: u64 = 1 << 40;
const MAX_INODES: u64 = 1 << 32;

/// What the handle and the session share.
pub(crate) struct Inner {
    pub(crate) model: Model,
    pub(crate) frozen: bool,
    pub(crate) stats: Stats,
}

pub(crate) type Shared = Arc<Mutex<Inner>>;

pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A request that panicked may have left the model half-changed; the
    // test fails on its own account, so keep answering (and unmounting)
    // rather than poison every later request.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) struct CrashFsAdapter {
    pub(crate) shared: Shared,
}

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Fifo => FileType::NamedPipe,
        Kind::Socket => FileType::Socket,
        Kind::CharDevice => FileType::CharDevice,
        Kind::BlockDevice => FileType::BlockDevice,
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.meta.atime,
        mtime: a.meta.mtime,
        ctime: a.meta.ctime,
        crtime: a.meta.ctime,
        kind: file_type(a.kind),
        perm: a.meta.perm,
        nlink: a.nlink,
        uid: a.meta.uid,
        gid: a.meta.gid,
        rdev: a.meta.rdev,
        blksize: BLOCK as u32,
        flags: 0,
    }
}

fn owner(req: &Request) -> Owner {
    Owner {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

/// The xattr size protocol: size 0 asks for the length, a buffer too small
/// is ERANGE.
fn reply_xattr(reply: ReplyXattr, size: u32, value: Result<Vec<u8>, Errno>) {
    match value {
        Err(e) => reply.error(e),
        Ok(v) if size == 0 => reply.size(v.len() as u32),
        Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(v) => reply.data(&v),
    }
}

impl CrashFsAdapter {
    /// Runs one request under the lock: counts it, refuses it after a cut,
    /// otherwise applies it to the model.
    fn run<T>(
        &self,
        count: impl FnOnce(&mut Stats),
        op: impl FnOnce(&mut Model) -> Res<T>,
    ) -> Result<T, Errno> {
        let mut inner = lock(&self.shared);
        count(&mut inner.stats);
        if inner.frozen {
            inner.stats.refused += 1;
            return Err(Errno::EIO);
        }
        op(&mut inner.model).map_err(errno)
    }

    fn entry(&self, reply: ReplyEntry, r: Result<Attr, Errno>) {
        match r {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), GENERATION),
            Err(e) => reply.error(e),
        }
    }

    fn empty(reply: ReplyEmpty, r: Result<(), Errno>) {
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// Requests that only drop references: honoured even after a cut, so
    /// closing files and unmounting keep working.
    fn release_ref(&self, op: impl FnOnce(&mut Model)) {
        op(&mut lock(&self.shared).model);
    }
}

fn noop(_: &mut Stats) {}

impl Filesystem for CrashFsAdapter {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.run(noop, |m| m.lookup(parent.0, name));
        self.entry(reply, r);
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.release_ref(|m| m.forget(ino.0, nlookup));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.run(noop, |m| m.getattr(ino.0)) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            perm: mode.map(|m| (m & 0o7777) as u16),
            uid,
            gid,
            size,
            atime: atime.map(time),
            mtime: mtime.map(time),
            ctime,
        };
        match self.run(|s| s.setattr += 1, |m| m.setattr(ino.0, &set)) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.run(noop, |m| m.readlink(ino.0)) {
            Ok(t) => reply.data(t.as_encoded_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = self.run(
            |s| s.create += 1,
            |m| m.mknod(parent.0, name, mode & !umask, rdev, owner(req)),
        );
        self.entry(reply, r);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.run(
            |s| s.mkdir += 1,
            |m| m.mkdir(parent.0, name, mode & !umask & 0o7777, owner(req)),
        );
        self.entry(reply, r);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.run(|s| s.unlink += 1, |m| m.unlink(parent.0, name)),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.run(|s| s.rmdir += 1, |m| m.rmdir(parent.0, name)),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = self.run(
            |s| s.symlink += 1,
            |m| m.symlink(parent.0, link_name, target.as_os_str(), owner(req)),
        );
        self.entry(reply, r);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mode = if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            RenameMode::Exchange
        } else if flags.contains(RenameFlags::RENAME_NOREPLACE) {
            RenameMode::NoReplace
        } else if flags.is_empty() {
            RenameMode::Replace
        } else {
            // RENAME_WHITEOUT is for overlayfs; ext4 supports it, we don't.
            return reply.error(Errno::EINVAL);
        };
        let count = |s: &mut Stats| match mode {
            RenameMode::Replace => s.rename += 1,
            RenameMode::NoReplace => s.rename_noreplace += 1,
            RenameMode::Exchange => s.rename_exchange += 1,
        };
        Self::empty(
            reply,
            self.run(count, |m| {
                m.rename(parent.0, name, newparent.0, newname, mode)
            }),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.run(|s| s.link += 1, |m| m.link(ino.0, newparent.0, newname));
        self.entry(reply, r);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.run(|s| s.open += 1, |m| m.open(ino.0)) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.run(
            |s| s.read += 1,
            |m| m.read(ino.0, offset, size).map(<[u8]>::to_vec),
        ) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.run(|s| s.write += 1, |m| m.write(ino.0, offset, data)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        Self::empty(reply, self.run(noop, |_| Ok(())));
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.release_ref(|m| m.release(fh.0));
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let count = |s: &mut Stats| {
            if datasync {
                s.fdatasync += 1
            } else {
                s.fsync += 1
            }
        };
        Self::empty(reply, self.run(count, |m| m.fsync(ino.0, datasync)));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.run(noop, |m| m.opendir(ino.0)) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.run(noop, |m| {
            let entries = m.readdir(fh.0, offset)?;
            for (i, e) in entries.iter().enumerate() {
                // The offset given with an entry is where the next read starts.
                let next = offset + i as u64 + 1;
                if reply.add(INodeNo(e.ino), next, file_type(e.kind), &e.name) {
                    break;
                }
            }
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.release_ref(|m| m.release(fh.0));
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(
            reply,
            self.run(|s| s.fsyncdir += 1, |m| m.fsync(ino.0, datasync)),
        );
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.run(noop, |m| Ok(m.usage())) {
            Ok(u) => {
                let blocks = CAPACITY / BLOCK;
                let free = blocks.saturating_sub(u.bytes.div_ceil(BLOCK));
                let ffree = MAX_INODES.saturating_sub(u.inodes);
                reply.statfs(
                    blocks,
                    free,
                    free,
                    MAX_INODES,
                    ffree,
                    BLOCK as u32,
                    255,
                    BLOCK as u32,
                );
            }
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        Self::empty(
            reply,
            self.run(
                |s| s.setxattr += 1,
                |m| m.setxattr(ino.0, name, value, flags),
            ),
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let r = self.run(noop, |m| m.getxattr(ino.0, name).map(<[u8]>::to_vec));
        reply_xattr(reply, size, r);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, self.run(noop, |m| m.listxattr(ino.0)));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(
            reply,
            self.run(|s| s.removexattr += 1, |m| m.removexattr(ino.0, name)),
        );
    }

    /// With `default_permissions` the kernel checks modes itself and does not
    /// send this; answer for existence anyway.
    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        Self::empty(reply, self.run(noop, |m| m.getattr(ino.0).map(drop)));
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        // The kernel sends CREATE only after a lookup found no entry (and
        // holds the directory lock), so an existing name is EEXIST whatever
        // O_EXCL says.
        let r = self.run(
            |s| s.create += 1,
            |m| {
                let a = m.mknod(parent.0, name, mode & !umask, 0, owner(req))?;
                let fh = m.open(a.ino)?;
                Ok((a, fh))
            },
        );
        match r {
            Ok((a, fh)) => reply.created(
                &TTL,
                &file_attr(&a),
                GENERATION,
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        Self::empty(
            reply,
            self.run(
                |s| s.fallocate += 1,
                |m| m.fallocate(ino.0, offset, length, mode),
            ),
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.run(noop, |m| m.lseek(ino.0, offset, whence)) {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(e),
        }
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        ino_in: INodeNo,
        _fh_in: FileHandle,
        offset_in: u64,
        ino_out: INodeNo,
        _fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let r = self.run(
            |s| s.copy_file_range += 1,
            |m| m.copy_range(ino_in.0, offset_in, ino_out.0, offset_out, len),
        );
        match r {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
    }
}
