//! Check a zrepl config the way zrepl v0.7 would, before it is installed.
//!
//! zrepl cannot run on every machine (not on zfs-fuse, for one), so this
//! is our `zrepl configcheck`: the strict parse (the reader lists every
//! missing or mistyped field it can, as zrepl does, and stops at anything
//! else), the included files, then every rule zrepl applies when it builds
//! the jobs, all reported at once, plus warnings for configs that zrepl
//! accepts but that would break a later failover.

use std::collections::HashMap;
use std::path::Path;

use super::emit::to_yaml;
use super::error::{ConfigError, ConfigWarning, Finding};
use super::include;
use super::model::{Config, Job};
use super::names;
use super::read::{Parsed, read};
use super::{rules, yaml};

/// A config that zrepl would accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The file's config; from [`validate_file`], with the jobs of the
    /// files it includes.
    pub config: Config,
    /// Accepted by zrepl, but risky for recovery.
    pub warnings: Vec<ConfigWarning>,
}

/// Check config text. Files it includes cannot be found from text alone
/// and are not read; [`validate_file`] reads them.
pub fn validate(yaml_text: &str) -> Result<Validated, Vec<ConfigError>> {
    let mut v = finish(vec![read(yaml_text, None)?])?;
    if !v.config.include.is_empty() {
        v.warnings.push(Finding {
            path: "include".into(),
            message: "included files are not read by this check; check the config file instead"
                .into(),
            ..Finding::default()
        });
    }
    Ok(v)
}

/// Check a config file and the files it includes, as zrepl reads them
/// from this path.
pub fn validate_file(path: &Path) -> Result<Validated, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Finding {
            message: format!("cannot read {}: {e}", path.display()),
            ..Finding::default()
        }]
    })?;
    finish(include::expand(path, read(&text, None)?)?)
}

/// Check a config built in code, exactly as zrepl will see it once written.
pub fn validate_config(config: &Config) -> Result<Validated, Vec<ConfigError>> {
    validate(&to_yaml(config))
}

/// Merge the files' jobs and apply the rules. A finding about a job names
/// the file and index it was written at; a rule's finding is left out
/// where the reader already refused what it is about.
fn finish(files: Vec<Parsed>) -> Result<Validated, Vec<ConfigError>> {
    let mut config = files.first().map(|p| p.config.clone()).unwrap_or_default();
    config.jobs = files.iter().flat_map(|p| p.config.jobs.clone()).collect();
    let origins: Vec<(usize, usize)> = (files.iter().enumerate())
        .flat_map(|(f, p)| p.indices.iter().map(move |&i| (f, i)))
        .collect();
    let place = |f| place(&files, &origins, f);
    let report = rules::check(&config);
    let names = job_names(&config.jobs, &origins, &files);
    let mut errors: Vec<Finding> = files.iter().flat_map(|p| p.errors.clone()).collect();
    errors.extend(names.into_iter().chain(report.errors).filter_map(place));
    if errors.is_empty() {
        let warnings = report.warnings.into_iter().filter_map(place).collect();
        return Ok(Validated { config, warnings });
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Err(errors)
}

/// Point a finding about the merged config at the file and index the job
/// was written at; `None` when the reader already refused what it is about.
fn place(files: &[Parsed], origins: &[(usize, usize)], mut f: Finding) -> Option<Finding> {
    let mut file = files.first()?;
    let job = f.path.strip_prefix("jobs[").and_then(|r| r.split_once(']'));
    if let Some((n, rest)) = job
        && let Some(&(in_file, i)) = n.parse::<usize>().ok().and_then(|n| origins.get(n))
    {
        f.path = format!("jobs[{i}]{rest}");
        file = files.get(in_file)?;
    }
    let covers = |e: &Finding| {
        let rest = f.path.strip_prefix(e.path.as_str());
        rest.is_some_and(|r| r.is_empty() || r.starts_with(['.', '[']))
    };
    if file.errors.iter().any(covers) {
        return None;
    }
    f.file = file.file.clone();
    f.line = f.line.or_else(|| yaml::line_at(&file.tree, &f.path));
    Some(f)
}

/// zrepl checks job names once the included jobs are merged: unique, and
/// usable in dataset, hold and bookmark names, where a leading `_` marks
/// zrepl's own jobs.
fn job_names(jobs: &[Job], origins: &[(usize, usize)], files: &[Parsed]) -> Vec<Finding> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for (n, job) in jobs.iter().enumerate() {
        let name = job.name();
        let mut finding = |message| {
            out.push(Finding {
                path: format!("jobs[{n}].name"),
                job: Some(name.to_string()),
                message,
                ..Finding::default()
            })
        };
        if let Err(e) = names::check_job_name(name) {
            finding(format!("invalid job name {name:?}: {e}"));
        }
        if let Some(&(file, i)) = seen.insert(name, n).and_then(|first| origins.get(first)) {
            let of = (files.get(file).and_then(|p| p.file.as_ref()))
                .map(|f| format!(" of {f}"))
                .unwrap_or_default();
            finding(format!(
                "duplicate job name {name:?} (also used by jobs[{i}]{of})"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = format!("{}/src/zrepl/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
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

    /// zrepl lists missing, empty and mistyped fields together, but stops
    /// at the first bad value syntax; the rules of building the jobs are
    /// checked once the file parses, and all of them are listed.
    #[test]
    fn all_problems_are_reported_together() {
        let errs = rejected(
            "jobs:\n\
             - {name: p1, type: push, connect: {type: tcp, address: \"b:8888\"},\n   \
                snapshotting: {type: manual}, send: {encrypted: \"true\"},\n   \
                pruning: {keep_sender: [{type: not_replicated}], keep_receiver: []}}\n\
             - {name: s1, type: sink, root_fs: \"\", serve: {type: tcp, listen: \":1\", clients: {}}}\n",
        );
        for needle in [
            "missing required field filesystems",
            "keep_receiver must not be empty",
            "encrypted: expected true or false, found quoted text \"true\"",
            "root_fs must not be empty",
            "clients must not be empty",
        ] {
            assert!(has(&errs, needle), "missing {needle:?} in {errs:#?}");
        }
        let errs = rejected(&sample("broken_many.yml"));
        for needle in [
            "invalid filter pattern",
            "grid: interval 2 (\"1x10m\") is shorter",
            "regex \"^zrepl_(\" does not compile",
            "identity \"a/b\"",
            "cannot use not_replicated",
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
        let crate::zrepl::model::Job::Push(p) = &v.config.jobs[0] else {
            panic!()
        };
        assert_eq!(p.filesystems.get("tank/putfs<"), Some(&true));
        assert_eq!(validate("").map(|v| v.config), Ok(Config::default()));
        let errs = rejected("jobs: [");
        assert!(has(&errs, "not valid YAML"), "{errs:#?}");
    }

    /// zrepl accepts receivers whose roots nest (its check is never
    /// called), but both would receive into the same datasets.
    #[test]
    fn overlapping_receivers() {
        let v = validate(
            "jobs:\n\
             - {type: sink, name: a, root_fs: tank/sink, serve: {type: local, listener_name: a}}\n\
             - {type: sink, name: b, root_fs: tank/sink/b, serve: {type: local, listener_name: b}}\n",
        )
        .expect("zrepl accepts it");
        let warnings: Vec<String> = v.warnings.iter().map(ToString::to_string).collect();
        assert!(
            has(&warnings, "overlaps root_fs \"tank/sink\""),
            "{warnings:#?}"
        );
    }
}
