//! GET and HEAD of an object: validators, preconditions, ranges, and a body
//! that comes from the read cache, is sent from the file by the connection
//! (HTTP/1, above 16 KiB: `zero_copy`), is read whole (small objects, at
//! most one blocking hop), or is streamed (HTTP/2).

use std::io::SeekFrom;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::App;
use super::conditional::{self, Precondition};
use super::error::ApiError;
use super::object_headers::Described;
use super::range::{self, RangeDecision};
use super::zero_copy::{FileBody, Pieces};
use crate::store::{Key, StoreError};

/// Objects up to this size are read in the same blocking hop that opens
/// them: one thread hand-off per request instead of one per chunk.
const SMALL: u64 = 128 * 1024;

/// Objects above this size that the read cache does not hold are sent
/// from their file (HTTP/1: `sendfile`) rather than read into memory.
const SENDFILE_FROM: u64 = 16 * 1024;

/// Chunk size when streaming larger objects.
const CHUNK: usize = 256 * 1024;

/// Where the body comes from.
enum Content {
    /// HEAD: none.
    Nothing,
    Bytes(Bytes),
    /// A large object: sent from the file by the connection when it has
    /// [`Pieces`] (HTTP/1), else streamed through memory.
    File(std::fs::File, Option<Pieces>),
}

pub async fn get(
    app: &App,
    key: Key,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    pieces: Option<Pieces>,
) -> Result<Response, ApiError> {
    let head = method == Method::HEAD;
    if let Some(hit) = app.read_cache.get(&app.store, &key) {
        let content = if head {
            Content::Nothing
        } else {
            Content::Bytes(hit.body.clone())
        };
        return answer(app, &hit.described, content, headers).await;
    }
    // Opening and stat-ing are metadata operations the kernel nearly always
    // answers from cache, so they run inline; the content of a small object
    // is read inline only if it is cached too, else on a blocking thread.
    let mut object = match app.store.open_object(&key) {
        Ok(object) => object,
        Err(StoreError::IsDirectory) => {
            return super::directory::answer(app, &key, query, headers);
        }
        Err(e) => return Err(e.for_read().into()),
    };
    let described = Described::new(&key, &object.meta)?;
    let sendfile = pieces.is_some() && object.meta.size > SENDFILE_FROM;
    if object.meta.size > SMALL || (sendfile && !head) {
        let content = if head {
            Content::Nothing
        } else {
            Content::File(object.file, pieces)
        };
        return answer(app, &described, content, headers).await;
    }
    if head {
        // A HEAD fills the cache only from the page cache: it never waits
        // on the disk for bytes it does not send.
        if let Some(data) = object.read_cached() {
            app.read_cache
                .offer(&app.store, &key, &object, &described, &Bytes::from(data));
        }
        return answer(app, &described, Content::Nothing, headers).await;
    }
    let data = match object.read_cached() {
        Some(data) => data,
        None => {
            let (o, d) = tokio::task::spawn_blocking(move || {
                let d = object.read_all();
                (object, d)
            })
            .await?;
            object = o;
            d?
        }
    };
    let data = Bytes::from(data);
    app.read_cache
        .offer(&app.store, &key, &object, &described, &data);
    answer(app, &described, Content::Bytes(data), headers).await
}

/// The response for an object described by `d`: 304, 412, 416, or its
/// content (whole or one range).
async fn answer(
    app: &App,
    d: &Described,
    content: Content,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let mut builder = Response::builder();
    let h = builder
        .headers_mut()
        .ok_or_else(|| ApiError::Internal("response builder".into()))?;
    d.validators(h);
    super::browser::object(h, d.content_type);

    match conditional::evaluate(headers, &d.etag, d.modified) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .map_err(|e| ApiError::Internal(e.to_string()));
        }
        Precondition::Failed => return Err(ApiError::PreconditionFailed),
    }

    // The bytes read are the size (a file can change between stat and read).
    let size = match &content {
        Content::Bytes(b) => b.len() as u64,
        _ => d.size,
    };
    let (status, start, len) = match range::decide(headers, &d.etag, d.modified, size) {
        RangeDecision::Full => (StatusCode::OK, 0, size),
        RangeDecision::Partial(a, b) => {
            insert(h, header::CONTENT_RANGE, &format!("bytes {a}-{b}/{size}"));
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        RangeDecision::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(d.content_type),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    if !matches!(content, Content::Nothing) {
        app.metrics.bytes_out.inc_by(len);
    }
    let body = match content {
        Content::Nothing => Body::empty(),
        Content::Bytes(data) => Body::from(data.slice(start as usize..(start + len) as usize)),
        Content::File(file, Some(pieces)) => Body::new(FileBody::new(file, start, len, pieces)),
        Content::File(file, None) => {
            let mut file = tokio::fs::File::from_std(file);
            if start > 0 {
                file.seek(SeekFrom::Start(start))
                    .await
                    .map_err(|e| ApiError::Store(StoreError::from_io(e)))?;
            }
            Body::from_stream(ReaderStream::with_capacity(file.take(len), CHUNK))
        }
    };
    builder
        .status(status)
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn insert<K: header::IntoHeaderName>(h: &mut HeaderMap, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}
