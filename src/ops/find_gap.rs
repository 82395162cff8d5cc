//! `putfs ops find-gap`: compute the gap, print it.

use std::io::Write;

use clap::{Args, ValueEnum};
use sha2::{Digest, Sha256};

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::gap::WalkOptions;
use super::gap::walk;
use super::gap::{self, Change, Kind, Summary, zfs_diff};
use super::progress::Progress;

/// Find the gap files: objects on the live tree that the snapshot does not
/// hold, plus objects deleted since the snapshot and keys whose bytes
/// changed (conflicts).
///
/// The live tree is compared with the snapshot's tree, read through
/// .zfs/snapshot/NAME or, where the platform lacks it (zfs-fuse), a
/// temporary read-only clone; `zfs diff` is used where it exists. Unlike
/// `find -newer`, an object whose mtime lies in the past is still found.
///
/// stdout lists the keys (default: the gap), one per line, relative to the
/// data root: ready for `rsync --from0 --files-from` with -0. The summary
/// goes to stderr.
#[derive(Debug, Args)]
pub struct FindGapArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Which keys to print.
    #[arg(long, value_enum, default_value = "gap")]
    pub list: ListWhat,
    /// Separate keys with NUL instead of newline.
    #[arg(short = '0', long = "null")]
    pub null: bool,
    /// Compare content even where metadata proves files unchanged.
    #[arg(long)]
    pub verify_content: bool,
    /// Walk both trees even where `zfs diff` exists.
    #[arg(long)]
    pub no_zfs_diff: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    Gap,
    Deleted,
    Conflicts,
    All,
}

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

/// Compare the live tree with the snapshot. With `digests`, every change
/// gets its SHA-256 (the file read in full).
pub fn compute(
    ctx: &Ctx,
    snap: &SnapshotArgs,
    digests: bool,
    verify_content: bool,
    no_zfs_diff: bool,
) -> Result<GapReport, OpsError> {
    let live = ctx.root()?;
    let (view, label) = ctx.snapshot_view(snap)?;
    let mut summary = Summary::default();
    let use_diff = snap.snapshot.is_some() && !no_zfs_diff && ctx.zfs().has_diff();
    let mut changes = Vec::new();
    let progress = Progress::new(ctx.show_progress(), "entries compared");
    let tick = || progress.tick();
    let opts = WalkOptions {
        verify_content,
        on_entry: Some(&tick),
        snapshot_time: view.taken,
    };
    let method = if use_diff {
        let ds = ctx.dataset()?;
        let name = snap.snapshot.as_deref().unwrap_or_default();
        let out = ctx
            .runner
            .query(&["zfs", "diff", "-H", "-F", &format!("{ds}@{name}"), ds])?;
        let lines = zfs_diff::parse(&out).map_err(OpsError::Other)?;
        let mountpoint = ctx.zfs().mountpoint(ds)?;
        changes = zfs_diff::classify(&lines, &mountpoint, &live, &view.path, opts, &mut summary)
            .map_err(OpsError::io("classifying zfs diff output"))?;
        "zfs-diff"
    } else {
        walk::compare(
            &live,
            &view.path,
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
        "walk"
    };
    progress.finish();
    if digests {
        let hashing = Progress::counted(ctx.show_progress(), "hashing", changes.len() as u64);
        for c in &mut changes {
            gap::add_digests(c, &live, &view.path)
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

pub fn run(args: FindGapArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let report = compute(
        &ctx,
        &args.snapshot,
        ctx.common.json,
        args.verify_content,
        args.no_zfs_diff,
    )?;
    let mut out = std::io::stdout().lock();
    let io = OpsError::io("writing the output");
    if ctx.common.json {
        for c in &report.changes {
            serde_json::to_writer(&mut out, c).map_err(|e| OpsError::Other(e.to_string()))?;
            out.write_all(b"\n")
                .map_err(OpsError::io("writing the output"))?;
        }
        let summary = serde_json::json!({"summary": {
            "gap": report.summary.gap,
            "gap_bytes": report.summary.gap_bytes,
            "deleted": report.summary.deleted,
            "conflicts": report.summary.conflicts,
            "skipped": report.summary.skipped,
            "snapshot": report.snapshot,
            "method": report.method,
        }});
        writeln!(out, "{summary}").map_err(io)?;
        return Ok(());
    }
    let sep = if args.null { b'\0' } else { b'\n' };
    for c in &report.changes {
        let wanted = match args.list {
            ListWhat::Gap => c.change == Kind::Gap,
            ListWhat::Deleted => c.change == Kind::Deleted,
            ListWhat::Conflicts => c.change == Kind::Conflict,
            ListWhat::All => true,
        };
        if wanted {
            out.write_all(c.key.as_bytes())
                .map_err(OpsError::io("writing the output"))?;
            out.write_all(&[sep])
                .map_err(OpsError::io("writing the output"))?;
        }
    }
    out.flush().map_err(io)?;
    print_summary(&report);
    Ok(())
}

/// The human summary, on stderr.
pub fn print_summary(r: &GapReport) {
    let s = &r.summary;
    eprintln!(
        "snapshot {}: {} gap object(s) ({} bytes), {} deleted since, {} conflict(s) [{}]",
        r.snapshot, s.gap, s.gap_bytes, s.deleted, s.conflicts, r.method
    );
    for c in r.of_kind(Kind::Deleted).take(20) {
        eprintln!("  deleted since the snapshot: {}", c.key);
    }
    for c in r.of_kind(Kind::Conflict).take(20) {
        eprintln!("  CONFLICT (bytes changed since the snapshot): {}", c.key);
    }
    if s.skipped > 0 {
        eprintln!("  {} name(s) skipped: not addressable as keys", s.skipped);
    }
}
