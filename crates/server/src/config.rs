//! The resolved configuration of `putfs serve`: what the command line
//! (the `putfs` binary) hands the server.

use std::time::Duration;

use putfs_store::StoreConfig;

pub use crate::limits::Limits;

/// Everything the HTTP layer needs beyond the store.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_list_keys: Option<u64>,
    pub write_token: Option<String>,
    pub read_token: Option<String>,
    pub body_timeout: Duration,
    pub access_log: bool,
    /// `--read-cache`: bytes of small objects kept in memory; 0 is off.
    pub read_cache_bytes: u64,
    /// `--position-cookie`: positions also travel in the `putfs_pos` cookie.
    pub position_cookie: bool,
    pub forward_writes_to: Option<url::Url>,
    /// Shared with the primary and the other replicas: signs forwarded
    /// writes (a replica) and checks them (a primary).
    pub forward_secret: Option<crate::forward_secret::ForwardSecret>,
    /// Largest body a signing replica spools to learn its digest.
    pub max_forward_spool_bytes: u64,
}

/// Heartbeat and lag settings.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// Primary only; `None` when off.
    pub heartbeat_interval: Option<Duration>,
    pub max_lag: Option<Duration>,
    pub poll: Duration,
    pub node_name: Option<String>,
    /// Read-only node: the primary to ask for its write count (lag in
    /// writes), every `primary_poll`.
    pub primary_url: Option<url::Url>,
    pub primary_poll: Duration,
}

/// The resolved configuration of `putfs serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub replication: ReplicationConfig,
    /// `HOST:PORT`: a host name is resolved when the server starts.
    pub listen: String,
    pub store: StoreConfig,
    pub http: HttpConfig,
    pub limits: Limits,
    pub shutdown_timeout: Duration,
    pub log: String,
    /// The S3 listener, when `--s3-listen` is given.
    pub s3: Option<S3Config>,
}

/// `--s3-*` settings.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `HOST:PORT`.
    pub listen: String,
    pub keys: std::path::PathBuf,
    pub region: String,
    /// Virtual-hosted style: `BUCKET.DOMAIN` names a bucket.
    pub domain: Option<String>,
    /// Multipart uploads begun longer ago are removed.
    pub upload_expiry: Duration,
}
