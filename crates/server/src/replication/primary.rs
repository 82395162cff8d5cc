//! A replica's lag in writes: how many changes its primary has
//! acknowledged that the replicated heartbeat does not cover. The
//! heartbeat says how many the replica holds (its `writes`); only the
//! primary knows how many there are now, so a replica that knows its
//! primary (`--primary-url`, else `--forward-writes-to`) asks it every
//! `--primary-poll`: `GET /.putfs/heartbeat`, whose `PutFS-Live-Writes`
//! header is the primary's count now.
//!
//! The lag is unknown, and its gauge absent, until an answer arrives and
//! again as soon as one fails: a stale count from a primary that stopped
//! answering would read as a lag that is not there (or hide one).

use std::sync::Arc;
use std::time::Duration;

use super::replica::Replica;
use crate::store::heartbeat;

/// Longest a poll waits for the primary: shorter than the interval, so
/// polls never pile up, and never long (the primary's answer is a file).
const MAX_TIMEOUT: Duration = Duration::from_secs(3);

pub fn spawn(replica: Arc<Replica>, primary: &url::Url, every: Duration) -> Result<(), String> {
    let url = format!(
        "{}/.putfs/heartbeat",
        primary.as_str().trim_end_matches('/')
    );
    let timeout = every.min(MAX_TIMEOUT);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| format!("building the HTTP client for --primary-url: {e}"))?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Log a failing primary once per change of state, not every poll.
        let mut failing = false;
        loop {
            tick.tick().await;
            match live_writes(&client, &url).await {
                Ok(n) => {
                    if failing {
                        tracing::info!(%url, "the primary answers again: lag in writes known");
                    }
                    failing = false;
                    replica.set_primary_writes(Some(n));
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(%url, error = %e, "cannot learn the primary's write count; lag in writes unknown");
                    }
                    failing = true;
                    replica.set_primary_writes(None);
                }
            }
        }
    });
    Ok(())
}

async fn live_writes(client: &reqwest::Client, url: &str) -> Result<u64, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let header = resp
        .headers()
        .get(heartbeat::LIVE_WRITES_HEADER)
        .ok_or_else(|| {
            format!(
                "no {} header: not a writable putfs that counts writes",
                heartbeat::LIVE_WRITES_HEADER
            )
        })?;
    header
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            format!(
                "{} is not a count: {header:?}",
                heartbeat::LIVE_WRITES_HEADER
            )
        })
}
