//! The zrepl v0.7 config file as Rust types.
//!
//! Field names and nesting follow zrepl's `internal/config/config.go`.
//! Every struct denies unknown fields because zrepl parses strictly: a key
//! it does not know stops the daemon, so we must not silently accept one.
//! Optional fields that have a zrepl default stay `Option` so a config we
//! read and write back says exactly what its author said.
//!
//! Values with their own syntax (durations, grid specs, addresses) are kept
//! as the text the author wrote; `validate` checks that text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Dataset pattern → include (`true`) or exclude (`false`).
pub type Filesystems = BTreeMap<String, bool>;

/// A whole zrepl config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Global>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<Job>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    Push(PushJob),
    Sink(SinkJob),
    Pull(PullJob),
    Source(SourceJob),
    Snap(SnapJob),
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

/// Active side that snapshots locally and sends to a sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushJob {
    pub name: String,
    pub connect: Connect,
    pub filesystems: Filesystems,
    pub snapshotting: Snapshotting,
    pub pruning: PruningSenderReceiver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<SendOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<ConflictResolution>,
}

/// Passive side that receives into `root_fs/<client identity>/<source path>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkJob {
    pub name: String,
    pub serve: Serve,
    pub root_fs: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv: Option<RecvOptions>,
}

/// Active side that fetches from a source into `root_fs/<source path>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullJob {
    pub name: String,
    pub connect: Connect,
    pub root_fs: String,
    /// zrepl duration or `manual`.
    pub interval: String,
    pub pruning: PruningSenderReceiver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv: Option<RecvOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_resolution: Option<ConflictResolution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceJob {
    pub name: String,
    pub serve: Serve,
    pub filesystems: Filesystems,
    pub snapshotting: Snapshotting,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<SendOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapJob {
    pub name: String,
    pub filesystems: Filesystems,
    pub snapshotting: Snapshotting,
    pub pruning: PruningLocal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Connect {
    #[serde(rename = "tcp")]
    Tcp(TcpConnect),
    #[serde(rename = "tls")]
    Tls(TlsConnect),
    #[serde(rename = "ssh+stdinserver")]
    SshStdinserver(SshConnect),
    #[serde(rename = "local")]
    Local(LocalConnect),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConnect {
    pub address: String,
    /// Go duration, e.g. `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConnect {
    pub address: String,
    pub ca: String,
    pub cert: String,
    pub key: String,
    pub server_cn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConnect {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub identity_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_open_command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConnect {
    pub listener_name: String,
    pub client_identity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dial_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Serve {
    Tcp(TcpServe),
    Tls(TlsServe),
    Stdinserver(StdinserverServe),
    Local(LocalServe),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpServe {
    pub listen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_freebind: Option<bool>,
    /// Client IP or CIDR → client identity (a CIDR's identity has one `*`).
    pub clients: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServe {
    pub listen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_freebind: Option<bool>,
    pub ca: String,
    pub cert: String,
    pub key: String,
    pub client_cns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinserverServe {
    pub client_identities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalServe {
    pub listener_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Snapshotting {
    Periodic(PeriodicSnapshotting),
    Cron(CronSnapshotting),
    Manual(ManualSnapshotting),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicSnapshotting {
    pub prefix: String,
    /// zrepl duration, e.g. `10m`.
    pub interval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<Hook>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSnapshotting {
    pub prefix: String,
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<Hook>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_location: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualSnapshotting {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Hook {
    #[serde(rename = "command")]
    Command(CommandHook),
    #[serde(rename = "postgres-checkpoint")]
    PostgresCheckpoint(DsnHook),
    #[serde(rename = "mysql-lock-tables")]
    MysqlLockTables(DsnHook),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandHook {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystems: Option<Filesystems>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_is_fatal: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsnHook {
    pub dsn: String,
    pub filesystems: Filesystems,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_is_fatal: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruningSenderReceiver {
    pub keep_sender: Vec<KeepRule>,
    pub keep_receiver: Vec<KeepRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruningLocal {
    pub keep: Vec<KeepRule>,
}

/// One pruning rule: a snapshot survives if any rule keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeepRule {
    NotReplicated(KeepNotReplicated),
    LastN(KeepLastN),
    Grid(KeepGrid),
    Regex(KeepRegex),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepNotReplicated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_snapshot_at_cursor: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepLastN {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepGrid {
    /// e.g. `1x1h(keep=all) | 24x1h | 14x1d`.
    pub grid: String,
    pub regex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepRegex {
    pub regex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negate: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_properties: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_properties: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blocks: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_limit: Option<BandwidthLimit>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthLimit {
    /// e.g. `23.5 MiB`; `-1 B` means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_capacity: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecvOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<RecvProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_limit: Option<BandwidthLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<Placeholder>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecvProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<Vec<String>>,
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placeholder {
    /// `unspecified`, `inherit` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protection {
    /// `guarantee_resumability`, `guarantee_incremental` or `guarantee_nothing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_estimates: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictResolution {
    /// `most_recent`, `all` or `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_replication: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Vec<LoggingOutlet>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Vec<Monitoring>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<GlobalServe>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoggingOutlet {
    Stdout(StdoutOutlet),
    Syslog(SyslogOutlet),
    Tcp(TcpOutlet),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutOutlet {
    pub level: String,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogOutlet {
    pub level: String,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpOutlet {
    pub level: String,
    pub format: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TcpOutletTls>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpOutletTls {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Monitoring {
    Prometheus(PrometheusMonitoring),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusMonitoring {
    pub listen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_freebind: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockpath: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalServe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdinserver: Option<GlobalStdinserver>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalStdinserver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockdir: Option<String>,
}
