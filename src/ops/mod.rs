//! `putfs ops`: the disaster-recovery runbook as commands.
//!
//! Every command prints its plan before it changes anything, runs external
//! tools only through [`runner`] (which logs each command line), keeps its
//! progress in a [`state`] file beside the data root so a rerun continues,
//! and detects what the platform has (OpenZFS or zfs-fuse) instead of
//! assuming.

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
pub mod writer_lock;
pub mod zfs;
pub mod zrepl;
mod zrepl_cmd;

use clap::Subcommand;

pub use error::OpsError;

/// The runbook, step by step: status, promote (on the replica), find-gap,
/// transfer-gap and rollback (on the old primary when it returns),
/// reverse-zrepl, whose printed plans also run demote (a node becomes a
/// replica) and mount (a dataset is mounted where putfs serves it);
/// zrepl-check validates zrepl configs.
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Role, snapshots, snapshot shared with a peer, replication lag.
    Status(status::StatusArgs),
    /// Make this replica the primary (record the shared snapshot, readonly=off).
    Promote(promote::PromoteArgs),
    /// Make this node a replica (readonly=on, atime=off, end the promotion).
    Demote(demote::DemoteArgs),
    /// Mount a dataset if needed and check it is the data root putfs serves.
    Mount(mount::MountArgs),
    /// List objects written after a snapshot (and deletions, conflicts).
    FindGap(find_gap::FindGapArgs),
    /// Copy the gap to the new primary without replacing anything, make it
    /// durable and verify it; show (or apply) the deletes made since.
    TransferGap(transfer::TransferArgs),
    /// Roll the old primary back to the shared snapshot (after transfer-gap).
    Rollback(rollback::RollbackArgs),
    /// Write reversed zrepl configs and the plan to continue incrementally.
    ReverseZrepl(zrepl_cmd::ReverseArgs),
    /// Validate zrepl config files.
    ZreplCheck(zrepl_cmd::CheckArgs),
}

pub fn run(cmd: OpsCommand) -> Result<(), OpsError> {
    match cmd {
        OpsCommand::Status(a) => status::run(a),
        OpsCommand::Promote(a) => promote::run(a),
        OpsCommand::Demote(a) => demote::run(a),
        OpsCommand::Mount(a) => mount::run(a),
        OpsCommand::FindGap(a) => find_gap::run(a),
        OpsCommand::TransferGap(a) => transfer::run(a),
        OpsCommand::Rollback(a) => rollback::run(a),
        OpsCommand::ReverseZrepl(a) => zrepl_cmd::reverse(a),
        OpsCommand::ZreplCheck(a) => zrepl_cmd::check(a),
    }
}
