//! Streaming listings: a depth-first walk over directory fds.
//!
//! The walk holds one open directory per level (never a list of the tree),
//! reads entries in the filesystem's order and hands each to a visitor, so
//! memory stays bounded whatever the tree size. Subdirectories are opened
//! with `O_NOFOLLOW` relative to their parent's fd: symlinks are never
//! followed and nothing is resolved by path twice.

use std::ops::ControlFlow;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Dir, FileType, OFlags};
use rustix::io::Errno;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::{Prefix, addressable_name};

/// What to list. Depth follows upstream: `None` is unlimited, `n` lists files
/// up to `n` segments below the prefix (`1` = only its direct files).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    pub depth: Option<i64>,
    /// Also list the directories where the depth stops (trailing `/`).
    pub dirs: bool,
    /// Fill in size and mtime (one `fstatat` per entry).
    pub stat: bool,
}

/// One listed entry. `rel` is relative to the listed prefix; a directory's
/// ends in `/`.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub rel: &'a str,
    pub is_dir: bool,
    pub size: u64,
    pub mtime_ns: i128,
}

/// An opened listing: the prefix exists and is a directory.
pub struct Listing {
    dir: OwnedFd,
    /// Levels below the prefix worth descending: deeper entries cannot be
    /// keys (`--max-depth`), and the walk holds one fd per level.
    max_levels: i64,
}

impl Store {
    /// Open the directory of a listing prefix; `NotFound` if it is missing or
    /// not a directory.
    pub fn open_listing(&self, prefix: &Prefix) -> Result<Listing> {
        let root = self.root()?;
        let dir = fsops::open_dir(root.as_fd(), prefix.dir()).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => StoreError::NotFound,
            e => e.into(),
        })?;
        let prefix_depth = prefix.dir().split('/').filter(|s| !s.is_empty()).count();
        let max_levels = self.limits().max_depth.saturating_sub(prefix_depth) as i64;
        Ok(Listing { dir, max_levels })
    }
}

struct Level {
    dir: Dir,
    /// Path of this directory relative to the prefix, with trailing `/`.
    rel: String,
    depth: i64,
}

impl Listing {
    /// Walk the listing, calling `visit` for every entry until it breaks.
    /// Entries that vanish mid-walk are skipped; names no key can address
    /// (putfs's own, non-UTF-8, control characters) are never shown.
    pub fn walk(
        self,
        opts: ListOptions,
        visit: &mut dyn FnMut(&Entry<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut stack = vec![Level {
            dir: Dir::new(self.dir).map_err(StoreError::from)?,
            rel: String::new(),
            depth: 0,
        }];
        let mut rel = String::new();
        while let Some(top) = stack.last_mut() {
            let entry = match top.dir.read() {
                None => {
                    stack.pop();
                    continue;
                }
                Some(Err(Errno::NOENT)) => {
                    stack.pop();
                    continue;
                }
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(entry)) => entry,
            };
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." || !addressable_name(name) {
                continue;
            }
            let level = top.depth + 1;
            let mut file_type = entry.file_type();
            let mut stat = None;
            if file_type == FileType::Unknown || (opts.stat && file_type != FileType::Directory) {
                match fsops::stat_at(top.dir.fd().map_err(StoreError::from)?, name) {
                    Ok(st) => {
                        file_type = FileType::from_raw_mode(st.st_mode);
                        stat = Some(st);
                    }
                    Err(_) => continue,
                }
            }
            rel.clear();
            rel.push_str(&top.rel);
            rel.push_str(name);
            match file_type {
                FileType::RegularFile => {
                    let (size, mtime_ns) = stat
                        .as_ref()
                        .map_or((0, 0), |st| (st.st_size as u64, fsops::mtime_ns(st)));
                    let e = Entry {
                        rel: &rel,
                        is_dir: false,
                        size,
                        mtime_ns,
                    };
                    if visit(&e).is_break() {
                        return Ok(());
                    }
                }
                FileType::Directory => {
                    let descend = opts.depth.is_none_or(|d| level < d) && level < self.max_levels;
                    if descend {
                        let parent = top.dir.fd().map_err(StoreError::from)?;
                        let Ok(fd) = rustix::fs::openat(
                            parent,
                            name,
                            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            rustix::fs::Mode::empty(),
                        ) else {
                            continue;
                        };
                        rel.push('/');
                        stack.push(Level {
                            dir: Dir::new(fd).map_err(StoreError::from)?,
                            rel: rel.clone(),
                            depth: level,
                        });
                    } else if opts.dirs && opts.depth == Some(level) {
                        rel.push('/');
                        let (size, mtime_ns) = if opts.stat {
                            match fsops::stat_at(top.dir.fd().map_err(StoreError::from)?, name) {
                                Ok(st) => (st.st_size as u64, fsops::mtime_ns(&st)),
                                Err(_) => continue,
                            }
                        } else {
                            (0, 0)
                        };
                        let e = Entry {
                            rel: &rel,
                            is_dir: true,
                            size,
                            mtime_ns,
                        };
                        if visit(&e).is_break() {
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::temp_store;

    fn list(store: &Store, prefix: &str, opts: ListOptions) -> Vec<String> {
        let p = match crate::Target::parse(prefix, Default::default()).unwrap() {
            crate::Target::Listing(p) => p,
            _ => panic!("not a prefix"),
        };
        let mut out = Vec::new();
        store
            .open_listing(&p)
            .unwrap()
            .walk(opts, &mut |e| {
                out.push(e.rel.to_owned());
                ControlFlow::Continue(())
            })
            .unwrap();
        out.sort();
        out
    }

    #[test]
    fn depth_dirs_and_hidden_entries() {
        let (_t, store) = temp_store();
        let root = store.root_path().to_owned();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::create_dir_all(root.join(".putfs")).unwrap();
        for f in [
            "top",
            "a/one",
            "a/b/two",
            "a/b/c/three",
            "a/.putfs-tmp.x",
            ".putfs/hb",
        ] {
            std::fs::write(root.join(f), f).unwrap();
        }
        std::fs::write(root.join("a/bad\nname"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let all = list(&store, "", ListOptions::default());
        assert_eq!(all, ["a/b/c/three", "a/b/two", "a/one", "top"]);
        let one = list(
            &store,
            "",
            ListOptions {
                depth: Some(1),
                ..Default::default()
            },
        );
        assert_eq!(one, ["top"]);
        let two = list(
            &store,
            "",
            ListOptions {
                depth: Some(2),
                dirs: true,
                stat: false,
            },
        );
        assert_eq!(two, ["a/b/", "a/one", "top"]);
        let sub = list(&store, "a/b/", ListOptions::default());
        assert_eq!(sub, ["c/three", "two"]);
    }
}
