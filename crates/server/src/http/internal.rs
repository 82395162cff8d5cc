//! putfs's own endpoints under `/.putfs/`. No key can start with `.putfs`,
//! so these can never shadow an object.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use super::App;
use super::error::ApiError;
use crate::store::{heartbeat, identity};

pub const PREFIX: &str = "/.putfs/";
pub const LIVE: &str = "/.putfs/live";

pub fn is_internal(path: &str) -> bool {
    path.starts_with(PREFIX) || path == "/.putfs"
}

pub async fn handle(app: &App, method: &Method, path: &str) -> Result<Response, ApiError> {
    let name = path.strip_prefix(PREFIX).unwrap_or("");
    if !matches!(
        name,
        "live" | "ready" | "metrics" | "heartbeat" | "identity"
    ) {
        return Err(ApiError::NotFound(format!(
            "{path} is reserved for putfs; its endpoints are {PREFIX}live, {PREFIX}ready, \
             {PREFIX}metrics, {PREFIX}heartbeat and {PREFIX}identity"
        )));
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::MethodNotAllowed("GET, HEAD"));
    }
    let store = app.store.clone();
    match name {
        "live" => Ok((StatusCode::OK, "live\n").into_response()),
        "ready" => {
            let app = app.clone();
            let verdict = tokio::task::spawn_blocking(move || {
                store.check_ready()?;
                app.ready_checks.iter().try_for_each(|c| c())
            })
            .await?;
            Ok(match verdict {
                Ok(()) => (StatusCode::OK, "ready\n".to_owned()).into_response(),
                Err(why) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                )
                    .into_response(),
            })
        }
        "identity" => {
            // Which root this process serves, comparable by a tool on the
            // same machine (store::identity): transfer-gap's "is the
            // destination myself?".
            let root = store.root_path().to_owned();
            let id = tokio::task::spawn_blocking(move || identity::of_root(&root)).await?;
            let id = id.map_err(|e| ApiError::Internal(format!("the root's identity: {e}")))?;
            Ok(json_no_store(serde_json::json!({ "root": id }).to_string()))
        }
        "heartbeat" => {
            let hb =
                tokio::task::spawn_blocking(move || store.read_internal(heartbeat::FILE)).await??;
            let body = hb.ok_or_else(|| ApiError::NotFound("no heartbeat here yet".into()))?;
            let mut resp = json_no_store(body);
            // A primary's count and position now, for replicas measuring
            // their lag in writes (`replication::primary`).
            if let Some(p) = &app.positions {
                let h = resp.headers_mut();
                h.insert(heartbeat::LIVE_WRITES_HEADER, HeaderValue::from(p.writes()));
                h.insert(
                    heartbeat::LIVE_POSITION_HEADER,
                    HeaderValue::from(p.current()),
                );
            }
            Ok(resp)
        }
        _ => {
            if let Some(r) = &app.replica {
                r.refresh_metrics();
            }
            if let Some(p) = &app.positions {
                p.refresh_metrics();
            }
            let space = tokio::task::spawn_blocking(move || store.space().ok()).await?;
            let text = app.metrics.render(space);
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(resp)
        }
    }
}

/// A JSON body that describes this moment: never cached.
fn json_no_store(body: impl IntoResponse) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
