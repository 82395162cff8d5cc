//! `putfs ops transfer-gap`: copy the gap to the new primary without ever
//! overwriting anything there, check every object arrived with the same
//! SHA-256, and record the verified transfer for `rollback`.

mod http;
mod rsync;

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::find_gap::{self, GapReport};
use super::gap::{Change, Kind};
use super::state::{self, Transfer};

/// Copy the gap files to the new primary (purely additive), verify them
/// there, and record the result so `rollback` knows it is safe.
///
/// DEST is an rsync destination (a local path or host:path; runs
/// `rsync -aX --ignore-existing --files-from`) or a putfs node
/// (http://host:port; PUT with Repr-Digest so it verifies every byte; 204
/// counts as done, 409 is a conflict that is reported, never forced).
/// Rerunning after an interruption finishes the job.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// rsync destination or http(s):// URL of the new primary.
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
}

/// What happened to each gap object at the destination.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub copied: u64,
    pub already_there: u64,
    /// Keys whose bytes at the destination differ.
    pub conflicts: Vec<String>,
}

pub fn run(args: TransferArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live.clone(), args.common.clone());
    let report = find_gap::compute(&ctx, &args.snapshot, true, false, false)?;
    let root = ctx.root()?;
    let gap: Vec<&Change> = report.of_kind(Kind::Gap).collect();
    if !ctx.common.json {
        find_gap::print_summary(&report);
        eprintln!("transferring {} object(s) to {}", gap.len(), args.to);
    }
    let outcome = if args.to.starts_with("http://") || args.to.starts_with("https://") {
        http::transfer(&ctx, &root, &gap, &args)?
    } else {
        rsync::transfer(&ctx, &root, &gap, &args.to)?
    };
    if ctx.common.dry_run {
        eprintln!("dry run: nothing was transferred");
        return Ok(());
    }
    finish(&ctx, &report, &args, outcome)
}

/// Record and report; conflicts fail the command unless accepted.
fn finish(
    ctx: &Ctx,
    report: &GapReport,
    args: &TransferArgs,
    outcome: Outcome,
) -> Result<(), OpsError> {
    let mut conflicts = outcome.conflicts.clone();
    conflicts.extend(
        report
            .of_kind(Kind::Conflict)
            .map(|c| format!("{} (changed since the snapshot)", c.key)),
    );
    let verified = conflicts.is_empty() || args.ignore_conflicts;
    let (path, mut st) = ctx.load_state()?;
    st.transfers.push(Transfer {
        snapshot: report.snapshot.clone(),
        destination: args.to.clone(),
        objects: report.summary.gap,
        bytes: report.summary.gap_bytes,
        fingerprint: report.fingerprint(),
        verified,
        conflicts: conflicts.clone(),
        at: state::now(),
    });
    st.save(&path)?;
    let summary = serde_json::json!({"summary": {
        "snapshot": report.snapshot,
        "destination": args.to,
        "gap": report.summary.gap,
        "gap_bytes": report.summary.gap_bytes,
        "copied": outcome.copied,
        "already_there": outcome.already_there,
        "conflicts": conflicts,
        "verified": verified,
        "state": path.display().to_string(),
    }});
    if ctx.common.json {
        println!("{summary}");
    } else {
        let same = (report.summary.gap as usize).saturating_sub(outcome.conflicts.len());
        eprintln!(
            "{} gap object(s): {} copied, {} already there; {same} verified identical at {} by sha256",
            report.summary.gap, outcome.copied, outcome.already_there, args.to
        );
        for c in &conflicts {
            eprintln!("  CONFLICT: {c}");
        }
        eprintln!("recorded in {}", path.display());
    }
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
