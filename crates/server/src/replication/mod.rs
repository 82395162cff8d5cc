//! Replication support, whatever tool copies the data: the primary stamps
//! writes with positions and writes a heartbeat under `.putfs/` (its
//! format: `store::heartbeat`); a read-only node reads the replicated copy
//! to know its lag and position, measures how late objects arrive, and can
//! report itself not ready when it falls too far behind. A replica that
//! knows its primary also asks it for its write count, to tell its lag in
//! writes.

pub mod arrivals;
pub mod inotify_watch;
pub mod position;
pub mod primary;
pub mod replica;
pub mod watch;
pub mod writer;

use crate::store::Store;
use crate::store::heartbeat::{self, Heartbeat};

/// The heartbeat under the root, parsed; `Err` says why it cannot be read.
pub fn read_heartbeat(store: &Store) -> Result<Option<Heartbeat>, String> {
    match store.read_internal(heartbeat::FILE) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("unreadable heartbeat: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}
