//! `putfs ops find-gap`: compute the gap (`gap_report`), print it.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::context::{CommonArgs, Ctx, LiveArgs, SnapshotArgs};
use super::error::OpsError;
use super::gap::Kind;
use super::gap_report::{self, GapArgs, GapReport, Method};

/// Find the gap files: objects on the live tree that the snapshot does not
/// hold, plus objects deleted since the snapshot and keys whose bytes
/// changed (conflicts).
///
/// The live tree is compared with the snapshot's tree, read through
/// .zfs/snapshot/NAME or, where the platform lacks it (zfs-fuse), a
/// temporary read-only clone; `zfs diff` is used where it exists. Unlike
/// `find -newer`, an object whose mtime lies in the past is still found.
///
/// Refused (exit 3) when the live root is not the data: no .putfs/ in it,
/// or with --dataset, the dataset not mounted there (the mount table is
/// read); and when every object of the snapshot, or more than half of
/// many, is gone from it (--accept-mass-delete if that is real).
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
    #[command(flatten)]
    pub gap: GapArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    Gap,
    Deleted,
    Conflicts,
    All,
}

pub fn run(args: FindGapArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let mut opts = args.gap.options(Method::Fast, ctx.common.json);
    opts.verify_content = args.verify_content;
    let report = gap_report::compute(&ctx, &args.snapshot, opts)?;
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
