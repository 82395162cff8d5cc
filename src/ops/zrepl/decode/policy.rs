//! What a job does: which filesystems, when to snapshot, what to prune.

use serde_yaml_ng::Value;

use super::job::req;
use super::{Decoder, Fields, kind};
use crate::ops::zrepl::model::*;
use crate::ops::zrepl::{names, syntax};

/// A filesystems filter: pattern → bool. zrepl requires it non-empty.
pub(crate) fn decode_filesystems(d: &mut Decoder, v: &Value, path: &str) -> Filesystems {
    let mut out = Filesystems::new();
    let Value::Mapping(m) = v else {
        d.error(
            path,
            format!(
                "filesystems must be a mapping of dataset pattern to true/false, found {}",
                kind(v)
            ),
        );
        return out;
    };
    if m.is_empty() {
        d.error(path, "filesystems must not be empty");
    }
    for (k, pass) in m {
        let Some(pattern) = k.as_str() else {
            d.error(
                path,
                format!("filesystems has a non-text pattern {}", kind(k)),
            );
            continue;
        };
        let epath = format!("{path}[{pattern:?}]");
        if pattern.is_empty() {
            d.warn(
                &epath,
                "the empty pattern matches no dataset; use \"<\" to match all datasets",
            );
        } else if let Err(e) = names::parse_pattern(pattern) {
            d.error(&epath, format!("invalid filter pattern {pattern:?}: {e}"));
        }
        let pass = d.bool(pass, &epath, "a filter value");
        out.insert(pattern.to_string(), pass);
    }
    if !m.is_empty() && !out.values().any(|p| *p) {
        d.warn(path, "no pattern is true, so this job selects no dataset");
    }
    out
}

pub(crate) fn decode_snapshotting(d: &mut Decoder, v: &Value, path: &str) -> Option<Snapshotting> {
    let t = d.type_tag(v, path, "snapshotting", &["periodic", "cron", "manual"])?;
    if t == "manual" {
        d.object(v, path, "manual snapshotting", &["type"])?;
        return Some(Snapshotting::Manual(ManualSnapshotting {}));
    }
    let when = if t == "periodic" { "interval" } else { "cron" };
    let allowed: &'static [&'static str] = if t == "periodic" {
        &[
            "type",
            "prefix",
            "interval",
            "hooks",
            "timestamp_format",
            "timestamp_location",
        ]
    } else {
        &[
            "type",
            "prefix",
            "cron",
            "hooks",
            "timestamp_format",
            "timestamp_location",
        ]
    };
    let f = d.object(v, path, &format!("{t} snapshotting"), allowed)?;
    let prefix = d.req_str(&f, "prefix");
    if !prefix.is_empty()
        && let Err(e) = names::check_prefix(&prefix)
    {
        d.error(&f.at("prefix"), format!("snapshot prefix {prefix:?} {e}"));
    }
    let schedule = d.req_str(&f, when);
    if !schedule.is_empty() {
        let checked = if t == "periodic" {
            syntax::zrepl_duration(&schedule).map(|_| ())
        } else {
            syntax::check_cron(&schedule)
        };
        if let Err(e) = checked {
            d.error(&f.at(when), format!("{when}: {e}"));
        }
    }
    let hooks = f.get("hooks").map(|v| decode_hooks(d, v, &f.at("hooks")));
    let timestamp_format = d.opt_str(&f, "timestamp_format");
    let timestamp_location = d.opt_str(&f, "timestamp_location");
    check_timestamp(
        d,
        &f,
        timestamp_format.as_deref(),
        timestamp_location.as_deref(),
    );
    Some(if t == "periodic" {
        Snapshotting::Periodic(PeriodicSnapshotting {
            prefix,
            interval: schedule,
            hooks,
            timestamp_format,
            timestamp_location,
        })
    } else {
        Snapshotting::Cron(CronSnapshotting {
            prefix,
            cron: schedule,
            hooks,
            timestamp_format,
            timestamp_location,
        })
    })
}

/// zrepl's named formats other than iso-8601 only make sense in UTC and
/// it refuses them elsewhere; a custom Go layout must not contain `+`.
fn check_timestamp(d: &mut Decoder, f: &Fields<'_>, format: Option<&str>, location: Option<&str>) {
    let format = format.unwrap_or("dense").to_ascii_lowercase();
    let utc = matches!(location, None | Some("UTC"));
    if matches!(format.as_str(), "dense" | "human" | "unix-seconds") && !utc {
        d.error(
            &f.at("timestamp_location"),
            format!("timestamp_format {format:?} requires timestamp_location \"UTC\""),
        );
    }
    if format.contains('+') {
        d.error(
            &f.at("timestamp_format"),
            "timestamp_format must not contain '+' (not allowed in snapshot names)",
        );
    }
}

fn decode_hooks(d: &mut Decoder, v: &Value, path: &str) -> Vec<Hook> {
    let Value::Sequence(items) = v else {
        d.error(path, format!("hooks must be a list, found {}", kind(v)));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let hpath = format!("{path}[{i}]");
        let types = &["command", "postgres-checkpoint", "mysql-lock-tables"];
        let Some(t) = d.type_tag(item, &hpath, "hook", types) else {
            continue;
        };
        let hook = if t == "command" {
            let allowed = &["type", "path", "timeout", "filesystems", "err_is_fatal"];
            d.object(item, &hpath, "command hook", allowed).map(|f| {
                Hook::Command(CommandHook {
                    path: d.req_str(&f, "path"),
                    timeout: d.opt_go_duration(&f, "timeout", 1),
                    filesystems: f
                        .get("filesystems")
                        .map(|v| decode_filesystems(d, v, &f.at("filesystems"))),
                    err_is_fatal: d.opt_bool(&f, "err_is_fatal"),
                })
            })
        } else {
            let allowed = &["type", "dsn", "timeout", "filesystems", "err_is_fatal"];
            d.object(item, &hpath, &format!("{t} hook"), allowed)
                .map(|f| {
                    let hook = DsnHook {
                        dsn: d.req_str(&f, "dsn"),
                        filesystems: req(d, &f, "filesystems")
                            .map(|v| decode_filesystems(d, v, &f.at("filesystems")))
                            .unwrap_or_default(),
                        timeout: d.opt_go_duration(&f, "timeout", 1),
                        err_is_fatal: d.opt_bool(&f, "err_is_fatal"),
                    };
                    if t == "postgres-checkpoint" {
                        Hook::PostgresCheckpoint(hook)
                    } else {
                        Hook::MysqlLockTables(hook)
                    }
                })
        };
        out.extend(hook);
    }
    out
}

/// `keep_sender` and `keep_receiver`. `warn_not_replicated`: the sender's
/// list should hold `not_replicated`, or pruning may destroy the snapshot
/// that the next incremental send (and any failover reversal) starts from.
pub(crate) fn decode_pruning(
    d: &mut Decoder,
    v: &Value,
    path: &str,
    warn_not_replicated: bool,
) -> Option<PruningSenderReceiver> {
    let f = d.object(v, path, "pruning", &["keep_sender", "keep_receiver"])?;
    let keep_sender = keep_list(d, &f, "keep_sender");
    let keep_receiver = keep_list(d, &f, "keep_receiver");
    if warn_not_replicated
        && let Some(list) = &keep_sender
        && !list.is_empty()
        && !list.iter().any(|r| matches!(r, KeepRule::NotReplicated(_)))
    {
        d.warn(
            &f.at("keep_sender"),
            "keep_sender has no not_replicated rule: pruning may destroy snapshots the receiver \
             does not have yet, forcing a full resend",
        );
    }
    Some(PruningSenderReceiver {
        keep_sender: keep_sender?,
        keep_receiver: keep_receiver?,
    })
}

pub(crate) fn decode_pruning_local(d: &mut Decoder, v: &Value, path: &str) -> Option<PruningLocal> {
    let f = d.object(v, path, "pruning", &["keep"])?;
    Some(PruningLocal {
        keep: keep_list(d, &f, "keep")?,
    })
}

/// A required, non-empty list of keep rules. Empty is refused by zrepl
/// and would mean "destroy every snapshot".
fn keep_list(d: &mut Decoder, f: &Fields<'_>, key: &str) -> Option<Vec<KeepRule>> {
    let path = f.at(key);
    let v = req(d, f, key)?;
    let Value::Sequence(items) = v else {
        d.error(
            &path,
            format!("{key} must be a list of keep rules, found {}", kind(v)),
        );
        return None;
    };
    if items.is_empty() {
        d.error(
            &path,
            format!("{key} must not be empty: list at least one keep rule"),
        );
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        out.extend(keep_rule(d, item, &format!("{path}[{i}]")));
    }
    Some(out)
}

fn keep_rule(d: &mut Decoder, v: &Value, path: &str) -> Option<KeepRule> {
    let t = d.type_tag(
        v,
        path,
        "keep rule",
        &["not_replicated", "last_n", "grid", "regex"],
    )?;
    Some(match t.as_str() {
        "not_replicated" => {
            let f = d.object(
                v,
                path,
                "not_replicated rule",
                &["type", "keep_snapshot_at_cursor"],
            )?;
            KeepRule::NotReplicated(KeepNotReplicated {
                keep_snapshot_at_cursor: d.opt_bool(&f, "keep_snapshot_at_cursor"),
            })
        }
        "last_n" => {
            let f = d.object(v, path, "last_n rule", &["type", "count", "regex"])?;
            let count = match f.get("count") {
                Some(c) => d.positive_int(c, &f.at("count"), "count"),
                None => {
                    d.error(&f.at("count"), "missing required field count");
                    1
                }
            };
            KeepRule::LastN(KeepLastN {
                count,
                regex: opt_regex(d, &f),
            })
        }
        "grid" => {
            let f = d.object(v, path, "grid rule", &["type", "grid", "regex"])?;
            let grid = d.req_str(&f, "grid");
            if !grid.is_empty()
                && let Err(e) = syntax::check_grid(&grid)
            {
                d.error(&f.at("grid"), format!("grid {grid:?}: {e}"));
            }
            let regex = d.req_str(&f, "regex");
            regex_ok(d, &f.at("regex"), &regex);
            KeepRule::Grid(KeepGrid { grid, regex })
        }
        _ => {
            let f = d.object(v, path, "regex rule", &["type", "regex", "negate"])?;
            let regex = d.req_str(&f, "regex");
            regex_ok(d, &f.at("regex"), &regex);
            KeepRule::Regex(KeepRegex {
                regex,
                negate: d.opt_bool(&f, "negate"),
            })
        }
    })
}

fn opt_regex(d: &mut Decoder, f: &Fields<'_>) -> Option<String> {
    let r = d.opt_str(f, "regex")?;
    regex_ok(d, &f.at("regex"), &r);
    Some(r)
}

fn regex_ok(d: &mut Decoder, path: &str, re: &str) {
    if !re.is_empty()
        && let Err(e) = syntax::check_regex(re)
    {
        d.error(path, e);
    }
}
