//! The `putfs` command: command-line parsing and wiring. The object store
//! is `putfs-store` (crates/store), the HTTP server `putfs-server`
//! (crates/server); `ops` (the disaster-recovery runbook) is still here.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod ops;
pub use putfs_store as store;
