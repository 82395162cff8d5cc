//! The pure state: what processes see, and what a power cut would keep.
//!
//! Every inode holds two versions of itself. `visible` is what requests read
//! and change. `durable` is what the disk would hold after a power cut, and
//! only the two syncs move state from one to the other:
//!
//! - `fsync` of a file copies its data (and so its size) and, unless it is a
//!   `fdatasync`, its metadata and xattrs;
//! - `fsyncdir` of a directory copies its entry map (and, unless datasync, its
//!   metadata and xattrs). A new directory's own entry lives in its parent, so
//!   making a directory reachable takes a sync of the parent, and making its
//!   contents survive takes a sync of the directory itself. A rename touches
//!   two directories, and each keeps its old durable entry until synced.
//!
//! A new inode starts durable with its creation metadata, empty data and no
//! xattrs. A symlink's target is durable from creation (it cannot be fsynced).
//!
//! No I/O and no FUSE here: this module is tested without a mount.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

use rustix::io::Errno;

pub type Ino = u64;
pub type Res<T> = Result<T, Errno>;

/// The root directory's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT: Ino = 1;
/// Longest name ext4 accepts.
const NAME_MAX: usize = 255;
/// What `st_size` says for a directory, as on ext4.
const DIR_SIZE: u64 = 4096;

const S_ISGID: u16 = 0o2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// Metadata that an `fsync` (but not a `fdatasync`) makes durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Meta {
    pub fn new(perm: u16, uid: u32, gid: u32, now: SystemTime) -> Meta {
        Meta {
            perm: perm & 0o7777,
            uid,
            gid,
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, Ino>),
    Symlink(OsString),
    /// FIFOs, sockets and device nodes: no content.
    Special(Kind),
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::File(_) => Kind::File,
            Body::Dir(_) => Kind::Dir,
            Body::Symlink(_) => Kind::Symlink,
            Body::Special(k) => *k,
        }
    }

    /// The body a new inode has on disk before any sync.
    fn fresh(&self) -> Body {
        match self {
            Body::File(_) => Body::File(Vec::new()),
            Body::Dir(_) => Body::Dir(BTreeMap::new()),
            other => other.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Body::File(d) => d.len() as u64,
            Body::Dir(_) => DIR_SIZE,
            Body::Symlink(t) => t.len() as u64,
            Body::Special(_) => 0,
        }
    }
}

pub type Xattrs = BTreeMap<OsString, Vec<u8>>;

/// One version (visible or durable) of an inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub meta: Meta,
    pub body: Body,
    pub xattrs: Xattrs,
}

#[derive(Debug)]
struct Inode {
    visible: Version,
    durable: Version,
    /// Visible links: names for a file; 2 + subdirectories for a directory,
    /// 0 once it is removed.
    nlink: u32,
    /// A directory's visible parent (used to refuse moving a directory into
    /// itself and to answer `..`).
    parent: Ino,
    /// Durable directory entries pointing here (from any directory's
    /// durable map, reachable or not).
    durable_refs: u32,
    /// Open file and directory handles.
    handles: u32,
    /// The kernel's lookup count (decremented by FORGET).
    lookups: u64,
}

impl Inode {
    fn entries(&self) -> Res<&BTreeMap<OsString, Ino>> {
        match &self.visible.body {
            Body::Dir(e) => Ok(e),
            _ => Err(Errno::NOTDIR),
        }
    }

    fn entries_mut(&mut self) -> Res<&mut BTreeMap<OsString, Ino>> {
        match &mut self.visible.body {
            Body::Dir(e) => Ok(e),
            _ => Err(Errno::NOTDIR),
        }
    }

    fn data_mut(&mut self) -> Res<&mut Vec<u8>> {
        match &mut self.visible.body {
            Body::File(d) => Ok(d),
            Body::Dir(_) => Err(Errno::ISDIR),
            _ => Err(Errno::INVAL),
        }
    }

    fn kind(&self) -> Kind {
        self.visible.body.kind()
    }

    fn touch_dir(&mut self, now: SystemTime) {
        self.visible.meta.mtime = now;
        self.visible.meta.ctime = now;
    }
}

/// Who creates an inode (the request's uid and gid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Attributes as `stat` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub nlink: u32,
    pub meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: Ino,
    pub kind: Kind,
    pub name: OsString,
}

#[derive(Debug)]
enum Handle {
    File(Ino),
    /// A directory stream reads a snapshot taken at open (and at rewind), so
    /// concurrent changes never make `readdir` skip or repeat a name.
    Dir(Ino, Vec<DirEntry>),
}

/// `renameat2` flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameMode {
    Replace,
    NoReplace,
    Exchange,
}

/// What `setattr` changes; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct SetAttr {
    pub perm: Option<u16>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
    pub ctime: Option<SystemTime>,
}

/// The durable inodes reachable from the root through durable entries: what
/// a power cut leaves on disk.
#[derive(Clone, Debug)]
pub struct DurableTree {
    pub nodes: HashMap<Ino, Version>,
}

/// Used bytes and inodes, for `statfs`.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub bytes: u64,
    pub inodes: u64,
}

#[derive(Debug)]
pub struct Model {
    inodes: HashMap<Ino, Inode>,
    next_ino: Ino,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn check_name(name: &OsStr) -> Res<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::NAMETOOLONG);
    }
    Ok(())
}

impl Model {
    /// A filesystem holding only its root directory, durable as it is.
    pub fn new(root_meta: Meta, root_xattrs: Xattrs) -> Model {
        let v = Version {
            meta: root_meta,
            body: Body::Dir(BTreeMap::new()),
            xattrs: root_xattrs,
        };
        let root = Inode {
            durable: v.clone(),
            visible: v,
            nlink: 2,
            parent: ROOT,
            durable_refs: 0,
            handles: 0,
            lookups: 0,
        };
        Model {
            inodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            handles: HashMap::new(),
            next_fh: 1,
        }
    }

    fn node(&self, ino: Ino) -> Res<&Inode> {
        self.inodes.get(&ino).ok_or(Errno::NOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Res<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(Errno::NOENT)
    }

    fn attr(&self, ino: Ino) -> Res<Attr> {
        let n = self.node(ino)?;
        Ok(Attr {
            ino,
            kind: n.kind(),
            size: n.visible.body.size(),
            nlink: n.nlink,
            meta: n.visible.meta.clone(),
        })
    }

    /// Attributes for an entry reply: the kernel now holds one more lookup.
    fn entry(&mut self, ino: Ino) -> Res<Attr> {
        self.node_mut(ino)?.lookups += 1;
        self.attr(ino)
    }

    fn child(&self, parent: Ino, name: &OsStr) -> Res<Option<Ino>> {
        Ok(self.node(parent)?.entries()?.get(name).copied())
    }

    /// A directory that can take a new entry called `name`.
    fn check_new_entry(&self, parent: Ino, name: &OsStr) -> Res<()> {
        check_name(name)?;
        let p = self.node(parent)?;
        if p.entries()?.contains_key(name) {
            return Err(Errno::EXIST);
        }
        if p.nlink == 0 {
            return Err(Errno::NOENT);
        }
        Ok(())
    }

    /// Frees inodes that nothing can reach any more: no visible link, no
    /// open handle, no kernel reference and no durable entry.
    fn maybe_free(&mut self, ino: Ino) {
        let mut work = vec![ino];
        while let Some(ino) = work.pop() {
            let Some(n) = self.inodes.get(&ino) else {
                continue;
            };
            let unused = n.nlink == 0 && n.handles == 0 && n.lookups == 0 && n.durable_refs == 0;
            if ino == ROOT || !unused {
                continue;
            }
            let Some(n) = self.inodes.remove(&ino) else {
                continue;
            };
            if let Body::Dir(entries) = n.durable.body {
                for child in entries.into_values() {
                    if let Some(c) = self.inodes.get_mut(&child) {
                        c.durable_refs -= 1;
                    }
                    work.push(child);
                }
            }
        }
    }

    fn insert(&mut self, parent: Ino, name: &OsStr, body: Body, meta: Meta, xattrs: Xattrs) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        let is_dir = body.kind() == Kind::Dir;
        let durable = Version {
            meta: meta.clone(),
            body: body.fresh(),
            xattrs: Xattrs::new(),
        };
        let inode = Inode {
            visible: Version { meta, body, xattrs },
            durable,
            nlink: if is_dir { 2 } else { 1 },
            parent,
            durable_refs: 0,
            handles: 0,
            lookups: 0,
        };
        self.inodes.insert(ino, inode);
        let p = self
            .inodes
            .get_mut(&parent)
            .expect("parent checked by caller");
        if let Body::Dir(e) = &mut p.visible.body {
            e.insert(name.to_owned(), ino);
        }
        if is_dir {
            p.nlink += 1;
        }
        ino
    }

    fn create_node(
        &mut self,
        parent: Ino,
        name: &OsStr,
        body: Body,
        perm: u16,
        owner: Owner,
        rdev: u32,
    ) -> Res<Attr> {
        self.check_new_entry(parent, name)?;
        let t = now();
        let p = self.node_mut(parent)?;
        p.touch_dir(t);
        // BSD group semantics under a setgid directory, as ext4 does.
        let (gid, perm) = if p.visible.meta.perm & S_ISGID != 0 {
            let dir_bit = if body.kind() == Kind::Dir { S_ISGID } else { 0 };
            (p.visible.meta.gid, perm | dir_bit)
        } else {
            (owner.gid, perm)
        };
        let mut meta = Meta::new(perm, owner.uid, gid, t);
        meta.rdev = rdev;
        let ino = self.insert(parent, name, body, meta, Xattrs::new());
        self.entry(ino)
    }

    // ---- requests ----

    pub fn lookup(&mut self, parent: Ino, name: &OsStr) -> Res<Attr> {
        let ino = self.child(parent, name)?.ok_or(Errno::NOENT)?;
        self.entry(ino)
    }

    pub fn forget(&mut self, ino: Ino, n: u64) {
        if let Some(node) = self.inodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
            self.maybe_free(ino);
        }
    }

    pub fn getattr(&self, ino: Ino) -> Res<Attr> {
        self.attr(ino)
    }

    pub fn readlink(&self, ino: Ino) -> Res<OsString> {
        match &self.node(ino)?.visible.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::INVAL),
        }
    }

    /// `mknod`/`create`: `mode` carries the file type bits.
    pub fn mknod(
        &mut self,
        parent: Ino,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        owner: Owner,
    ) -> Res<Attr> {
        let body = match mode & libc_s_ifmt::MASK {
            libc_s_ifmt::REG | 0 => Body::File(Vec::new()),
            libc_s_ifmt::FIFO => Body::Special(Kind::Fifo),
            libc_s_ifmt::SOCK => Body::Special(Kind::Socket),
            libc_s_ifmt::CHR => Body::Special(Kind::CharDevice),
            libc_s_ifmt::BLK => Body::Special(Kind::BlockDevice),
            _ => return Err(Errno::INVAL),
        };
        self.create_node(parent, name, body, mode as u16, owner, rdev)
    }

    pub fn mkdir(&mut self, parent: Ino, name: &OsStr, perm: u32, owner: Owner) -> Res<Attr> {
        let body = Body::Dir(BTreeMap::new());
        self.create_node(parent, name, body, perm as u16, owner, 0)
    }

    pub fn symlink(
        &mut self,
        parent: Ino,
        name: &OsStr,
        target: &OsStr,
        owner: Owner,
    ) -> Res<Attr> {
        let body = Body::Symlink(target.to_owned());
        self.create_node(parent, name, body, 0o777, owner, 0)
    }

    pub fn link(&mut self, ino: Ino, newparent: Ino, newname: &OsStr) -> Res<Attr> {
        if self.node(ino)?.kind() == Kind::Dir {
            return Err(Errno::PERM);
        }
        self.check_new_entry(newparent, newname)?;
        let t = now();
        let p = self.node_mut(newparent)?;
        p.entries_mut()?.insert(newname.to_owned(), ino);
        p.touch_dir(t);
        let n = self.node_mut(ino)?;
        n.nlink += 1;
        n.visible.meta.ctime = t;
        self.entry(ino)
    }

    /// Drops one visible link of `ino`, which `parent` no longer names.
    fn drop_link(&mut self, parent: Ino, ino: Ino, t: SystemTime) {
        let is_dir = match self.inodes.get_mut(&ino) {
            Some(n) if n.kind() == Kind::Dir => {
                n.nlink = 0;
                true
            }
            Some(n) => {
                n.nlink -= 1;
                n.visible.meta.ctime = t;
                false
            }
            None => false,
        };
        if is_dir && let Some(p) = self.inodes.get_mut(&parent) {
            p.nlink -= 1;
        }
        self.maybe_free(ino);
    }

    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Res<()> {
        let ino = self.child(parent, name)?.ok_or(Errno::NOENT)?;
        if self.node(ino)?.kind() == Kind::Dir {
            return Err(Errno::ISDIR);
        }
        let t = now();
        let p = self.node_mut(parent)?;
        p.entries_mut()?.remove(name);
        p.touch_dir(t);
        self.drop_link(parent, ino, t);
        Ok(())
    }

    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Res<()> {
        let ino = self.child(parent, name)?.ok_or(Errno::NOENT)?;
        if !self.node(ino)?.entries()?.is_empty() {
            return Err(Errno::NOTEMPTY);
        }
        let t = now();
        let p = self.node_mut(parent)?;
        p.entries_mut()?.remove(name);
        p.touch_dir(t);
        self.drop_link(parent, ino, t);
        Ok(())
    }

    /// Whether `dir` is `ancestor` or lies below it (visible tree).
    fn is_within(&self, mut dir: Ino, ancestor: Ino) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            match self.inodes.get(&dir) {
                Some(n) if dir != ROOT => dir = n.parent,
                _ => return false,
            }
        }
    }

    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        mode: RenameMode,
    ) -> Res<()> {
        check_name(newname)?;
        let src = self.child(parent, name)?.ok_or(Errno::NOENT)?;
        let dst = self.child(newparent, newname)?;
        let src_dir = self.node(src)?.kind() == Kind::Dir;
        if src_dir && self.is_within(newparent, src) {
            return Err(Errno::INVAL);
        }
        if self.node(newparent)?.nlink == 0 {
            return Err(Errno::NOENT);
        }
        let t = now();
        match (mode, dst) {
            (RenameMode::NoReplace, Some(_)) => Err(Errno::EXIST),
            (RenameMode::Exchange, None) => Err(Errno::NOENT),
            (RenameMode::Exchange, Some(dst)) => {
                let dst_dir = self.node(dst)?.kind() == Kind::Dir;
                if dst_dir && self.is_within(parent, dst) {
                    return Err(Errno::INVAL);
                }
                self.node_mut(parent)?
                    .entries_mut()?
                    .insert(name.to_owned(), dst);
                self.node_mut(newparent)?
                    .entries_mut()?
                    .insert(newname.to_owned(), src);
                if src_dir {
                    self.move_dir(src, parent, newparent);
                }
                if dst_dir {
                    self.move_dir(dst, newparent, parent);
                }
                for ino in [src, dst] {
                    self.node_mut(ino)?.visible.meta.ctime = t;
                }
                self.node_mut(parent)?.touch_dir(t);
                self.node_mut(newparent)?.touch_dir(t);
                Ok(())
            }
            (_, Some(dst)) if dst == src => Ok(()),
            (_, dst) => {
                if let Some(dst) = dst {
                    let d = self.node(dst)?;
                    match (src_dir, d.kind() == Kind::Dir) {
                        (true, false) => return Err(Errno::NOTDIR),
                        (false, true) => return Err(Errno::ISDIR),
                        (true, true) if !d.entries()?.is_empty() => return Err(Errno::NOTEMPTY),
                        _ => {}
                    }
                }
                self.node_mut(parent)?.entries_mut()?.remove(name);
                self.node_mut(newparent)?
                    .entries_mut()?
                    .insert(newname.to_owned(), src);
                if let Some(dst) = dst {
                    self.drop_link(newparent, dst, t);
                }
                if src_dir {
                    self.move_dir(src, parent, newparent);
                }
                self.node_mut(src)?.visible.meta.ctime = t;
                self.node_mut(parent)?.touch_dir(t);
                self.node_mut(newparent)?.touch_dir(t);
                Ok(())
            }
        }
    }

    fn move_dir(&mut self, dir: Ino, from: Ino, to: Ino) {
        if from == to {
            return;
        }
        if let Some(n) = self.inodes.get_mut(&dir) {
            n.parent = to;
        }
        if let Some(f) = self.inodes.get_mut(&from) {
            f.nlink -= 1;
        }
        if let Some(t) = self.inodes.get_mut(&to) {
            t.nlink += 1;
        }
    }

    pub fn open(&mut self, ino: Ino) -> Res<u64> {
        self.node_mut(ino)?.handles += 1;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle::File(ino));
        Ok(fh)
    }

    pub fn opendir(&mut self, ino: Ino) -> Res<u64> {
        let snapshot = self.list(ino)?;
        self.node_mut(ino)?.handles += 1;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle::Dir(ino, snapshot));
        Ok(fh)
    }

    /// `.`, `..` and the entries of a directory.
    fn list(&self, ino: Ino) -> Res<Vec<DirEntry>> {
        let n = self.node(ino)?;
        let mut out = vec![
            DirEntry {
                ino,
                kind: Kind::Dir,
                name: ".".into(),
            },
            DirEntry {
                ino: n.parent,
                kind: Kind::Dir,
                name: "..".into(),
            },
        ];
        for (name, &child) in n.entries()? {
            let kind = self.node(child)?.kind();
            out.push(DirEntry {
                ino: child,
                kind,
                name: name.clone(),
            });
        }
        Ok(out)
    }

    /// Entries from `offset` on; offset 0 (a rewind) takes a new snapshot.
    pub fn readdir(&mut self, fh: u64, offset: u64) -> Res<&[DirEntry]> {
        let ino = match self.handles.get(&fh) {
            Some(Handle::Dir(ino, _)) => *ino,
            _ => return Err(Errno::BADF),
        };
        if offset == 0 {
            let fresh = self.list(ino)?;
            if let Some(Handle::Dir(_, snap)) = self.handles.get_mut(&fh) {
                *snap = fresh;
            }
        }
        match self.handles.get(&fh) {
            Some(Handle::Dir(_, snap)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(snap.len());
                Ok(&snap[start..])
            }
            _ => Err(Errno::BADF),
        }
    }

    /// Closes a file or directory handle.
    pub fn release(&mut self, fh: u64) {
        let ino = match self.handles.remove(&fh) {
            Some(Handle::File(ino) | Handle::Dir(ino, _)) => ino,
            None => return,
        };
        if let Some(n) = self.inodes.get_mut(&ino) {
            n.handles -= 1;
            self.maybe_free(ino);
        }
    }

    /// `fsync`/`fdatasync` of a file and `fsyncdir` of a directory.
    pub fn fsync(&mut self, ino: Ino, datasync: bool) -> Res<()> {
        let n = self.node_mut(ino)?;
        let old = std::mem::replace(&mut n.durable.body, n.visible.body.clone());
        if !datasync {
            n.durable.meta = n.visible.meta.clone();
            n.durable.xattrs = n.visible.xattrs.clone();
        }
        let new = n.durable.body.clone();
        if let (Body::Dir(old), Body::Dir(new)) = (old, new) {
            for child in new.values() {
                self.node_mut(*child)?.durable_refs += 1;
            }
            for child in old.values() {
                if let Some(c) = self.inodes.get_mut(child) {
                    c.durable_refs -= 1;
                }
                self.maybe_free(*child);
            }
        }
        Ok(())
    }

    pub fn usage(&self) -> Usage {
        let bytes = self.inodes.values().map(|n| n.visible.body.size()).sum();
        Usage {
            bytes,
            inodes: self.inodes.len() as u64,
        }
    }

    // ---- durability ----

    /// Makes everything visible durable, as if every inode had been fsynced.
    pub fn sync_all(&mut self) {
        for n in self.inodes.values_mut() {
            n.durable = n.visible.clone();
            n.durable_refs = 0;
        }
        let targets: Vec<Ino> = self
            .inodes
            .values()
            .filter_map(|n| match &n.durable.body {
                Body::Dir(e) => Some(e.values().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        for t in targets {
            if let Some(n) = self.inodes.get_mut(&t) {
                n.durable_refs += 1;
            }
        }
        let all: Vec<Ino> = self.inodes.keys().copied().collect();
        for ino in all {
            self.maybe_free(ino);
        }
    }

    /// The durable state reachable from the root.
    pub fn durable_tree(&self) -> DurableTree {
        let mut nodes = HashMap::new();
        let mut work = vec![ROOT];
        while let Some(ino) = work.pop() {
            if nodes.contains_key(&ino) {
                continue;
            }
            let Some(n) = self.inodes.get(&ino) else {
                continue;
            };
            if let Body::Dir(e) = &n.durable.body {
                work.extend(e.values().copied());
            }
            nodes.insert(ino, n.durable.clone());
        }
        DurableTree { nodes }
    }

    /// Visible entries (reachable from the root) that the durable tree does
    /// not hold under the same directory, name and inode.
    pub fn lost_entries(&self, tree: &DurableTree) -> u64 {
        let mut lost = 0;
        let mut seen = HashSet::new();
        let mut work = vec![ROOT];
        while let Some(dir) = work.pop() {
            if !seen.insert(dir) {
                continue;
            }
            let Some(Body::Dir(entries)) = self.inodes.get(&dir).map(|n| &n.visible.body) else {
                continue;
            };
            let durable = match tree.nodes.get(&dir).map(|v| &v.body) {
                Some(Body::Dir(e)) => Some(e),
                _ => None,
            };
            for (name, &child) in entries {
                if durable.and_then(|e| e.get(name)) != Some(&child) {
                    lost += 1;
                }
                work.push(child);
            }
        }
        lost
    }

    // ---- loading an image ----

    /// Adds an inode loaded from an image under `parent` (call `sync_all`
    /// when done). A directory gets its entries from later calls.
    pub fn load(&mut self, parent: Ino, name: &OsStr, v: Version) -> Res<Ino> {
        self.check_new_entry(parent, name)?;
        Ok(self.insert(parent, name, v.body, v.meta, v.xattrs))
    }

    /// Adds another name for an inode loaded earlier (a hard link).
    pub fn load_link(&mut self, ino: Ino, parent: Ino, name: &OsStr) -> Res<()> {
        self.check_new_entry(parent, name)?;
        self.node_mut(parent)?
            .entries_mut()?
            .insert(name.to_owned(), ino);
        self.node_mut(ino)?.nlink += 1;
        Ok(())
    }

    #[cfg(test)]
    fn live_inodes(&self) -> usize {
        self.inodes.len()
    }
}

/// `S_IFMT` values (the same on every Linux architecture).
mod libc_s_ifmt {
    pub const MASK: u32 = 0o170000;
    pub const SOCK: u32 = 0o140000;
    pub const REG: u32 = 0o100000;
    pub const BLK: u32 = 0o060000;
    pub const CHR: u32 = 0o020000;
    pub const FIFO: u32 = 0o010000;
}

mod content;
#[cfg(test)]
mod tests;
