//! `putfs ops apply-deletes`: the deletes a rollback saved, applied at the
//! new primary afterwards.
//!
//! Once the old primary is rolled back to the shared snapshot, `find-gap`
//! sees no delete any more (the snapshot and the live tree are the same),
//! so `transfer-gap --apply-deletes` has nothing to apply. The rollback
//! saved the list first (key, and the snapshot's SHA-256 and mtime); this
//! applies it exactly as transfer-gap would: at the destination, checked
//! the same way (`transfer::dest`), each key deleted only where it still
//! holds the snapshot's own copy, conditionally, and the run recorded.

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs};
use super::error::OpsError;
use super::gap::{Change, Kind};
use super::state::SavedDeletes;
use super::transfer::deletes;
use super::transfer::dest::Destination;

/// Apply at DEST the deletes that `putfs ops rollback` saved in the state
/// file (those acknowledged on this node after the snapshot, which nothing
/// lists once the node is rolled back): each key is deleted only where
/// DEST still holds the snapshot's own copy (same bytes, same mtime),
/// never what DEST wrote since. Asks first (--yes; --dry-run shows the
/// plan). DEST as for transfer-gap: http://HOST:PORT, or a local directory
/// holding the new primary's data root (only while no writable putfs
/// serves it).
#[derive(Debug, Args)]
pub struct ApplyDeletesArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The snapshot whose deletes to apply (default: the newest list saved).
    #[arg(long)]
    pub snapshot: Option<String>,
    /// http(s):// URL of the new primary's putfs, or a local directory
    /// holding its data root.
    #[arg(long)]
    pub to: String,
    /// Bearer token for an http destination (putfs --write-token).
    #[arg(long, env = "PUTFS_WRITE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn run(args: ApplyDeletesArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let root = ctx.root()?;
    let (path, mut st) = ctx.load_state()?;
    let saved = pick(&st.saved_deletes, args.snapshot.as_deref()).ok_or_else(|| {
        OpsError::NotFound(format!(
            "no list of deletes{} is saved in {} (putfs ops rollback saves one when it rolls \
             back a node whose deletes are not all applied); before a rollback, \
             `putfs ops transfer-gap … --apply-deletes` applies them",
            args.snapshot
                .as_deref()
                .map(|s| format!(" of @{s}"))
                .unwrap_or_default(),
            path.display()
        ))
    })?;
    let dest = Destination::open(&args.to, args.token, &root)?;
    let changes: Vec<Change> = saved
        .objects
        .iter()
        .map(|o| Change {
            change: Kind::Deleted,
            key: o.key.clone(),
            size: o.size,
            mtime_ns: o.mtime_ns,
            sha256: o.sha256.clone(),
            snapshot_sha256: None,
        })
        .collect();
    let refs: Vec<&Change> = changes.iter().collect();
    let snapshot = saved.snapshot.clone();
    if !ctx.common.json {
        eprintln!(
            "{} delete(s) saved by the rollback of {}@{} ({}): {}",
            refs.len(),
            saved.dataset,
            snapshot,
            saved.at,
            saved.status
        );
    }
    let backend = dest.delete_backend(ctx.common.dry_run)?;
    let Some(run) = deletes::apply(&ctx, &refs, backend.as_ref(), &snapshot, &args.to)? else {
        return Ok(());
    };
    st.deletes.push(run.clone());
    st.save(&path)?;
    if ctx.common.json {
        println!(
            "{}",
            serde_json::to_value(&run).map_err(|e| OpsError::Other(e.to_string()))?
        );
    } else {
        deletes::report(&run);
    }
    Ok(())
}

/// The newest saved list, of `snapshot` if given.
fn pick<'s>(saved: &'s [SavedDeletes], snapshot: Option<&str>) -> Option<&'s SavedDeletes> {
    saved
        .iter()
        .rev()
        .find(|s| snapshot.is_none_or(|want| s.snapshot == want))
}
