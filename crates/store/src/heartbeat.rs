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
    /// The highest write position the primary had handed out when it
    /// wrote this heartbeat (read before the file is written, so every
    /// write acknowledged with a position at or below it was durable
    /// before this heartbeat). A replica holding this heartbeat is at this
    /// position. Heartbeats from before positions existed read as 0.
    #[serde(default)]
    pub position: u64,
    /// How many writes that changed data (a PUT answered 201, a DELETE
    /// answered 204) the primary had acknowledged when it wrote this
    /// heartbeat, counted since the root's first primary: it continues
    /// across restarts and promotions from the count in the heartbeat under
    /// the root. Read before the file is written, like `position`, so a
    /// replica holding this heartbeat holds at least that many writes.
    /// Heartbeats from before the count existed read as 0.
    #[serde(default)]
    pub writes: u64,
}

/// Headers a writable node adds to `GET /.putfs/heartbeat` (whose body is
/// the heartbeat file it last wrote): its write count and position now.
/// Headers, not body fields, because copiers such as `replicate-rclone`
/// publish that body as a replica's heartbeat, which must hold only what
/// was true when the file was written.
pub const LIVE_WRITES_HEADER: &str = "putfs-live-writes";
pub const LIVE_POSITION_HEADER: &str = "putfs-live-position";

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

/// Microseconds since the epoch, now (0 before 1970: a clock that broken
/// still gets increasing positions, from the counter alone).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_heartbeat_without_a_position_or_count_reads_as_0() {
        let old = br#"{"unix_ms":1700000000000,"seq":3,"node":"p"}"#;
        let hb: Heartbeat = serde_json::from_slice(old).unwrap();
        assert_eq!(hb.position, 0);
        assert_eq!(hb.writes, 0);
        assert_eq!(hb.seq, 3);
    }
}
