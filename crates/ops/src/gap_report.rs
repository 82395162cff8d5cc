//! The gap as find-gap, transfer-gap and rollback compute it: the live
//! tree checked to be the data (`live_root`), the snapshot opened, the two
//! compared, and the result checked for plausibility (`mass_delete`).
//!
//! How the trees are compared ([`Method`]):
//! - find-gap and transfer-gap narrow the comparison with `zfs diff` where
//!   it exists (`gap_by_diff`), and walk both trees where it cannot be
//!   trusted or does not exist;
//! - rollback, the step that destroys what the gap holds, always walks:
//!   the walk reads every entry of both trees and depends on nothing but
//!   them, while `zfs diff` has blind spots (a file whose recorded parent
//!   no longer holds it has no path and is not listed). Where `zfs diff`
//!   exists it must also agree, so that a transfer made with it cannot
//!   have missed what the rollback destroys; `--no-zfs-diff` leaves that
//!   cross-check out once a transfer was made without it.

use std::collections::BTreeSet;
use std::path::Path;

use clap::Args;
use sha2::{Digest, Sha256};

use super::context::{Ctx, SnapshotArgs};
use super::error::OpsError;
use super::gap::{self, Change, Kind, Summary, WalkOptions, walk};
use super::gap_by_diff::{self, Narrowed};
use super::live_root;
use super::mass_delete;
use super::progress::Progress;

/// How a gap is computed, for every command that computes one.
#[derive(Debug, Clone, Default, Args)]
pub struct GapArgs {
    /// Do not use `zfs diff`: compare the whole trees by walking them.
    /// (find-gap and transfer-gap use `zfs diff` where it exists; rollback
    /// always walks, and with this skips its check that `zfs diff` agrees.)
    #[arg(long)]
    pub no_zfs_diff: bool,
    /// Go ahead although every object of the snapshot, or more than half
    /// of many, is gone from the live tree: by default that is refused as
    /// a sign that the live tree is not the data (not mounted, wrong root).
    #[arg(long)]
    pub accept_mass_delete: bool,
}

impl GapArgs {
    /// Options for a command whose method is `method` unless
    /// `--no-zfs-diff`.
    pub fn options(&self, method: Method, digests: bool) -> GapOptions {
        GapOptions {
            digests,
            verify_content: false,
            method: if self.no_zfs_diff {
                Method::Walk
            } else {
                method
            },
            accept_mass_delete: self.accept_mass_delete,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `zfs diff` where it exists and can be trusted, else the walk.
    Fast,
    /// The walk only.
    Walk,
    /// The walk, and `zfs diff` (where it exists) must agree with it.
    Checked,
}

#[derive(Debug, Clone, Copy)]
pub struct GapOptions {
    /// Every change gets its SHA-256 (the file read in full).
    pub digests: bool,
    /// Compare content even where metadata proves files unchanged.
    pub verify_content: bool,
    pub method: Method,
    pub accept_mass_delete: bool,
}

/// Said on stderr when `zfs diff` is set aside for the walk.
pub const WALK_INSTEAD: &str = "comparing the whole trees instead (walk)";

/// The result of a comparison.
pub struct GapReport {
    /// Every change, sorted by key.
    pub changes: Vec<Change>,
    pub summary: Summary,
    pub snapshot: String,
    pub method: &'static str,
}

impl GapReport {
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.change == kind)
    }

    /// SHA-256 over the sorted `kind key sha256 snapshot-sha256` lines of
    /// every change: the gap and the conflicts (what a rollback destroys)
    /// and the deletes (what it undoes). A rollback checks that the
    /// transfer saw exactly this (needs digests).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for c in &self.changes {
            let kind = match c.change {
                Kind::Gap => "gap",
                Kind::Conflict => "conflict",
                Kind::Deleted => "deleted",
            };
            for field in [
                kind,
                &c.key,
                c.sha256.as_deref().unwrap_or(""),
                c.snapshot_sha256.as_deref().unwrap_or(""),
            ] {
                h.update(field.as_bytes());
                h.update(b"\t");
            }
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

/// Compare the live tree with the snapshot.
pub fn compute(ctx: &Ctx, snap: &SnapshotArgs, opts: GapOptions) -> Result<GapReport, OpsError> {
    let live = live_root::verify(ctx)?;
    let (view, label) = ctx.snapshot_view(snap)?;
    let progress = Progress::new(ctx.show_progress(), "entries compared");
    let tick = || progress.tick();
    let wopts = WalkOptions {
        verify_content: opts.verify_content,
        on_entry: Some(&tick),
        snapshot_time: view.taken,
    };
    let walked = || walk_trees(&live.path, &view.path, wopts);
    let diff_from = snap
        .snapshot
        .as_deref()
        .filter(|_| opts.method != Method::Walk && ctx.zfs().has_diff());
    let (mut changes, summary, method) = match diff_from {
        None => {
            let (c, s) = walked()?;
            (c, s, "walk")
        }
        Some(name) => match (
            gap_by_diff::narrow(ctx, name, &live, &view.path, wopts)?,
            opts.method,
        ) {
            (Narrowed::Changes(diffed, _), Method::Checked) => {
                let (c, s) = walked()?;
                agree(&c, &diffed, &label)?;
                (c, s, "walk+zfs-diff")
            }
            (Narrowed::Changes(c, s), _) => (c, s, "zfs-diff"),
            (Narrowed::Walk(why), _) => {
                eprintln!("putfs ops: {why}: {WALK_INSTEAD}");
                let (c, s) = walked()?;
                (c, s, "walk")
            }
        },
    };
    progress.finish();
    mass_delete::check(
        summary.deleted,
        &view.path,
        &live.path,
        &label,
        opts.accept_mass_delete,
    )?;
    if opts.digests {
        let hashing = Progress::counted(ctx.show_progress(), "hashing", changes.len() as u64);
        for c in &mut changes {
            gap::add_digests(c, &live.path, &view.path)
                .map_err(OpsError::io(format!("hashing {}", c.key)))?;
            hashing.tick();
        }
        hashing.finish();
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(GapReport {
        changes,
        summary,
        snapshot: label,
        method,
    })
}

fn walk_trees(
    live: &Path,
    snap: &Path,
    opts: WalkOptions<'_>,
) -> Result<(Vec<Change>, Summary), OpsError> {
    let mut changes = Vec::new();
    let mut summary = Summary::default();
    walk::compare(
        live,
        snap,
        opts,
        &mut |c| {
            changes.push(c);
            Ok(())
        },
        &mut summary,
    )
    .map_err(OpsError::io(format!(
        "comparing {} with the snapshot",
        live.display()
    )))?;
    Ok((changes, summary))
}

/// Refuse unless the walk and `zfs diff` found the same changes.
fn agree(walked: &[Change], diffed: &[Change], snapshot: &str) -> Result<(), OpsError> {
    let set = |v: &[Change]| -> BTreeSet<(String, Kind)> {
        v.iter().map(|c| (c.key.clone(), c.change)).collect()
    };
    let (w, d) = (set(walked), set(diffed));
    if w == d {
        return Ok(());
    }
    let keys: BTreeSet<&String> = w.symmetric_difference(&d).map(|(k, _)| k).collect();
    let says = |s: &BTreeSet<(String, Kind)>, k: &str| {
        s.iter()
            .find(|(key, _)| key == k)
            .map_or("unchanged".to_owned(), |(_, kind)| {
                format!("{kind:?}").to_lowercase()
            })
    };
    let listed: Vec<String> = keys
        .iter()
        .take(20)
        .map(|k| format!("{k} (walk: {}, zfs diff: {})", says(&w, k), says(&d, k)))
        .collect();
    Err(OpsError::Refused(format!(
        "zfs diff and a walk of both trees disagree about {} key(s) since @{snapshot}: {}{}. \
         The walk is what a rollback destroys, and a transfer-gap that used zfs diff may have \
         missed these: run transfer-gap again with --no-zfs-diff, then rollback with \
         --no-zfs-diff",
        keys.len(),
        listed.join(", "),
        if keys.len() > 20 { ", …" } else { "" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: Kind, key: &str) -> Change {
        Change {
            change: kind,
            key: key.into(),
            size: 1,
            mtime_ns: 0,
            sha256: None,
            snapshot_sha256: None,
        }
    }

    #[test]
    fn a_disagreement_names_each_key_and_what_each_side_says() {
        let walked = [change(Kind::Gap, "d/x"), change(Kind::Gap, "v")];
        let diffed = [change(Kind::Gap, "v")];
        agree(&walked, &walked, "s1").unwrap();
        let e = agree(&walked, &diffed, "s1").unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let msg = e.to_string();
        assert!(
            msg.contains("d/x (walk: gap, zfs diff: unchanged)") && msg.contains("--no-zfs-diff"),
            "{msg}"
        );
    }

    #[test]
    fn no_zfs_diff_means_the_walk_whatever_the_command() {
        let args = GapArgs {
            no_zfs_diff: true,
            accept_mass_delete: false,
        };
        assert_eq!(args.options(Method::Checked, true).method, Method::Walk);
        assert_eq!(
            GapArgs::default().options(Method::Checked, true).method,
            Method::Checked
        );
    }
}
