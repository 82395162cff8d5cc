//! Opening objects for reading.

use std::fs::File;
use std::io::{Read, Seek};

use rustix::fd::AsFd;
use rustix::io::Errno;

use super::Store;
use super::digest::{self, Digests, Expected};
use super::error::{Result, StoreError};
use super::file_id::FileId;
use super::fsops;
use super::key::Key;
use super::meta::ObjectMeta;

/// An open object: the file and what headers need to know about it.
#[derive(Debug)]
pub struct Object {
    pub file: File,
    pub meta: ObjectMeta,
    /// Which file this is (see [`FileId`]), as it was when opened.
    pub id: FileId,
    /// A SHA-256 computed by reading the file (no valid xattr).
    computed_sha256: Option<[u8; 32]>,
}

impl Store {
    /// Open the object `key`. A directory is `IsDirectory` and a file in a
    /// parent position `ParentNotDir`; readers treat both as not found
    /// (`StoreError::for_read`).
    pub fn open_object(&self, key: &Key) -> Result<Object> {
        let root = self.root()?;
        let fd = fsops::open_read(root.as_fd(), key.as_str()).map_err(|e| match e {
            Errno::NOTDIR => StoreError::ParentNotDir,
            other => other.into(),
        })?;
        let st = rustix::fs::fstat(&fd).map_err(StoreError::from)?;
        if fsops::is_dir(&st) {
            return Err(StoreError::IsDirectory);
        }
        if !fsops::is_file(&st) {
            return Err(StoreError::NotFound);
        }
        let size = st.st_size as u64;
        let sha256 = fsops::read_digest(fd.as_fd(), size, fsops::mtime_ns(&st));
        Ok(Object {
            file: File::from(fd),
            meta: ObjectMeta::from_stat(&st, sha256),
            id: FileId::from_stat(&st),
            computed_sha256: None,
        })
    }

    /// The object's metadata if it exists, `None` if it does not.
    pub fn lookup(&self, key: &Key) -> Result<Option<Object>> {
        match self.open_object(key) {
            Ok(o) => Ok(Some(o)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Object {
    /// The whole content (for small objects).
    pub fn read_all(&mut self) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.meta.size as usize);
        self.file
            .read_to_end(&mut buf)
            .map_err(StoreError::from_io)?;
        Ok(buf)
    }

    /// The whole content if the page cache already holds all of it, read
    /// without ever blocking on the disk (`preadv2(RWF_NOWAIT)`); `None` means
    /// "go read it on a blocking thread". This lets small cached objects be
    /// served without a thread hand-off, which dominated small-GET latency.
    pub fn read_cached(&self) -> Option<Vec<u8>> {
        let size = usize::try_from(self.meta.size).ok()?;
        let mut buf = vec![0u8; size];
        let mut done = 0;
        while done < size {
            let mut iov = [std::io::IoSliceMut::new(&mut buf[done..])];
            match rustix::io::preadv2(
                &self.file,
                &mut iov,
                done as u64,
                rustix::io::ReadWriteFlags::NOWAIT,
            ) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(_) => return None,
            }
        }
        buf.truncate(done);
        Some(buf)
    }

    /// The digests `expected` asks about, reading the file only when the
    /// stored SHA-256 is not enough. Reads from the start whatever was read
    /// before, and remembers a SHA-256 it had to compute (without letting it
    /// change the object's ETag, which must stay what a GET answers).
    pub fn digests(&mut self, expected: &[Expected]) -> Result<Digests> {
        let only_sha256 = expected.iter().all(|e| e.algo == digest::Algo::Sha256);
        if let (true, Some(sha256)) = (only_sha256, self.meta.sha256.or(self.computed_sha256)) {
            return Ok(Digests::from_sha256(sha256));
        }
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .map_err(StoreError::from_io)?;
        let d = digest::hash_reader(&mut self.file, expected).map_err(StoreError::from_io)?;
        self.computed_sha256 = Some(d.sha256);
        Ok(d)
    }
}

impl StoreError {
    /// For a reader, a directory or a file in a parent position is simply
    /// not an object.
    pub fn for_read(self) -> StoreError {
        match self {
            StoreError::IsDirectory | StoreError::ParentNotDir => StoreError::NotFound,
            other => other,
        }
    }
}

/// The SHA-256 of a file's content, read in full (never taken from the
/// xattr: tools that compare trees must see bytes changed in place too).
pub fn hash_file(path: &std::path::Path) -> std::io::Result<[u8; 32]> {
    Ok(digest::hash_reader(File::open(path)?, &[])?.sha256)
}
