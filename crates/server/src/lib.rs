//! putfs's HTTP server: routing and handlers over the object store, auth,
//! limits, replication (heartbeat, lag, arrivals, write forwarding) and
//! Prometheus metrics.
//!
//! It owns everything that speaks HTTP or runs on the async runtime. It
//! must not know how objects are laid out on disk (that is `putfs-store`,
//! reached only through its API) nor anything of the disaster-recovery
//! runbook (`putfs-ops`), nor how the command line is parsed (the `putfs`
//! binary hands it a resolved [`config::ServeConfig`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod forward_secret;
pub mod http;
pub mod limits;
mod listen;
mod logging;
pub mod metrics;
pub mod replication;
mod run;
pub mod s3;

pub use run::run;

use putfs_store as store;
