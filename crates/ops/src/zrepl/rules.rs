//! The rules serde cannot express. First the value syntaxes zrepl's parser
//! checks (durations, grids, sizes, `host:port`, ...): the reader keeps
//! those values as written, so that one bad value does not hide the other
//! problems. Then what zrepl checks when it builds the jobs and log outlets
//! (`zrepl configcheck` does both): names, filters, regexes, grid order,
//! enumerated settings, limits.
//!
//! Errors are what zrepl refuses. Warnings are what it accepts but what
//! fails later, when zfs runs, or what would break a putfs failover.

use std::collections::HashMap;

use super::error::Finding;
use super::model::*;
use super::{names, syntax};

const GUARANTEES: &[&str] = &[
    "guarantee_resumability",
    "guarantee_incremental",
    "guarantee_nothing",
];

/// What the rules found, each with its path and job.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    job: Option<String>,
}

/// Check a parsed config, includes merged.
pub(crate) fn check(config: &Config) -> Report {
    let mut r = Report::default();
    for (i, job) in config.jobs.iter().enumerate() {
        r.job = Some(job.name().to_string());
        r.job(job, &format!("jobs[{i}]"));
    }
    r.job = None;
    r.overlapping_roots(&config.jobs);
    if let Some(global) = &config.global {
        r.global(global);
    }
    r
}

fn at(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn key_of(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

impl Report {
    fn finding(&self, path: &str, message: String) -> Finding {
        Finding {
            path: path.to_string(),
            job: self.job.clone(),
            message,
            ..Finding::default()
        }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        let f = self.finding(path, message.into());
        self.errors.push(f);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let f = self.finding(path, message.into());
        self.warnings.push(f);
    }

    /// A value with a syntax of its own, parsed; zrepl refuses it unparsed.
    fn value<T>(&mut self, path: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(path, format!("{}: {e}", key_of(path)));
                None
            }
        }
    }

    /// A Go duration; zrepl wants it positive (`min` 1) or not negative (0).
    fn duration(&mut self, d: Option<&GoDuration>, path: &str, min: i128) {
        let nanos = d.and_then(|d| self.value(path, d.nanos()));
        if nanos.is_some_and(|n| n < min) {
            let want = if min > 0 { "positive" } else { "0 or positive" };
            self.error(path, format!("{} must be {want}", key_of(path)));
        }
    }

    /// `host:port`, as zrepl's `hostport` tag checks it; what that lets
    /// through but cannot work (no port, or no host to dial) is a warning.
    fn address(&mut self, address: &str, path: &str, dial: bool) {
        if self.value(path, syntax::split_host_port(address)).is_some()
            && let Err(e) = syntax::check_hostport(address, dial)
        {
            let what = if dial { "dial" } else { "listen on" };
            self.warn(path, format!("zrepl takes {e}, but may fail to {what} it"));
        }
    }

    /// An enumerated setting; `None` is zrepl's default.
    fn one_of(&mut self, path: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(v) = value.filter(|v| !allowed.contains(v)) {
            let e = format!(
                "{} {v:?} is not one of: {}",
                key_of(path),
                allowed.join(", ")
            );
            self.error(path, e);
        }
    }

    fn job(&mut self, job: &Job, path: &str) {
        let (filter, snapshotting) = match job {
            Job::Push(j) => {
                self.connect(&j.connect, &at(path, "connect"));
                self.pruning(&j.pruning, &at(path, "pruning"));
                self.send(j.send.as_ref(), path);
                self.active(j.replication.as_ref(), j.conflict_resolution.as_ref(), path);
                (&j.filesystems, &j.snapshotting)
            }
            Job::Source(j) => {
                self.serve(&j.serve, &at(path, "serve"));
                self.send(j.send.as_ref(), path);
                (&j.filesystems, &j.snapshotting)
            }
            Job::Snap(j) => {
                self.keep(&j.pruning.keep, &at(path, "pruning.keep"), true);
                (&j.filesystems, &j.snapshotting)
            }
            Job::Sink(j) => {
                self.serve(&j.serve, &at(path, "serve"));
                return self.receiver(&j.root_fs, j.recv.as_ref(), path);
            }
            Job::Pull(j) => {
                self.value(&at(path, "interval"), syntax::pull_interval(&j.interval));
                self.connect(&j.connect, &at(path, "connect"));
                self.receiver(&j.root_fs, j.recv.as_ref(), path);
                self.pruning(&j.pruning, &at(path, "pruning"));
                return self.active(j.replication.as_ref(), j.conflict_resolution.as_ref(), path);
            }
        };
        self.filter(filter, &at(path, "filesystems"));
        self.snapshotting(snapshotting, &at(path, "snapshotting"));
    }

    fn filter(&mut self, filter: &Filesystems, path: &str) {
        for pattern in filter.keys() {
            let here = format!("{path}[{pattern:?}]");
            if let Err(e) = names::filter_pattern(pattern) {
                self.error(&here, format!("invalid filter pattern {pattern:?}: {e}"));
            } else if pattern.is_empty() {
                self.warn(
                    &here,
                    "the empty pattern matches no dataset; \"<\" matches all",
                );
            } else if let Err(e) = names::parse_pattern(pattern) {
                self.warn(
                    &here,
                    format!("pattern {pattern:?} matches no dataset zfs allows: {e}"),
                );
            }
        }
        if !filter.is_empty() && !filter.values().any(|pass| *pass) {
            self.warn(path, "no pattern is true, so this selects no dataset");
        }
    }

    fn connect(&mut self, connect: &Connect, path: &str) {
        let (address, timeout) = match connect {
            Connect::Tcp(c) => (Some(&c.address), &c.dial_timeout),
            Connect::Tls(c) => (Some(&c.address), &c.dial_timeout),
            Connect::SshStdinserver(c) => (None, &c.dial_timeout),
            Connect::Local(c) => {
                if let Err(e) = names::check_identity(&c.client_identity) {
                    let e = format!("zrepl would stop when it connects: {e}");
                    self.warn(&at(path, "client_identity"), e);
                }
                (None, &c.dial_timeout)
            }
        };
        self.duration(timeout.as_ref(), &at(path, "dial_timeout"), 0);
        if let Some(address) = address {
            self.address(address, &at(path, "address"), true);
        }
    }

    fn serve(&mut self, serve: &Serve, path: &str) {
        let (key, identities) = match serve {
            Serve::Tcp(s) => {
                self.address(&s.listen, &at(path, "listen"), false);
                for (addr, identity) in &s.clients {
                    if let Err(e) = syntax::check_client_entry(addr, identity) {
                        self.error(&format!("{path}.clients[{addr:?}]"), e);
                    }
                }
                return;
            }
            Serve::Tls(s) => {
                self.address(&s.listen, &at(path, "listen"), false);
                let timeout = s.handshake_timeout.as_ref();
                self.duration(timeout, &at(path, "handshake_timeout"), 0);
                ("client_cns", &s.client_cns)
            }
            Serve::Stdinserver(s) => ("client_identities", &s.client_identities),
            Serve::Local(_) => return,
        };
        for (i, identity) in identities.iter().enumerate() {
            if let Err(e) = names::check_identity(identity) {
                self.error(&format!("{path}.{key}[{i}]"), e);
            }
        }
    }

    fn snapshotting(&mut self, s: &Snapshotting, path: &str) {
        let (prefix, hooks, format, location) = match s {
            Snapshotting::Periodic(p) => {
                self.value(&at(path, "interval"), syntax::zrepl_duration(&p.interval));
                (
                    &p.prefix,
                    &p.hooks,
                    &p.timestamp_format,
                    &p.timestamp_location,
                )
            }
            Snapshotting::Cron(c) => {
                self.value(&at(path, "cron"), syntax::check_cron(&c.cron));
                (
                    &c.prefix,
                    &c.hooks,
                    &c.timestamp_format,
                    &c.timestamp_location,
                )
            }
            Snapshotting::Manual(_) => return,
        };
        if let Err(e) = names::check_prefix(prefix) {
            self.error(
                &at(path, "prefix"),
                format!("snapshot prefix {prefix:?} {e}"),
            );
        }
        self.timestamp(format.as_deref(), location.as_deref(), path);
        for (i, hook) in hooks.iter().flatten().enumerate() {
            let (filter, timeout) = match hook {
                Hook::Command(h) => (h.filesystems.as_ref(), &h.timeout),
                Hook::PostgresCheckpoint(h) | Hook::MysqlLockTables(h) => {
                    (Some(&h.filesystems), &h.timeout)
                }
            };
            let here = format!("{path}.hooks[{i}]");
            self.duration(timeout.as_ref(), &at(&here, "timeout"), 1);
            if let Some(filter) = filter {
                self.filter(filter, &at(&here, "filesystems"));
            }
        }
    }

    /// Snapshot names are `prefix + timestamp`. zrepl's named formats other
    /// than iso-8601 need UTC; a Go layout passes its other characters
    /// through into the name.
    fn timestamp(&mut self, format: Option<&str>, location: Option<&str>, path: &str) {
        let format = format.unwrap_or("dense");
        let utc = matches!(location, None | Some("UTC" | ""));
        let at_format = at(path, "timestamp_format");
        match format.to_ascii_lowercase().as_str() {
            "dense" | "human" | "unix-seconds" if !utc => self.error(
                &at(path, "timestamp_location"),
                format!("timestamp_format {format:?} requires timestamp_location \"UTC\""),
            ),
            "dense" | "human" | "unix-seconds" | "iso-8601" => {}
            _ if format.contains('+') => self.error(
                &at_format,
                "timestamp_format must not contain '+' (zrepl uses it for the UTC offset)",
            ),
            _ => {
                if let Some(c) = format.chars().find(|c| !names::valid_char(*c)) {
                    let e = format!("timestamp_format {format:?} puts {c:?} into snapshot names");
                    self.error(&at_format, e);
                }
            }
        }
    }

    fn pruning(&mut self, p: &PruningSenderReceiver, path: &str) {
        self.keep(&p.keep_sender, &at(path, "keep_sender"), false);
        self.keep(&p.keep_receiver, &at(path, "keep_receiver"), false);
        if !p
            .keep_sender
            .iter()
            .any(|r| matches!(r, KeepRule::NotReplicated(_)))
        {
            self.warn(
                &at(path, "keep_sender"),
                "keep_sender has no not_replicated rule: pruning may destroy snapshots the \
                 receiver does not have yet, forcing a full resend",
            );
        }
    }

    /// `local`: a snap job's list, pruned on one side only.
    fn keep(&mut self, rules: &[KeepRule], path: &str, local: bool) {
        for (i, rule) in rules.iter().enumerate() {
            let here = format!("{path}[{i}]");
            let regex = match rule {
                KeepRule::NotReplicated(_) if local => {
                    let e = "a snap job prunes one side only and cannot use not_replicated";
                    self.error(&here, e);
                    continue;
                }
                KeepRule::NotReplicated(_) => continue,
                KeepRule::LastN(k) => {
                    if k.count <= 0 {
                        let e = format!("count must be positive, not {}", k.count);
                        self.error(&at(&here, "count"), e);
                    }
                    k.regex.as_deref().unwrap_or_default()
                }
                KeepRule::Grid(g) => {
                    self.value(&at(&here, "grid"), syntax::check_grid(&g.grid));
                    &g.regex
                }
                KeepRule::Regex(k) => &k.regex,
            };
            if let Err(e) = syntax::check_regex(regex) {
                self.error(&at(&here, "regex"), e);
            }
        }
    }

    fn send(&mut self, send: Option<&SendOptions>, path: &str) {
        if let Some(b) = send.and_then(|s| s.bandwidth_limit.as_ref()) {
            self.bandwidth(b, &at(path, "send.bandwidth_limit"));
        }
    }

    fn bandwidth(&mut self, b: &BandwidthLimit, path: &str) {
        let (max, bucket) = (at(path, "max"), at(path, "bucket_capacity"));
        let bytes = b.max.as_ref().and_then(|m| self.value(&max, m.bytes()));
        if bytes.is_some_and(|n| n > 0.0 && n < 1.0) {
            self.error(&max, "max is less than one byte");
        }
        let bytes = b
            .bucket_capacity
            .as_ref()
            .and_then(|c| self.value(&bucket, c.bytes()));
        if bytes.is_some_and(|n| n.trunc() == 0.0) {
            self.error(&bucket, "bucket_capacity must not be zero");
        }
    }

    fn receiver(&mut self, root_fs: &str, recv: Option<&RecvOptions>, path: &str) {
        let root = at(path, "root_fs");
        if let Err(e) = names::dataset_path(root_fs) {
            self.error(
                &root,
                format!("root_fs {root_fs:?} is not a valid dataset path: {e}"),
            );
        } else if let Err(e) = names::check_dataset(root_fs) {
            self.warn(
                &root,
                format!("root_fs {root_fs:?} is not a dataset zfs accepts: {e}"),
            );
        }
        let Some(recv) = recv else { return };
        let path = at(path, "recv");
        if let Some(p) = &recv.properties {
            let inherit = p.inherit.iter().flatten();
            for name in inherit.chain(p.override_.iter().flat_map(|m| m.keys())) {
                if let Err(e) = names::check_property(name) {
                    self.error(&at(&path, "properties"), e);
                }
            }
        }
        if let Some(b) = &recv.bandwidth_limit {
            self.bandwidth(b, &at(&path, "bandwidth_limit"));
        }
        let encryption = recv
            .placeholder
            .as_ref()
            .and_then(|p| p.encryption.as_deref());
        let allowed = &["unspecified", "inherit", "off"];
        self.one_of(&at(&path, "placeholder.encryption"), encryption, allowed);
    }

    fn active(&mut self, r: Option<&Replication>, c: Option<&ConflictResolution>, path: &str) {
        let protection = r.and_then(|r| r.protection.as_ref());
        let initial = protection.and_then(|p| p.initial.as_deref());
        let incremental = protection.and_then(|p| p.incremental.as_deref());
        let at_protection = at(path, "replication.protection");
        self.one_of(&at(&at_protection, "initial"), initial, GUARANTEES);
        self.one_of(&at(&at_protection, "incremental"), incremental, GUARANTEES);
        if let Some(c) = r.and_then(|r| r.concurrency.as_ref()) {
            for (key, n) in [("steps", c.steps), ("size_estimates", c.size_estimates)] {
                if n.is_some_and(|n| n < 1) {
                    let here = format!("{path}.replication.concurrency.{key}");
                    self.error(&here, format!("{key} must be at least 1"));
                }
            }
        }
        let initial = c.and_then(|c| c.initial_replication.as_deref());
        let allowed = &["most_recent", "all", "fail"];
        self.one_of(
            &at(path, "conflict_resolution.initial_replication"),
            initial,
            allowed,
        );
    }

    fn global(&mut self, g: &Global) {
        let mut seen = HashMap::new();
        for (i, outlet) in g.logging.iter().flatten().enumerate() {
            let path = format!("global.logging[{i}]");
            let (kind, level, format) = match outlet {
                LoggingOutlet::Stdout(o) => ("stdout", &o.level, &o.format),
                LoggingOutlet::Syslog(o) => {
                    if let Some(facility) = &o.facility {
                        self.value(&at(&path, "facility"), facility.parse());
                    }
                    self.duration(o.retry_interval.as_ref(), &at(&path, "retry_interval"), 1);
                    ("syslog", &o.level, &o.format)
                }
                LoggingOutlet::Tcp(o) => {
                    self.address(&o.address, &at(&path, "address"), true);
                    self.duration(o.retry_interval.as_ref(), &at(&path, "retry_interval"), 1);
                    ("tcp", &o.level, &o.format)
                }
            };
            let levels = &["debug", "info", "warn", "error"];
            self.one_of(&at(&path, "level"), Some(level), levels);
            self.one_of(
                &at(&path, "format"),
                Some(format),
                &["human", "logfmt", "json"],
            );
            let count = seen.entry(kind).or_insert(0);
            *count += 1;
            if kind != "tcp" && *count == 2 {
                self.error(&path, format!("zrepl takes only one {kind} outlet"));
            }
        }
        for (i, Monitoring::Prometheus(m)) in g.monitoring.iter().flatten().enumerate() {
            self.address(&m.listen, &format!("global.monitoring[{i}].listen"), false);
        }
    }

    /// Two receiving jobs whose roots nest would claim the same datasets;
    /// zrepl has the check but does not run it.
    fn overlapping_roots(&mut self, jobs: &[Job]) {
        let roots: Vec<(usize, &str)> = (jobs.iter().enumerate())
            .filter_map(|(i, job)| match job {
                Job::Sink(j) => Some((i, j.root_fs.as_str())),
                Job::Pull(j) => Some((i, j.root_fs.as_str())),
                _ => None,
            })
            .collect();
        for (n, (i, a)) in roots.iter().enumerate() {
            for (j, b) in &roots[n + 1..] {
                if names::is_within(a, b) || names::is_within(b, a) {
                    self.job = Some(jobs[*j].name().to_string());
                    let e = format!("root_fs {b:?} overlaps root_fs {a:?} of jobs[{i}]");
                    self.warn(&format!("jobs[{j}].root_fs"), e);
                }
            }
        }
        self.job = None;
    }
}
