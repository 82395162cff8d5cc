//! tracing to stderr; stdout carries only the "listening" line.
//!
//! Log lines reach stderr through a writer thread that drops them rather
//! than wait, and ignores write errors: a log sink that fails or stalls
//! (`putfs serve 2>&1 | head`, a closed terminal, a stuck journal) must
//! never hold up a request, a write or a shutdown. Without it, a write to
//! a closed pipe made tracing report the error with `eprintln!`, which
//! panics there: in a request handler the connection died, in the signal
//! task the shutdown never started.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines queued for a slow stderr before new ones are dropped (a few MB).
const QUEUED_LINES: usize = 16 * 1024;

/// Flushes the queued lines when dropped (waiting about a second at
/// most): keep it until the server has stopped.
pub struct Flush(Option<WorkerGuard>);

pub fn init(filter: &str) -> Result<Flush, String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("--log {filter:?}: {e}"))?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("putfs-log")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .try_init()
        .map_err(|e| format!("initialising logging: {e}"))?;
    Ok(Flush(Some(guard)))
}

impl Drop for Flush {
    fn drop(&mut self) {
        // The guard reports a stalled writer thread with `println!`, which
        // panics if stdout is closed too: the exit must not turn into one.
        let guard = self.0.take();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(guard)));
    }
}
