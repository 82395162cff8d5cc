//! Replication support, whatever tool copies the data: the primary writes a
//! heartbeat under `.putfs/` (its format: `store::heartbeat`); a read-only
//! node reads the replicated copy to
//! know its lag, measures how late objects arrive, and can report itself not
//! ready when it falls too far behind.

pub mod arrivals;
pub mod replica;
pub mod watch;
pub mod writer;
