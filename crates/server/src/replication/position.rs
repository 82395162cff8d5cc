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
//!
//! Positions say *whether* a replica holds a write, not how many it lacks
//! (they are clock-like). For that the primary also counts the writes that
//! changed data (a PUT answered 201, a DELETE answered 204: not a PUT of
//! identical bytes, which changes nothing a replica must copy), and the
//! heartbeat carries the count. The count starts from the heartbeat under
//! the root, so it continues across restarts and promotions; the writes
//! acknowledged after a primary's last heartbeat and before it stopped
//! are not in it (nothing is written on the write path to keep them).
//! Within a run it is exact, which is what lag in writes needs: the
//! primary's live count minus a replica's heartbeat's count is the number
//! of changes the primary acknowledged that the replica is not known to
//! hold.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::IntGauge;

use crate::metrics::{Metrics, clamp};
use crate::store::heartbeat;

/// The gauge every node exports (a replica: its heartbeat's position).
pub const METRIC: &str = "putfs_replication_position";
pub const METRIC_HELP: &str = "Replication position: on the primary the highest write position \
     handed out; on a replica the position of the newest replicated heartbeat";

/// The gauge every node exports (a replica: its heartbeat's count).
pub const WRITES_METRIC: &str = "putfs_replication_writes";
pub const WRITES_METRIC_HELP: &str = "Writes that changed data (PUT 201, DELETE 204), counted \
     since the root's first primary: on the primary the count now; on a replica the count in the \
     newest replicated heartbeat";

pub struct Positions {
    last: AtomicU64,
    gauge: IntGauge,
    writes: AtomicU64,
    writes_gauge: IntGauge,
}

impl Positions {
    /// Positions that begin above `floor` and a write count that begins
    /// at `writes` (the position and count of the last heartbeat this
    /// root's primary wrote).
    pub fn new(floor: u64, writes: u64, metrics: &Metrics) -> Positions {
        let gauge = |name: &str, help: &str| {
            metrics.register(IntGauge::new(name, help).expect("valid gauge"))
        };
        Positions {
            last: AtomicU64::new(floor),
            gauge: gauge(METRIC, METRIC_HELP),
            writes: AtomicU64::new(writes),
            writes_gauge: gauge(WRITES_METRIC, WRITES_METRIC_HELP),
        }
    }

    /// Count a write that changed data, once it is durable.
    pub fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Writes counted so far (from the starting count).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
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
        self.gauge.set(clamp(self.current()));
        self.writes_gauge.set(clamp(self.writes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_above_the_floor() {
        let m = Metrics::new();
        let far = heartbeat::now_us() + 3_600_000_000;
        let p = Positions::new(far, 0, &m);
        let a = p.next();
        let b = p.next();
        assert_eq!(a, far + 1, "a floor ahead of the clock wins");
        assert_eq!(b, a + 1);
        assert_eq!(p.current(), b);
        let q = Positions::new(0, 0, &Metrics::new());
        assert!(q.next() >= heartbeat::now_us() - 1_000_000, "clock-based");
    }

    #[test]
    fn the_count_continues_from_the_heartbeats() {
        let p = Positions::new(0, 41, &Metrics::new());
        assert_eq!(p.writes(), 41);
        p.next();
        assert_eq!(p.writes(), 41, "a position alone is no change");
        p.count_write();
        assert_eq!(p.writes(), 42);
    }

    #[test]
    fn concurrent_positions_are_distinct() {
        let p = std::sync::Arc::new(Positions::new(0, 0, &Metrics::new()));
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
