//! `putfs ops rollback`: return the old primary to the shared snapshot.
//!
//! What it checks before anything changes, in this order, and why:
//! - the dataset is mounted: otherwise its mountpoint is a bare directory
//!   and the gap compared below would look empty (`dataset.rs`);
//! - no writable putfs serves it: the writer's lock (`.putfs/lock`) is
//!   taken, and held until `zfs rollback` has returned, so none can start
//!   either (one that tries waits briefly, then refuses, naming this run):
//!   objects it acknowledged during or after the rollback would be
//!   destroyed unseen, or served from a tree that changed under it;
//! - the gap it destroys is computed by walking both trees, which
//!   depends on nothing but them; where `zfs diff` exists it must agree,
//!   so a transfer that used it cannot have missed what is destroyed
//!   (`gap_report`; `--no-zfs-diff` drops that cross-check);
//! - the live tree is the data: a data root, the dataset mounted there in
//!   the mount table, not most of the snapshot gone (`live_root`,
//!   `mass_delete`);
//! - the gap it destroys was transferred and verified, and the deletes
//!   acknowledged after the snapshot were applied where it went
//!   (`checks.rs`; the plan names that transfer: `plan.rs`);
//! - no hold other than zrepl's pins a snapshot it destroys (see `holds`:
//!   zrepl's are released, others refused with the commands to run).
//!
//! Each of the three checks that can be overridden has its own switch,
//! named for what it lets go (`--ignore-writer`, `--discard-gap`,
//! `--keep-deleted`): overriding one never skips another. After the
//! confirmation the gap is compared again. Whatever was decided about the
//! deletes, their list is saved in the state file before the rollback,
//! because afterwards nothing lists them (`putfs ops apply-deletes`
//! applies it later).
//!
//! A rerun after a completed rollback finds no object changed since the
//! snapshot and only rolls back again (dropping access-time updates, which
//! would break the next incremental receive), so a printed plan may repeat
//! the step.

mod checks;
mod dataset;
mod plan;

use std::fs::File;
use std::path::Path;

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::gap::Kind;
use super::gap_report::{self, GapArgs, GapReport, Method};
use super::holds;
use super::state::{self, DeletedObject, Demoted, Rollback, SavedDeletes, State};
use super::writer_lock::{self, NotHeld};

/// Roll the old primary's dataset back to the snapshot it shares with the
/// new primary (`zfs rollback -r`), destroying the gap objects and every
/// later snapshot.
///
/// Refuses while a writable putfs serves the dataset (and holds its
/// writer's lock until the rollback is done, so none starts meanwhile),
/// unless transfer-gap has copied and verified exactly the gap that would
/// be destroyed (recorded in the state file), unless the deletes
/// acknowledged after the snapshot were applied at that transfer's
/// destination, and while a snapshot it destroys is held by anything but
/// zrepl (zrepl's holds there are released). Shows what it destroys and
/// the transfer it relies on, and asks first. Saves the list of deletes
/// and records that this node is rolled back (so `ops status` says so). A
/// rerun with no object changed since only rolls back again, without
/// asking: nothing is lost but access times.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// The shared snapshot to roll back to (the part after @).
    #[arg(long)]
    pub snapshot: String,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Roll back even while a writable putfs serves the dataset: what it
    /// acknowledges from now on is destroyed, and it goes on serving a
    /// tree that changed under it.
    #[arg(long)]
    pub ignore_writer: bool,
    /// Roll back without a verified transfer of this gap: its objects are
    /// destroyed.
    #[arg(long)]
    pub discard_gap: bool,
    /// Roll back although the deletes acknowledged after the snapshot were
    /// not applied at the transfer's destination: they stay undone there
    /// (their list is saved in the state file; `putfs ops apply-deletes`
    /// applies it later).
    #[arg(long)]
    pub keep_deleted: bool,
    #[command(flatten)]
    pub gap: GapArgs,
}

pub fn run(args: RollbackArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live.clone(), args.common.clone());
    let ds = ctx.dataset()?.to_owned();
    let zfs = ctx.zfs();
    let root = dataset::mounted_root(&zfs, &ds)?;
    // From here until `zfs rollback` has returned, no putfs can start
    // writing.
    let _lock = lock_out_writers(&root, args.ignore_writer, ctx.common.dry_run)?;
    let target = zfs.snapshot(&ds, &args.snapshot)?;
    let later = dataset::later_snapshots(&zfs, &ds, &target)?;
    let snap = SnapshotArgs {
        snapshot: Some(args.snapshot.clone()),
        snapshot_dir: None,
    };
    let gap_opts = args.gap.options(Method::Checked, true);
    let report = gap_report::compute(&ctx, &snap, gap_opts)?;
    let (state_path, mut st) = ctx.load_state()?;
    if let Some(at) = checks::already_done(&st, &ds, &args.snapshot, &later, &report) {
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
    let transfer = checks::transfer(&st, &ds, &args.snapshot, &state_path, &report);
    let deletes = checks::deletes(&st, &ds, &args.snapshot, &report);
    let bookmarks = dataset::later_bookmarks(&zfs, &ds, &target);
    plan::show(
        &ctx,
        &plan::Plan {
            ds: &ds,
            snapshot: &args.snapshot,
            later: &later,
            bookmarks: &bookmarks,
            report: &report,
            holds: &holds,
            transfer: st.latest_transfer(&args.snapshot),
            transfer_ok: transfer.is_ok(),
            deletes: &deletes,
        },
    );

    if let Some(why) = holds.refusal() {
        return Err(OpsError::Refused(why));
    }
    overridable(transfer.map(drop), args.discard_gap, "--discard-gap")?;
    let deletes_status = match deletes {
        Ok(how) => how,
        Err(why) => {
            overridable(Err(why), args.keep_deleted, "--keep-deleted")?;
            Some("kept undone at the new primary on purpose (--keep-deleted)".to_owned())
        }
    };
    if !ctx.confirm(&format!("Roll {ds} back to @{}?", args.snapshot), &ds)? {
        return Ok(());
    }
    // Writes that landed while the operator read the plan would be
    // destroyed unseen (possible only under --ignore-writer, or through a
    // tool that does not take the lock): look again, and stop if anything
    // changed.
    let again = gap_report::compute(&ctx, &snap, gap_opts)?;
    if again.fingerprint() != report.fingerprint() {
        return Err(OpsError::Refused(format!(
            "the gap changed while waiting for confirmation ({} object(s) now, {} in the \
             plan): is something still writing on this node? Stop it, transfer again",
            again.summary.gap, report.summary.gap
        )));
    }
    if let Some(status) = deletes_status {
        save_deletes(&mut st, &ds, &args.snapshot, &report, status);
        st.save(&state_path)?;
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

/// Take the writer's lock and keep it (a dry run only looks): refused
/// while a writable putfs holds it, unless `--ignore-writer`.
fn lock_out_writers(root: &Path, ignore: bool, dry_run: bool) -> Result<Option<File>, OpsError> {
    let holder = if dry_run {
        match writer_lock::writer(root)? {
            None => return Ok(None),
            Some(w) => w,
        }
    } else {
        match writer_lock::hold(root, "putfs ops rollback") {
            Ok(file) => return Ok(Some(file)),
            Err(NotHeld::By(w)) => w,
            Err(NotHeld::NoMarker) => {
                eprintln!(
                    "note: {} has no .putfs/: no putfs serves it writable, and none starts \
                     there without --init; going ahead without its writer's lock",
                    root.display()
                );
                return Ok(None);
            }
            Err(NotHeld::Failed(e)) => return Err(e),
        }
    };
    let why = writer_lock::served_message(
        root,
        &holder,
        "a rollback now destroys what it acknowledges from here on, and it would go on \
         serving a tree that changed under it",
    );
    if ignore {
        eprintln!("warning: {why}; going ahead because of --ignore-writer");
        return Ok(None);
    }
    Err(OpsError::Refused(why))
}

/// A check's refusal, unless its own switch overrides it.
fn overridable(check: Result<(), String>, overridden: bool, switch: &str) -> Result<(), OpsError> {
    match check {
        Ok(()) => Ok(()),
        Err(why) if overridden => {
            eprintln!("warning: {why}; going ahead because of {switch}");
            Ok(())
        }
        Err(why) => Err(OpsError::Refused(why)),
    }
}

/// Keep the list of deletes, which the rollback makes unlistable.
fn save_deletes(st: &mut State, ds: &str, snapshot: &str, report: &GapReport, status: String) {
    let objects = report
        .of_kind(Kind::Deleted)
        .map(|c| DeletedObject {
            key: c.key.clone(),
            sha256: c.sha256.clone(),
            size: c.size,
            mtime_ns: c.mtime_ns,
        })
        .collect();
    st.saved_deletes.push(SavedDeletes {
        dataset: ds.to_owned(),
        snapshot: snapshot.to_owned(),
        objects,
        status,
        at: state::now(),
    });
}
