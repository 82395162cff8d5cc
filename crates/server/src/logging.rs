//! tracing to stderr; stdout carries only the "listening" line.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("--log {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| format!("initialising logging: {e}"))
}
