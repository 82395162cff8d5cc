//! putfs: a plain-file, write-once HTTP object server.
//!
//! `store` is the object store on disk (no HTTP), `http` maps requests onto
//! it, `server` runs it, `metrics`, `config` and `limits` serve both.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod http;
pub mod limits;
mod logging;
pub mod metrics;
pub mod ops;
pub mod replication;
pub mod server;
pub use putfs_store as store;
