//! Replication support, whatever tool copies the data: the primary stamps
//! writes with positions and writes a heartbeat under `.putfs/` (its
//! format: `store::heartbeat`); a read-only node reads the replicated copy
//! to know its lag and position, measures how late objects arrive, and can
//! report itself not ready when it falls too far behind. A replica that
//! knows its primary also asks it for its write count, to tell its lag in
//! writes.

pub mod arrivals;
pub mod position;
pub mod primary;
pub mod replica;
pub mod watch;
pub mod writer;
