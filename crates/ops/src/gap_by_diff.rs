//! The gap narrowed by `zfs diff`, and the checks that decide whether its
//! answer can stand or the whole trees must be walked instead.
//!
//! `zfs diff` is fast (in proportion to the changes) but it is a second
//! source of truth beside the trees themselves, and a missed object is
//! one the rollback destroys. So its output is cut at the dataset's path
//! in the mount table (where libzfs takes it from), a path outside that
//! is an error, hard links send the comparison to the walk (see
//! `gap::zfs_diff`), and when it names no object at all while ZFS counts
//! bytes written since the snapshot (`written@SNAPSHOT`), the walk decides.

use std::path::Path;

use super::context::Ctx;
use super::error::OpsError;
use super::gap::zfs_diff::{self, Classified};
use super::gap::{Change, Summary, WalkOptions};
use super::live_root::LiveRoot;

/// What `zfs diff` gave.
pub enum Narrowed {
    Changes(Vec<Change>, Summary),
    /// Not to be trusted here, for this reason: walk.
    Walk(String),
}

/// Run `zfs diff` from `snapshot` of the live dataset and classify what it
/// names, comparing with the snapshot's tree at `snap_tree`.
pub fn narrow(
    ctx: &Ctx,
    snapshot: &str,
    live: &LiveRoot,
    snap_tree: &Path,
    opts: WalkOptions<'_>,
) -> Result<Narrowed, OpsError> {
    let ds = ctx.dataset()?;
    let prefix = live.diff_prefix.as_deref().ok_or_else(|| {
        OpsError::Other(format!(
            "no mount of {ds} is known to cut zfs diff's paths at; use --no-zfs-diff"
        ))
    })?;
    let out = ctx
        .runner
        .query(&["zfs", "diff", "-H", "-F", &format!("{ds}@{snapshot}"), ds])?;
    let lines = zfs_diff::parse(&out).map_err(|e| {
        OpsError::Other(format!(
            "{e}: compare the whole trees instead (--no-zfs-diff)"
        ))
    })?;
    let mut summary = Summary::default();
    let classified = zfs_diff::classify(&lines, prefix, &live.path, snap_tree, opts, &mut summary)
        .map_err(OpsError::io("classifying zfs diff output"))?;
    Ok(match classified {
        Classified::NeedsWalk(why) => Narrowed::Walk(why),
        Classified::Changes { changes, files: 0 } => match written_since(ctx, ds, snapshot) {
            Some(0) => Narrowed::Changes(changes, summary),
            Some(n) => Narrowed::Walk(format!(
                "zfs diff named no object, yet ZFS counts {n} byte(s) written to {ds} since \
                 @{snapshot}"
            )),
            None => Narrowed::Walk(format!(
                "zfs diff named no object, and what was written to {ds} since @{snapshot} is \
                 unknown (no `written@` property)"
            )),
        },
        Classified::Changes { changes, .. } => Narrowed::Changes(changes, summary),
    })
}

/// `written@SNAPSHOT`: bytes the dataset references that were written
/// since the snapshot; `None` where the platform lacks the property.
fn written_since(ctx: &Ctx, ds: &str, snapshot: &str) -> Option<u64> {
    let v = ctx.zfs().get(ds, &format!("written@{snapshot}")).ok()?;
    v.trim().parse().ok()
}
