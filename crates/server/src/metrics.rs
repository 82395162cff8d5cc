//! Prometheus metrics: one registry, every series putfs exports.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::store::{Observer, Space};

/// The series the store feeds, through its [`Observer`].
pub struct StoreMetrics {
    pub fsync_seconds: Histogram,
    pub objects_written: IntCounter,
    pub objects_deleted: IntCounter,
}

impl Observer for StoreMetrics {
    fn fsync(&self, seconds: f64) {
        self.fsync_seconds.observe(seconds);
    }
    fn written(&self) {
        self.objects_written.inc();
    }
    fn deleted(&self) {
        self.objects_deleted.inc();
    }
}

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    /// Requests on the S3 listener, by method and status.
    pub s3_requests: IntCounterVec,
    pub s3_latency: HistogramVec,
    pub latency: HistogramVec,
    /// `requests` and `latency` children, each looked up on first use only: a label look-up
    /// hashes the label values under a lock on every request.
    resolved: Resolved,
    pub bytes_in: IntCounter,
    pub bytes_out: IntCounter,
    /// GETs and HEADs answered from the read cache.
    pub read_cache_hits: IntCounter,
    pub put_outcomes: IntCounterVec,
    pub store: std::sync::Arc<StoreMetrics>,
    free_bytes: IntGauge,
    total_bytes: IntGauge,
    free_inodes: IntGauge,
    pub read_only: IntGauge,
    /// 1 when the listening socket came from the service manager (socket
    /// activation), so a restart or promotion never refuses a connection.
    pub listener_inherited: IntGauge,
    /// Requests and connections answered 503 because a limit was reached.
    pub overload_rejections: IntCounterVec,
    pub connections_open: IntGauge,
    pub requests_in_flight: IntGauge,
    pub uploads_in_flight: IntGauge,
}

/// Which limit an overload rejection hit, as the `reason` label of
/// `putfs_overload_rejections_total`.
#[derive(Debug, Clone, Copy)]
pub enum OverloadLabel {
    Connections,
    Requests,
    Uploads,
    Internal,
}

impl OverloadLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            OverloadLabel::Connections => "connections",
            OverloadLabel::Requests => "requests",
            OverloadLabel::Uploads => "uploads",
            OverloadLabel::Internal => "internal",
        }
    }
}

/// PUT outcomes, as the `outcome` label of `putfs_put_outcomes_total`.
#[derive(Debug, Clone, Copy)]
pub enum PutOutcomeLabel {
    Created,
    Identical,
    Conflict,
    PreconditionFailed,
    DigestMismatch,
    Aborted,
    Failed,
}

impl PutOutcomeLabel {
    fn as_str(self) -> &'static str {
        match self {
            PutOutcomeLabel::Created => "created",
            PutOutcomeLabel::Identical => "identical",
            PutOutcomeLabel::Conflict => "conflict",
            PutOutcomeLabel::PreconditionFailed => "precondition_failed",
            PutOutcomeLabel::DigestMismatch => "digest_mismatch",
            PutOutcomeLabel::Aborted => "aborted",
            PutOutcomeLabel::Failed => "failed",
        }
    }
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let latency_buckets = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0, 30.0,
        ];
        let requests = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "putfs_http_requests_total",
                    "HTTP requests by method and status",
                ),
                &["method", "status"],
            )
            .expect("valid"),
        );
        let s3_requests = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "putfs_s3_requests_total",
                    "Requests on the S3 listener by method and status",
                ),
                &["method", "status"],
            )
            .expect("valid"),
        );
        let s3_latency = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "putfs_s3_request_duration_seconds",
                    "S3 listener: time to the response head, by method",
                )
                .buckets(latency_buckets.clone()),
                &["method"],
            )
            .expect("valid"),
        );
        let latency = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "putfs_http_request_duration_seconds",
                    "Time to the response head, by method",
                )
                .buckets(latency_buckets.clone()),
                &["method"],
            )
            .expect("valid"),
        );
        let bytes_in = reg(
            &r,
            IntCounter::new(
                "putfs_http_received_bytes_total",
                "Request body bytes received",
            )
            .expect("valid"),
        );
        let bytes_out = reg(
            &r,
            IntCounter::new("putfs_http_sent_bytes_total", "Response body bytes sent")
                .expect("valid"),
        );
        let read_cache_hits = reg(
            &r,
            IntCounter::new(
                "putfs_read_cache_hits_total",
                "GETs and HEADs answered from the read cache (--read-cache-bytes)",
            )
            .expect("valid"),
        );
        let put_outcomes = reg(
            &r,
            IntCounterVec::new(
                Opts::new("putfs_put_outcomes_total", "PUT requests by outcome"),
                &["outcome"],
            )
            .expect("valid"),
        );
        for o in [
            PutOutcomeLabel::Created,
            PutOutcomeLabel::Identical,
            PutOutcomeLabel::Conflict,
            PutOutcomeLabel::PreconditionFailed,
            PutOutcomeLabel::DigestMismatch,
            PutOutcomeLabel::Aborted,
            PutOutcomeLabel::Failed,
        ] {
            put_outcomes.with_label_values(&[o.as_str()]);
        }
        let store = std::sync::Arc::new(StoreMetrics {
            fsync_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("putfs_fsync_duration_seconds", "fsync latency")
                        .buckets(latency_buckets),
                )
                .expect("valid"),
            ),
            objects_written: reg(
                &r,
                IntCounter::new("putfs_objects_written_total", "Objects published").expect("valid"),
            ),
            objects_deleted: reg(
                &r,
                IntCounter::new("putfs_objects_deleted_total", "Objects deleted").expect("valid"),
            ),
        });
        let gauge = |name: &str, help: &str| reg(&r, IntGauge::new(name, help).expect("valid"));
        let free_bytes = gauge("putfs_data_root_free_bytes", "Free bytes on the data root");
        let total_bytes = gauge(
            "putfs_data_root_size_bytes",
            "Size of the data root filesystem",
        );
        let free_inodes = gauge(
            "putfs_data_root_free_inodes",
            "Free inodes on the data root",
        );
        let read_only = gauge("putfs_read_only", "1 when this node refuses writes");
        let listener_inherited = gauge(
            "putfs_listener_inherited",
            "1 when the listening socket was inherited from the service manager (LISTEN_FDS)",
        );
        let overload_rejections = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "putfs_overload_rejections_total",
                    "Connections and requests answered 503 because a limit was reached, by limit",
                ),
                &["reason"],
            )
            .expect("valid"),
        );
        for o in [
            OverloadLabel::Connections,
            OverloadLabel::Requests,
            OverloadLabel::Uploads,
            OverloadLabel::Internal,
        ] {
            overload_rejections.with_label_values(&[o.as_str()]);
        }
        let connections_open = gauge(
            "putfs_http_connections_open",
            "Client connections being served (--max-connections)",
        );
        let requests_in_flight = gauge(
            "putfs_http_requests_in_flight",
            "Requests in flight, uploads included (--max-requests)",
        );
        let uploads_in_flight = gauge(
            "putfs_uploads_in_flight",
            "PUT bodies being received (--max-uploads)",
        );
        let build = reg(
            &r,
            IntGaugeVec::new(
                Opts::new("putfs_build_info", "Build information"),
                &["version"],
            )
            .expect("valid"),
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let resolved = Resolved::new();
        Metrics {
            registry: r,
            requests,
            s3_requests,
            s3_latency,
            latency,
            resolved,
            bytes_in,
            bytes_out,
            read_cache_hits,
            put_outcomes,
            store,
            free_bytes,
            total_bytes,
            free_inodes,
            read_only,
            listener_inherited,
            overload_rejections,
            connections_open,
            requests_in_flight,
            uploads_in_flight,
        }
    }

    /// Register a further collector (replication metrics).
    pub fn register<T: prometheus::core::Collector + Clone + 'static>(&self, c: T) -> T {
        reg(&self.registry, c)
    }

    pub fn put_outcome(&self, o: PutOutcomeLabel) {
        self.put_outcomes.with_label_values(&[o.as_str()]).inc();
    }

    pub fn overload(&self, o: OverloadLabel) {
        self.overload_rejections
            .with_label_values(&[o.as_str()])
            .inc();
    }

    /// Record a finished request.
    pub fn request(&self, method: &str, status: u16, seconds: f64) {
        let m = METHODS.iter().position(|l| *l == method);
        match (m, status.checked_sub(STATUS_MIN)) {
            (Some(m), Some(s)) if s < STATUS_SPAN => {
                self.resolved.requests[m * STATUS_SPAN as usize + s as usize]
                    .get_or_init(|| {
                        self.requests
                            .with_label_values(&[method, &status.to_string()])
                    })
                    .inc();
                self.resolved.latency[m]
                    .get_or_init(|| self.latency.with_label_values(&[method]))
                    .observe(seconds);
            }
            _ => {
                let status = status.to_string();
                self.requests.with_label_values(&[method, &status]).inc();
                self.latency.with_label_values(&[method]).observe(seconds);
            }
        }
    }

    /// Count one request on the S3 listener.
    pub fn s3_request(&self, method: &http::Method, status: u16, seconds: f64) {
        let method = method_label(method);
        self.s3_requests
            .with_label_values(&[method, &status.to_string()])
            .inc();
        self.s3_latency
            .with_label_values(&[method])
            .observe(seconds);
    }

    /// The text exposition, with filesystem gauges read now.
    pub fn render(&self, space: Option<Space>) -> String {
        if let Some(s) = space {
            self.free_bytes.set(clamp(s.free_bytes));
            self.total_bytes.set(clamp(s.total_bytes));
            self.free_inodes.set(clamp(s.free_inodes));
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A count as a gauge value (gauges are signed).
pub fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Every label [`method_label`] gives.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "PUT", "DELETE", "QUERY", "POST", "OPTIONS", "other",
];
const STATUS_MIN: u16 = 100;
const STATUS_SPAN: u16 = 500;

struct Resolved {
    /// `[method][status - 100]`, filled on first use.
    requests: Box<[std::sync::OnceLock<IntCounter>]>,
    latency: Box<[std::sync::OnceLock<Histogram>]>,
}

impl Resolved {
    fn new() -> Resolved {
        Resolved {
            requests: cells(METHODS.len() * STATUS_SPAN as usize),
            latency: cells(METHODS.len()),
        }
    }
}

fn cells<T>(n: usize) -> Box<[std::sync::OnceLock<T>]> {
    (0..n).map(|_| std::sync::OnceLock::new()).collect()
}

/// Methods as metric labels: a fixed set, so clients cannot blow up the
/// label cardinality with invented methods.
pub fn method_label(m: &http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "QUERY" => "QUERY",
        "POST" => "POST",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
