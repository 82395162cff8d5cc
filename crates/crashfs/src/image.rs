//! Images: the durable state written out as a plain directory tree, and a
//! plain directory tree read back in as a fully durable model.
//!
//! An image keeps what a later mount needs and a test inspects: the tree,
//! file bytes, permission bits, owners, atime and mtime to the nanosecond,
//! `user.*` xattrs (on files and directories, the only places Linux allows
//! them), symlinks, FIFOs and sockets, and hard links (an inode reached
//! under two names is written once and linked). A directory reached twice
//! (possible in the durable tree after directory renames) is written at each
//! place; an entry that would lead back into a directory on the current path
//! is skipped, so a cycle cannot recurse forever.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};
use rustix::process::{Gid, Uid};

use crate::model::{Body, DurableTree, Ino, Kind, Meta, Model, ROOT, Version, Xattrs};

/// What writing an image produced.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Written {
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) bytes: u64,
}

/// Adds the path and the step to an error, for the person reading a failed
/// test.
fn ctx(what: &str, path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} {}", path.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

fn timespec(t: SystemTime) -> Timespec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos().into(),
        },
        Err(before) => {
            let d = before.duration();
            let (mut sec, mut nsec) = (-(d.as_secs() as i64), -i64::from(d.subsec_nanos()));
            if nsec < 0 {
                sec -= 1;
                nsec += 1_000_000_000;
            }
            Timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            }
        }
    }
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    let base = if sec >= 0 {
        UNIX_EPOCH + Duration::from_secs(sec as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs())
    };
    base + Duration::from_nanos(nsec.clamp(0, 999_999_999) as u64)
}

/// Writes `tree` as a directory tree at `image`, which must not exist or
/// be empty.
pub(crate) fn write(tree: &DurableTree, image: &Path) -> io::Result<Written> {
    match fs::read_dir(image) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("image directory {} is not empty", image.display()),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(image).map_err(ctx("create", image))?
        }
        Err(e) => return Err(ctx("read", image)(e)),
    }
    let mut w = Writer {
        tree,
        first_name: HashMap::new(),
        on_path: Vec::new(),
        written: Written::default(),
    };
    w.dir(ROOT, image)?;
    Ok(w.written)
}

struct Writer<'a> {
    tree: &'a DurableTree,
    /// Where each non-directory inode was first written, for hard links.
    first_name: HashMap<Ino, PathBuf>,
    /// Directories being written, outermost first: the cycle guard.
    on_path: Vec<Ino>,
    written: Written,
}

impl Writer<'_> {
    fn dir(&mut self, ino: Ino, path: &Path) -> io::Result<()> {
        let v = &self.tree.nodes[&ino];
        let Body::Dir(entries) = &v.body else {
            unreachable!("dir() is only called on directories");
        };
        self.on_path.push(ino);
        for (name, &child) in entries {
            let cv = &self.tree.nodes[&child];
            let cpath = path.join(name);
            if let Body::Dir(_) = cv.body {
                if self.on_path.contains(&child) {
                    continue;
                }
                fs::create_dir(&cpath).map_err(ctx("mkdir", &cpath))?;
                self.written.dirs += 1;
                self.dir(child, &cpath)?;
            } else if let Some(first) = self.first_name.get(&child) {
                fs::hard_link(first, &cpath).map_err(ctx("link", &cpath))?;
                if cv.body.kind() == Kind::File {
                    self.written.files += 1;
                }
            } else {
                self.leaf(cv, &cpath)?;
                self.first_name.insert(child, cpath);
            }
        }
        self.on_path.pop();
        finish(v, path)
    }

    fn leaf(&mut self, v: &Version, path: &Path) -> io::Result<()> {
        match &v.body {
            Body::File(data) => {
                fs::write(path, data).map_err(ctx("write", path))?;
                self.written.files += 1;
                self.written.bytes += data.len() as u64;
            }
            Body::Symlink(target) => symlink(target, path).map_err(ctx("symlink", path))?,
            Body::Special(kind) => {
                let ft = match kind {
                    Kind::Fifo => FileType::Fifo,
                    Kind::Socket => FileType::Socket,
                    Kind::CharDevice => FileType::CharacterDevice,
                    _ => FileType::BlockDevice,
                };
                let dev = rustix::fs::Dev::from(v.meta.rdev);
                rustix::fs::mknodat(CWD, path, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| ctx("mknod", path)(e.into()))?;
            }
            Body::Dir(_) => unreachable!("directories are written by dir()"),
        }
        finish(v, path)
    }
}

/// Applies xattrs, owner, mode and times, in the order that keeps each
/// (chown clears setuid bits, so chmod follows it; writing children changes
/// a directory's mtime, so times come last).
fn finish(v: &Version, path: &Path) -> io::Result<()> {
    let kind = v.body.kind();
    if matches!(kind, Kind::File | Kind::Dir) {
        for (name, value) in &v.xattrs {
            if name.as_encoded_bytes().starts_with(b"user.") {
                rustix::fs::lsetxattr(
                    path,
                    name.as_os_str(),
                    value,
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| {
                    ctx(&format!("setxattr {}", name.to_string_lossy()), path)(e.into())
                })?;
            }
        }
    }
    let owner = (
        Some(Uid::from_raw(v.meta.uid)),
        Some(Gid::from_raw(v.meta.gid)),
    );
    match rustix::fs::chownat(CWD, path, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW) {
        // Only root can give files away; an image written by another user
        // keeps that user's ownership.
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(ctx("chown", path)(e.into())),
    }
    if kind != Kind::Symlink {
        rustix::fs::chmodat(
            CWD,
            path,
            Mode::from_raw_mode(v.meta.perm.into()),
            AtFlags::empty(),
        )
        .map_err(|e| ctx("chmod", path)(e.into()))?;
    }
    let times = Timestamps {
        last_access: timespec(v.meta.atime),
        last_modification: timespec(v.meta.mtime),
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| ctx("utimensat", path)(e.into()))
}

/// Reads the directory tree at `image` into a model where everything is
/// durable.
pub(crate) fn load(image: &Path) -> io::Result<Model> {
    let md = fs::symlink_metadata(image).map_err(ctx("stat", image))?;
    if !md.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("image {} is not a directory", image.display()),
        ));
    }
    let mut model = Model::new(meta(&md), user_xattrs(image)?);
    let mut seen = HashMap::new();
    load_dir(&mut model, ROOT, image, &mut seen)?;
    model.sync_all();
    Ok(model)
}

fn meta(md: &fs::Metadata) -> Meta {
    Meta {
        perm: (md.mode() & 0o7777) as u16,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        atime: system_time(md.atime(), md.atime_nsec()),
        mtime: system_time(md.mtime(), md.mtime_nsec()),
        ctime: system_time(md.ctime(), md.ctime_nsec()),
    }
}

fn user_xattrs(path: &Path) -> io::Result<Xattrs> {
    let list_err = |e: rustix::io::Errno| ctx("listxattr", path)(e.into());
    let mut names = vec![0u8; rustix::fs::llistxattr_query(path).map_err(list_err)?];
    let n = rustix::fs::llistxattr(path, &mut names[..]).map_err(list_err)?;
    let mut out = Xattrs::new();
    for name in names[..n]
        .split(|&b| b == 0)
        .filter(|n| n.starts_with(b"user."))
    {
        let name = OsStr::from_bytes(name);
        let get_err = |e: rustix::io::Errno| {
            ctx(&format!("getxattr {}", name.to_string_lossy()), path)(e.into())
        };
        let mut value = vec![0u8; rustix::fs::lgetxattr_query(path, name).map_err(get_err)?];
        let len = rustix::fs::lgetxattr(path, name, &mut value[..]).map_err(get_err)?;
        value.truncate(len);
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

fn load_dir(
    model: &mut Model,
    dir: Ino,
    path: &Path,
    seen: &mut HashMap<(u64, u64), Ino>,
) -> io::Result<()> {
    let mut entries = fs::read_dir(path)
        .map_err(ctx("read", path))?
        .collect::<io::Result<Vec<_>>>()
        .map_err(ctx("read", path))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let cpath = entry.path();
        let md = fs::symlink_metadata(&cpath).map_err(ctx("stat", &cpath))?;
        let key = (md.dev(), md.ino());
        let bad = |e: rustix::io::Errno| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", cpath.display()),
            )
        };
        if let Some(&ino) = seen.get(&key).filter(|_| !md.is_dir()) {
            model.load_link(ino, dir, &name).map_err(bad)?;
            continue;
        }
        let ft = md.file_type();
        let body = if ft.is_dir() {
            Body::Dir(Default::default())
        } else if ft.is_file() {
            Body::File(fs::read(&cpath).map_err(ctx("read", &cpath))?)
        } else if ft.is_symlink() {
            Body::Symlink(
                fs::read_link(&cpath)
                    .map_err(ctx("readlink", &cpath))?
                    .into_os_string(),
            )
        } else {
            Body::Special(if ft.is_fifo() {
                Kind::Fifo
            } else if ft.is_socket() {
                Kind::Socket
            } else if ft.is_char_device() {
                Kind::CharDevice
            } else {
                Kind::BlockDevice
            })
        };
        let xattrs = if ft.is_dir() || ft.is_file() {
            user_xattrs(&cpath)?
        } else {
            Xattrs::new()
        };
        let is_dir = ft.is_dir();
        let ino = model
            .load(
                dir,
                &name,
                Version {
                    meta: meta(&md),
                    body,
                    xattrs,
                },
            )
            .map_err(bad)?;
        if is_dir {
            load_dir(model, ino, &cpath, seen)?;
        } else {
            seen.insert(key, ino);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;
    use crate::model::{Owner, RenameMode};

    const ME: Owner = Owner { uid: 0, gid: 0 };

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Durable state can hold a directory under two names, and even a
    /// cycle, when directory renames were synced on one side only.
    #[test]
    fn directories_reached_twice_and_cycles_are_written_finitely() {
        let os = OsStr::new;
        let mut m = Model::new(Meta::new(0o755, 0, 0, SystemTime::now()), Xattrs::new());
        let a = m.mkdir(ROOT, os("a"), 0o755, ME).unwrap().ino;
        let b = m.mkdir(ROOT, os("b"), 0o755, ME).unwrap().ino;
        m.sync_all();
        m.rename(ROOT, os("a"), b, os("a"), RenameMode::Replace)
            .unwrap();
        m.fsync(b, false).unwrap(); // durable: b holds a; root still holds a
        m.rename(b, os("a"), ROOT, os("a"), RenameMode::Replace)
            .unwrap();
        m.rename(ROOT, os("b"), a, os("b"), RenameMode::Replace)
            .unwrap();
        m.fsync(a, false).unwrap(); // durable: a holds b too
        let out = tempfile::tempdir().unwrap();
        let image = out.path().join("image");
        let w = write(&m.durable_tree(), &image).unwrap();
        assert_eq!(names(&image), ["a", "b"]);
        assert_eq!(names(&image.join("a")), ["b"]);
        assert_eq!(names(&image.join("b")), ["a"]);
        assert!(
            names(&image.join("a/b")).is_empty(),
            "the cycle back to a is cut"
        );
        assert_eq!(w.dirs, 4);
    }

    #[test]
    fn an_image_must_be_new_or_empty() {
        let m = Model::new(Meta::new(0o755, 0, 0, SystemTime::now()), Xattrs::new());
        let out = tempfile::tempdir().unwrap();
        fs::write(out.path().join("x"), b"").unwrap();
        let err = write(&m.durable_tree(), out.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }
}
