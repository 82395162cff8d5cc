//! The command line: `putfs serve` and (later) `putfs ops …`.

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve objects over HTTP from a data root.
    Serve(ServeArgs),
}

/// Run the parsed command; the error is printed by `main`.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => crate::server::main(args),
    }
}
