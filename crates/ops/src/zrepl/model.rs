//! The zrepl v0.7 config file as Rust types, one per struct of zrepl's
//! `internal/config/config.go`, with its field names and nesting.
//!
//! A field zrepl requires (its tag has none of `optional`, `default=`,
//! `fromdefaults`) is a plain field; one it lets an author leave out is an
//! `Option`, and `None` is written back as nothing, so a config we read and
//! write says what its author said. zrepl decodes strictly, so every struct
//! denies unknown fields. The config check's reader applies zrepl's
//! other reading rules (required fields must not be zero, YAML 1.1
//! booleans, ...); the values it reads in a way of their own are the types
//! of [`super::values`]; the rules check the text fields with a syntax
//! (`host:port`, durations, grids, cron lines).

use std::collections::BTreeMap;

use serde::ser::Error as _;
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};

use super::values::optional;
pub use super::values::{DataSize, Facility, GoDuration};

/// Dataset pattern → include (`true`) or exclude (`false`).
pub type Filesystems = BTreeMap<String, bool>;

/// Structs as zrepl decodes them: strictly, refusing unknown keys.
macro_rules! strict {
    ($($(#[$meta:meta])* pub struct $name:ident $fields:tt)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name $fields
    )*};
}

/// zrepl's enums are mappings whose `type` key names the variant. serde's
/// `tag = "type"` would read such a mapping through a private buffer that
/// drops the paths, lines and quoting the reader keeps, so these enums are
/// read as plain enums (the reader finds the `type`) and written with
/// `type` first.
macro_rules! tagged {
    ($(#[$doc:meta])* pub enum $name:ident { $($tag:literal => $variant:ident($ty:ty),)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $tag)] $variant($ty),)+
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $($name::$variant(v) => with_type($tag, v, s),)+
                }
            }
        }
    };
}

fn with_type<T: Serialize, S: Serializer>(tag: &str, v: &T, s: S) -> Result<S::Ok, S::Error> {
    let mut out = Mapping::new();
    out.insert("type".into(), tag.into());
    if let Value::Mapping(fields) = serde_yaml_ng::to_value(v).map_err(S::Error::custom)? {
        out.extend(fields);
    }
    out.serialize(s)
}

strict! {
    /// A whole zrepl config file.
    #[derive(Default)]
    pub struct Config {
        pub global: Option<Global>,
        #[serde(default, deserialize_with = "optional", skip_serializing_if = "Vec::is_empty")]
        pub jobs: Vec<Job>,
        /// Files (`*.yml`) and directories whose jobs join this file's.
        #[serde(default, deserialize_with = "optional", skip_serializing_if = "Vec::is_empty")]
        pub include: Vec<String>,
    }
}

tagged! {
    pub enum Job {
        "push" => Push(PushJob),
        "sink" => Sink(SinkJob),
        "pull" => Pull(PullJob),
        "source" => Source(SourceJob),
        "snap" => Snap(SnapJob),
    }
}

impl Job {
    pub fn name(&self) -> &str {
        match self {
            Job::Push(j) => &j.name,
            Job::Sink(j) => &j.name,
            Job::Pull(j) => &j.name,
            Job::Source(j) => &j.name,
            Job::Snap(j) => &j.name,
        }
    }
}

strict! {
    /// Active side that snapshots locally and sends to a sink.
    pub struct PushJob {
        pub name: String,
        pub connect: Connect,
        pub filesystems: Filesystems,
        pub snapshotting: Snapshotting,
        pub pruning: PruningSenderReceiver,
        pub send: Option<SendOptions>,
        pub replication: Option<Replication>,
        pub conflict_resolution: Option<ConflictResolution>,
    }

    /// Passive side that receives into `root_fs/<client identity>/<source path>`.
    pub struct SinkJob {
        pub name: String,
        pub serve: Serve,
        pub root_fs: String,
        pub recv: Option<RecvOptions>,
    }

    /// Active side that fetches from a source into `root_fs/<source path>`.
    pub struct PullJob {
        pub name: String,
        pub connect: Connect,
        pub root_fs: String,
        /// A zrepl duration, or `manual`.
        pub interval: String,
        pub pruning: PruningSenderReceiver,
        pub recv: Option<RecvOptions>,
        pub replication: Option<Replication>,
        pub conflict_resolution: Option<ConflictResolution>,
    }

    pub struct SourceJob {
        pub name: String,
        pub serve: Serve,
        pub filesystems: Filesystems,
        pub snapshotting: Snapshotting,
        pub send: Option<SendOptions>,
    }

    pub struct SnapJob {
        pub name: String,
        pub filesystems: Filesystems,
        pub snapshotting: Snapshotting,
        pub pruning: PruningLocal,
    }
}

tagged! {
    pub enum Connect {
        "tcp" => Tcp(TcpConnect),
        "tls" => Tls(TlsConnect),
        "ssh+stdinserver" => SshStdinserver(SshConnect),
        "local" => Local(LocalConnect),
    }
}

strict! {
    pub struct TcpConnect {
        /// `host:port`.
        pub address: String,
        pub dial_timeout: Option<GoDuration>,
    }

    pub struct TlsConnect {
        pub address: String,
        pub ca: String,
        pub cert: String,
        pub key: String,
        pub server_cn: String,
        pub dial_timeout: Option<GoDuration>,
    }

    pub struct SshConnect {
        pub host: String,
        pub user: String,
        pub port: u16,
        pub identity_file: String,
        pub transport_open_command: Option<Vec<String>>,
        pub ssh_command: Option<String>,
        pub options: Option<Vec<String>>,
        pub dial_timeout: Option<GoDuration>,
    }

    pub struct LocalConnect {
        pub listener_name: String,
        pub client_identity: String,
        pub dial_timeout: Option<GoDuration>,
    }
}

tagged! {
    pub enum Serve {
        "tcp" => Tcp(TcpServe),
        "tls" => Tls(TlsServe),
        "stdinserver" => Stdinserver(StdinserverServe),
        "local" => Local(LocalServe),
    }
}

strict! {
    pub struct TcpServe {
        /// `host:port`; the host may be empty.
        pub listen: String,
        pub listen_freebind: Option<bool>,
        /// Client IP or CIDR → client identity (a CIDR's identity has one `*`).
        pub clients: BTreeMap<String, String>,
    }

    pub struct TlsServe {
        pub listen: String,
        pub listen_freebind: Option<bool>,
        pub ca: String,
        pub cert: String,
        pub key: String,
        pub client_cns: Vec<String>,
        pub handshake_timeout: Option<GoDuration>,
    }

    pub struct StdinserverServe {
        pub client_identities: Vec<String>,
    }

    pub struct LocalServe {
        pub listener_name: String,
    }
}

tagged! {
    pub enum Snapshotting {
        "periodic" => Periodic(PeriodicSnapshotting),
        "cron" => Cron(CronSnapshotting),
        "manual" => Manual(ManualSnapshotting),
    }
}

strict! {
    pub struct PeriodicSnapshotting {
        pub prefix: String,
        /// A zrepl duration such as `10m`.
        pub interval: String,
        pub hooks: Option<Vec<Hook>>,
        pub timestamp_format: Option<String>,
        pub timestamp_location: Option<String>,
    }

    pub struct CronSnapshotting {
        pub prefix: String,
        /// Five fields, or six with seconds first.
        pub cron: String,
        pub hooks: Option<Vec<Hook>>,
        pub timestamp_format: Option<String>,
        pub timestamp_location: Option<String>,
    }

    #[derive(Default)]
    pub struct ManualSnapshotting {}
}

tagged! {
    pub enum Hook {
        "command" => Command(CommandHook),
        "postgres-checkpoint" => PostgresCheckpoint(DsnHook),
        "mysql-lock-tables" => MysqlLockTables(DsnHook),
    }
}

strict! {
    pub struct CommandHook {
        pub path: String,
        pub timeout: Option<GoDuration>,
        pub filesystems: Option<Filesystems>,
        pub err_is_fatal: Option<bool>,
    }

    pub struct DsnHook {
        pub dsn: String,
        pub filesystems: Filesystems,
        pub timeout: Option<GoDuration>,
        pub err_is_fatal: Option<bool>,
    }

    pub struct PruningSenderReceiver {
        pub keep_sender: Vec<KeepRule>,
        pub keep_receiver: Vec<KeepRule>,
    }

    pub struct PruningLocal {
        pub keep: Vec<KeepRule>,
    }
}

tagged! {
    /// One pruning rule: a snapshot survives if any rule keeps it.
    pub enum KeepRule {
        "not_replicated" => NotReplicated(KeepNotReplicated),
        "last_n" => LastN(KeepLastN),
        "grid" => Grid(KeepGrid),
        "regex" => Regex(KeepRegex),
    }
}

strict! {
    #[derive(Default)]
    pub struct KeepNotReplicated {
        pub keep_snapshot_at_cursor: Option<bool>,
    }

    pub struct KeepLastN {
        pub count: i64,
        pub regex: Option<String>,
    }

    pub struct KeepGrid {
        /// e.g. `1x1h(keep=all) | 24x1h | 14x1d`.
        pub grid: String,
        pub regex: String,
    }

    pub struct KeepRegex {
        pub regex: String,
        pub negate: Option<bool>,
    }

    #[derive(Default)]
    pub struct SendOptions {
        pub encrypted: Option<bool>,
        pub raw: Option<bool>,
        pub send_properties: Option<bool>,
        pub backup_properties: Option<bool>,
        pub large_blocks: Option<bool>,
        pub compressed: Option<bool>,
        pub embedded_data: Option<bool>,
        pub saved: Option<bool>,
        pub bandwidth_limit: Option<BandwidthLimit>,
    }

    #[derive(Default)]
    pub struct BandwidthLimit {
        /// `-1 B` (the default) means unlimited.
        pub max: Option<DataSize>,
        pub bucket_capacity: Option<DataSize>,
    }

    #[derive(Default)]
    pub struct RecvOptions {
        pub properties: Option<RecvProperties>,
        pub bandwidth_limit: Option<BandwidthLimit>,
        pub placeholder: Option<Placeholder>,
    }

    #[derive(Default)]
    pub struct RecvProperties {
        pub inherit: Option<Vec<String>>,
        #[serde(rename = "override")]
        pub override_: Option<BTreeMap<String, String>>,
    }

    #[derive(Default)]
    pub struct Placeholder {
        /// `unspecified` (the default), `inherit` or `off`.
        pub encryption: Option<String>,
    }

    #[derive(Default)]
    pub struct Replication {
        pub protection: Option<Protection>,
        pub concurrency: Option<Concurrency>,
    }

    #[derive(Default)]
    pub struct Protection {
        /// `guarantee_resumability`, `guarantee_incremental` or `guarantee_nothing`.
        pub initial: Option<String>,
        pub incremental: Option<String>,
    }

    #[derive(Default)]
    pub struct Concurrency {
        pub steps: Option<i64>,
        pub size_estimates: Option<i64>,
    }

    #[derive(Default)]
    pub struct ConflictResolution {
        /// `most_recent` (the default), `all` or `fail`.
        pub initial_replication: Option<String>,
    }

    #[derive(Default)]
    pub struct Global {
        pub logging: Option<Vec<LoggingOutlet>>,
        pub monitoring: Option<Vec<Monitoring>>,
        pub control: Option<Control>,
        pub serve: Option<GlobalServe>,
    }
}

tagged! {
    pub enum LoggingOutlet {
        "stdout" => Stdout(StdoutOutlet),
        "syslog" => Syslog(SyslogOutlet),
        "tcp" => Tcp(TcpOutlet),
    }
}

strict! {
    pub struct StdoutOutlet {
        pub level: String,
        pub format: String,
        pub time: Option<bool>,
        pub color: Option<bool>,
    }

    pub struct SyslogOutlet {
        pub level: String,
        pub format: String,
        pub facility: Option<Facility>,
        pub retry_interval: Option<GoDuration>,
    }

    pub struct TcpOutlet {
        pub level: String,
        pub format: String,
        pub address: String,
        pub net: Option<String>,
        pub retry_interval: Option<GoDuration>,
        pub tls: Option<TcpOutletTls>,
    }

    pub struct TcpOutletTls {
        pub ca: String,
        pub cert: String,
        pub key: String,
    }
}

tagged! {
    pub enum Monitoring {
        "prometheus" => Prometheus(PrometheusMonitoring),
    }
}

strict! {
    pub struct PrometheusMonitoring {
        pub listen: String,
        pub listen_freebind: Option<bool>,
    }

    #[derive(Default)]
    pub struct Control {
        pub sockpath: Option<String>,
    }

    #[derive(Default)]
    pub struct GlobalServe {
        pub stdinserver: Option<GlobalStdinserver>,
    }

    #[derive(Default)]
    pub struct GlobalStdinserver {
        pub sockdir: Option<String>,
    }
}
