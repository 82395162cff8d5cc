//! `putfs ops`: the disaster-recovery runbook as commands.
//!
//! What it owns: the runbook's steps (status, promote, demote, mount,
//! find-gap, transfer-gap, rollback, apply-deletes, reverse-zrepl,
//! zrepl-check, check-primary), the one runner through which every
//! external tool (zfs, rsync, systemctl) is started and logged, the state
//! file a rerun continues from, and reading zrepl's configs as zrepl does.
//!
//! What it must not know: HTTP serving (it talks to a putfs server only
//! as a client, over its public endpoints) and how the store lays out or
//! publishes objects beyond `putfs-store`'s public functions (key rules,
//! the reserved `.putfs/` directory, the writer's lock, the
//! no-replace primitives). The server does not depend on it.
//!
//! Every command prints its plan before it changes anything, runs external
//! tools only through [`runner`] (which logs each command line), keeps its
//! progress in a [`state`] file beside the data root so a rerun continues,
//! and detects what the platform has (OpenZFS or zfs-fuse) instead of
//! assuming.
#![forbid(unsafe_code)]

/// `eprintln!` (and `eprint!`) for every module below, without std's panic when stderr
/// cannot be written: an operator's `2>&1 | head` that went away, or a
/// closed terminal, must not stop a runbook step halfway. Progress and
/// diagnostics are lost then; results on stdout (`println!`) still fail
/// loudly, so a truncated listing never looks complete.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` likewise (the confirmation prompt).
macro_rules! eprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod apply_deletes;
pub mod check_primary;
pub mod context;
pub mod demote;
pub mod error;
pub mod find_gap;
pub mod gap;
mod gap_by_diff;
pub mod gap_report;
pub mod holds;
pub mod live_root;
mod mass_delete;
pub mod mount;
pub mod mount_state;
pub mod mountinfo;
mod progress;
pub mod promote;
pub mod role;
pub mod rollback;
pub mod runner;
pub mod snapshot_view;
pub mod state;
pub mod status;
pub mod transfer;
pub mod units;
pub mod writer_lock;
pub mod zfs;
pub mod zrepl;
mod zrepl_check;
mod zrepl_cmd;

use clap::Subcommand;
use putfs_store as store;

pub use error::OpsError;

/// The runbook, step by step: status, promote (on the replica), find-gap,
/// transfer-gap and rollback (on the old primary when it returns; after
/// it, apply-deletes applies the deletes a rollback saved),
/// reverse-zrepl, whose printed plans also run demote (a node becomes a
/// replica) and mount (a dataset is mounted where putfs serves it);
/// zrepl-check validates zrepl configs; check-primary is the role guard
/// of putfs-primary.service.
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Role, snapshots, snapshot shared with a peer, replication lag.
    Status(status::StatusArgs),
    /// Make this replica the primary (record the shared snapshot, readonly=off).
    Promote(promote::PromoteArgs),
    /// Make this node a replica (readonly=on, atime=off, end the promotion).
    Demote(demote::DemoteArgs),
    /// Exit 0 only if this node is recorded as the primary (putfs-primary's
    /// role guard).
    CheckPrimary(check_primary::CheckPrimaryArgs),
    /// Mount a dataset if needed and check it is the data root putfs serves.
    Mount(mount::MountArgs),
    /// List objects written after a snapshot (and deletions, conflicts).
    FindGap(find_gap::FindGapArgs),
    /// Copy the gap to the new primary without replacing anything, make it
    /// durable and verify it; show (or apply) the deletes made since.
    TransferGap(transfer::TransferArgs),
    /// Roll the old primary back to the shared snapshot (after transfer-gap).
    Rollback(rollback::RollbackArgs),
    /// Apply at the new primary the deletes a rollback saved.
    ApplyDeletes(apply_deletes::ApplyDeletesArgs),
    /// Write reversed zrepl configs and the plan to continue incrementally.
    ReverseZrepl(zrepl_cmd::ReverseArgs),
    /// Check zrepl config files as zrepl does, includes read.
    ///
    /// The strict parse, the files `include:` names, and what zrepl checks
    /// when it builds the jobs (`zrepl configcheck`); every problem found
    /// is listed, with its path and line. Warnings mark what zrepl accepts
    /// but a failover would trip over.
    #[command(after_help = zrepl_check::EXIT_STATUS)]
    ZreplCheck(zrepl_check::CheckArgs),
}

pub fn run(cmd: OpsCommand) -> Result<(), OpsError> {
    match cmd {
        OpsCommand::Status(a) => status::run(a),
        OpsCommand::Promote(a) => promote::run(a),
        OpsCommand::Demote(a) => demote::run(a),
        OpsCommand::CheckPrimary(a) => check_primary::run(a),
        OpsCommand::Mount(a) => mount::run(a),
        OpsCommand::FindGap(a) => find_gap::run(a),
        OpsCommand::TransferGap(a) => transfer::run(a),
        OpsCommand::Rollback(a) => rollback::run(a),
        OpsCommand::ApplyDeletes(a) => apply_deletes::run(a),
        OpsCommand::ReverseZrepl(a) => zrepl_cmd::reverse(a),
        OpsCommand::ZreplCheck(a) => zrepl_check::run(a),
    }
}
