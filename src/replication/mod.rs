//! Replication support: the heartbeat that measures lag whatever tool
//! copies the data.

pub mod heartbeat;
