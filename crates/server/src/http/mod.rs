//! The HTTP layer: one entry point that routes a request to its handler,
//! and records metrics and the access log for every answer.
//!
//! Routing is by the shape of the key, not a route table: `/.putfs/…` is
//! putfs's own, a path ending in `/` is a listing, anything else an object.

mod auth;
mod browser;
mod conditional;
mod digest_headers;
mod directory;
mod error;
mod error_page;
mod forward;
mod forward_gate;
mod forward_signature;
mod forward_spool;
pub(crate) mod held_body;
mod in_flight;
mod internal;
mod listing;
mod listing_filter;
mod listing_format;
mod listing_html;
mod listing_sort;
mod listing_stream;
mod negotiate;
mod object_get;
mod object_headers;
mod object_put;
mod overload;
mod position;
mod position_headers;
pub(crate) mod pump;
mod range;
mod read_cache;
pub mod serve;
mod url_path;
mod zero_copy;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};

pub use error::ApiError;
pub use forward::Forwarder;
pub use forward_gate::ForwardGate;
pub use overload::Limiter;
pub use read_cache::ReadCache;

use crate::config::HttpConfig;
use crate::metrics::{Metrics, method_label};
use crate::store::{Store, StoreError, Target};

const OBJECT_ALLOW: &str = "GET, HEAD, PUT, DELETE";
const LISTING_ALLOW: &str = "GET, HEAD, QUERY";

/// An extra readiness condition (e.g. replication lag); `Err` says why not.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Everything a handler needs: one `Arc`, so the clone axum makes for every
/// request is one counter increment.
#[derive(Clone)]
pub struct App(Arc<AppState>);

impl App {
    pub fn new(state: AppState) -> App {
        App(Arc::new(state))
    }
}

impl std::ops::Deref for App {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// What [`App`] shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub cfg: HttpConfig,
    pub metrics: Arc<Metrics>,
    pub forward: Option<Forwarder>,
    /// Checks the signature on writes forwarded to this node.
    pub forward_gate: Arc<ForwardGate>,
    pub ready_checks: Vec<ReadyCheck>,
    /// Read-only nodes: replication state (lag metrics, heartbeat).
    pub replica: Option<Arc<crate::replication::replica::Replica>>,
    /// Writable nodes: the positions stamped on acknowledged writes.
    pub positions: Option<Arc<crate::replication::position::Positions>>,
    /// Requests and uploads in flight (`--max-requests`, `--max-uploads`).
    pub limiter: Arc<Limiter>,
    /// Small objects in memory, checked against the disk on every read.
    pub read_cache: ReadCache,
}

pub fn router(app: App) -> Router {
    Router::new().fallback(handle).with_state(app)
}

async fn handle(State(app): State<App>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // Health checks and scrapes are not traffic: counting them would make a
    // lagging replica's 503 on /.putfs/ready look like server errors.
    let internal = internal::is_internal(req.uri().path());
    let uri = req.uri().clone();
    // Kept for an error page: a browser gets HTML, a program plain text.
    let mut accept = http::HeaderMap::new();
    for v in req.headers().get_all(header::ACCEPT) {
        accept.append(header::ACCEPT, v.clone());
    }
    let failed = |e: ApiError| {
        let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
        error_page::respond(e, &method, &path, &accept)
    };
    let (mut resp, slot) = match admit(&app, uri.path(), internal) {
        Ok(slot) => match route(&app, req).await {
            Ok(resp) => (resp, slot),
            Err(e) => {
                // Overload is counted in its own metric, not logged per request.
                if e.status().is_server_error() && !matches!(e, ApiError::Overloaded(_)) {
                    let path = uri.path();
                    tracing::error!(method = %method, path, error = %e, "request failed");
                }
                (failed(e), slot)
            }
        },
        Err(e) => (failed(e), None),
    };
    let status = resp.status();
    close_if_body_unread(&method, &mut resp);
    let elapsed = started.elapsed();
    if !internal {
        app.metrics.request(
            method_label(&method),
            status.as_u16(),
            elapsed.as_secs_f64(),
        );
    }
    if app.cfg.access_log {
        let path = uri.path();
        tracing::info!(
            target: "putfs::access",
            method = %method,
            path = %path,
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
        );
    }
    browser::any(resp.headers_mut());
    match slot {
        Some(slot) => held_body::hold(resp, slot),
        None => resp,
    }
}

/// An error answered before a request body was read: the rest of the body
/// may still be on the wire, so the connection cannot be reused.
pub(crate) fn close_if_body_unread(method: &http::Method, resp: &mut Response) {
    if resp.status().as_u16() >= 400
        && matches!(method.as_str(), "PUT" | "POST" | "QUERY" | "PATCH")
    {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// A slot for the request, or the 503 that refuses it. `/.putfs/` has its
/// own few slots, so health checks and scrapes are answered when the
/// server is saturated; `live` needs none (it touches nothing).
fn admit(app: &App, path: &str, internal: bool) -> Result<Option<overload::Slot>, ApiError> {
    if !internal {
        return app.limiter.request().map(Some);
    }
    if path == internal::LIVE {
        return Ok(None);
    }
    app.limiter.internal().map(Some)
}

async fn route(app: &App, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path();
    if internal::is_internal(path) {
        return internal::handle(app, req.method(), path).await;
    }
    let target = Target::from_request_path(path, app.store.limits()).map_err(StoreError::from)?;
    let method = req.method().clone();
    match target {
        Target::Object(key) => match method {
            Method::GET | Method::HEAD => {
                admit_read(app, req.headers())?;
                let pieces = req.extensions().get::<zero_copy::Pieces>().cloned();
                let q = req.uri().query();
                object_get::get(app, key, &method, q, req.headers(), pieces).await
            }
            Method::PUT | Method::DELETE => {
                auth::check(app.cfg.write_token.as_deref(), req.headers())?;
                if app.store.read_only() {
                    return forward_write(app, req).await;
                }
                app.forward_gate.check(&method, path, req.headers())?;
                if method == Method::PUT {
                    let _upload = app.limiter.upload()?;
                    let (parts, body) = req.into_parts();
                    object_put::put(app, key, &parts.headers, body).await
                } else {
                    delete(app, key, req.headers()).await
                }
            }
            _ => Err(ApiError::MethodNotAllowed(OBJECT_ALLOW)),
        },
        Target::Listing(prefix) => match method.as_str() {
            "GET" | "HEAD" => {
                admit_read(app, req.headers())?;
                let query = req.uri().query().map(str::to_owned);
                listing::get(app, prefix, &method, query.as_deref(), req.headers()).await
            }
            "QUERY" => {
                admit_read(app, req.headers())?;
                let (parts, body) = req.into_parts();
                listing::query(app, prefix, &parts.headers, body).await
            }
            _ => Err(ApiError::MethodNotAllowed(LISTING_ALLOW)),
        },
    }
}

/// What every read passes first: the read token, then (on a read-only
/// node) the position the reader asks for.
fn admit_read(app: &App, headers: &http::HeaderMap) -> Result<(), ApiError> {
    auth::check(app.cfg.read_token.as_deref(), headers)?;
    position::require(app, headers)
}

/// A write reaching a read-only node: forward it, or refuse it.
async fn forward_write(app: &App, req: Request) -> Result<Response, ApiError> {
    let Some(fwd) = &app.forward else {
        return Err(StoreError::ReadOnly.into());
    };
    let _upload = match *req.method() {
        Method::PUT => Some(app.limiter.upload()?),
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    fwd.forward(app, parts.method.clone(), pq, &parts.headers, body)
        .await
}

async fn delete(
    app: &App,
    key: crate::store::Key,
    headers: &http::HeaderMap,
) -> Result<Response, ApiError> {
    let store = app.store.clone();
    let condition = conditional::write_condition(headers).map_err(ApiError::BadRequest)?;
    let deleted = key.clone();
    tokio::task::spawn_blocking(move || store.delete(&key, condition.as_ref())).await??;
    app.read_cache.forget(&deleted);
    let mut resp = http::StatusCode::NO_CONTENT.into_response();
    position::acknowledge(app, &mut resp, true);
    Ok(resp)
}
