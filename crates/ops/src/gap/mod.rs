//! The gap: what the live tree of the old primary holds that its snapshot
//! does not (objects written after the last replicated snapshot), what it
//! no longer holds (deleted since), and keys whose bytes differ (conflicts).
//!
//! Exact, unlike the runbook's `find -newer`: an object whose mtime was set
//! into the past is still new to the snapshot, and a key is classified by
//! what each tree holds there at the end, whatever happened in between
//! (deleted and re-created, renamed over). Two ways to get there:
//! - `walk`: compare the two trees directory by directory (works on any
//!   filesystem, including zfs-fuse clones and `--snapshot-dir` copies);
//! - `zfs_diff`: let OpenZFS list the changed objects (`zfs diff`), which
//!   costs time in proportion to the changes, not to the dataset, and
//!   compare the paths it names in both trees (`pair`).

mod pair;
pub mod walk;
pub mod zfs_diff;

use std::path::Path;

/// How two trees are compared (`walk`, `pair`).
#[derive(Clone, Copy, Default)]
pub struct WalkOptions<'p> {
    /// Compare content even when the metadata says the files are the same.
    pub verify_content: bool,
    /// Called for every entry compared (progress).
    pub on_entry: Option<&'p dyn Fn()>,
    /// When the snapshot was taken (its `creation`, seconds since the
    /// epoch), where known: metadata proves a file untouched only for a
    /// ctime well before it (`pair::settled`).
    pub snapshot_time: Option<i64>,
}

use serde::Serialize;

use crate::store::hash_file;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// On the live tree only: written after the snapshot.
    Gap,
    /// In the snapshot only: deleted since.
    Deleted,
    /// On both, with different bytes.
    Conflict,
}

/// One difference between the live tree and the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub change: Kind,
    pub key: String,
    /// Of the live file (of the snapshot's for `Deleted`).
    pub size: u64,
    pub mtime_ns: i128,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For conflicts: the snapshot's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_sha256: Option<String>,
}

impl Change {
    /// A change for the file described by `meta`, digests not yet known.
    pub fn of_file(change: Kind, key: String, meta: &std::fs::Metadata) -> Change {
        use std::os::unix::fs::MetadataExt;
        Change {
            change,
            key,
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            sha256: None,
            snapshot_sha256: None,
        }
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub gap: u64,
    pub gap_bytes: u64,
    pub deleted: u64,
    pub conflicts: u64,
    /// Entries compared (both sides), for progress.
    #[serde(skip)]
    pub compared: u64,
    /// Names no key can address (non-UTF-8, control characters), skipped.
    pub skipped: u64,
}

impl Summary {
    pub fn count(&mut self, c: &Change) {
        match c.change {
            Kind::Gap => {
                self.gap += 1;
                self.gap_bytes += c.size;
            }
            Kind::Deleted => self.deleted += 1,
            Kind::Conflict => self.conflicts += 1,
        }
    }
}

pub use crate::store::addressable_name as addressable;

/// Fill in the SHA-256 of a change's file(s), read in full.
pub fn add_digests(c: &mut Change, live_root: &Path, snap_root: &Path) -> std::io::Result<()> {
    let hex_of = |root: &Path| hash_file(&root.join(&c.key)).map(hex::encode);
    match c.change {
        Kind::Gap => c.sha256 = Some(hex_of(live_root)?),
        Kind::Deleted => c.sha256 = Some(hex_of(snap_root)?),
        Kind::Conflict => {
            c.sha256 = Some(hex_of(live_root)?);
            c.snapshot_sha256 = Some(hex_of(snap_root)?);
        }
    }
    Ok(())
}
