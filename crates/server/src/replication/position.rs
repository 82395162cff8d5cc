//! Write positions: the primary stamps every acknowledged write with a
//! number, and its heartbeat carries the highest one handed out, so a
//! replica can tell a reader whether it holds a given write
//! (read-your-writes through a balancer: `http::min_position`).
//!
//! A position is `max(last + 1, now in microseconds)`. The clock part
//! keeps positions apart across restarts without writing anything on the
//! write path; the counter part keeps them strictly increasing within a
//! run whatever the clock does. At start the counter begins at the
//! position of the heartbeat found under the root, the last this primary
//! wrote durably.
//!
//! What is guaranteed, and why it is enough:
//! - within a run, positions strictly increase;
//! - every position is handed out after its write is durable, and a
//!   heartbeat records the highest handed out *before* it is written, so a
//!   heartbeat at position P follows every write stamped at or below P:
//!   a replica holding it holds them (that is all a reader relies on);
//! - across a restart, new positions exceed every position recorded in a
//!   durable heartbeat, hence every position a replica can report. They
//!   also exceed the positions handed out after that last heartbeat
//!   unless the clock at restart reads earlier than those writes were
//!   made (a clock stepped back across the crash). Such a reuse cannot
//!   make a replica claim a write it lacks: every heartbeat written after
//!   the restart follows every write that was durable before the crash.
//! - A replica promoted after a failover starts above the heartbeat it
//!   holds; writes the old primary acknowledged after that heartbeat are
//!   the failover's gap (ops/RUNBOOK.md), positions or not.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::IntGauge;

use crate::metrics::Metrics;
use crate::store::heartbeat;

/// The gauge every node exports (a replica: its heartbeat's position).
pub const METRIC: &str = "putfs_replication_position";
pub const METRIC_HELP: &str = "Replication position: on the primary the highest write position \
     handed out; on a replica the position of the newest replicated heartbeat";

pub struct Positions {
    last: AtomicU64,
    gauge: IntGauge,
}

impl Positions {
    /// Positions that begin above `floor` (the position of the last
    /// heartbeat this root's primary wrote).
    pub fn new(floor: u64, metrics: &Metrics) -> Positions {
        Positions {
            last: AtomicU64::new(floor),
            gauge: metrics.register(IntGauge::new(METRIC, METRIC_HELP).expect("valid gauge")),
        }
    }

    /// A new position, for a write that is durable now.
    pub fn next(&self) -> u64 {
        let now = heartbeat::now_us();
        let step = |last: u64| Some(last.saturating_add(1).max(now));
        // `fetch_update` with a closure that always returns Some cannot fail.
        let prev = match self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, step)
        {
            Ok(p) | Err(p) => p,
        };
        prev.saturating_add(1).max(now)
    }

    /// The highest position handed out so far (or the starting floor).
    pub fn current(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// Set the gauge (at scrape time).
    pub fn refresh_metrics(&self) {
        self.gauge
            .set(i64::try_from(self.current()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_above_the_floor() {
        let m = Metrics::new();
        let far = heartbeat::now_us() + 3_600_000_000;
        let p = Positions::new(far, &m);
        let a = p.next();
        let b = p.next();
        assert_eq!(a, far + 1, "a floor ahead of the clock wins");
        assert_eq!(b, a + 1);
        assert_eq!(p.current(), b);
        let q = Positions::new(0, &Metrics::new());
        assert!(q.next() >= heartbeat::now_us() - 1_000_000, "clock-based");
    }

    #[test]
    fn concurrent_positions_are_distinct() {
        let p = std::sync::Arc::new(Positions::new(0, &Metrics::new()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || (0..1000).map(|_| p.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(p.current(), *all.last().unwrap());
    }
}
