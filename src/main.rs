//! The `putfs` command: command-line parsing and wiring, nothing else.
//! The object store is `putfs-store` (crates/store), the HTTP server
//! `putfs-server` (crates/server), the disaster-recovery runbook
//! `putfs-ops` (crates/ops).
#![forbid(unsafe_code)]

mod cli;
mod config;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            // Not eprintln!, which panics when stderr is a closed pipe.
            let _ = writeln!(std::io::stderr(), "putfs: {message}");
            ExitCode::from(code)
        }
    }
}
