//! A FUSE filesystem for tests that models what survives a power cut, under
//! rules as strict as POSIX allows.
//!
//! Mount it, run a workload on it (a server, a tool, plain syscalls), call
//! [`CrashFs::cut`] at any moment, and inspect the image it writes: a plain
//! directory holding only what a disk would still hold. Mount that image
//! again with [`CrashFs::mount_from`] to test recovery.
//!
//! # The model
//!
//! Each inode has a visible version (what processes see) and a durable one
//! (what survives a cut). Only syncs move state from one to the other:
//!
//! - A file's bytes (and size) are durable up to its last `fsync` or
//!   `fdatasync`. A full `fsync` also makes its mode, owner, times and xattrs
//!   durable; `fdatasync` does not.
//! - A directory's entries (create, mknod, mkdir, symlink, link, unlink,
//!   rmdir, rename with or without `RENAME_NOREPLACE`/`RENAME_EXCHANGE`) are
//!   durable only once that directory is fsynced after the change. A rename
//!   touches two directories: sync only the target and the file is found
//!   under both names after a cut. A new directory's own entry lives in its
//!   parent; its contents need a sync of the directory itself.
//! - A new inode starts durable with its creation mode, empty data and no
//!   xattrs.
//! - `sync(2)`/`syncfs(2)` never reach an ordinary FUSE daemon, so they
//!   promise nothing here. [`CrashFs::sync_all`] makes everything durable,
//!   for a test's baseline.
//!
//! # Serving
//!
//! The filesystem is served in-process by fuser's background session with
//! several threads, each on its own cloned `/dev/fuse` descriptor. All
//! requests share one lock over the model, and [`CrashFs::cut`] takes it too:
//! each request lands wholly before the cut or fails with EIO. The kernel
//! checks permissions (`default_permissions`), handles `flock` and POSIX
//! locks locally, and sees no writeback cache, so every `write` reaches the
//! model before it returns.
//!
//! # Mounting
//!
//! [`CrashFs::mount`] opens `/dev/fuse` and calls `mount(2)` itself: it needs
//! root (or `CAP_SYS_ADMIN`) and `/dev/fuse`, and no `fusermount3` or
//! libfuse. Unmounting (explicit or on drop) falls back to a forced lazy
//! unmount when the mount is busy, so a failing test leaves nothing mounted.
//!
//! ```no_run
//! let mnt = tempfile::tempdir()?;
//! let out = tempfile::tempdir()?;
//! let fs = crashfs::CrashFs::mount(mnt.path())?;
//! std::fs::write(mnt.path().join("f"), b"lost")?; // never fsynced
//! let report = fs.cut(&out.path().join("image"))?;
//! assert_eq!(report.files, 0);
//! fs.unmount()?;
//! # std::io::Result::Ok(())
//! ```

#![forbid(unsafe_code)]

mod fs;
mod image;
mod model;

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use fuser::{BackgroundSession, Config, Session, SessionACL};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::fs::{CrashFsAdapter, Inner, Shared, lock};
use crate::model::{Meta, Model, Xattrs};

/// Session threads reading `/dev/fuse`.
const THREADS: usize = 4;

/// Counts of requests the filesystem received (including those refused
/// after a cut), so a test can check that its workload exercised the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `create` and `mknod`.
    pub create: u64,
    pub mkdir: u64,
    pub symlink: u64,
    pub link: u64,
    pub unlink: u64,
    pub rmdir: u64,
    /// Plain renames (no flags).
    pub rename: u64,
    pub rename_noreplace: u64,
    pub rename_exchange: u64,
    pub open: u64,
    pub read: u64,
    pub write: u64,
    pub setattr: u64,
    /// Full `fsync` of a file.
    pub fsync: u64,
    pub fdatasync: u64,
    /// `fsync`/`fdatasync` of a directory.
    pub fsyncdir: u64,
    pub setxattr: u64,
    pub removexattr: u64,
    pub fallocate: u64,
    pub copy_file_range: u64,
    /// Requests answered EIO because they came after the cut.
    pub refused: u64,
}

/// What [`CrashFs::cut`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Names of regular files (a hard link counts once per name).
    pub files: u64,
    /// Directories, not counting the image's root.
    pub dirs: u64,
    /// File bytes written (once per inode).
    pub bytes: u64,
    /// Visible entries that the image does not hold (informational).
    pub lost_entries: u64,
}

/// A mounted crash-model filesystem, served on background threads.
pub struct CrashFs {
    shared: Shared,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl CrashFs {
    /// Mount an empty filesystem (root dir mode 0755) on `mountpoint` (an existing empty dir).
    pub fn mount(mountpoint: &Path) -> io::Result<CrashFs> {
        CrashFs::mount_typed(mountpoint, "crashfs")
    }

    /// Mount an empty filesystem whose type the kernel reports as
    /// `fuse.<subtype>` (in `/proc/self/mountinfo`): lets a test stand in
    /// for a filesystem that is judged by its type (e.g. `sshfs`).
    pub fn mount_typed(mountpoint: &Path, subtype: &str) -> io::Result<CrashFs> {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let root = Meta::new(0o755, uid, gid, SystemTime::now());
        CrashFs::start(mountpoint, Model::new(root, Xattrs::new()), subtype)
    }

    /// Mount with the contents of a plain directory loaded as fully durable
    /// (files, dirs, symlinks, modes, owners, times with ns, `user.*`
    /// xattrs, hard links); used to continue after a cut.
    pub fn mount_from(mountpoint: &Path, image: &Path) -> io::Result<CrashFs> {
        CrashFs::start(mountpoint, image::load(image)?, "crashfs")
    }

    fn start(mountpoint: &Path, model: Model, subtype: &str) -> io::Result<CrashFs> {
        let mountpoint = mountpoint.canonicalize().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("mountpoint {}: {e}", mountpoint.display()),
            )
        })?;
        let root_perm = model
            .getattr(model::ROOT)
            .map(|a| a.meta.perm)
            .unwrap_or(0o755);
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| io::Error::new(e.kind(), format!("open /dev/fuse: {e}")))?;
        let data = format!(
            "fd={},rootmode={:o},user_id={},group_id={},default_permissions,allow_other",
            dev.as_raw_fd(),
            0o040000 | u32::from(root_perm),
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        let data = CString::new(data).map_err(io::Error::other)?;
        rustix::mount::mount(
            subtype,
            &mountpoint,
            format!("fuse.{subtype}").as_str(),
            MountFlags::NOSUID | MountFlags::NODEV,
            Some(data.as_c_str()),
        )
        .map_err(|e| {
            let hint = if e == rustix::io::Errno::PERM {
                " (mounting needs root or CAP_SYS_ADMIN)"
            } else {
                ""
            };
            let msg = format!("mount fuse on {}: {e}{hint}", mountpoint.display());
            io::Error::new(io::Error::from(e).kind(), msg)
        })?;

        let shared: Shared = Arc::new(Mutex::new(Inner {
            model,
            frozen: false,
            stats: Stats::default(),
        }));
        let mut config = Config::default();
        config.n_threads = Some(THREADS);
        config.clone_fd = true;
        let adapter = CrashFsAdapter {
            shared: shared.clone(),
        };
        let session = Session::from_fd(adapter, OwnedFd::from(dev), SessionACL::All, config)
            .and_then(Session::spawn);
        match session {
            Ok(session) => Ok(CrashFs {
                shared,
                mountpoint,
                session: Some(session),
            }),
            Err(e) => {
                let _ =
                    rustix::mount::unmount(&mountpoint, UnmountFlags::FORCE | UnmountFlags::DETACH);
                Err(io::Error::new(e.kind(), format!("start FUSE session: {e}")))
            }
        }
    }

    /// Where the filesystem is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Power cut: atomically freeze (every later request except forget,
    /// release and releasedir answers EIO), then write only the durable
    /// state as a plain directory at `image` (created; must not exist or be
    /// empty).
    pub fn cut(&self, image: &Path) -> io::Result<CutReport> {
        let (tree, lost_entries) = {
            let mut inner = lock(&self.shared);
            inner.frozen = true;
            let tree = inner.model.durable_tree();
            let lost = inner.model.lost_entries(&tree);
            (tree, lost)
        };
        let w = image::write(&tree, image)?;
        Ok(CutReport {
            files: w.files,
            dirs: w.dirs,
            bytes: w.bytes,
            lost_entries,
        })
    }

    /// Make everything visible durable now (a baseline).
    pub fn sync_all(&self) {
        lock(&self.shared).model.sync_all();
    }

    /// Counters of requests seen so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats
    }

    /// Unmount and stop the session; also done on drop. A busy mount is
    /// force-detached instead (which also ends the session).
    pub fn unmount(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let mp = self.mountpoint.display();
        if let Err(busy) = rustix::mount::unmount(&self.mountpoint, UnmountFlags::empty()) {
            // MNT_FORCE makes FUSE abort the connection, which ends the
            // session threads; MNT_DETACH takes the mount away even while
            // files on it are open.
            match rustix::mount::unmount(
                &self.mountpoint,
                UnmountFlags::FORCE | UnmountFlags::DETACH,
            ) {
                Ok(()) => {}
                // Not mounted any more (unmounted from outside): the
                // session has ended or is ending.
                Err(rustix::io::Errno::INVAL) if busy == rustix::io::Errno::INVAL => {}
                Err(e) => {
                    // Joining would wait forever on a live session; leave
                    // its threads behind.
                    drop(session);
                    return Err(io::Error::other(format!(
                        "unmount {mp}: {busy}; forced lazy unmount: {e}"
                    )));
                }
            }
        }
        session
            .join()
            .map_err(|e| io::Error::new(e.kind(), format!("FUSE session on {mp}: {e}")))
    }
}

impl Drop for CrashFs {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("crashfs: {e}");
        }
    }
}
