//! Arrival lag on replicas fed by rsync or rclone: for each object that
//! appears, now − its preserved mtime, which is the delay a reader actually
//! sees. Objects are noted on a file event and measured a moment later,
//! once the copying tool has set the mtime it preserves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use prometheus::{Histogram, HistogramOpts};

use crate::metrics::Metrics;
use crate::store::addressable_name;

/// How long after its event a file is measured.
const SETTLE: Duration = Duration::from_secs(1);
/// Most files waiting to be measured; a flood beyond this is sampled.
const MAX_PENDING: usize = 100_000;

pub struct Arrivals {
    root: PathBuf,
    pending: Mutex<HashMap<PathBuf, Instant>>,
    histogram: Histogram,
}

impl Arrivals {
    pub fn new(root: &Path, metrics: &Metrics) -> Arrivals {
        let buckets = vec![
            0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0,
        ];
        Arrivals {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_owned()),
            pending: Mutex::new(HashMap::new()),
            histogram: metrics.register(
                Histogram::with_opts(
                    HistogramOpts::new(
                        "putfs_replication_arrival_lag_seconds",
                        "For objects that appeared on this replica: arrival time minus the \
                         object's preserved mtime",
                    )
                    .buckets(buckets),
                )
                .expect("valid histogram"),
            ),
        }
    }

    /// A file event for `path`: remember it if it could be an object.
    pub fn note(&self, path: &Path) {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return;
        };
        let addressable = rel
            .components()
            .all(|c| c.as_os_str().to_str().is_some_and(addressable_name));
        if !addressable || rel.as_os_str().is_empty() {
            return;
        }
        if let Ok(mut p) = self.pending.lock()
            && p.len() < MAX_PENDING
        {
            p.entry(path.to_owned()).or_insert_with(Instant::now);
        }
    }

    /// Measure the files whose events have settled.
    pub fn settle(&self) {
        let ready: Vec<PathBuf> = {
            let Ok(mut p) = self.pending.lock() else {
                return;
            };
            let now = Instant::now();
            let ready: Vec<PathBuf> = p
                .iter()
                .filter(|(_, t)| now.duration_since(**t) >= SETTLE)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &ready {
                p.remove(k);
            }
            ready
        };
        let now = SystemTime::now();
        for path in ready {
            // Gone again (a copier's temp file, renamed away) or not a file.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if let Ok(mtime) = meta.modified() {
                let lag = now.duration_since(mtime).unwrap_or_default();
                self.histogram.observe(lag.as_secs_f64());
            }
        }
    }

    #[cfg(test)]
    pub fn observed(&self) -> u64 {
        self.histogram.get_sample_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_objects_not_temp_files() {
        let t = tempfile::tempdir().unwrap();
        let m = Metrics::new();
        let a = Arrivals::new(t.path(), &m);
        let obj = t.path().join("obj");
        std::fs::write(&obj, "x").unwrap();
        let old = std::fs::File::options().write(true).open(&obj).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        a.note(&obj);
        a.note(&t.path().join(".putfs/heartbeat"));
        a.note(&t.path().join("gone"));
        a.note(Path::new("/elsewhere/x"));
        if let Ok(mut p) = a.pending.lock() {
            assert_eq!(p.len(), 2, "only addressable paths under the root");
            for t in p.values_mut() {
                *t -= SETTLE;
            }
        }
        a.settle();
        assert_eq!(a.observed(), 1);
        assert!(a.histogram.get_sample_sum() >= 119.0);
    }
}
