//! The `putfs` command: command-line parsing and wiring, nothing else.
//! The object store is `putfs-store` (crates/store), the HTTP server
//! `putfs-server` (crates/server), the disaster-recovery runbook
//! `putfs-ops` (crates/ops).
#![forbid(unsafe_code)]

mod cli;
mod config;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            eprintln!("putfs: {message}");
            ExitCode::from(code)
        }
    }
}
