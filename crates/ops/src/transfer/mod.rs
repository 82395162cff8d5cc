//! `putfs ops transfer-gap`: copy the gap to the new primary without ever
//! replacing anything there, make it durable there, check that every object
//! arrived with the same SHA-256, and record the verified transfer for
//! `rollback`. Then show the deletes the old primary acknowledged after the
//! snapshot, with the command that applies them, or apply them when asked.
//!
//! - `dest.rs`, `remote_fs.rs`: `--to`, checked to be another node's data
//!   root (existing, not this node's own, not on a network filesystem);
//! - `node.rs`, `http.rs`: a putfs node (`--to http://…`), keys created
//!   with `If-None-Match: *`;
//! - `rsync.rs`, `target.rs`, `publish.rs`, `durable.rs`, `peer_root.rs`:
//!   a data root reached as a directory, staged by rsync under its
//!   `.putfs/`, published without replacing, fsynced file by file and
//!   directory by directory;
//! - `deletes/`: the acknowledged deletes;
//! - `command.rs`: the command line that applies them.

mod command;
pub(crate) mod deletes;
pub(crate) mod dest;
mod durable;
mod http;
pub(crate) mod node;
mod peer_root;
mod publish;
mod remote_fs;
mod rsync;
mod target;

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::find_gap;
use super::gap::{Change, Kind};
use super::gap_report::{self, GapArgs, GapReport, Method};
use super::state::{self, DeleteRun, Transfer};
use super::writer_lock;
use crate::store::{Key, KeyLimits};
use deletes::Backend;
use dest::Destination;

/// Copy the gap files to the new primary (purely additive), verify them
/// there, and record the result so `rollback` knows it is safe.
///
/// DEST is a putfs node (http://host:port: every PUT carries
/// `If-None-Match: *`, so nothing there is replaced, and `Repr-Digest`, so
/// the node verifies every byte; a key it already holds is compared: the
/// same bytes count as done, other bytes are a conflict, reported, never
/// forced) or a local directory holding the new primary's data root (rsync
/// copies into its `.putfs/`, each object is then moved into place by a
/// rename that never replaces, and every object and directory is fsynced
/// before the transfer is recorded).
///
/// DEST must be another node's data root: a directory that does not exist
/// (or holds no .putfs/), this node's own root or address, and a directory
/// on a network filesystem are refused before anything is copied.
///
/// Objects deleted on this node after the snapshot are listed, with the
/// command that deletes them at DEST: --apply-deletes deletes each one
/// where DEST still holds the snapshot's own copy (same bytes, same
/// mtime), never what DEST wrote since. Rerunning after an interruption
/// finishes the job.
///
/// The gap is computed as find-gap does, with the same refusals (exit 3):
/// a live root that is not the data (no .putfs/, the dataset not mounted
/// there), and a live tree missing most of the snapshot unless
/// --accept-mass-delete.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub gap: GapArgs,
    /// http(s):// URL of the new primary's putfs, or a local directory
    /// holding its data root.
    #[arg(long)]
    pub to: String,
    /// Bearer token for an http destination (putfs --write-token).
    #[arg(long, env = "PUTFS_WRITE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Parallel uploads to an http destination.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Record the transfer as verified even though some keys conflict
    /// (their other version is then lost by a rollback).
    #[arg(long)]
    pub ignore_conflicts: bool,
    /// Also delete at DEST the objects deleted here after the snapshot,
    /// where DEST still holds the snapshot's own copy (asks first; --yes).
    /// At a directory only while no writable putfs serves it.
    #[arg(long)]
    pub apply_deletes: bool,
}

/// What happened to each gap object at the destination.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub copied: u64,
    pub already_there: u64,
    /// Keys whose bytes at the destination differ.
    pub conflicts: Vec<String>,
}

/// A key of the gap as the store takes it: any key some putfs accepted
/// (the limits A's server was run with are not known here).
pub(crate) fn parse_key(key: &str) -> Result<Key, OpsError> {
    let any = KeyLimits {
        max_depth: usize::MAX,
        max_key_bytes: usize::MAX,
    };
    Key::parse(key, any).map_err(|e| OpsError::Other(format!("{key:?} is not a putfs key: {e}")))
}

pub fn run(args: TransferArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live.clone(), args.common.clone());
    let root = ctx.root()?;
    let dest = Destination::open(&args.to, args.token.clone(), &root)?;
    let report = gap_report::compute(&ctx, &args.snapshot, args.gap.options(Method::Fast, true))?;
    let gap: Vec<&Change> = report.of_kind(Kind::Gap).collect();
    let deleted: Vec<&Change> = report.of_kind(Kind::Deleted).collect();
    let dry_run = ctx.common.dry_run;
    // Deletes at a directory hold its writer's lock from here on: while a
    // server writes there, refused before anything is changed.
    let backend: Option<Box<dyn Backend + '_>> = if args.apply_deletes && !deleted.is_empty() {
        Some(dest.delete_backend(dry_run)?)
    } else {
        None
    };
    if !ctx.common.json {
        find_gap::print_summary(&report);
        eprintln!("transferring {} object(s) to {}", gap.len(), args.to);
    }
    let outcome = match &dest {
        Destination::Node(n) => http::transfer(&ctx, &root, &gap, n, args.jobs)?,
        Destination::Dir(p) => rsync::transfer(&ctx, &root, &gap, p)?,
    };
    if dry_run {
        eprintln!("dry run: nothing was transferred");
        match &backend {
            Some(b) => {
                deletes::apply(&ctx, &deleted, b.as_ref(), &report.snapshot, &args.to)?;
            }
            None if !ctx.common.json => pending_notice(&deleted, &dest, &args.to),
            None => {}
        }
        return Ok(());
    }
    let (path, mut st) = ctx.load_state()?;
    let conflicts = record(&report, &args, &outcome, &mut st);
    st.save(&path)?;
    if !ctx.common.json {
        print_transfer(&report, &args, &outcome, &conflicts, &path);
    }
    let delete_run = match &backend {
        Some(b) => deletes::apply(&ctx, &deleted, b.as_ref(), &report.snapshot, &args.to),
        None => Ok(None),
    };
    if let Ok(Some(run)) = &delete_run {
        st.deletes.push(run.clone());
        st.save(&path)?;
        if !ctx.common.json {
            deletes::report(run);
        }
    }
    let pending = backend.is_none() && !deleted.is_empty();
    if pending && !ctx.common.json {
        pending_notice(&deleted, &dest, &args.to);
    }
    if ctx.common.json {
        print_json(
            &report,
            &args,
            &outcome,
            &conflicts,
            &path,
            &delete_run,
            pending,
            &deleted,
        );
    }
    delete_run?;
    if conflicts.is_empty() || args.ignore_conflicts {
        Ok(())
    } else {
        Err(OpsError::Conflicts(format!(
            "{} conflict(s): these keys hold different bytes on the two sides and were not \
             overwritten; resolve them, or accept with --ignore-conflicts (rollback then \
             destroys the old primary's version)",
            conflicts.len()
        )))
    }
}

/// Record the transfer in the state; the conflicts (of the destination,
/// and keys changed since the snapshot).
fn record(
    report: &GapReport,
    args: &TransferArgs,
    outcome: &Outcome,
    st: &mut state::State,
) -> Vec<String> {
    let mut conflicts = outcome.conflicts.clone();
    conflicts.extend(
        report
            .of_kind(Kind::Conflict)
            .map(|c| format!("{} (changed since the snapshot)", c.key)),
    );
    st.transfers.push(Transfer {
        snapshot: report.snapshot.clone(),
        destination: args.to.clone(),
        objects: report.summary.gap,
        bytes: report.summary.gap_bytes,
        fingerprint: report.fingerprint(),
        verified: conflicts.is_empty() || args.ignore_conflicts,
        conflicts: conflicts.clone(),
        deleted: report
            .of_kind(Kind::Deleted)
            .map(|c| c.key.clone())
            .collect(),
        at: state::now(),
    });
    conflicts
}

fn print_transfer(
    report: &GapReport,
    args: &TransferArgs,
    outcome: &Outcome,
    conflicts: &[String],
    path: &std::path::Path,
) {
    let same = (report.summary.gap as usize).saturating_sub(outcome.conflicts.len());
    eprintln!(
        "{} gap object(s): {} copied, {} already there; {same} verified identical and durable \
         at {} by sha256",
        report.summary.gap, outcome.copied, outcome.already_there, args.to
    );
    for c in conflicts {
        eprintln!("  CONFLICT: {c}");
    }
    eprintln!("recorded in {}", path.display());
}

#[allow(clippy::too_many_arguments)]
fn print_json(
    report: &GapReport,
    args: &TransferArgs,
    outcome: &Outcome,
    conflicts: &[String],
    path: &std::path::Path,
    delete_run: &Result<Option<DeleteRun>, OpsError>,
    pending: bool,
    deleted: &[&Change],
) {
    let deletes = match delete_run {
        Ok(Some(run)) => serde_json::to_value(run).unwrap_or_default(),
        Ok(None) if pending => serde_json::json!({
            "pending": deleted.iter().map(|c| &c.key).collect::<Vec<_>>(),
            "apply_command": command::apply_deletes(),
        }),
        Ok(None) => serde_json::Value::Null,
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    let summary = serde_json::json!({"summary": {
        "snapshot": report.snapshot,
        "destination": args.to,
        "gap": report.summary.gap,
        "gap_bytes": report.summary.gap_bytes,
        "copied": outcome.copied,
        "already_there": outcome.already_there,
        "conflicts": conflicts,
        "verified": conflicts.is_empty() || args.ignore_conflicts,
        "deletes": deletes,
        "state": path.display().to_string(),
    }});
    println!("{summary}");
}

/// The acknowledged deletes that were not applied, shown so that nobody
/// misses them, with the command that applies them.
fn pending_notice(deleted: &[&Change], dest: &Destination, to: &str) {
    if deleted.is_empty() {
        return;
    }
    eprintln!();
    eprintln!(
        "!! {} object(s) were deleted on this node after the snapshot (acknowledged to their \
         clients) and are NOT deleted at {to}; the recovery brings them back unless you apply \
         the deletes:",
        deleted.len()
    );
    for c in deleted.iter().take(50) {
        eprintln!("!!   {}", c.key);
    }
    if deleted.len() > 50 {
        eprintln!(
            "!!   … and {} more (find-gap --list deleted lists all)",
            deleted.len() - 50
        );
    }
    eprintln!(
        "!! To delete each one at {to} where it still holds the snapshot's own copy (never \
         what it wrote since), run (`putfs ops rollback` refuses until they are applied, or \
         dropped on purpose with --keep-deleted):"
    );
    let served = |p| {
        writer_lock::writer(p)
            .ok()
            .flatten()
            .is_some_and(|w| w.is_server())
    };
    match dest {
        Destination::Dir(p) if served(p) => {
            eprintln!(
                "!! (a writable putfs serves {to}: deletes go through it; replace \
                 http://ITS-ADDRESS below)"
            );
            eprintln!("    {}", command::apply_deletes_via("http://ITS-ADDRESS"));
        }
        _ => eprintln!("    {}", command::apply_deletes()),
    }
    if command::had_token() {
        eprintln!("!! (with the write token in PUTFS_WRITE_TOKEN: it is left out above)");
    }
    eprintln!();
}
