//! Jobs: the five job types, plus the checks that span jobs (unique names,
//! receiving roots that must not overlap).

use std::collections::HashMap;

use serde_yaml_ng::Value;

use super::options::{decode_conflict_resolution, decode_recv, decode_replication, decode_send};
use super::policy::{
    decode_filesystems, decode_pruning, decode_pruning_local, decode_snapshotting,
};
use super::transport::{decode_connect, decode_serve};
use super::{Decoder, Fields, kind};
use crate::ops::zrepl::model::{Job, PullJob, PushJob, SinkJob, SnapJob, SourceJob};
use crate::ops::zrepl::{names, syntax};

const TYPES: &[&str] = &["push", "sink", "pull", "source", "snap"];

pub(crate) fn decode_jobs(d: &mut Decoder, v: &Value, path: &str) -> Vec<Job> {
    let Value::Sequence(items) = v else {
        d.error(path, format!("jobs must be a list, found {}", kind(v)));
        return Vec::new();
    };
    let mut jobs = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut receiving_roots: Vec<(usize, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let jpath = format!("{path}[{i}]");
        let name = job_name(d, item, &jpath);
        d.set_job(name.clone());
        if let Some(name) = &name
            && let Some(first) = seen.insert(name.clone(), i)
        {
            d.error(
                &format!("{jpath}.name"),
                format!("duplicate job name {name:?} (also used by jobs[{first}]); zrepl requires unique names"),
            );
        }
        if let Some(job) = decode_job(d, item, &jpath) {
            if let Job::Sink(SinkJob { root_fs, .. }) | Job::Pull(PullJob { root_fs, .. }) = &job {
                receiving_roots.push((i, root_fs.clone()));
            }
            jobs.push(job);
        }
        d.set_job(None);
    }
    check_overlap(d, &receiving_roots, path);
    jobs
}

/// Read `name` early so every later message can mention the job.
fn job_name(d: &mut Decoder, item: &Value, jpath: &str) -> Option<String> {
    let name = item.as_mapping()?.get("name")?.as_str()?;
    if let Err(e) = names::check_job_name(name) {
        d.set_job(Some(name.to_string()));
        d.error(&format!("{jpath}.name"), format!("invalid job name: {e}"));
    }
    Some(name.to_string())
}

fn decode_job(d: &mut Decoder, v: &Value, path: &str) -> Option<Job> {
    let t = d.type_tag(v, path, "job", TYPES)?;
    match t.as_str() {
        "push" => push(d, v, path).map(Job::Push),
        "sink" => sink(d, v, path).map(Job::Sink),
        "pull" => pull(d, v, path).map(Job::Pull),
        "source" => source(d, v, path).map(Job::Source),
        _ => snap(d, v, path).map(Job::Snap),
    }
}

/// A required sub-mapping: report it missing, hand it on otherwise.
pub(crate) fn req<'v>(d: &mut Decoder, f: &Fields<'v>, key: &str) -> Option<&'v Value> {
    match f.get(key) {
        Some(v) if !v.is_null() => Some(v),
        Some(_) => {
            d.error(&f.at(key), format!("field {key} has no value"));
            None
        }
        None => {
            d.error(&f.at(key), format!("missing required field {key}"));
            None
        }
    }
}

const PUSH: &[&str] = &[
    "type",
    "name",
    "connect",
    "filesystems",
    "snapshotting",
    "pruning",
    "send",
    "replication",
    "conflict_resolution",
];

fn push(d: &mut Decoder, v: &Value, path: &str) -> Option<PushJob> {
    let f = d.object(v, path, "push job", PUSH)?;
    let name = d.req_str(&f, "name");
    let connect = req(d, &f, "connect").and_then(|v| decode_connect(d, v, &f.at("connect")));
    let filesystems =
        req(d, &f, "filesystems").map(|v| decode_filesystems(d, v, &f.at("filesystems")));
    let snapshotting =
        req(d, &f, "snapshotting").and_then(|v| decode_snapshotting(d, v, &f.at("snapshotting")));
    let pruning = req(d, &f, "pruning").and_then(|v| decode_pruning(d, v, &f.at("pruning"), true));
    let send = f.get("send").and_then(|v| decode_send(d, v, &f.at("send")));
    let replication = f
        .get("replication")
        .and_then(|v| decode_replication(d, v, &f.at("replication")));
    let conflict_resolution = f
        .get("conflict_resolution")
        .and_then(|v| decode_conflict_resolution(d, v, &f.at("conflict_resolution")));
    Some(PushJob {
        name,
        connect: connect?,
        filesystems: filesystems?,
        snapshotting: snapshotting?,
        pruning: pruning?,
        send,
        replication,
        conflict_resolution,
    })
}

fn sink(d: &mut Decoder, v: &Value, path: &str) -> Option<SinkJob> {
    let f = d.object(
        v,
        path,
        "sink job",
        &["type", "name", "serve", "root_fs", "recv"],
    )?;
    let name = d.req_str(&f, "name");
    let serve = req(d, &f, "serve").and_then(|v| decode_serve(d, v, &f.at("serve")));
    let root_fs = root_fs(d, &f);
    let recv = f.get("recv").and_then(|v| decode_recv(d, v, &f.at("recv")));
    Some(SinkJob {
        name,
        serve: serve?,
        root_fs,
        recv,
    })
}

const PULL: &[&str] = &[
    "type",
    "name",
    "connect",
    "root_fs",
    "interval",
    "pruning",
    "recv",
    "replication",
    "conflict_resolution",
];

fn pull(d: &mut Decoder, v: &Value, path: &str) -> Option<PullJob> {
    let f = d.object(v, path, "pull job", PULL)?;
    let name = d.req_str(&f, "name");
    let connect = req(d, &f, "connect").and_then(|v| decode_connect(d, v, &f.at("connect")));
    let root_fs = root_fs(d, &f);
    let interval = d.req_str(&f, "interval");
    if !interval.is_empty()
        && interval != "manual"
        && let Err(e) = syntax::zrepl_duration(&interval)
    {
        d.error(&f.at("interval"), format!("interval: {e}, or \"manual\""));
    }
    let pruning = req(d, &f, "pruning").and_then(|v| decode_pruning(d, v, &f.at("pruning"), true));
    let recv = f.get("recv").and_then(|v| decode_recv(d, v, &f.at("recv")));
    let replication = f
        .get("replication")
        .and_then(|v| decode_replication(d, v, &f.at("replication")));
    let conflict_resolution = f
        .get("conflict_resolution")
        .and_then(|v| decode_conflict_resolution(d, v, &f.at("conflict_resolution")));
    Some(PullJob {
        name,
        connect: connect?,
        root_fs,
        interval,
        pruning: pruning?,
        recv,
        replication,
        conflict_resolution,
    })
}

fn source(d: &mut Decoder, v: &Value, path: &str) -> Option<SourceJob> {
    let allowed = &[
        "type",
        "name",
        "serve",
        "filesystems",
        "snapshotting",
        "send",
    ];
    let f = d.object(v, path, "source job", allowed)?;
    let name = d.req_str(&f, "name");
    let serve = req(d, &f, "serve").and_then(|v| decode_serve(d, v, &f.at("serve")));
    let filesystems =
        req(d, &f, "filesystems").map(|v| decode_filesystems(d, v, &f.at("filesystems")));
    let snapshotting =
        req(d, &f, "snapshotting").and_then(|v| decode_snapshotting(d, v, &f.at("snapshotting")));
    let send = f.get("send").and_then(|v| decode_send(d, v, &f.at("send")));
    Some(SourceJob {
        name,
        serve: serve?,
        filesystems: filesystems?,
        snapshotting: snapshotting?,
        send,
    })
}

fn snap(d: &mut Decoder, v: &Value, path: &str) -> Option<SnapJob> {
    let f = d.object(
        v,
        path,
        "snap job",
        &["type", "name", "filesystems", "snapshotting", "pruning"],
    )?;
    let name = d.req_str(&f, "name");
    let filesystems =
        req(d, &f, "filesystems").map(|v| decode_filesystems(d, v, &f.at("filesystems")));
    let snapshotting =
        req(d, &f, "snapshotting").and_then(|v| decode_snapshotting(d, v, &f.at("snapshotting")));
    let pruning = req(d, &f, "pruning").and_then(|v| decode_pruning_local(d, v, &f.at("pruning")));
    Some(SnapJob {
        name,
        filesystems: filesystems?,
        snapshotting: snapshotting?,
        pruning: pruning?,
    })
}

/// `root_fs` is where received datasets land; zrepl needs a real dataset
/// path there, not the empty root.
fn root_fs(d: &mut Decoder, f: &Fields<'_>) -> String {
    let root = d.req_str(f, "root_fs");
    if !root.is_empty()
        && let Err(e) = names::check_dataset(&root)
    {
        d.error(
            &f.at("root_fs"),
            format!("root_fs {root:?} is not a valid dataset name: {e}"),
        );
    }
    root
}

/// zrepl refuses receiving jobs whose roots nest, since both would claim
/// the same datasets.
fn check_overlap(d: &mut Decoder, roots: &[(usize, String)], path: &str) {
    for (a, (i, ra)) in roots.iter().enumerate() {
        for (j, rb) in roots.iter().skip(a + 1) {
            if !ra.is_empty()
                && !rb.is_empty()
                && (names::is_within(ra, rb) || names::is_within(rb, ra))
            {
                d.error(
                    &format!("{path}[{j}].root_fs"),
                    format!("root_fs {rb:?} overlaps root_fs {ra:?} of jobs[{i}]; receiving jobs must use separate roots"),
                );
            }
        }
    }
}
