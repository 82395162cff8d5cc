//! `putfs ops rollback`: return the old primary to the shared snapshot.
//!
//! What it checks before anything changes, in this order, and why:
//! - the dataset is mounted: otherwise its mountpoint is a bare directory
//!   and the gap compared below would look empty;
//! - no writable putfs serves it (the writer's lock in `.putfs/lock`):
//!   objects it acknowledges during or after the rollback would be
//!   destroyed unseen, or served from a tree that changed under it;
//! - the gap it destroys is computed by walking both trees, which
//!   depends on nothing but them; where `zfs diff` exists it must agree,
//!   so a transfer that used it cannot have missed what is destroyed
//!   (`gap_report`; `--no-zfs-diff` drops that cross-check);
//! - the live tree is the data: a data root, the dataset mounted there in
//!   the mount table, not most of the snapshot gone (`live_root`,
//!   `mass_delete`);
//! - the gap it destroys was transferred and verified (the state file);
//! - no hold other than zrepl's pins a snapshot it destroys (see `holds`:
//!   zrepl's are released, others refused with the commands to run).
//!
//! A rerun after a completed rollback finds no object changed since the
//! snapshot and only rolls back again (dropping access-time updates, which
//! would break the next incremental receive), so a printed plan may repeat
//! the step.

use std::path::PathBuf;

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::gap::Kind;
use super::gap_report::{self, GapArgs, GapReport, Method};
use super::holds::{self, HoldPlan};
use super::mount_state::MountState;
use super::state::{self, Demoted, Rollback, State};
use super::writer_lock;
use super::zfs::{Snapshot, Zfs};

/// Roll the old primary's dataset back to the snapshot it shares with the
/// new primary (`zfs rollback -r`), destroying the gap objects and every
/// later snapshot.
///
/// The gap is found by walking both trees (whatever find-gap and
/// transfer-gap used), and where `zfs diff` exists it must agree with the
/// walk: a disagreement is refused, as a transfer made with `zfs diff` may
/// have missed what the rollback destroys (transfer again with
/// --no-zfs-diff, then roll back with --no-zfs-diff).
///
/// Refuses while a writable putfs serves the dataset, unless transfer-gap
/// has copied and verified exactly the gap that would be destroyed
/// (recorded in the state file), and while a snapshot it destroys is held
/// by anything but zrepl (zrepl's holds there are released). --force
/// skips the first two checks. Shows the snapshots and objects it would
/// destroy and asks first. Records that this node is rolled back (so
/// `ops status` says so). A rerun with no object changed since only rolls
/// back again, without asking: nothing is lost but access times.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// The shared snapshot to roll back to (the part after @).
    #[arg(long)]
    pub snapshot: String,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Roll back even without a verified transfer of the gap (its objects
    /// are then lost), and even while a writable putfs serves the dataset.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub gap: GapArgs,
}

pub fn run(args: RollbackArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let ds = ctx.dataset()?.to_owned();
    let zfs = ctx.zfs();
    let root = mounted_root(&zfs, &ds)?;
    check_writer(&root, args.force)?;
    let target = zfs.snapshot(&ds, &args.snapshot)?;
    let later = later_snapshots(&zfs, &ds, &target)?;
    let snap = SnapshotArgs {
        snapshot: Some(args.snapshot.clone()),
        snapshot_dir: None,
    };
    let gap_opts = args.gap.options(Method::Checked, true);
    let report = gap_report::compute(&ctx, &snap, gap_opts)?;
    let (state_path, mut st) = ctx.load_state()?;
    if let Some(at) = already_done(&st, &ds, &args.snapshot, &later, &report) {
        // Nothing of the gap is left, so nothing of value can be lost; but
        // a putfs serving it since (even read-only) changed access times,
        // and the next incremental receive refuses any change at all.
        eprintln!(
            "{ds} was rolled back to @{} at {at} and no object changed since: rolling back \
             again only discards access times and putfs's own files, so that it equals the \
             snapshot for the next incremental receive",
            args.snapshot
        );
        zfs.rollback(&ds, &args.snapshot)?;
        if ctx.common.json {
            println!(
                "{}",
                serde_json::json!({"already_rolled_back": {"dataset": ds, "snapshot": args.snapshot, "at": at}})
            );
        }
        return Ok(());
    }
    let holds = holds::plan(&zfs, &ds, &later)?;
    let check = transfer_check(&st, &ds, &args.snapshot, &state_path, &report);
    let bookmarks = later_bookmarks(&zfs, &ds, &target);
    show_plan(
        &ctx,
        &ds,
        &args.snapshot,
        &later,
        &bookmarks,
        &report,
        &holds,
        check.is_ok(),
    );

    if let Some(why) = holds.refusal() {
        return Err(OpsError::Refused(why));
    }
    if let Err(why) = check {
        if !args.force {
            return Err(OpsError::Refused(why));
        }
        eprintln!("warning: {why}; going ahead because of --force");
    }
    if !ctx.confirm(&format!("Roll {ds} back to @{}?", args.snapshot), &ds)? {
        return Ok(());
    }
    // Writes that landed while the operator read the plan would be
    // destroyed unseen: look again, and stop if anything changed.
    if !args.force {
        check_writer(&root, false)?;
        let again = gap_report::compute(&ctx, &snap, gap_opts)?;
        if again.fingerprint() != report.fingerprint() {
            return Err(OpsError::Refused(format!(
                "the gap changed while waiting for confirmation ({} object(s) now, {} in the \
                 plan): is putfs still taking writes on this node? Stop it, transfer again",
                again.summary.gap, report.summary.gap
            )));
        }
    }
    holds::release(&zfs, &holds)?;
    zfs.rollback(&ds, &args.snapshot)?;
    st.rollbacks.push(Rollback {
        dataset: ds.clone(),
        snapshot: args.snapshot.clone(),
        destroyed_snapshots: later,
        destroyed_objects: report.summary.gap,
        at: state::now(),
    });
    st.demote(
        Some(ds.clone()),
        Demoted::RolledBack {
            snapshot: args.snapshot.clone(),
        },
    );
    st.save(&state_path)?;
    eprintln!(
        "{ds} is back at @{}; recorded in {}",
        args.snapshot,
        state_path.display()
    );
    Ok(())
}

/// The live tree is only the dataset's while it is mounted.
fn mounted_root(zfs: &Zfs<'_>, ds: &str) -> Result<PathBuf, OpsError> {
    let st = MountState::read(zfs, ds)?;
    match st.path() {
        Some(p) if st.mounted => Ok(p),
        _ => Err(OpsError::Refused(format!(
            "{ds} is {}: its live tree cannot be compared with the snapshot (the mountpoint \
             would be a bare directory). Mount it (`zfs mount {ds}`) and run the rollback again",
            st.describe()
        ))),
    }
}

fn check_writer(root: &std::path::Path, force: bool) -> Result<(), OpsError> {
    let Some(w) = writer_lock::writer(root)? else {
        return Ok(());
    };
    let why = writer_lock::served_message(
        root,
        &w,
        "a rollback now destroys what it acknowledges from here on, and it would go on \
         serving a tree that changed under it",
    );
    if force {
        eprintln!("warning: {why}; going ahead because of --force");
        return Ok(());
    }
    Err(OpsError::Refused(why))
}

fn later_snapshots(zfs: &Zfs<'_>, ds: &str, target: &Snapshot) -> Result<Vec<String>, OpsError> {
    Ok(zfs
        .snapshots(ds)?
        .into_iter()
        .filter(|s| {
            (s.creation, s.createtxg) > (target.creation, target.createtxg) && s.name != target.name
        })
        .map(|s| s.name)
        .collect())
}

/// Bookmarks newer than the target, which `rollback -r` destroys too.
/// Where bookmarks do not exist (zfs-fuse) or txgs are unknown: none.
fn later_bookmarks(zfs: &Zfs<'_>, ds: &str, target: &Snapshot) -> Vec<String> {
    let Some(txg) = target.createtxg else {
        return Vec::new();
    };
    let out = zfs
        .runner
        .probe(&[
            "zfs",
            "list",
            "-H",
            "-p",
            "-t",
            "bookmark",
            "-d",
            "1",
            "-o",
            "name,createtxg",
            ds,
        ])
        .ok()
        .flatten()
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, t)| t.trim().parse::<u64>().is_ok_and(|t| t > txg))
        .map(|(n, _)| n.to_owned())
        .collect()
}

/// A finished rollback to this snapshot, with nothing changed since.
fn already_done(
    st: &State,
    ds: &str,
    snapshot: &str,
    later: &[String],
    report: &GapReport,
) -> Option<String> {
    let s = &report.summary;
    if !later.is_empty() || s.gap + s.deleted + s.conflicts > 0 {
        return None;
    }
    st.rollbacks
        .iter()
        .rev()
        .find(|r| r.dataset == ds && r.snapshot == snapshot)
        .map(|r| r.at.clone())
}

fn transfer_check(
    st: &State,
    ds: &str,
    snapshot: &str,
    state_path: &std::path::Path,
    report: &GapReport,
) -> Result<(), String> {
    match st.latest_transfer(snapshot) {
        None => Err(format!(
            "no transfer of the gap of {ds}@{snapshot} is recorded in {}: run \
             `putfs ops transfer-gap --dataset {ds} --snapshot {snapshot} --to NEW_PRIMARY` first",
            state_path.display(),
        )),
        Some(t) if !t.verified => Err(format!(
            "the last transfer of this gap (to {} at {}) was not verified: {}; resolve that \
             and transfer again",
            t.destination,
            t.at,
            t.conflicts.join("; ")
        )),
        Some(t) if t.fingerprint != report.fingerprint() => Err(format!(
            "the gap changed since it was transferred to {} at {} ({} object(s) then, {} now: \
             was the old primary written to since?); transfer it again",
            t.destination, t.at, t.objects, report.summary.gap
        )),
        Some(_) => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn show_plan(
    ctx: &Ctx,
    ds: &str,
    snapshot: &str,
    later: &[String],
    bookmarks: &[String],
    report: &GapReport,
    holds: &HoldPlan,
    transfer_verified: bool,
) {
    let gap: Vec<&str> = report.of_kind(Kind::Gap).map(|c| c.key.as_str()).collect();
    let changed: Vec<&str> = report
        .of_kind(Kind::Conflict)
        .map(|c| c.key.as_str())
        .collect();
    if ctx.common.json {
        let plan = serde_json::json!({"plan": {
            "command": ["zfs", "rollback", "-r", format!("{ds}@{snapshot}")],
            "destroys_snapshots": later,
            "destroys_bookmarks": bookmarks,
            "releases_zrepl_holds": holds.release,
            "blocked_by_holds": holds.blocking,
            "destroys_objects": gap,
            "reverts_objects": changed,
            "restores_deleted": report.summary.deleted,
            "transfer_verified": transfer_verified,
        }});
        println!("{plan}");
        return;
    }
    eprintln!("plan: zfs rollback -r {ds}@{snapshot}");
    eprintln!(
        "  destroys {} later snapshot(s): {}",
        later.len(),
        later.join(", ")
    );
    if !bookmarks.is_empty() {
        eprintln!(
            "  destroys {} later bookmark(s): {}",
            bookmarks.len(),
            bookmarks.join(", ")
        );
    }
    for (tag, snap) in &holds.release {
        eprintln!(
            "  releases zrepl's hold {tag} on {snap} first (it guards a replication step from \
             this node that will never resume; the snapshot goes anyway)"
        );
    }
    for h in &holds.blocking {
        eprintln!(
            "  BLOCKED: {} is held ({} hold(s){})",
            h.snapshot,
            h.count,
            h.tags
                .as_ref()
                .map(|t| format!(": {}", t.join(", ")))
                .unwrap_or_default()
        );
    }
    eprintln!(
        "  destroys {} gap object(s) ({} bytes):",
        gap.len(),
        report.summary.gap_bytes
    );
    for k in gap.iter().take(50) {
        eprintln!("    {k}");
    }
    if gap.len() > 50 {
        eprintln!("    … and {} more (--json lists all)", gap.len() - 50);
    }
    if !changed.is_empty() {
        eprintln!(
            "  reverts {} object(s) changed since the snapshot",
            changed.len()
        );
    }
    eprintln!(
        "  brings back {} object(s) deleted since the snapshot",
        report.summary.deleted
    );
}
