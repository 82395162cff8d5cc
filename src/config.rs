//! `putfs serve` options: every flag with its `PUTFS_*` environment variable,
//! upstream PutFS's variables with upstream's meaning, and the checks that
//! turn them into a configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};

use putfs_server::config::{HttpConfig, ReplicationConfig, S3Config, ServeConfig};
use putfs_server::forward_secret::ForwardSecret;
use putfs_server::limits::{self, Limits};

use putfs_store::{KeyLimits, KeyMatcher, OnExisting, Policy, StoreConfig};

/// `--on-existing`: the store's policy for a PUT on an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExistingArg {
    /// Identical bytes → 204, different bytes → 409.
    Verify,
    /// Always 409.
    Strict,
    /// Always 204, without reading the body (upstream's default).
    Lenient,
}

impl From<OnExistingArg> for OnExisting {
    fn from(a: OnExistingArg) -> OnExisting {
        match a {
            OnExistingArg::Verify => OnExisting::Verify,
            OnExistingArg::Strict => OnExisting::Strict,
            OnExistingArg::Lenient => OnExisting::Lenient,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FsyncMode {
    /// fsync file and directories before acknowledging (durable).
    Always,
    /// Never fsync: a 201 does not survive a power cut (benchmarks only).
    Never,
}

/// Run the object server.
#[derive(Debug, Clone, Args)]
#[command(
    after_long_help = "Every flag can also be set by its environment variable. \
    Upstream PutFS's PUTFS_WORM_PATHS, PUTFS_WORM_GLOBS, PUTFS_WORM_STRICT and \
    PUTFS_WORM_ALLOW_DELETE keep upstream's meaning (see README)."
)]
pub struct ServeArgs {
    /// Data root: every object is a plain file under it.
    #[arg(long, env = "PUTFS_ROOT", default_value = "./data")]
    pub root: PathBuf,

    /// Address to listen on, HOST:PORT; port 0 picks a free port. A host
    /// name (`localhost:8000`) is resolved and putfs listens on the first of
    /// its addresses that binds, IPv4 ones first (one address, one port;
    /// `[::]:PORT` for every IPv6 and, where the system maps them, IPv4
    /// interface). The bound address is printed as
    /// `putfs listening on http://ADDR` once ready. Ignored when a service
    /// manager passes a listening socket (LISTEN_FDS).
    #[arg(
        long,
        env = "PUTFS_LISTEN",
        default_value = "127.0.0.1:8000",
        value_name = "HOST:PORT"
    )]
    pub listen: String,

    /// Make the --root directory a new data root although it exists without
    /// putfs's `.putfs/` folder. Without it a writable server refuses such a
    /// directory: it is most often the empty mountpoint of a dataset that is
    /// not mounted. (A root that does not exist is created and marked.)
    /// (Ignored by a read-only server, which never writes its root.)
    #[arg(long, env = "PUTFS_INIT")]
    pub init: bool,

    /// Replica mode: serve reads, refuse writes, create no temp files.
    #[arg(long, env = "PUTFS_READ_ONLY")]
    pub read_only: bool,

    /// With --read-only: proxy PUT and DELETE to this primary (http://host:port).
    #[arg(long, env = "PUTFS_FORWARD_WRITES_TO", requires = "read_only")]
    pub forward_writes_to: Option<url::Url>,

    /// Secret shared by the primary and its replicas (at least 32 bytes,
    /// mode 600; a trailing newline is ignored). A replica signs every write
    /// it forwards with it; the primary refuses (403) a write whose
    /// signature is wrong, stale (over 60 s) or replayed. A forwarded PUT
    /// without a sha-256 digest header is spooled to an unnamed temp file
    /// in the system temp dir ($TMPDIR, else /tmp), at most
    /// --max-forward-spool-bytes, to sign its digest, and is gone after.
    #[arg(long, env = "PUTFS_FORWARD_SECRET_FILE", value_name = "PATH")]
    pub forward_secret_file: Option<PathBuf>,

    /// Signing replica: largest body without a sha-256 digest header that it
    /// spools to sign (413 beyond; a body with the header is streamed).
    #[arg(long, env = "PUTFS_MAX_FORWARD_SPOOL_BYTES", default_value_t = 1 << 30)]
    pub max_forward_spool_bytes: u64,

    /// `never` gives up durability for speed (benchmarks only).
    #[arg(long, env = "PUTFS_FSYNC", value_enum, default_value = "always")]
    pub fsync: FsyncMode,

    /// PUT on an existing write-once key: verify (same bytes 204, different
    /// 409), strict (always 409) or lenient (always 204). Default: verify, or
    /// strict when PUTFS_WORM_STRICT=true.
    #[arg(long, env = "PUTFS_ON_EXISTING", value_enum)]
    pub on_existing: Option<OnExistingArg>,

    /// Key globs that may be replaced (atomic, last writer wins), comma-separated.
    /// `*` stays within a segment, `**` crosses segments.
    #[arg(long, env = "PUTFS_MUTABLE_GLOBS", value_delimiter = ',')]
    pub mutable: Vec<String>,

    /// Key globs that may not be deleted (403), comma-separated.
    #[arg(long, env = "PUTFS_RETAIN_GLOBS", value_delimiter = ',')]
    pub retain: Vec<String>,

    /// Content-addressed keys: regexes with a named group sha256, sha1 or
    /// sha512 holding the hex digest the body must have, comma-separated.
    #[arg(long, env = "PUTFS_CHECKSUM_PATHS", value_delimiter = ',')]
    pub checksum_paths: Vec<String>,

    /// Most segments in a key.
    #[arg(long, env = "PUTFS_MAX_PATH_DEPTH", default_value_t = 32)]
    pub max_depth: usize,

    /// Longest key, in bytes.
    #[arg(long, env = "PUTFS_MAX_KEY_BYTES", default_value_t = 1024)]
    pub max_key_bytes: usize,

    /// Abort listings longer than this many keys (0: no cap).
    #[arg(long, env = "PUTFS_MAX_LIST_KEYS", default_value_t = 0)]
    pub max_list_keys: u64,

    /// Require `Authorization: Bearer TOKEN` for PUT and DELETE.
    #[arg(long, env = "PUTFS_WRITE_TOKEN", hide_env_values = true)]
    pub write_token: Option<String>,

    /// Require `Authorization: Bearer TOKEN` for GET, HEAD and QUERY.
    #[arg(long, env = "PUTFS_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,

    /// Abort an upload that sends nothing for this long (408).
    #[arg(long, env = "PUTFS_BODY_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,

    /// On SIGTERM/SIGINT, how long in-flight requests may finish.
    #[arg(long, env = "PUTFS_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Close a connection that has no request in progress for this long:
    /// idle keep-alive, a client slow to send its request head, an idle
    /// HTTP/2 connection.
    #[arg(long, env = "PUTFS_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Most open client connections; beyond it a few more are accepted only
    /// to be answered 503, the rest wait in the listen backlog.
    #[arg(long, env = "PUTFS_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Most requests in flight (uploads included, /.putfs/ endpoints not);
    /// beyond it 503 with Retry-After.
    #[arg(long, env = "PUTFS_MAX_REQUESTS", default_value_t = 256)]
    pub max_requests: usize,

    /// Most PUT bodies being received at once; beyond it 503 with
    /// Retry-After, before the body is read.
    #[arg(long, env = "PUTFS_MAX_UPLOADS", default_value_t = 64)]
    pub max_uploads: usize,

    /// Threads for blocking file I/O; must exceed --max-requests (an upload
    /// holds one for its whole body).
    #[arg(long, env = "PUTFS_BLOCKING_THREADS", default_value_t = 512)]
    pub blocking_threads: usize,

    /// Primary: write the heartbeat (`.putfs/heartbeat`) this often; 0s
    /// turns it off. Replicas derive their lag from it.
    #[arg(long, env = "PUTFS_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// Read-only node: report not ready (/.putfs/ready 503) when the
    /// replicated heartbeat is older than this. Off by default.
    #[arg(long, env = "PUTFS_MAX_LAG", value_parser = humantime::parse_duration)]
    pub max_lag: Option<Duration>,

    /// Read-only node: re-read the replicated heartbeat this often (file
    /// notifications are used too, where the filesystem has them).
    #[arg(long, env = "PUTFS_HEARTBEAT_POLL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub heartbeat_poll: Duration,

    /// Read-only node: the primary (http://host:port) to ask for its write
    /// count, to export the lag in writes (putfs_replication_lag_writes).
    /// Default: --forward-writes-to.
    #[arg(
        long,
        env = "PUTFS_PRIMARY_URL",
        requires = "read_only",
        value_name = "URL"
    )]
    pub primary_url: Option<url::Url>,

    /// How often a read-only node asks --primary-url for its write count.
    #[arg(long, env = "PUTFS_PRIMARY_POLL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub primary_poll: Duration,

    /// Name written into the heartbeat (default: the host name).
    #[arg(long, env = "PUTFS_NODE_NAME")]
    pub node_name: Option<String>,

    /// Read-your-writes for browsers and clients that keep cookies: the
    /// primary sets `putfs_pos` to each write's position, and read-only
    /// nodes honour it as `PutFS-Min-Position`. Give it to every node.
    #[arg(long, env = "PUTFS_POSITION_COOKIE")]
    pub position_cookie: bool,

    /// Log one line per request (costs throughput).
    #[arg(long, env = "PUTFS_ACCESS_LOG")]
    pub access_log: bool,

    /// Bytes of small objects (up to 128 KiB each) kept in memory for reads;
    /// every read still checks the file on disk is the same one. 0 turns
    /// the cache off.
    #[arg(long, env = "PUTFS_READ_CACHE_BYTES", default_value_t = 64 << 20)]
    pub read_cache_bytes: u64,

    /// Also serve the S3 API on this address (HOST:PORT; port 0 picks a
    /// free one), on the same root; needs --s3-keys.
    #[arg(
        long,
        env = "PUTFS_S3_LISTEN",
        requires = "s3_keys",
        value_name = "ADDR"
    )]
    pub s3_listen: Option<String>,

    /// File of S3 access keys: one `ACCESS_KEY_ID SECRET_ACCESS_KEY` pair
    /// per line, `#` comments allowed.
    #[arg(
        long,
        env = "PUTFS_S3_KEYS",
        requires = "s3_listen",
        value_name = "FILE"
    )]
    pub s3_keys: Option<PathBuf>,

    /// The S3 region this server is (what GetBucketLocation answers).
    #[arg(long, env = "PUTFS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Accept virtual-hosted style requests: BUCKET.DOMAIN names a bucket
    /// (path style always works).
    #[arg(
        long,
        env = "PUTFS_S3_DOMAIN",
        requires = "s3_listen",
        value_name = "DOMAIN"
    )]
    pub s3_domain: Option<String>,

    /// S3 multipart uploads not completed or aborted within this long are
    /// removed with their parts.
    #[arg(long, env = "PUTFS_S3_UPLOAD_EXPIRY", default_value = "7d", value_parser = humantime::parse_duration)]
    pub s3_upload_expiry: Duration,

    /// Log filter, tracing EnvFilter syntax (e.g. `info`, `putfs=debug`).
    #[arg(long, env = "PUTFS_LOG", default_value = "info")]
    pub log: String,

    /// Upstream: only keys matching these regexes are write-once.
    #[arg(long, env = "PUTFS_WORM_PATHS", value_delimiter = ',', hide = true)]
    pub worm_paths: Vec<String>,

    /// Upstream (docs): only keys matching these globs are write-once.
    #[arg(long, env = "PUTFS_WORM_GLOBS", value_delimiter = ',', hide = true)]
    pub worm_globs: Vec<String>,

    /// Upstream: `true` is --on-existing strict.
    #[arg(long, env = "PUTFS_WORM_STRICT", value_parser = BoolishValueParser::new(), hide = true)]
    pub worm_strict: Option<bool>,

    /// Upstream: whether write-once keys may be deleted.
    #[arg(long, env = "PUTFS_WORM_ALLOW_DELETE", value_parser = BoolishValueParser::new(), hide = true)]
    pub worm_allow_delete: Option<bool>,
}

impl ServeArgs {
    /// Check the options and resolve upstream's variables.
    pub fn resolve(self) -> Result<ServeConfig, String> {
        let upstream_mode = !self.worm_paths.is_empty() || !self.worm_globs.is_empty();
        let worm_only = if upstream_mode {
            Some(KeyMatcher::new(&self.worm_globs, &self.worm_paths)?)
        } else {
            None
        };
        let retain_worm = match self.worm_allow_delete {
            Some(allow) => !allow,
            None => upstream_mode,
        };
        let on_existing = match (self.on_existing, self.worm_strict) {
            (Some(o), _) => o.into(),
            (None, Some(true)) => OnExisting::Strict,
            (None, _) => OnExisting::Verify,
        };
        let checksum_paths = self
            .checksum_paths
            .iter()
            .map(|p| checksum_regex(p))
            .collect::<Result<Vec<_>, _>>()?;
        if self.max_depth == 0 {
            return Err("--max-depth must be at least 1".into());
        }
        if self.max_key_bytes == 0 {
            return Err("--max-key-bytes must be at least 1".into());
        }
        let policy = Policy {
            on_existing,
            mutable: KeyMatcher::from_globs(&self.mutable)
                .map_err(|e| format!("--mutable: {e}"))?,
            worm_only,
            retain: KeyMatcher::from_globs(&self.retain).map_err(|e| format!("--retain: {e}"))?,
            retain_worm,
            checksum_paths,
        };
        for (name, t) in [
            ("--write-token", &self.write_token),
            ("--read-token", &self.read_token),
        ] {
            if t.as_deref().is_some_and(str::is_empty) {
                return Err(format!("{name} must not be empty"));
            }
        }
        if let Some(u) = &self.forward_writes_to
            && !matches!(u.scheme(), "http" | "https")
        {
            return Err("--forward-writes-to must be an http:// or https:// URL".into());
        }
        let forward_secret = self
            .forward_secret_file
            .as_deref()
            .map(ForwardSecret::read)
            .transpose()?;
        if let Some(u) = &self.primary_url
            && !matches!(u.scheme(), "http" | "https")
        {
            return Err("--primary-url must be an http:// or https:// URL".into());
        }
        if self.primary_poll.is_zero() {
            return Err("--primary-poll must be more than 0s".into());
        }
        if self.heartbeat_poll.is_zero() {
            return Err("--heartbeat-poll must be more than 0s".into());
        }
        let limits = Limits {
            max_connections: self.max_connections,
            max_requests: self.max_requests,
            max_uploads: self.max_uploads,
            blocking_threads: self.blocking_threads,
            idle_timeout: self.idle_timeout,
        };
        limits::check(&limits)?;
        Ok(ServeConfig {
            replication: ReplicationConfig {
                heartbeat_interval: (!self.heartbeat_interval.is_zero())
                    .then_some(self.heartbeat_interval),
                max_lag: self.max_lag,
                poll: self.heartbeat_poll,
                node_name: self.node_name,
                primary_url: self.primary_url.or_else(|| self.forward_writes_to.clone()),
                primary_poll: self.primary_poll,
            },
            listen: self.listen,
            store: StoreConfig {
                root: self.root,
                fsync: self.fsync == FsyncMode::Always,
                read_only: self.read_only,
                init: self.init && !self.read_only,
                // A writable server's fresh path becomes a new root; the
                // bare mountpoint case is `init`'s (see store::open).
                create_root: true,
                limits: KeyLimits {
                    max_depth: self.max_depth,
                    max_key_bytes: self.max_key_bytes,
                },
                policy,
            },
            http: HttpConfig {
                max_list_keys: (self.max_list_keys > 0).then_some(self.max_list_keys),
                write_token: self.write_token,
                read_token: self.read_token,
                body_timeout: self.body_timeout,
                access_log: self.access_log,
                read_cache_bytes: self.read_cache_bytes,
                position_cookie: self.position_cookie,
                forward_writes_to: self.forward_writes_to,
                forward_secret,
                max_forward_spool_bytes: self.max_forward_spool_bytes,
            },
            limits,
            shutdown_timeout: self.shutdown_timeout,
            log: self.log,
            s3: match (self.s3_listen, self.s3_keys) {
                (Some(listen), Some(keys)) => Some(S3Config {
                    listen,
                    keys,
                    region: self.s3_region,
                    domain: self.s3_domain,
                    upload_expiry: self.s3_upload_expiry,
                }),
                _ => None,
            },
        })
    }
}

/// A checksum-path regex must name the digest it captures.
fn checksum_regex(p: &str) -> Result<regex::Regex, String> {
    let re = regex::Regex::new(p).map_err(|e| format!("--checksum-paths {p:?}: {e}"))?;
    if !re
        .capture_names()
        .flatten()
        .any(|n| matches!(n, "sha256" | "sha1" | "sha512"))
    {
        return Err(format!(
            "--checksum-paths {p:?} needs a named group sha256, sha1 or sha512, e.g. (?P<sha256>[0-9a-f]{{64}})"
        ));
    }
    Ok(re)
}
