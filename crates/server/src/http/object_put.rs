//! PUT: work out the policy for this key, then either
//! - read a small body whole and do the rest in one blocking call, or
//! - decide about an existing key before reading the body when we can, or
//! - stream the body into the store (or into a comparison with the object).

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use headers::{HeaderMapExt, IfNoneMatch};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::App;
use super::error::ApiError;
use super::object_headers::Described;
use super::pump::Pump;
use crate::metrics::PutOutcomeLabel;
use crate::store::{Compare, Condition, Expected, IfExists, Key, Object, PutOutcome, StoreError};

/// Bodies up to this size (by Content-Length) are read into memory first.
const SMALL_BODY: u64 = 64 * 1024;

pub async fn put(
    app: &App,
    key: Key,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = put_inner(app, key.clone(), headers, body).await;
    // A replacement (--mutable) is a new file: the cache would notice, but
    // need not wait to.
    app.read_cache.forget(&key);
    app.metrics.put_outcome(outcome_label(&result));
    let (outcome, body_unread) = result?;
    let (status, meta) = match outcome {
        PutOutcome::Created(m) => (StatusCode::CREATED, m),
        PutOutcome::Identical(m) => (StatusCode::NO_CONTENT, m),
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    Described::new(&key, &meta)?.validators(resp.headers_mut());
    super::position::acknowledge(app, &mut resp, status == StatusCode::CREATED);
    if body_unread {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

/// The outcome, and whether we answered without reading the body.
async fn put_inner(
    app: &App,
    key: Key,
    headers: &HeaderMap,
    body: Body,
) -> Result<(PutOutcome, bool), ApiError> {
    let policy = app.store.policy();
    let mut expected = super::digest_headers::expected(headers).map_err(ApiError::BadRequest)?;
    let sent_digest = !expected.is_empty();
    if let Some(e) = policy.key_digest(&key).map_err(ApiError::BadRequest)? {
        expected.push(e);
    }
    let create_only = headers
        .typed_get::<IfNoneMatch>()
        .is_some_and(|h| h == IfNoneMatch::any());
    let condition = super::conditional::write_condition(headers).map_err(ApiError::BadRequest)?;
    let if_exists = policy.if_exists(&key, create_only);
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    // Small body, and nothing to decide before reading it: one hop. A client
    // that waits for `100 Continue` gets its answer before sending the body
    // instead, so it takes the path below.
    let body_decides = matches!(if_exists, IfExists::Compare | IfExists::Replace) && !sent_digest;
    let waits_for_continue = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if body_decides && !waits_for_continue && length.is_some_and(|l| l <= SMALL_BODY) {
        let bytes = read_small(app, body).await?;
        let store = app.store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            store.put_bytes(&key, &bytes, expected, if_exists, condition)
        })
        .await??;
        return Ok((outcome, false));
    }

    if if_exists != IfExists::Replace || condition.is_some() {
        let store = app.store.clone();
        let k = key.clone();
        let existing = tokio::task::spawn_blocking(move || store.lookup(&k)).await??;
        // A condition that already fails is answered before the body; the
        // store checks it again, atomically, when it publishes.
        if let Some(c) = &condition {
            c.check(existing.as_ref().map(|o| &o.meta))?;
        }
        if let Some(existing) = existing
            && if_exists != IfExists::Replace
        {
            let cond = condition;
            return answer_existing(app, key, existing, if_exists, cond, expected, length, body)
                .await;
        }
    }
    let store = app.store.clone();
    let upload = tokio::task::spawn_blocking(move || {
        store.begin_upload(&key, expected, if_exists, condition)
    })
    .await??;
    Ok((feed(app, body, Pump::spawn(upload)).await?, false))
}

/// The key exists (found before the body was read).
#[allow(clippy::too_many_arguments)]
async fn answer_existing(
    app: &App,
    key: Key,
    mut existing: Object,
    if_exists: IfExists,
    condition: Option<Condition>,
    expected: Vec<Expected>,
    length: Option<u64>,
    body: Body,
) -> Result<(PutOutcome, bool), ApiError> {
    let store = app.store.clone();
    let k = key.clone();
    let (decided, existing, expected) = tokio::task::spawn_blocking(move || {
        let cond = condition.as_ref();
        let d = store.answer_existing(&k, &mut existing, if_exists, cond, &expected, length);
        (d, existing, expected)
    })
    .await?;
    if let Some(answer) = decided {
        return Ok((answer?, true));
    }
    let sink = Compare::new(app.store.clone(), key, existing, expected);
    Ok((feed(app, body, Pump::spawn(sink)).await?, false))
}

/// Read a body known to be small into memory.
async fn read_small(app: &App, body: Body) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = next_chunk(app, &mut stream).await? {
        if buf.len() as u64 + chunk.len() as u64 > SMALL_BODY {
            return Err(ApiError::BadRequest(
                "body longer than its Content-Length".into(),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The next body chunk, with the idle timeout and client errors mapped.
pub(super) async fn next_chunk(
    app: &App,
    stream: &mut axum::body::BodyDataStream,
) -> Result<Option<Bytes>, ApiError> {
    match tokio::time::timeout(app.cfg.body_timeout, stream.next()).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(StoreError::Aborted(format!("reading the body: {e}")).into()),
        Ok(Some(Ok(chunk))) => {
            app.metrics.bytes_in.inc_by(chunk.len() as u64);
            Ok(Some(chunk))
        }
    }
}

/// Stream the request body into a pump. A body that errors (client gone,
/// shorter than its Content-Length) or stalls drops the pump, which aborts
/// the sink and removes whatever it wrote.
async fn feed<T: Send + 'static>(app: &App, body: Body, mut pump: Pump<T>) -> Result<T, ApiError> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = next_chunk(app, &mut stream).await? {
        if pump.send(chunk).await.is_err() {
            // The sink stopped early: its error says why.
            return Err(match pump.join().await {
                Err(e) => e.into(),
                Ok(_) => ApiError::Internal("the writer stopped without an error".into()),
            });
        }
    }
    Ok(pump.finish().await?)
}

fn outcome_label(r: &Result<(PutOutcome, bool), ApiError>) -> PutOutcomeLabel {
    match r {
        Ok((PutOutcome::Created(_), _)) => PutOutcomeLabel::Created,
        Ok((PutOutcome::Identical(_), _)) => PutOutcomeLabel::Identical,
        Err(ApiError::Store(StoreError::Conflict | StoreError::IsDirectory)) => {
            PutOutcomeLabel::Conflict
        }
        Err(ApiError::Store(StoreError::Exists | StoreError::PreconditionFailed)) => {
            PutOutcomeLabel::PreconditionFailed
        }
        Err(ApiError::Store(StoreError::DigestMismatch(_))) => PutOutcomeLabel::DigestMismatch,
        Err(ApiError::Store(StoreError::Aborted(_)) | ApiError::BodyTimeout) => {
            PutOutcomeLabel::Aborted
        }
        Err(_) => PutOutcomeLabel::Failed,
    }
}
