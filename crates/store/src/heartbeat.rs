//! The heartbeat: a small object the primary rewrites under `.putfs/` every
//! few seconds. It travels with the data through whatever replicates the
//! root (zrepl snapshots, rsync, rclone, DRBD), so a replica can tell how
//! far behind it is without knowing which tool copies its data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Its name in putfs's own folder, and its path under a data root.
pub const FILE: &str = "heartbeat";
pub const PATH: &str = ".putfs/heartbeat";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When the primary wrote it, in milliseconds since the epoch.
    pub unix_ms: u64,
    /// Increases by one per write since the primary started.
    pub seq: u64,
    /// The writing node (host name), for humans.
    pub node: String,
}

pub fn path(root: &Path) -> PathBuf {
    root.join(PATH)
}

impl Heartbeat {
    /// The replicated heartbeat under `root`, if there is a readable one.
    pub fn read(root: &Path) -> Option<Heartbeat> {
        let bytes = std::fs::read(path(root)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Seconds between the heartbeat and `now_ms` (never negative).
    pub fn age_seconds(&self, now_ms: u64) -> f64 {
        now_ms.saturating_sub(self.unix_ms) as f64 / 1000.0
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
