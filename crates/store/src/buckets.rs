//! The root's top-level directories, which the S3 listener calls buckets:
//! list them, create one durably, remove an empty one.

use std::time::SystemTime;

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::addressable_name;

/// A top-level directory and when it was created (its ctime, the closest a
/// plain directory keeps).
#[derive(Debug, Clone)]
pub struct TopDir {
    pub name: String,
    pub created: SystemTime,
}

impl Store {
    /// The top-level directories a key can address, sorted by name.
    pub fn top_dirs(&self) -> Result<Vec<TopDir>> {
        let root = self.root()?;
        let mut dirs = Vec::new();
        let mut dir = rustix::fs::Dir::read_from(root.as_fd()).map_err(StoreError::from)?;
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(StoreError::from)?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." || !addressable_name(name) {
                continue;
            }
            let Ok(st) = fsops::stat_at(root.as_fd(), name) else {
                continue;
            };
            if !fsops::is_dir(&st) {
                continue;
            }
            let created = fsops::system_time(
                i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
            );
            dirs.push(TopDir {
                name: name.to_owned(),
                created,
            });
        }
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(dirs)
    }

    /// Whether `name` is a top-level directory.
    pub fn has_top_dir(&self, name: &str) -> Result<bool> {
        let root = self.root()?;
        match fsops::stat_at(root.as_fd(), name) {
            Ok(st) => Ok(fsops::is_dir(&st)),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Create the top-level directory `name` and make it durable (the root
    /// fsynced). `Exists` if it is there already.
    pub fn make_top_dir(&self, name: &str) -> Result<()> {
        if self.read_only() {
            return Err(StoreError::ReadOnly);
        }
        if !addressable_name(name) {
            return Err(StoreError::Escape);
        }
        let root = self.root()?;
        match rustix::fs::mkdirat(root.as_fd(), name, Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Err(StoreError::Exists),
            Err(e) => return Err(e.into()),
        }
        self.sync_dir(root.as_fd())
    }

    /// Remove the empty top-level directory `name`, durably. `Conflict` if
    /// it holds anything, `NotFound` if it is not there.
    pub fn remove_top_dir(&self, name: &str) -> Result<()> {
        if self.read_only() {
            return Err(StoreError::ReadOnly);
        }
        if !addressable_name(name) {
            return Err(StoreError::NotFound);
        }
        let root = self.root()?;
        match rustix::fs::unlinkat(root.as_fd(), name, AtFlags::REMOVEDIR) {
            Ok(()) => {}
            Err(Errno::NOENT | Errno::NOTDIR) => return Err(StoreError::NotFound),
            Err(Errno::NOTEMPTY | Errno::EXIST) => return Err(StoreError::Conflict),
            Err(e) => return Err(e.into()),
        }
        self.dirs.removed(name);
        self.sync_dir(root.as_fd())
    }
}
