//! Build the push (primary) / sink (secondary) config pair for putfs.
//!
//! The pruning is chosen for recovery, not just for disk space:
//! - sender `not_replicated` keeps every snapshot the sink lacks and the
//!   one at the replication cursor, so the last shared snapshot survives
//!   on the primary (it is the rollback target after a failover);
//! - both grids start with `1x1h(keep=all)`, measured from the newest
//!   snapshot, so the newest snapshots exist on both sides;
//! - a negated regex keeps every snapshot zrepl did not make (an
//!   operator's manual `zfs snapshot`), since a keep list destroys what no
//!   rule keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use super::emit::to_yaml;
use super::error::ZreplError;
use super::model::*;
use super::validate::validate_config;
use super::{names, syntax};

/// Grid for the primary: short history, enough to pick a shared ancestor.
pub const SENDER_GRID: &str = "1x1h(keep=all) | 24x1h | 7x1d";
/// Grid for the secondary: the longer backup history.
pub const RECEIVER_GRID: &str = "1x1h(keep=all) | 24x1h | 30x1d | 6x30d";

/// What the pair is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairInput {
    /// Dataset putfs serves on the primary, e.g. `tank/putfs`.
    pub primary_dataset: String,
    /// `host:port` the primary dials to reach the sink.
    pub sink_address: String,
    /// Address the sink listens on, e.g. `:8888` or `192.168.1.20:8888`.
    pub sink_listen: String,
    /// IP (or CIDR) the sink sees the primary connect from.
    pub primary_ip: String,
    /// Identity the sink gives the primary: the dataset component its
    /// data lands under (`<root_fs>/<identity>/<dataset>`).
    pub primary_identity: String,
    /// Root the sink receives into, e.g. `tank/sink`.
    pub sink_root_fs: String,
    /// Snapshot name prefix (default `zrepl_`).
    pub snapshot_prefix: String,
    /// Snapshot interval (default 10 minutes).
    pub interval: Duration,
    /// Prometheus listen address on the primary, if any.
    pub primary_prometheus: Option<String>,
    /// Prometheus listen address on the secondary, if any.
    pub sink_prometheus: Option<String>,
    /// Job names (defaults `putfs-push`, `putfs-sink`). zrepl keys its
    /// holds and bookmarks by job name, so keep them once deployed.
    pub push_job: String,
    pub sink_job: String,
}

impl PairInput {
    /// Input with the defaults for prefix, interval and job names.
    pub fn new(
        primary_dataset: &str,
        sink_address: &str,
        sink_listen: &str,
        primary_ip: &str,
        primary_identity: &str,
        sink_root_fs: &str,
    ) -> Self {
        PairInput {
            primary_dataset: primary_dataset.into(),
            sink_address: sink_address.into(),
            sink_listen: sink_listen.into(),
            primary_ip: primary_ip.into(),
            primary_identity: primary_identity.into(),
            sink_root_fs: sink_root_fs.into(),
            snapshot_prefix: "zrepl_".into(),
            interval: Duration::from_secs(600),
            primary_prometheus: None,
            sink_prometheus: None,
            push_job: "putfs-push".into(),
            sink_job: "putfs-sink".into(),
        }
    }
}

/// The two configs, as structs and as the YAML to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub push: Config,
    pub sink: Config,
    /// For `/etc/zrepl/zrepl.yml` on the primary.
    pub push_yaml: String,
    /// For `/etc/zrepl/zrepl.yml` on the secondary.
    pub sink_yaml: String,
}

/// Generate the pair; both configs validate with no warnings.
pub fn generate_pair(input: &PairInput) -> Result<Pair, ZreplError> {
    check_input(input)?;
    let prefix_re = format!("^{}", regex::escape(&input.snapshot_prefix));
    let interval = syntax::format_zrepl_duration(input.interval).map_err(ZreplError::Input)?;
    let push = PushJob {
        name: input.push_job.clone(),
        connect: Connect::Tcp(TcpConnect {
            address: input.sink_address.clone(),
            dial_timeout: None,
        }),
        filesystems: [(format!("{}<", input.primary_dataset), true)].into(),
        snapshotting: Snapshotting::Periodic(PeriodicSnapshotting {
            prefix: input.snapshot_prefix.clone(),
            interval,
            hooks: None,
            timestamp_format: None,
            timestamp_location: None,
        }),
        pruning: recovery_pruning(&prefix_re),
        send: None,
        replication: None,
        conflict_resolution: None,
    };
    let sink = SinkJob {
        name: input.sink_job.clone(),
        serve: Serve::Tcp(TcpServe {
            listen: input.sink_listen.clone(),
            listen_freebind: None,
            clients: [(input.primary_ip.clone(), input.primary_identity.clone())].into(),
        }),
        root_fs: input.sink_root_fs.clone(),
        recv: Some(receiver_options()),
    };
    let push = Config {
        global: monitoring(&input.primary_prometheus),
        jobs: vec![Job::Push(push)],
        include: Vec::new(),
    };
    let sink = Config {
        global: monitoring(&input.sink_prometheus),
        jobs: vec![Job::Sink(sink)],
        include: Vec::new(),
    };
    checked("generated push config", &push)?;
    checked("generated sink config", &sink)?;
    Ok(Pair {
        push_yaml: to_yaml(&push),
        sink_yaml: to_yaml(&sink),
        push,
        sink,
    })
}

/// Keep rules for both sides (see the module doc for why each is there).
pub fn recovery_pruning(prefix_re: &str) -> PruningSenderReceiver {
    let grid = |spec: &str| {
        KeepRule::Grid(KeepGrid {
            grid: spec.into(),
            regex: prefix_re.into(),
        })
    };
    let foreign = KeepRule::Regex(KeepRegex {
        regex: prefix_re.into(),
        negate: Some(true),
    });
    PruningSenderReceiver {
        keep_sender: vec![
            KeepRule::NotReplicated(KeepNotReplicated::default()),
            grid(SENDER_GRID),
            foreign.clone(),
        ],
        keep_receiver: vec![grid(RECEIVER_GRID), foreign],
    }
}

/// A receiver must stay byte-identical to its last snapshot, or the next
/// incremental receive fails ("destination has been modified"); atime
/// updates alone do that, so received datasets are read-only with atime off.
pub fn receiver_options() -> RecvOptions {
    let props: BTreeMap<String, String> = [("readonly", "on"), ("atime", "off")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    RecvOptions {
        properties: Some(RecvProperties {
            inherit: None,
            override_: Some(props),
        }),
        bandwidth_limit: None,
        placeholder: None,
    }
}

fn monitoring(listen: &Option<String>) -> Option<Global> {
    let listen = listen.as_ref()?;
    Some(Global {
        monitoring: Some(vec![Monitoring::Prometheus(PrometheusMonitoring {
            listen: listen.clone(),
            listen_freebind: None,
        })]),
        ..Global::default()
    })
}

/// Our output must be accepted by zrepl and raise no warning.
pub(crate) fn checked(what: &str, config: &Config) -> Result<(), ZreplError> {
    match validate_config(config) {
        Ok(v) if v.warnings.is_empty() => Ok(()),
        Ok(v) => Err(ZreplError::Invalid {
            what: what.into(),
            findings: v.warnings,
        }),
        Err(findings) => Err(ZreplError::Invalid {
            what: what.into(),
            findings,
        }),
    }
}

fn check_input(i: &PairInput) -> Result<(), ZreplError> {
    let bad = |what: &str, e: String| Err(ZreplError::Input(format!("{what}: {e}")));
    if let Err(e) = names::check_dataset(&i.primary_dataset) {
        return bad("primary dataset", e);
    }
    if !i.primary_dataset.contains('/') {
        // Reversal after a failover renames this dataset; a pool's root
        // dataset cannot be renamed.
        return bad(
            "primary dataset",
            format!(
                "{:?} is a pool's root dataset; use a dataset below it (e.g. {}/putfs)",
                i.primary_dataset, i.primary_dataset
            ),
        );
    }
    if let Err(e) = names::check_prefix(&i.snapshot_prefix) {
        return bad("snapshot prefix", e);
    }
    // Everything else (addresses, identity, root_fs, job names) is checked
    // by validating the generated configs, with the same messages zrepl
    // users see.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zrepl::validate;

    fn input() -> PairInput {
        let mut i = PairInput::new(
            "tank/putfs",
            "backup-host:8888",
            ":8888",
            "192.168.1.10",
            "primary",
            "tank/sink",
        );
        i.primary_prometheus = Some(":9811".into());
        i.sink_prometheus = Some("127.0.0.1:9811".into());
        i
    }

    #[test]
    fn generated_pair_validates_cleanly() {
        let pair = generate_pair(&input()).expect("generate");
        for text in [&pair.push_yaml, &pair.sink_yaml] {
            let v = validate(text).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
            assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        }
        assert_eq!(
            validate(&pair.push_yaml).map(|v| v.config),
            Ok(pair.push.clone())
        );
        assert!(
            pair.push_yaml.contains("interval: \"10m\""),
            "{}",
            pair.push_yaml
        );
        assert!(
            pair.push_yaml.contains("\"tank/putfs<\": true"),
            "{}",
            pair.push_yaml
        );
        assert!(pair.push_yaml.contains("type: \"not_replicated\""));
        assert!(
            pair.sink_yaml.contains("\"192.168.1.10\": \"primary\""),
            "{}",
            pair.sink_yaml
        );
        assert!(pair.sink_yaml.contains("root_fs: \"tank/sink\""));
    }

    #[test]
    fn prefix_is_escaped_in_regexes() {
        let mut i = input();
        i.snapshot_prefix = "zrepl.auto_".into();
        let pair = generate_pair(&i).expect("generate");
        assert!(
            pair.push_yaml.contains(r#"regex: "^zrepl\\.auto_""#),
            "{}",
            pair.push_yaml
        );
    }

    #[test]
    fn bad_inputs_are_reported() {
        let mut i = input();
        i.sink_address = "backup-host".into();
        let err = generate_pair(&i).unwrap_err().to_string();
        assert!(err.contains("missing port"), "{err}");

        let mut i = input();
        i.primary_identity = "a/b".into();
        let err = generate_pair(&i).unwrap_err().to_string();
        assert!(err.contains("client identity \"a/b\""), "{err}");

        let mut i = input();
        i.primary_dataset = "tank".into();
        assert!(
            generate_pair(&i)
                .unwrap_err()
                .to_string()
                .contains("pool's root")
        );

        let mut i = input();
        i.interval = Duration::from_millis(1500);
        assert!(generate_pair(&i).is_err());
    }
}
