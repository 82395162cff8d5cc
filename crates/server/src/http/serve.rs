//! Accepting and serving connections, with what each client can hold
//! bounded: how many connections are open, how long one may sit idle or
//! take to send a request head, how big a head may be.
//!
//! Connections run on hyper through hyper-util's auto builder (HTTP/1.1,
//! and HTTP/2 with prior knowledge), the router is the service.
//!
//! - `--max-connections`: a connection is only accepted once it has a slot.
//!   When all are taken, up to `OVERFLOW_CONNECTIONS` more are accepted to
//!   be answered `503` with `Retry-After` and `Connection: close`; past
//!   those, connections wait in the kernel's listen backlog (bounded by
//!   the kernel) until a slot frees.
//! - `--idle-timeout`: HTTP/1.1's header-read timer runs whenever the
//!   connection waits for a request head (hyper starts it in
//!   `Conn::poll_read_head`, which is where an idle keep-alive connection
//!   waits too), so one timeout closes idle keep-alive connections and
//!   clients that send their head too slowly. A watcher per connection
//!   closes, gracefully, any connection with no request in progress for
//!   that long: the same for HTTP/1.1, and the only idle bound HTTP/2 and
//!   a connection that never sends a byte have. Bodies have their own
//!   `--body-timeout`.
//! - A client that shuts down its write side after a complete request
//!   (`nc -N`) still gets its answer (`half_close`): EOF on the read side
//!   is not taken as the client leaving.
//! - Request heads: at most `MAX_HEAD_BYTES` (hyper's read buffer, which
//!   also caps one body chunk) and `MAX_HEADERS` fields; beyond, `431`.
//!   HTTP/2 keeps hyper's 16 KiB header list and 1 MiB flow-control windows.
//!
//! On shutdown the listener is dropped (an inherited socket keeps the
//! connections still queued for the next server), every connection is
//! asked to finish gracefully once it owes no answer (`in_flight`):
//! in-flight requests complete, a request that has reached the server is
//! answered first, a new connection gets a moment to send its first
//! request, idle ones close. Answers after the shutdown began carry
//! `Connection: close`. `serve` returns once all are gone; the caller
//! bounds the wait.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ApiError;
use super::held_body::Held;
use super::in_flight::{Activity, Busy, Io, Owed, Shared};
use super::zero_copy::Pieces;
use crate::config::Limits;
use crate::limits::OVERFLOW_CONNECTIONS;
use crate::metrics::{Metrics, OverloadLabel};

/// Largest request head (request line and headers), in bytes. Keys are at
/// most `--max-key-bytes` (1 KiB by default); nginx allows 4 x 8 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields in a request head (hyper's default, made explicit).
pub const MAX_HEADERS: usize = 100;

/// HTTP/2: concurrent streams per connection. Every stream is a request and
/// counts against `--max-requests` like any other.
const H2_MAX_STREAMS: u32 = 64;

/// HTTP/2: ping a connection that has sent nothing for this long, and drop
/// it if the ping is not answered in `H2_PING_TIMEOUT` (a vanished peer in
/// the middle of a long response).
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest an overflow connection (answered 503) may stay open.
const OVERFLOW_DEADLINE: Duration = Duration::from_secs(5);

/// Pause after an accept error other than a connection's own failure
/// (`EMFILE`: descriptors freed by finishing requests let it recover).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serve `router` on `listener` until `stop` is cancelled and every
/// connection has finished.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    let serving = Arc::new(builder(limits.idle_timeout, true));
    let refusing = Arc::new(builder(limits.idle_timeout.min(OVERFLOW_DEADLINE), false));
    let idle = limits.idle_timeout;
    let connections = TaskTracker::new();
    loop {
        // A slot first, then the connection: a connection nobody can serve
        // stays in the backlog instead of in memory.
        let slot = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Ok(p) = slots.clone().acquire_owned() => Slot::Serve(p),
            Ok(p) = overflow.clone().acquire_owned() => Slot::Refuse(p),
        };
        let tcp = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok((tcp, _peer)) => {
                    // Answers leave whole at once (hyper writes a response
                    // in one call, a file's head goes with its first bytes):
                    // Nagle's algorithm would only hold back the last short
                    // segment of a file sent in several.
                    let _ = tcp.set_nodelay(true);
                    tcp
                }
                Err(e) => {
                    accept_failed(e, &stop).await;
                    continue;
                }
            },
        };
        // A slot may have freed while we waited for the connection.
        let slot = match slot {
            Slot::Refuse(p) => match slots.clone().try_acquire_owned() {
                Ok(s) => {
                    drop(p);
                    Slot::Serve(s)
                }
                Err(_) => Slot::Refuse(p),
            },
            s => s,
        };
        match slot {
            Slot::Serve(permit) => {
                let conn = Connection {
                    builder: serving.clone(),
                    router: router.clone(),
                    gauge: metrics.connections_open.clone(),
                    idle,
                    stop: stop.clone(),
                };
                connections.spawn(conn.run(tcp, permit));
            }
            Slot::Refuse(permit) => {
                connections.spawn(refuse(refusing.clone(), tcp, metrics.clone(), permit));
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

enum Slot {
    Serve(OwnedSemaphorePermit),
    Refuse(OwnedSemaphorePermit),
}

fn builder(idle: Duration, keep_alive: bool) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(keep_alive)
        .half_close(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(H2_MAX_STREAMS);
    b
}

async fn accept_failed(e: std::io::Error, stop: &CancellationToken) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
    }
}

/// One served connection.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    gauge: prometheus::IntGauge,
    idle: Duration,
    stop: CancellationToken,
}

impl Connection {
    async fn run(self, tcp: TcpStream, _permit: OwnedSemaphorePermit) {
        self.gauge.inc();
        let activity = Arc::new(Activity::new());
        let service = Service {
            inner: TowerToHyperService::new(self.router),
            activity: activity.clone(),
            stop: self.stop.clone(),
            pieces: Pieces::default(),
        };
        let socket = Shared::new(tcp);
        let io = Io::new(socket.clone(), activity.clone(), service.pieces.clone());
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        let mut conn = std::pin::pin!(conn);
        let check = tokio::time::sleep(self.idle);
        let mut check = std::pin::pin!(check);
        // The server is stopping: finish once no answer is owed.
        let mut stopping = false;
        // Asked to finish: idle too long, or stopping and owing nothing.
        let mut closing = false;
        // A new connection's time to send its first request, when stopping.
        let grace = tokio::time::sleep(Duration::ZERO);
        let mut grace = std::pin::pin!(grace);
        let mut in_grace = false;
        loop {
            if stopping && !closing {
                in_grace = false;
                match activity.owes_answer(&socket) {
                    Owed::Nothing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    Owed::Answer => {}
                    Owed::FirstRequest(until) => {
                        grace.as_mut().reset(until);
                        in_grace = true;
                    }
                }
            }
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = self.stop.cancelled(), if !stopping => stopping = true,
                // Decide again (above) once a request has started, or the
                // grace is over.
                _ = activity.request_started(), if stopping && !closing => {}
                _ = grace.as_mut(), if in_grace => {}
                _ = check.as_mut() => match activity.idle_until(self.idle) {
                    Some(deadline) if deadline <= Instant::now() => {
                        // An HTTP/2 peer that never acknowledges the GOAWAY
                        // ping would hold a closing connection forever: one
                        // more idle period, then it is dropped.
                        if closing {
                            break;
                        }
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                        check.as_mut().reset(Instant::now() + self.idle);
                    }
                    Some(deadline) => check.as_mut().reset(deadline),
                    None => check.as_mut().reset(Instant::now() + self.idle),
                },
            }
        }
        self.gauge.dec();
    }
}

/// The router, marking the connection busy while a request is in progress.
#[derive(Clone)]
struct Service {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
    /// Once the server stops, HTTP/1 answers say `Connection: close`: the
    /// request may have started before hyper was asked to finish (which
    /// is what would add it), and the client must not send another.
    stop: CancellationToken,
    /// File bodies to be sent by the connection's writer (HTTP/1 only).
    pieces: Pieces,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Held<Body, Busy>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let busy = Busy::new(self.activity.clone());
        let http1 = req.version() <= http::Version::HTTP_11;
        if http1 {
            req.extensions_mut().insert(self.pieces.clone());
        }
        let stop = self.stop.clone();
        let fut = hyper::service::Service::call(&self.inner, req);
        Box::pin(async move {
            let mut resp = fut.await?;
            if http1 && stop.is_cancelled() {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(resp.map(|b| Held::new(b, busy)))
        })
    }
}

/// Answer a connection past `--max-connections`: every request on it gets
/// 503, and it is closed after the first answer (HTTP/1.1) or
/// `OVERFLOW_DEADLINE`.
async fn refuse(
    builder: Arc<auto::Builder<TokioExecutor>>,
    tcp: TcpStream,
    metrics: Arc<Metrics>,
    _permit: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
        metrics.overload(OverloadLabel::Connections);
        let mut resp = ApiError::Overloaded(OverloadLabel::Connections.as_str()).into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        super::browser::any(resp.headers_mut());
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = builder.serve_connection(TokioIo::new(tcp), service);
    let _ = tokio::time::timeout(OVERFLOW_DEADLINE, conn).await;
}
