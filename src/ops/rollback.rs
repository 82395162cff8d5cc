//! `putfs ops rollback`: return the old primary to the shared snapshot.

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::find_gap;
use super::gap::Kind;
use super::state::{self, Rollback};

/// Roll the old primary's dataset back to the snapshot it shares with the
/// new primary (`zfs rollback -r`), destroying the gap objects and every
/// later snapshot.
///
/// Refuses unless transfer-gap has copied and verified exactly the gap that
/// would be destroyed (recorded in the state file), or --force is given.
/// Shows the snapshots and objects it would destroy and asks first.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// The shared snapshot to roll back to (the part after @).
    #[arg(long)]
    pub snapshot: String,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Roll back even without a verified transfer of the gap: its objects
    /// are then lost.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: RollbackArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let ds = ctx.dataset()?.to_owned();
    let zfs = ctx.zfs();
    let target = zfs.snapshot(&ds, &args.snapshot)?;
    let later: Vec<String> = zfs
        .snapshots(&ds)?
        .into_iter()
        .filter(|s| {
            (s.creation, s.createtxg) > (target.creation, target.createtxg) && s.name != target.name
        })
        .map(|s| s.name)
        .collect();
    let snap = SnapshotArgs {
        snapshot: Some(args.snapshot.clone()),
        snapshot_dir: None,
    };
    let report = find_gap::compute(&ctx, &snap, true, false, false)?;
    let (state_path, mut st) = ctx.load_state()?;

    let check = match st.latest_transfer(&args.snapshot) {
        None => Err(format!(
            "no transfer of the gap of {ds}@{} is recorded in {}: run \
             `putfs ops transfer-gap --dataset {ds} --snapshot {} --to NEW_PRIMARY` first",
            args.snapshot,
            state_path.display(),
            args.snapshot
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
    };

    let gap: Vec<&str> = report.of_kind(Kind::Gap).map(|c| c.key.as_str()).collect();
    let changed: Vec<&str> = report
        .of_kind(Kind::Conflict)
        .map(|c| c.key.as_str())
        .collect();
    let plan = serde_json::json!({"plan": {
        "command": ["zfs", "rollback", "-r", format!("{ds}@{}", args.snapshot)],
        "destroys_snapshots": later,
        "destroys_objects": gap,
        "reverts_objects": changed,
        "restores_deleted": report.summary.deleted,
        "transfer_verified": check.is_ok(),
    }});
    if ctx.common.json {
        println!("{plan}");
    } else {
        eprintln!("plan: zfs rollback -r {ds}@{}", args.snapshot);
        eprintln!(
            "  destroys {} later snapshot(s): {}",
            later.len(),
            later.join(", ")
        );
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
        eprintln!("  make sure putfs on this node is stopped or --read-only while this runs");
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
        let again = find_gap::compute(&ctx, &snap, true, false, false)?;
        if again.fingerprint() != report.fingerprint() {
            return Err(OpsError::Refused(format!(
                "the gap changed while waiting for confirmation ({} object(s) now, {} in the \
                 plan): is putfs still taking writes on this node? Stop it, transfer again",
                again.summary.gap, report.summary.gap
            )));
        }
    }
    zfs.rollback(&ds, &args.snapshot)?;
    st.rollbacks.push(Rollback {
        dataset: ds.clone(),
        snapshot: args.snapshot.clone(),
        destroyed_snapshots: later,
        destroyed_objects: report.summary.gap,
        at: state::now(),
    });
    st.save(&state_path)?;
    eprintln!(
        "{ds} is back at @{}; recorded in {}",
        args.snapshot,
        state_path.display()
    );
    Ok(())
}
