//! File contents, attributes and xattrs: the requests that change one
//! inode's visible version and never touch a directory.

use std::ffi::OsStr;

use rustix::io::Errno;

use super::{Attr, Body, Ino, Model, Res, SetAttr, now};

pub(super) const XATTR_CREATE: i32 = 1;
pub(super) const XATTR_REPLACE: i32 = 2;

impl Model {
    pub fn setattr(&mut self, ino: Ino, set: &SetAttr) -> Res<Attr> {
        let t = now();
        let n = self.node_mut(ino)?;
        if let Some(size) = set.size {
            let len = usize::try_from(size).map_err(|_| Errno::FBIG)?;
            n.data_mut()?.resize(len, 0);
            n.visible.meta.mtime = t;
        }
        let m = &mut n.visible.meta;
        if let Some(perm) = set.perm {
            m.perm = perm & 0o7777;
        }
        if let Some(uid) = set.uid {
            m.uid = uid;
        }
        if let Some(gid) = set.gid {
            m.gid = gid;
        }
        if let Some(a) = set.atime {
            m.atime = a;
        }
        if let Some(mt) = set.mtime {
            m.mtime = mt;
        }
        m.ctime = set.ctime.unwrap_or(t);
        self.attr(ino)
    }

    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> Res<&[u8]> {
        match &self.node(ino)?.visible.body {
            Body::File(d) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(d.len());
                let end = start.saturating_add(size as usize).min(d.len());
                Ok(&d[start..end])
            }
            Body::Dir(_) => Err(Errno::ISDIR),
            _ => Err(Errno::INVAL),
        }
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Res<u32> {
        let start = usize::try_from(offset).map_err(|_| Errno::FBIG)?;
        let end = start.checked_add(data.len()).ok_or(Errno::FBIG)?;
        let n = self.node_mut(ino)?;
        let d = n.data_mut()?;
        if d.len() < end {
            d.resize(end, 0);
        }
        d[start..end].copy_from_slice(data);
        let t = now();
        n.visible.meta.mtime = t;
        n.visible.meta.ctime = t;
        u32::try_from(data.len()).map_err(|_| Errno::INVAL)
    }

    pub fn copy_range(
        &mut self,
        from: Ino,
        off_in: u64,
        to: Ino,
        off_out: u64,
        len: u64,
    ) -> Res<u64> {
        let chunk = self
            .read(from, off_in, u32::try_from(len).unwrap_or(u32::MAX))?
            .to_vec();
        self.write(to, off_out, &chunk).map(u64::from)
    }

    /// `fallocate`: mode 0, `KEEP_SIZE`, `PUNCH_HOLE` and `ZERO_RANGE`.
    pub fn fallocate(&mut self, ino: Ino, offset: u64, length: u64, mode: i32) -> Res<()> {
        const KEEP_SIZE: i32 = 0x01;
        const PUNCH_HOLE: i32 = 0x02;
        const ZERO_RANGE: i32 = 0x10;
        if mode & !(KEEP_SIZE | PUNCH_HOLE | ZERO_RANGE) != 0 {
            return Err(Errno::OPNOTSUPP);
        }
        if mode & PUNCH_HOLE != 0 && mode & KEEP_SIZE == 0 {
            return Err(Errno::INVAL);
        }
        let start = usize::try_from(offset).map_err(|_| Errno::FBIG)?;
        let end = start
            .checked_add(usize::try_from(length).map_err(|_| Errno::FBIG)?)
            .ok_or(Errno::FBIG)?;
        let n = self.node_mut(ino)?;
        let d = n.data_mut()?;
        let old_len = d.len();
        if mode & KEEP_SIZE == 0 && d.len() < end {
            d.resize(end, 0);
        }
        if mode & (PUNCH_HOLE | ZERO_RANGE) != 0 {
            let stop = end.min(d.len());
            if start < stop {
                d[start..stop].fill(0);
            }
        }
        if d.len() != old_len || mode & (PUNCH_HOLE | ZERO_RANGE) != 0 {
            let t = now();
            n.visible.meta.mtime = t;
            n.visible.meta.ctime = t;
        }
        Ok(())
    }

    /// `SEEK_DATA`/`SEEK_HOLE` on a file with no holes.
    pub fn lseek(&self, ino: Ino, offset: i64, whence: i32) -> Res<i64> {
        const SEEK_DATA: i32 = 3;
        const SEEK_HOLE: i32 = 4;
        let size = i64::try_from(self.node(ino)?.visible.body.size()).map_err(|_| Errno::FBIG)?;
        match whence {
            SEEK_DATA | SEEK_HOLE if offset < 0 => Err(Errno::NXIO),
            SEEK_DATA | SEEK_HOLE if offset >= size => Err(Errno::NXIO),
            SEEK_DATA => Ok(offset),
            SEEK_HOLE => Ok(size),
            _ => Err(Errno::INVAL),
        }
    }

    pub fn setxattr(&mut self, ino: Ino, name: &OsStr, value: &[u8], flags: i32) -> Res<()> {
        let n = self.node_mut(ino)?;
        let exists = n.visible.xattrs.contains_key(name);
        if flags & XATTR_CREATE != 0 && exists {
            return Err(Errno::EXIST);
        }
        if flags & XATTR_REPLACE != 0 && !exists {
            return Err(Errno::NODATA);
        }
        n.visible.xattrs.insert(name.to_owned(), value.to_vec());
        n.visible.meta.ctime = now();
        Ok(())
    }

    pub fn getxattr(&self, ino: Ino, name: &OsStr) -> Res<&[u8]> {
        let n = self.node(ino)?;
        n.visible
            .xattrs
            .get(name)
            .map(Vec::as_slice)
            .ok_or(Errno::NODATA)
    }

    /// Names, each followed by a NUL, as `listxattr(2)` returns them.
    pub fn listxattr(&self, ino: Ino) -> Res<Vec<u8>> {
        let mut out = Vec::new();
        for name in self.node(ino)?.visible.xattrs.keys() {
            out.extend_from_slice(name.as_encoded_bytes());
            out.push(0);
        }
        Ok(out)
    }

    pub fn removexattr(&mut self, ino: Ino, name: &OsStr) -> Res<()> {
        let n = self.node_mut(ino)?;
        n.visible.xattrs.remove(name).ok_or(Errno::NODATA)?;
        n.visible.meta.ctime = now();
        Ok(())
    }
}
