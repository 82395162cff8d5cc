//! Check a zrepl config the way zrepl v0.7 would, before it is installed.
//!
//! zrepl itself stops at the first problem and cannot run on every machine
//! (not on zfs-fuse, for one), so this is our `zrepl configcheck`: it
//! reports every problem at once, plus warnings for configs that zrepl
//! accepts but that would break a later failover.

use super::decode::{Decoder, decode_config};
use super::emit::to_yaml;
use super::error::{ConfigError, ConfigWarning, Finding};
use super::model::Config;

/// A config that zrepl would accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub config: Config,
    /// Accepted by zrepl, but risky for recovery.
    pub warnings: Vec<ConfigWarning>,
}

/// Parse and check `yaml_text`. On failure, every problem found is
/// returned, each with its path and job.
pub fn validate(yaml_text: &str) -> Result<Validated, Vec<ConfigError>> {
    let root: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml_text).map_err(|e| {
        let path = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        vec![Finding {
            path,
            job: None,
            message: format!("not valid YAML: {e}"),
        }]
    })?;
    let mut d = Decoder::default();
    let config = decode_config(&mut d, &root);
    match config {
        Some(config) if d.errors.is_empty() => Ok(Validated {
            config,
            warnings: d.warnings,
        }),
        _ => Err(d.errors),
    }
}

/// Check a config built in code, exactly as zrepl will see it once written.
pub fn validate_config(config: &Config) -> Result<Validated, Vec<ConfigError>> {
    validate(&to_yaml(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!(
            "{}/src/ops/zrepl/testdata/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    /// Errors of a config that must be rejected, as display strings.
    fn rejected(text: &str) -> Vec<String> {
        match validate(text) {
            Ok(v) => panic!("config was accepted: {v:?}"),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    }

    fn has(errs: &[String], needle: &str) -> bool {
        errs.iter().any(|e| e.contains(needle))
    }

    #[test]
    fn real_world_samples_validate() {
        // zrepl's own samples (internal/config/samples) in spirit, plus ours.
        for name in ["push.yml", "sink.yml", "pull_source.yml", "snap_global.yml"] {
            let v = validate(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
            assert!(v.warnings.is_empty(), "{name}: {:?}", v.warnings);
        }
    }

    #[test]
    fn validated_config_round_trips() {
        for name in ["push.yml", "sink.yml", "pull_source.yml", "snap_global.yml"] {
            let first = validate(&sample(name)).expect("valid").config;
            let text = to_yaml(&first);
            let again =
                validate(&text).unwrap_or_else(|e| panic!("{name} re-read: {e:#?}\n{text}"));
            assert_eq!(again.config, first, "{name}");
            // The serde model reads our output too.
            let typed: Config = serde_yaml_ng::from_str(&text).expect("serde model reads it");
            assert_eq!(typed, first);
        }
    }

    #[test]
    fn sink_without_root_fs() {
        let errs = rejected(&sample("broken_sink_no_root_fs.yml"));
        assert!(
            has(
                &errs,
                r#"job "putfs-sink": missing required field root_fs (at jobs[0].root_fs)"#
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn bad_durations() {
        for bad in ["10 minutes", "10x"] {
            let text = sample("push.yml").replace("interval: 10m", &format!("interval: {bad}"));
            let errs = rejected(&text);
            assert!(has(&errs, "job \"putfs-push\": interval:"), "{errs:#?}");
            assert!(has(&errs, "jobs[0].snapshotting.interval"), "{errs:#?}");
            assert!(has(&errs, bad), "{errs:#?}");
        }
    }

    #[test]
    fn empty_keep_sender() {
        let text = sample("push.yml").replace(
            "      keep_sender:\n        - type: not_replicated\n        - type: last_n\n          count: 10\n",
            "      keep_sender: []\n",
        );
        assert_ne!(
            text,
            sample("push.yml"),
            "the sample changed; update this test"
        );
        let errs = rejected(&text);
        assert!(has(&errs, "keep_sender must not be empty"), "{errs:#?}");
        assert!(has(&errs, "jobs[0].pruning.keep_sender"), "{errs:#?}");
    }

    #[test]
    fn misplaced_subtree_marker() {
        let text = sample("push.yml").replace(r#""tank/putfs<": true"#, r#""tank/<putfs": true"#);
        let errs = rejected(&text);
        assert!(
            has(&errs, "invalid filter pattern \"tank/<putfs\""),
            "{errs:#?}"
        );
        assert!(
            has(&errs, "'<' is only allowed once, at the end"),
            "{errs:#?}"
        );
    }

    #[test]
    fn unknown_key() {
        let text = sample("sink.yml").replace("    root_fs:", "    rootfs: tank/x\n    root_fs:");
        let errs = rejected(&text);
        assert!(
            has(&errs, r#"unknown field "rootfs" in sink job"#),
            "{errs:#?}"
        );
        let errs = rejected("jobs: []\nglobals: {}\n");
        assert!(has(&errs, r#"unknown field "globals""#), "{errs:#?}");
    }

    #[test]
    fn duplicate_job_name() {
        let text = format!(
            "{}{}",
            sample("push.yml"),
            sample("push.yml").replace("jobs:\n", "")
        );
        let errs = rejected(&text);
        assert!(
            has(
                &errs,
                r#"duplicate job name "putfs-push" (also used by jobs[0])"#
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let errs = rejected(&sample("broken_many.yml"));
        for needle in [
            "missing required field connect",
            "interval:",
            "keep_receiver must not be empty",
            "invalid filter pattern",
            "grid \"24x1h | 1x10m\"",
            "regex \"^zrepl_(\" does not compile",
            "unknown field \"clientz\"",
            "root_fs \"/tank/sink\" is not a valid dataset name",
            "listen: \"8888\": missing port",
            "duplicate job name",
        ] {
            assert!(has(&errs, needle), "missing {needle:?} in {errs:#?}");
        }
    }

    #[test]
    fn missing_not_replicated_is_a_warning() {
        let text = sample("push.yml").replace("        - type: not_replicated\n", "");
        assert_ne!(
            text,
            sample("push.yml"),
            "the sample changed; update this test"
        );
        let v = validate(&text).expect("zrepl accepts it");
        assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
        assert_eq!(v.warnings[0].path, "jobs[0].pruning.keep_sender");
        assert!(v.warnings[0].to_string().contains("not_replicated"));
    }

    #[test]
    fn yaml11_booleans_and_empty_file() {
        let text = sample("push.yml").replace(r#""tank/putfs<": true"#, r#""tank/putfs<": yes"#);
        let v = validate(&text).expect("go-yaml v2 reads yes as true");
        let crate::ops::zrepl::model::Job::Push(p) = &v.config.jobs[0] else {
            panic!()
        };
        assert_eq!(p.filesystems.get("tank/putfs<"), Some(&true));
        assert_eq!(validate("").map(|v| v.config), Ok(Config::default()));
        let errs = rejected("jobs: [");
        assert!(has(&errs, "not valid YAML"), "{errs:#?}");
    }

    #[test]
    fn overlapping_receivers() {
        let errs = rejected(
            "jobs:\n\
             - {type: sink, name: a, root_fs: tank/sink, serve: {type: local, listener_name: a}}\n\
             - {type: sink, name: b, root_fs: tank/sink/b, serve: {type: local, listener_name: b}}\n",
        );
        assert!(has(&errs, "overlaps root_fs \"tank/sink\""), "{errs:#?}");
    }
}
