//! Deletes the old primary acknowledged after the snapshot (find-gap's
//! `deleted`): without this step the recovery brings them back, since the
//! new primary B still holds what the snapshot held.
//!
//! A delete is applied at B only where B still holds the snapshot's own
//! copy: B's own writes since the failover always win. Each key is read
//! (version, SHA-256 and modification time from one look) and compared
//! with the snapshot's: the same bytes *and* the same modification time
//! (to the second). zfs receive, `rsync -a` and rclone keep a replicated
//! object's mtime, while an object a client wrote on B since (deleted and
//! PUT again, or a mutable key replaced, even with the very same bytes) is
//! a new file with a time of its own. It is deleted on the condition that
//! B still holds that very version, a condition B checks atomically with
//! the unlink (`If-Match` over HTTP; at a directory, the store's own
//! conditional delete under the writer's lock, taken so that no putfs can
//! write there meanwhile: `dir.rs`). A version that changed in between is
//! kept and reported, never forced.
//!
//! What cannot be seen: a PUT on B of exactly the bytes of an object B
//! still holds is answered 204 without touching the object (write-once
//! keys), so it leaves no trace, and such a key is deleted like the
//! others. The plan says so.
//!
//! Rerunning is harmless: what is gone is reported as absent.

pub mod dir;
pub mod http;

use serde::Serialize;

use crate::context::Ctx;
use crate::error::OpsError;
use crate::gap::Change;
use crate::state::{DeleteRun, KeptDelete, now};

/// The version of an object the destination holds.
pub struct Found {
    pub etag: String,
    pub sha256: String,
    /// Its modification time, in seconds since the epoch, where known.
    pub modified: Option<i64>,
}

/// What a conditional delete did.
pub enum Deleted {
    Done,
    /// Nothing was there (any more).
    Absent,
    /// Another version was there by then.
    Changed,
    /// The destination would not (a retention rule, say).
    Refused(String),
}

/// How deletes reach the destination.
pub trait Backend {
    fn current(&self, key: &str) -> Result<Option<Found>, OpsError>;
    fn delete_if_match(&self, key: &str, etag: &str) -> Result<Deleted, OpsError>;
}

enum Plan {
    Delete(String),
    Absent,
    Keep(String),
}

#[derive(Serialize)]
struct PlanLine<'a> {
    key: &'a str,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// Look at every deleted key at the destination, show the plan, ask, and
/// apply it. `None` in a dry run (or when there is nothing to do and
/// nothing to record).
pub fn apply(
    ctx: &Ctx,
    deleted: &[&Change],
    backend: &dyn Backend,
    snapshot: &str,
    destination: &str,
) -> Result<Option<DeleteRun>, OpsError> {
    let mut plans = Vec::with_capacity(deleted.len());
    for d in deleted {
        let plan = match backend.current(&d.key)? {
            None => Plan::Absent,
            Some(f) => judge(d, f, destination),
        };
        plans.push(plan);
    }
    let to_delete = plans
        .iter()
        .filter(|p| matches!(p, Plan::Delete(_)))
        .count();
    show_plan(ctx, deleted, &plans, destination);
    if to_delete > 0 {
        let what = format!(
            "Delete {to_delete} object(s) at {destination} (each is the snapshot's own copy: same \
             bytes, same mtime)?"
        );
        if !ctx.confirm(&what, "delete")? {
            return Ok(None);
        }
    } else if ctx.common.dry_run {
        return Ok(None);
    }
    let mut run = DeleteRun {
        snapshot: snapshot.to_owned(),
        destination: destination.to_owned(),
        deleted: Vec::new(),
        absent: Vec::new(),
        kept: Vec::new(),
        at: now(),
    };
    for (d, plan) in deleted.iter().zip(plans) {
        let key = d.key.clone();
        match plan {
            Plan::Absent => run.absent.push(key),
            Plan::Keep(reason) => run.kept.push(KeptDelete { key, reason }),
            Plan::Delete(etag) => match backend.delete_if_match(&key, &etag)? {
                Deleted::Done => run.deleted.push(key),
                Deleted::Absent => run.absent.push(key),
                Deleted::Changed => run.kept.push(KeptDelete {
                    key,
                    reason: format!("changed at {destination} while this ran"),
                }),
                Deleted::Refused(why) => run.kept.push(KeptDelete {
                    key,
                    reason: format!("{destination} refused the delete: {why}"),
                }),
            },
        }
    }
    Ok(Some(run))
}

/// Delete only the snapshot's own copy: its bytes, and its mtime.
fn judge(d: &Change, f: Found, destination: &str) -> Plan {
    if Some(&f.sha256) != d.sha256.as_ref() {
        return Plan::Keep(format!(
            "{destination} holds other bytes (sha256 {}) than the snapshot: written there since",
            f.sha256
        ));
    }
    let snapshot_s = d.mtime_ns.div_euclid(1_000_000_000) as i64;
    match f.modified {
        Some(m) if m == snapshot_s => Plan::Delete(f.etag),
        Some(m) => Plan::Keep(format!(
            "{destination} holds the snapshot's bytes, but as an object written there since \
             (modified {}, the snapshot's copy {})",
            rfc3339(m),
            rfc3339(snapshot_s)
        )),
        None => Plan::Keep(format!(
            "{destination} does not say when its copy was written, so it cannot be told from \
             one a client wrote there since"
        )),
    }
}

fn rfc3339(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn show_plan(ctx: &Ctx, deleted: &[&Change], plans: &[Plan], destination: &str) {
    if ctx.common.json {
        let lines: Vec<PlanLine> = deleted
            .iter()
            .zip(plans)
            .map(|(d, p)| {
                let (action, reason) = match p {
                    Plan::Delete(_) => ("delete", None),
                    Plan::Absent => ("absent", None),
                    Plan::Keep(r) => ("keep", Some(r.as_str())),
                };
                PlanLine {
                    key: &d.key,
                    action,
                    reason,
                }
            })
            .collect();
        println!("{}", serde_json::json!({ "delete_plan": lines }));
        return;
    }
    eprintln!("deletes acknowledged on this node after the snapshot, at {destination}:");
    for (d, p) in deleted.iter().zip(plans) {
        match p {
            Plan::Delete(_) => eprintln!("  delete  {}", d.key),
            Plan::Absent => eprintln!("  gone    {} (already deleted there)", d.key),
            Plan::Keep(why) => eprintln!("  KEEP    {}: {why}", d.key),
        }
    }
    if plans.iter().any(|p| matches!(p, Plan::Delete(_))) {
        eprintln!(
            "  (each \"delete\" is the snapshot's own copy, same bytes and same mtime; one \
             thing cannot be seen: a client's PUT at {destination} of exactly those bytes, \
             answered 204, leaves the object untouched, so such a key is deleted too. See \
             README, \"Disaster recovery\")"
        );
    }
}

/// The human report of a run.
pub fn report(run: &DeleteRun) {
    eprintln!(
        "deletes at {}: {} deleted, {} already gone, {} kept",
        run.destination,
        run.deleted.len(),
        run.absent.len(),
        run.kept.len()
    );
    for k in &run.kept {
        eprintln!("  KEPT: {}: {}", k.key, k.reason);
    }
}
