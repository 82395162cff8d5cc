//! PUT: decide what an existing key means before reading the body when we
//! can, otherwise stream the body into the store (or into a comparison).

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use headers::{HeaderMapExt, IfNoneMatch};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::App;
use super::error::ApiError;
use super::object_get::validators;
use crate::metrics::PutOutcomeLabel;
use crate::store::{
    Compare, Expected, IfExists, Key, Object, ObjectMeta, OnExisting, Pump, PutOutcome, StoreError,
};

pub async fn put(
    app: &App,
    key: Key,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = put_inner(app, key, headers, body).await;
    app.metrics.put_outcome(outcome_label(&result));
    result.map(|(status, meta, body_unread)| {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = status;
        validators(resp.headers_mut(), &meta, &meta.etag());
        if body_unread {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    })
}

type Answer = (StatusCode, ObjectMeta, bool);

async fn put_inner(
    app: &App,
    key: Key,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, ApiError> {
    let policy = app.store.policy();
    let mut expected = super::digest_headers::expected(headers).map_err(ApiError::BadRequest)?;
    if let Some(e) = policy.key_digest(&key).map_err(ApiError::BadRequest)? {
        expected.push(e);
    }
    let create_only = headers
        .typed_get::<IfNoneMatch>()
        .is_some_and(|h| h == IfNoneMatch::any());
    let if_exists = if create_only {
        IfExists::Fail
    } else if !policy.is_write_once(&key) {
        IfExists::Replace
    } else {
        match policy.on_existing {
            OnExisting::Verify => IfExists::Compare,
            OnExisting::Strict => IfExists::Conflict,
            OnExisting::Lenient => IfExists::Accept,
        }
    };

    if if_exists != IfExists::Replace {
        let store = app.store.clone();
        let k = key.clone();
        if let Some(existing) = tokio::task::spawn_blocking(move || store.lookup(&k)).await?? {
            return answer_existing(app, existing, if_exists, expected, headers, body).await;
        }
    }

    let store = app.store.clone();
    let upload = tokio::task::spawn_blocking(move || store.begin_upload(&key, expected, if_exists))
        .await??;
    match feed(app, body, Pump::spawn(upload)).await? {
        PutOutcome::Created(meta) => Ok((StatusCode::CREATED, meta, false)),
        PutOutcome::Identical(meta) => Ok((StatusCode::NO_CONTENT, meta, false)),
    }
}

/// The key exists (fast path, before the body).
async fn answer_existing(
    app: &App,
    mut existing: Object,
    if_exists: IfExists,
    expected: Vec<Expected>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, ApiError> {
    let meta = existing.meta;
    match if_exists {
        IfExists::Fail => return Err(StoreError::Exists.into()),
        IfExists::Conflict => return Err(StoreError::Conflict.into()),
        IfExists::Accept => return Ok((StatusCode::NO_CONTENT, meta, true)),
        IfExists::Compare | IfExists::Replace => {}
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|l| l != meta.size) {
        return Err(StoreError::Conflict.into());
    }
    if !expected.is_empty() {
        let (digests, existing) = tokio::task::spawn_blocking(move || {
            let d = existing.digests(&expected);
            (d.map(|d| d.check(&expected).is_ok()), existing)
        })
        .await?;
        return if digests? {
            let meta = ObjectMeta {
                sha256: existing.meta.sha256.or(meta.sha256),
                ..meta
            };
            Ok((StatusCode::NO_CONTENT, meta, true))
        } else {
            Err(StoreError::Conflict.into())
        };
    }
    let (same, meta) = feed(app, body, Pump::spawn(Compare::new(existing, Vec::new()))).await?;
    if same {
        Ok((StatusCode::NO_CONTENT, meta, false))
    } else {
        Err(StoreError::Conflict.into())
    }
}

/// Stream the request body into a pump. A body that errors (client gone,
/// shorter than its Content-Length) or stalls drops the pump, which aborts
/// the sink and removes whatever it wrote.
async fn feed<T: Send + 'static>(app: &App, body: Body, mut pump: Pump<T>) -> Result<T, ApiError> {
    let mut stream = body.into_data_stream();
    loop {
        match tokio::time::timeout(app.cfg.body_timeout, stream.next()).await {
            Err(_) => return Err(ApiError::BodyTimeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(StoreError::Aborted(format!("reading the body: {e}")).into());
            }
            Ok(Some(Ok(chunk))) => {
                app.metrics.bytes_in.inc_by(chunk.len() as u64);
                if pump.send(chunk).await.is_err() {
                    // The sink stopped early: its error says why.
                    return Err(match pump.join().await {
                        Err(e) => e.into(),
                        Ok(_) => ApiError::Internal("sink stopped without an error".into()),
                    });
                }
            }
        }
    }
    Ok(pump.finish().await?)
}

fn outcome_label(r: &Result<Answer, ApiError>) -> PutOutcomeLabel {
    match r {
        Ok((StatusCode::CREATED, ..)) => PutOutcomeLabel::Created,
        Ok(_) => PutOutcomeLabel::Identical,
        Err(ApiError::Store(
            StoreError::Conflict | StoreError::Exists | StoreError::IsDirectory,
        )) => PutOutcomeLabel::Conflict,
        Err(ApiError::Store(StoreError::DigestMismatch(_))) => PutOutcomeLabel::DigestMismatch,
        Err(ApiError::Store(StoreError::Aborted(_)) | ApiError::BodyTimeout) => {
            PutOutcomeLabel::Aborted
        }
        Err(_) => PutOutcomeLabel::Failed,
    }
}
