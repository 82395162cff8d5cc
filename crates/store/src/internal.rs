//! putfs's own files under `<root>/.putfs/` (the heartbeat): written
//! atomically and durably like objects, but replaceable, and outside the
//! object namespace (no key can start with `.putfs`).

use std::io::Write;

use rustix::fd::AsFd;
use rustix::io::Errno;

use super::Store;
use super::error::{Result, StoreError};
use super::fsops;
use super::key::RESERVED_PREFIX;

impl Store {
    /// Replace `<root>/.putfs/<name>` with `bytes`: temp file, fsync, rename,
    /// fsync the folder (creating it, durably, the first time).
    pub fn write_internal(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if self.read_only() {
            return Err(StoreError::ReadOnly);
        }
        let root = self.root()?;
        let dir = match fsops::open_dir(root.as_fd(), RESERVED_PREFIX) {
            Ok(d) => d,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(
                    &*root,
                    RESERVED_PREFIX,
                    rustix::fs::Mode::from_raw_mode(0o755),
                ) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                self.sync_dir(root.as_fd())?;
                fsops::open_dir(root.as_fd(), RESERVED_PREFIX)?
            }
            Err(e) => return Err(e.into()),
        };
        let tmp = self.temp_name();
        let fd = fsops::create_exclusive(dir.as_fd(), &tmp)?;
        let mut file = std::fs::File::from(fd);
        let written = file
            .write_all(bytes)
            .map_err(StoreError::from_io)
            .and_then(|()| self.sync(file.as_fd()))
            .and_then(|()| {
                fsops::publish_replace(dir.as_fd(), &tmp, name).map_err(StoreError::from)
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&dir, &tmp, rustix::fs::AtFlags::empty());
        }
        written?;
        self.sync_dir(dir.as_fd())
    }

    /// The content of `<root>/.putfs/<name>`, if it exists.
    pub fn read_internal(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let root = self.root()?;
        match fsops::open_read(root.as_fd(), &format!("{RESERVED_PREFIX}/{name}")) {
            Ok(fd) => {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut buf)
                    .map_err(StoreError::from_io)?;
                Ok(Some(buf))
            }
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::temp_store;

    #[test]
    fn internal_files_are_replaced_and_hidden_from_listings() {
        let (_t, store) = temp_store();
        assert_eq!(store.read_internal("heartbeat").unwrap(), None);
        store.write_internal("heartbeat", b"one").unwrap();
        store.write_internal("heartbeat", b"two").unwrap();
        assert_eq!(store.read_internal("heartbeat").unwrap().unwrap(), b"two");
        let mut names: Vec<_> = std::fs::read_dir(store.root_path().join(".putfs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["heartbeat", "lock"], "no temp file left behind");
    }
}
