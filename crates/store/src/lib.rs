//! The object store on disk: keys, durable write-once publish, reads,
//! listings and digests. Knows nothing of HTTP.
//!
//! Every object is a plain file at `<root>/<key>`; its SHA-256 lives in the
//! `user.putfs.sha256` xattr. The only other things putfs ever puts under the
//! root are `.putfs-tmp.*` files of uploads in flight and the `.putfs/`
//! folder; no key can name either.

pub mod attrs;
mod buckets;
mod cleanup;
mod condition;
mod delete;
pub mod digest;
mod dirsync;
mod durable;
mod error;
mod existing;
mod fault;
mod file_id;
/// fd-relative primitives beneath a data root (`openat2(RESOLVE_BENEATH)`):
/// also the safe way for tools (`putfs ops`) to touch a live data root.
pub mod fsops;
pub mod heartbeat;
pub mod identity;
mod internal;
pub mod key;
mod keylock;
mod list;
/// The writer's lock (`.putfs/lock`): held by a writable server, and by
/// tools changing a root behind its back; probed by tools that ask.
pub mod lock;
mod meta;
mod open;
pub mod policy;
mod probe;
mod read;
mod root;
mod sink;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use rustix::fd::OwnedFd;
use rustix::fs::{Access, AtFlags, StatVfsMountFlags};

pub use buckets::TopDir;
pub use condition::Condition;
pub use digest::{Algo, Expected};
pub use error::{Result, StoreError};
pub use fault::switched_on as fault_switched_on;
pub use file_id::FileId;
pub use fsops::system_time;
pub use key::{
    Key, KeyError, KeyLimits, Prefix, RESERVED_PREFIX, TEMP_PREFIX, Target, addressable_name,
};
pub use list::{Entry, ListOptions, Listing};
pub use lock::{Holder, LOCK_FILE};
pub use meta::ObjectMeta;
pub use open::OpenError;
pub use policy::{KeyMatcher, OnExisting, Policy};
pub use read::{Object, hash_file};
pub use sink::{Compare, Sink};
pub use write::{IfExists, PutOutcome, Upload};

/// How a store behaves, from the configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub root: PathBuf,
    pub fsync: bool,
    pub read_only: bool,
    pub limits: KeyLimits,
    pub policy: Policy,
    /// Make an existing directory without putfs's marker a new data root.
    pub init: bool,
    /// Create the root if it does not exist (a writable server's start on a
    /// fresh path). Tools opening another node's root say no: a root that
    /// is missing there is a filesystem that is not mounted.
    pub create_root: bool,
}

/// What the store reports as it works; a front end turns it into metrics.
/// Every method does nothing unless implemented.
pub trait Observer: Send + Sync {
    /// One fsync took this long.
    fn fsync(&self, _seconds: f64) {}
    /// An object was published.
    fn written(&self) {}
    /// An object was deleted.
    fn deleted(&self) {}
}

/// Reports nothing: for tools and tests.
pub struct Unobserved;

impl Observer for Unobserved {}

/// Free space on the data root's filesystem.
#[derive(Debug, Clone, Copy)]
pub struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub free_inodes: u64,
}

pub struct Store {
    config: StoreConfig,
    observer: Arc<dyn Observer>,
    /// Random per process run; names this run's temp files.
    boot_id: String,
    temp_counter: AtomicU64,
    /// Cleared once the filesystem refuses `renameat2(RENAME_NOREPLACE)`.
    use_rename: AtomicBool,
    root_dir: root::RootDir,
    dir_syncer: dirsync::DirSyncer,
    /// Which directory entries are known durable (see `durable.rs`).
    dirs: durable::DirEntries,
    /// Serialises the check and the change of conditional writes per key.
    key_locks: keylock::KeyLocks,
    faults: fault::Faults,
    /// A writable store's exclusive lock on its root, held while it lives.
    _writer_lock: Option<std::fs::File>,
}

impl Store {
    /// Open the data root: create and mark it if it does not exist (and
    /// `create_root`), refuse an unmarked directory (unless `init`), take
    /// the writer's lock and check that the root can be written (see
    /// `open.rs`, `lock.rs`, `probe.rs`). A read-only store needs only the
    /// directory.
    pub fn open(config: StoreConfig, observer: Arc<dyn Observer>) -> Result<Store, OpenError> {
        Store::open_as(config, observer, None)
    }

    /// As [`Store::open`], for a tool that changes a root: `what` is what
    /// the writer's lock tells whoever meets it ("putfs ops …").
    pub fn open_as(
        config: StoreConfig,
        observer: Arc<dyn Observer>,
        what: Option<&str>,
    ) -> Result<Store, OpenError> {
        let c = &config;
        open::prepare(&c.root, c.read_only, c.init, c.create_root)?;
        let writer_lock = if config.read_only {
            None
        } else {
            let lock = lock::acquire(&config.root, what, lock::WAIT)
                .map_err(|e| open::lock_error(&config.root, e))?;
            // Under the lock: no other writer's start-up cleanup can
            // remove the probe's files meanwhile.
            probe::check(&config.root, config.fsync)
                .map_err(|u| OpenError::unwritable(&config.root, u))?;
            Some(lock)
        };
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| OpenError::Io {
            what: "cannot draw a random id for",
            path: config.root.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Store {
            root_dir: root::RootDir::new(&config.root, !config.read_only),
            dir_syncer: dirsync::DirSyncer::default(),
            dirs: durable::DirEntries::default(),
            key_locks: keylock::KeyLocks::default(),
            faults: fault::Faults::from_env(),
            _writer_lock: writer_lock,
            config,
            observer,
            boot_id: hex::encode(id),
            temp_counter: AtomicU64::new(0),
            use_rename: AtomicBool::new(true),
        })
    }

    pub fn root_path(&self) -> &Path {
        &self.config.root
    }

    /// Whether writes are fsynced (`--fsync always`).
    pub fn fsyncs(&self) -> bool {
        self.config.fsync
    }

    pub fn read_only(&self) -> bool {
        self.config.read_only
    }

    pub fn limits(&self) -> KeyLimits {
        self.config.limits
    }

    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    /// The data root's directory fd (see `root.rs`).
    fn root(&self) -> Result<Arc<OwnedFd>> {
        self.root_dir.get()
    }

    /// Why the data root cannot serve, if it cannot.
    pub fn check_ready(&self) -> std::result::Result<(), String> {
        if !self.config.read_only {
            self.root().map_err(|e| e.to_string())?;
        }
        let root = self.root_dir.open_fresh().map_err(|e| e.to_string())?;
        let vfs = rustix::fs::fstatvfs(&root).map_err(|e| format!("statvfs: {e}"))?;
        if !self.config.read_only {
            if vfs.f_flag.contains(StatVfsMountFlags::RDONLY) {
                return Err("the data root is on a read-only filesystem".into());
            }
            rustix::fs::accessat(&root, ".", Access::WRITE_OK, AtFlags::empty())
                .map_err(|e| format!("the data root is not writable: {e}"))?;
        }
        Ok(())
    }

    /// Free bytes and inodes of the data root's filesystem.
    pub fn space(&self) -> Result<Space> {
        let vfs = rustix::fs::statvfs(&self.config.root)?;
        Ok(Space {
            free_bytes: vfs.f_bavail.saturating_mul(vfs.f_frsize),
            total_bytes: vfs.f_blocks.saturating_mul(vfs.f_frsize),
            free_inodes: vfs.f_favail,
        })
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub fn temp_store() -> (tempfile::TempDir, std::sync::Arc<Store>) {
        temp_store_with(false)
    }

    pub fn temp_store_with(fsync: bool) -> (tempfile::TempDir, std::sync::Arc<Store>) {
        let t = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            root: t.path().to_owned(),
            fsync,
            read_only: false,
            limits: KeyLimits::default(),
            policy: Policy::default(),
            init: true,
            create_root: true,
        };
        let store = Store::open(cfg, Arc::new(Unobserved)).unwrap();
        (t, std::sync::Arc::new(store))
    }
}
