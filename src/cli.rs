//! The command line: `putfs serve` and `putfs ops …`.

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "putfs",
    version,
    about = "A plain-file, write-once HTTP object server",
    long_about = "putfs keeps every object as a plain file under one data root: no database, \
                  no index, no sidecar files. Writes are durable (fsynced before 201) and \
                  write-once."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve objects over HTTP from a data root.
    Serve(ServeArgs),
    /// Disaster recovery: promote, find-gap, transfer-gap, rollback, reverse-zrepl.
    #[command(subcommand, long_about = OPS_ABOUT)]
    Ops(putfs_ops::OpsCommand),
}

const OPS_ABOUT: &str = "The disaster-recovery runbook as commands. Primary A replicates \
to secondary B and fails for good (if its pool is intact, bring A back instead):

  1. on B:  putfs ops promote --dataset B/DS          record the shared snapshot, readonly=off
  2. on A:  putfs ops find-gap --dataset A/DS --snapshot SHARED
                                                       objects A wrote after the snapshot
  3. on A:  putfs ops transfer-gap ... --to B          copy them (rsync or http), never overwrite,
                                                       verify by sha256, record the result
  4. on A:  putfs ops rollback --dataset A/DS --snapshot SHARED
                                                       zfs rollback -r, only after a verified transfer
  5.        putfs ops reverse-zrepl ...               new zrepl configs + the rename that lets B
                                                       replicate to A incrementally, and the
                                                       plans (reversal, flip back) to run as
                                                       printed; they use putfs ops demote (make
                                                       a node a replica) and putfs ops mount
                                                       (mount a dataset and check it)
  any:      putfs ops status --dataset DS           role (primary, replica, rolled back), mount,
                                                       snapshots, lag

Every command prints its plan first, logs each external command as `+ ...` on stderr, \
takes --dry-run, and asks (or needs --yes) before destructive steps. Exit codes: \
0 ok, 1 error, 2 usage, 3 refused by a safety check, 4 conflicts.";

/// Run the parsed command; on failure, the message for stderr and the exit
/// code.
pub fn run(cli: Cli) -> Result<(), (String, u8)> {
    match cli.command {
        Command::Serve(args) => args
            .resolve()
            .and_then(putfs_server::run)
            .map_err(|e| (e, 1)),
        Command::Ops(cmd) => putfs_ops::run(cmd).map_err(|e| {
            let code = e.exit_code();
            (e.to_string(), code)
        }),
    }
}
