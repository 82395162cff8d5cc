//! The names read-your-writes travels under (see `position`).

/// On write responses: the write's position.
pub const POSITION: &str = "putfs-position";
/// On reads: the position the reader needs.
pub const MIN_POSITION: &str = "putfs-min-position";
/// On a read-only node's 404 for a position it has not reached: its own.
pub const BEHIND: &str = "putfs-behind";
/// `--position-cookie`: the cookie that carries the last write's position.
pub const COOKIE: &str = "putfs_pos";
