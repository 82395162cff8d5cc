//! The primary's heartbeat: rewritten under `.putfs/` every interval,
//! durably, so that it reaches replicas with the data that preceded it,
//! with the highest write position handed out before it was written.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;

use super::position::Positions;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::heartbeat::{self, Heartbeat};

/// Write a heartbeat every `interval` until the runtime stops.
pub fn spawn(
    store: Arc<Store>,
    positions: Arc<Positions>,
    metrics: &Metrics,
    interval: Duration,
    node: String,
) {
    let last_write = metrics.register(
        IntGauge::new(
            "putfs_heartbeat_written_timestamp_seconds",
            "When this primary last wrote its heartbeat (unix time)",
        )
        .expect("valid gauge"),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq: u64 = 0;
        loop {
            tick.tick().await;
            seq += 1;
            let hb = Heartbeat {
                unix_ms: heartbeat::now_ms(),
                seq,
                node: node.clone(),
                // Read before the file is written: every write stamped at
                // or below it was durable before this heartbeat.
                position: positions.current(),
                writes: positions.writes(),
            };
            let store = store.clone();
            let written = tokio::task::spawn_blocking(move || {
                let json = serde_json::to_vec(&hb).map_err(|e| e.to_string())?;
                store
                    .write_internal(heartbeat::FILE, &json)
                    .map_err(|e| e.to_string())
                    .map(|()| hb.unix_ms)
            })
            .await;
            match written {
                Ok(Ok(ms)) => last_write.set((ms / 1000) as i64),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not write the heartbeat"),
                Err(e) => tracing::warn!(error = %e, "heartbeat task failed"),
            }
        }
    });
}

/// This machine's host name, for the heartbeat.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
