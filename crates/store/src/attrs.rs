//! Extended attributes a front end keeps with an object (the S3 listener's
//! ETag, content type and user metadata), under `user.putfs.`: written on
//! the temp file before it is fsynced and published, so they are as
//! durable as its bytes, and travel with it wherever xattrs do (`rsync -X`,
//! zfs send). They describe the bytes they were written with; readers
//! check that (a size and mtime inside the value) before trusting them.

use rustix::fd::AsFd;
use rustix::fs::XattrFlags;
use rustix::io::Errno;

use super::error::{Result, StoreError};
use super::read::Object;
use super::write::{AttrValue, Upload};

/// Every attribute name starts with this.
pub const ATTR_PREFIX: &str = "user.putfs.";

/// Largest attribute value kept (ext4 allows one block for all of a
/// file's attributes).
pub const MAX_ATTR_BYTES: usize = 2048;

fn check_name(name: &str) -> Result<()> {
    if name.starts_with(ATTR_PREFIX) && name != super::digest::XATTR {
        Ok(())
    } else {
        Err(StoreError::Io(std::io::Error::other(format!(
            "attribute {name} is not a front end's"
        ))))
    }
}

impl Upload {
    /// Record the value `make` returns (given the body's SHA-256) under
    /// `name` on the object when it is committed.
    pub fn attach(&mut self, name: &str, make: AttrValue) -> Result<()> {
        check_name(name)?;
        self.attached.push((name.to_owned(), make));
        Ok(())
    }

    /// Write the attached attributes on the temp file (before its fsync).
    pub(crate) fn write_attached(&mut self, sha256: &[u8; 32]) -> Result<()> {
        for (name, make) in std::mem::take(&mut self.attached) {
            let value = make(sha256);
            if value.len() > MAX_ATTR_BYTES {
                return Err(StoreError::Io(std::io::Error::other(format!(
                    "attribute {name} is {} bytes, more than {MAX_ATTR_BYTES}",
                    value.len()
                ))));
            }
            match rustix::fs::fsetxattr(
                self.file.as_fd(),
                name.as_str(),
                &value,
                XattrFlags::empty(),
            ) {
                Ok(()) => {}
                // Without user xattrs the object is still whole; readers
                // fall back to what they can compute.
                Err(Errno::NOTSUP) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Object {
    /// The attribute `name`, if the file has it.
    pub fn attr(&self, name: &str) -> Option<Vec<u8>> {
        check_name(name).ok()?;
        let mut buf = vec![0u8; MAX_ATTR_BYTES];
        let n = rustix::fs::fgetxattr(self.file.as_fd(), name, &mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    /// Record an attribute computed after the fact (a digest nobody asked
    /// for when the object was written). Best effort: a read-only node or
    /// a filesystem without xattrs just computes it again next time.
    pub fn remember_attr(&self, name: &str, value: &[u8]) {
        if check_name(name).is_ok() && value.len() <= MAX_ATTR_BYTES {
            let _ = rustix::fs::fsetxattr(self.file.as_fd(), name, value, XattrFlags::empty());
        }
    }
}
