use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match putfs::cli::run(putfs::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => {
            eprintln!("putfs: {message}");
            ExitCode::from(code)
        }
    }
}
