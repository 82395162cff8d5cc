//! The `putfs` command: command-line parsing and wiring, nothing else.
//! The object store is `putfs-store` (crates/store), the HTTP server
//! `putfs-server` (crates/server), the disaster-recovery runbook
//! `putfs-ops` (crates/ops).
#![forbid(unsafe_code)]

mod cli;
mod config;
mod env_check;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    // Before parsing: a misspelt variable may be why the parse fails.
    let cmd = cli::Cli::command();
    for w in env_check::warnings(&cmd, std::env::vars_os().map(|(k, _)| k)) {
        let _ = writeln!(std::io::stderr(), "putfs: {w}");
    }
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            // Not eprintln!, which panics when stderr is a closed pipe.
            let _ = writeln!(std::io::stderr(), "putfs: {message}");
            ExitCode::from(code)
        }
    }
}
