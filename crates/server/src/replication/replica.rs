//! A read-only node's view of replication: the newest replicated heartbeat,
//! the lag it implies, and readiness against `--max-lag`.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus::{Gauge, IntCounter, IntGauge, IntGaugeVec, Opts};

use super::arrivals::Arrivals;
use super::position;
use crate::metrics::{Metrics, clamp};
use crate::store::Store;
use crate::store::heartbeat::{self, Heartbeat};

pub struct Replica {
    store: Arc<Store>,
    current: RwLock<Option<Heartbeat>>,
    started_ms: u64,
    max_lag: Option<Duration>,
    lag: Gauge,
    heartbeat_ts: Gauge,
    heartbeat_seq: IntGauge,
    position: IntGauge,
    writes: IntGauge,
    /// The primary's write count, as last learnt (`replication::primary`).
    primary_writes: Mutex<Option<u64>>,
    /// No labels: a vector only so that the series can be absent.
    lag_writes: IntGaugeVec,
    /// Reads refused because they asked for a position not reached yet.
    behind: IntCounter,
    pub arrivals: Arrivals,
}

impl Replica {
    pub fn new(store: Arc<Store>, metrics: &Metrics, max_lag: Option<Duration>) -> Arc<Replica> {
        let gauge =
            |name: &str, help: &str| metrics.register(Gauge::new(name, help).expect("valid gauge"));
        let r = Replica {
            arrivals: Arrivals::new(store.root_path(), metrics),
            store,
            current: RwLock::new(None),
            started_ms: heartbeat::now_ms(),
            max_lag,
            lag: gauge(
                "putfs_replication_lag_seconds",
                "Seconds since the primary wrote the newest heartbeat replicated here \
                 (before any arrives: seconds since this node started)",
            ),
            heartbeat_ts: gauge(
                "putfs_replication_heartbeat_timestamp_seconds",
                "When the primary wrote the newest replicated heartbeat (unix time; 0: none yet)",
            ),
            heartbeat_seq: metrics.register(
                IntGauge::new(
                    "putfs_replication_heartbeat_sequence",
                    "Sequence number of the newest replicated heartbeat",
                )
                .expect("valid gauge"),
            ),
            position: metrics.register(
                IntGauge::new(position::METRIC, position::METRIC_HELP).expect("valid gauge"),
            ),
            writes: metrics.register(
                IntGauge::new(position::WRITES_METRIC, position::WRITES_METRIC_HELP)
                    .expect("valid gauge"),
            ),
            primary_writes: Mutex::new(None),
            lag_writes: metrics.register(
                IntGaugeVec::new(
                    Opts::new(
                        "putfs_replication_lag_writes",
                        "Writes that changed data the primary has acknowledged and the newest \
                         replicated heartbeat does not cover (absent while the primary's count \
                         is unknown: no --primary-url or --forward-writes-to, or it does not \
                         answer)",
                    ),
                    &[],
                )
                .expect("valid gauge"),
            ),
            behind: metrics.register(
                IntCounter::new(
                    "putfs_reads_behind_total",
                    "Reads answered 404 + PutFS-Behind: they asked for a position this \
                     replica has not reached (the balancer retried them elsewhere)",
                )
                .expect("valid counter"),
            ),
        };
        let r = Arc::new(r);
        r.reload();
        r
    }

    /// Read the replicated heartbeat again (on a file event, or a poll).
    pub fn reload(&self) {
        let hb = match super::read_heartbeat(&self.store) {
            Ok(Some(hb)) => hb,
            // Gone (mid-replacement by a copier, say): keep the last one
            // seen, so the lag does not fall back to this node's uptime.
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the heartbeat (mid-copy?)");
                return;
            }
        };
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(hb);
        }
    }

    /// The newest replicated heartbeat.
    pub fn heartbeat(&self) -> Option<Heartbeat> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// This replica's position: its newest heartbeat's (0 before any).
    pub fn position(&self) -> u64 {
        self.heartbeat().map_or(0, |h| h.position)
    }

    /// Count a read refused for a position not reached yet.
    pub fn refused_behind(&self) {
        self.behind.inc();
    }

    /// Record the primary's write count (`None`: unknown now).
    pub fn set_primary_writes(&self, n: Option<u64>) {
        if let Ok(mut w) = self.primary_writes.lock() {
            *w = n;
        }
    }

    /// Lag in writes: the primary's count minus the replicated heartbeat's
    /// (never negative: a heartbeat from a former primary may count more).
    /// `None` when the primary's count is unknown or no heartbeat arrived.
    pub fn lag_writes(&self) -> Option<u64> {
        let primary = self.primary_writes.lock().ok().and_then(|w| *w)?;
        let have = self.heartbeat()?.writes;
        Some(primary.saturating_sub(have))
    }

    /// Replication lag now, in seconds.
    pub fn lag_seconds(&self) -> f64 {
        let now = heartbeat::now_ms();
        match self.heartbeat() {
            Some(hb) => hb.age_seconds(now),
            None => now.saturating_sub(self.started_ms) as f64 / 1000.0,
        }
    }

    /// Set the gauges from the current state (at scrape time, so the lag
    /// keeps rising while nothing arrives).
    pub fn refresh_metrics(&self) {
        self.lag.set(self.lag_seconds());
        let hb = self.heartbeat();
        self.heartbeat_ts
            .set(hb.as_ref().map_or(0.0, |h| h.unix_ms as f64 / 1000.0));
        self.heartbeat_seq
            .set(hb.as_ref().map_or(0, |h| clamp(h.seq)));
        self.position
            .set(hb.as_ref().map_or(0, |h| clamp(h.position)));
        self.writes.set(hb.map_or(0, |h| clamp(h.writes)));
        match self.lag_writes() {
            Some(n) => self
                .lag_writes
                .with_label_values(&[] as &[&str])
                .set(clamp(n)),
            None => self.lag_writes.reset(),
        }
    }

    /// Not ready when the lag exceeds `--max-lag`, or when no heartbeat
    /// has ever been replicated here: a replica that never received its
    /// primary's data is not one to read from, however young it is.
    pub fn check_ready(&self) -> Result<(), String> {
        let Some(max) = self.max_lag else {
            return Ok(());
        };
        if self.heartbeat().is_none() {
            return Err(format!(
                "not replicated yet: no heartbeat from the primary has arrived under \
                 {}/{} (with --max-lag, a replica is ready once its first replication \
                 has run and brought the primary's heartbeat)",
                self.store.root_path().display(),
                heartbeat::PATH
            ));
        }
        let lag = self.lag_seconds();
        if lag > max.as_secs_f64() {
            return Err(format!(
                "replication lag: the replicated heartbeat is {lag:.1} s old, more than \
                 --max-lag {}",
                humantime::format_duration(max)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeyLimits, Policy, StoreConfig, Unobserved};

    fn temp_store() -> (tempfile::TempDir, Arc<Store>) {
        let t = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            root: t.path().to_owned(),
            fsync: false,
            read_only: false,
            limits: KeyLimits::default(),
            policy: Policy::default(),
            init: true,
            create_root: true,
        };
        (t, Arc::new(Store::open(cfg, Arc::new(Unobserved)).unwrap()))
    }

    #[test]
    fn lag_follows_the_heartbeat_and_survives_its_vanishing() {
        let (_t, store) = temp_store();
        let m = Metrics::new();
        let r = Replica::new(store.clone(), &m, Some(Duration::from_secs(60)));
        assert!(r.heartbeat().is_none());
        let never = r.check_ready().unwrap_err();
        assert!(never.contains("not replicated yet"), "{never}");
        let old = Heartbeat {
            unix_ms: heartbeat::now_ms() - 3_600_000,
            seq: 7,
            node: "p".into(),
            position: 42,
            writes: 5,
        };
        let dir = store.root_path().join(".putfs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("heartbeat"), serde_json::to_vec(&old).unwrap()).unwrap();
        r.reload();
        assert_eq!(r.position(), 42);
        assert_eq!(r.lag_writes(), None, "the primary's count is unknown");
        r.set_primary_writes(Some(9));
        assert_eq!(r.lag_writes(), Some(4));
        r.set_primary_writes(Some(3));
        assert_eq!(r.lag_writes(), Some(0), "never negative");
        r.set_primary_writes(None);
        assert_eq!(r.lag_writes(), None);
        assert!(r.lag_seconds() >= 3599.0);
        assert!(r.check_ready().unwrap_err().contains("--max-lag"));
        let fresh = Heartbeat {
            unix_ms: heartbeat::now_ms(),
            ..old.clone()
        };
        std::fs::write(dir.join("heartbeat"), serde_json::to_vec(&fresh).unwrap()).unwrap();
        r.reload();
        assert_eq!(r.check_ready(), Ok(()));
        std::fs::write(dir.join("heartbeat"), serde_json::to_vec(&old).unwrap()).unwrap();
        r.reload();
        std::fs::remove_file(dir.join("heartbeat")).unwrap();
        r.reload();
        assert_eq!(
            r.heartbeat(),
            Some(old),
            "a vanished heartbeat keeps the last one seen"
        );
        assert!(r.lag_seconds() >= 3599.0);
    }
}
