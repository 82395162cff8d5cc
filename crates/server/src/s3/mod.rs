//! The S3 listener (`--s3-listen`, `--s3-keys`): an S3 API on the same
//! store as the plain one, so an object written either way is the same
//! plain file, with the same durability, write-once and retention rules.
//!
//! s3s parses requests, checks SigV4 signatures (headers and presigned
//! URLs, `aws-chunked` bodies and their trailers, clock skew) and writes
//! S3's XML; `backend` maps the operations onto the store. Buckets are the
//! root's top-level directories; a key is the path below its bucket.
//! Requests share the plain listener's limits, metrics and access log.

mod attributes;
mod backend;
mod base;
mod checksums;
mod errors;
pub mod keys;
mod listing;
mod meta;
mod multipart;
mod part_copy;
mod request_id;
mod upload;
mod versions;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::config::S3Config;
use crate::http::App;

#[derive(Clone)]
struct S3State {
    app: App,
    service: S3Service,
}

/// The S3 listener's service over `app`'s store.
pub fn router(app: App, cfg: &S3Config) -> Result<Router, String> {
    let auth = keys::load(&cfg.keys)?;
    let mut builder = S3ServiceBuilder::new(base::Backend::new(app.clone(), cfg));
    builder.set_auth(auth);
    if let Some(domain) = &cfg.domain {
        let host = s3s::host::SingleDomain::new(domain)
            .map_err(|e| format!("--s3-domain {domain}: {e}"))?;
        builder.set_host(host);
    }
    let service = builder.build();
    Ok(Router::new()
        .fallback(handle)
        .with_state(S3State { app, service }))
}

/// `Expect: 100-continue` on an empty body: hyper answers without a `100
/// Continue` (there is no body to ask for), which the RFC allows, but
/// botocore then keeps the early answer's status for the connection's next
/// request and misreads it (the aws cli stalls for its read timeout). Such
/// an answer closes the connection.
fn expects_continue_without_body(headers: &http::HeaderMap) -> bool {
    let expects = headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty = headers
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    expects && empty
}

/// A presigned URL whose `X-Amz-Expires` is negative expired before it was
/// made: S3 answers 403 AccessDenied, where s3s's parser says 400.
fn presigned_expired_already(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&').any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("X-Amz-Expires") && v.parse::<i64>().is_ok_and(|n| n < 0)
            })
        })
    })
}

fn expired_answer() -> Response {
    let mut resp = Response::new(Body::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
         <Message>Request has expired: X-Amz-Expires is negative</Message></Error>",
    ));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

async fn handle(State(s): State<S3State>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = request_id::next();
    let attributes = method == http::Method::GET && request_id::asks_attributes(req.uri());
    let continue_unsent = expects_continue_without_body(req.headers());
    let slot = match s.app.limiter.request() {
        Ok(slot) => slot,
        Err(_) => {
            let mut resp = Response::new(Body::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                 <Message>the server is at --max-requests</Message></Error>",
            ));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return resp;
        }
    };
    let resp = if presigned_expired_already(req.uri()) {
        expired_answer()
    } else {
        match s.service.call(req.map(s3s::Body::http_body_unsync)).await {
            Ok(resp) => resp.map(Body::new),
            Err(e) => {
                tracing::error!(method = %method, path, error = ?e, "S3 request failed");
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                resp
            }
        }
    };
    let mut resp = request_id::stamp(resp, &id, attributes).await;
    crate::http::close_if_body_unread(&method, &mut resp);
    if continue_unsent {
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    let status = resp.status();
    let elapsed = started.elapsed();
    s.app
        .metrics
        .s3_request(&method, status.as_u16(), elapsed.as_secs_f64());
    if s.app.cfg.access_log {
        tracing::info!(
            target: "putfs::access",
            api = "s3",
            request_id = %id,
            method = %method,
            path = %path,
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
        );
    }
    crate::http::held_body::hold(resp, slot)
}
