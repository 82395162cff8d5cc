use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match putfs::cli::run(putfs::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("putfs: {e}");
            ExitCode::FAILURE
        }
    }
}
