//! Admission: requests, uploads and `/.putfs/` requests in flight are each
//! bounded by a semaphore. One past a bound is answered `503` with
//! `Retry-After` at once, never queued: a queue would only move the
//! unbounded growth somewhere else.

use std::sync::Arc;

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::metrics::{Metrics, OverloadLabel};

pub struct Limiter {
    requests: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
    internal: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// A slot held; freed, and its gauge lowered, on drop.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    gauge: Option<IntGauge>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

impl Limiter {
    pub fn new(max_requests: usize, max_uploads: usize, metrics: Arc<Metrics>) -> Limiter {
        Limiter {
            requests: Arc::new(Semaphore::new(max_requests)),
            uploads: Arc::new(Semaphore::new(max_uploads)),
            internal: Arc::new(Semaphore::new(crate::limits::INTERNAL_REQUESTS)),
            metrics,
        }
    }

    /// A request (not `/.putfs/`), held until its response body is done.
    pub fn request(&self) -> Result<Slot, ApiError> {
        let g = self.metrics.requests_in_flight.clone();
        self.take(&self.requests, Some(g), OverloadLabel::Requests)
    }

    /// A PUT body, held while it is received and written.
    pub fn upload(&self) -> Result<Slot, ApiError> {
        let g = self.metrics.uploads_in_flight.clone();
        self.take(&self.uploads, Some(g), OverloadLabel::Uploads)
    }

    /// A `/.putfs/` request other than `live`.
    pub fn internal(&self) -> Result<Slot, ApiError> {
        self.take(&self.internal, None, OverloadLabel::Internal)
    }

    fn take(
        &self,
        sem: &Arc<Semaphore>,
        gauge: Option<IntGauge>,
        label: OverloadLabel,
    ) -> Result<Slot, ApiError> {
        match sem.clone().try_acquire_owned() {
            Ok(permit) => {
                if let Some(g) = &gauge {
                    g.inc();
                }
                Ok(Slot {
                    _permit: permit,
                    gauge,
                })
            }
            Err(_) => {
                self.metrics.overload(label);
                Err(ApiError::Overloaded(label.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let metrics = Arc::new(Metrics::new());
        let l = Limiter::new(2, 1, metrics.clone());
        let a = l.request().unwrap();
        let _b = l.request().unwrap();
        assert!(matches!(l.request(), Err(ApiError::Overloaded("requests"))));
        assert_eq!(metrics.requests_in_flight.get(), 2);
        drop(a);
        assert_eq!(metrics.requests_in_flight.get(), 1);
        let _c = l.request().unwrap();
        let u = l.upload().unwrap();
        assert!(l.upload().is_err());
        drop(u);
        assert!(l.upload().is_ok());
        let text = metrics.render(None);
        assert!(text.contains("putfs_overload_rejections_total{reason=\"requests\"} 1"));
        assert!(text.contains("putfs_overload_rejections_total{reason=\"uploads\"} 1"));
    }
}
