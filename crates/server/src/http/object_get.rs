//! GET and HEAD of an object: validators, preconditions, ranges, and a body
//! that is either read whole (small objects, one blocking hop) or streamed.

use std::io::SeekFrom;

use axum::body::Body;
use axum::response::Response;
use headers::ETag;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::App;
use super::conditional::{self, Precondition};
use super::digest_headers::repr_digest;
use super::error::ApiError;
use super::range::{self, RangeDecision};
use crate::store::{Key, ObjectMeta, StoreError};

/// Objects up to this size are read in the same blocking hop that opens
/// them: one thread hand-off per request instead of one per chunk.
const SMALL: u64 = 128 * 1024;

/// Chunk size when streaming larger objects.
const CHUNK: usize = 256 * 1024;

pub async fn get(
    app: &App,
    key: Key,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let head = method == Method::HEAD;
    let content_type = mime_guess::from_path(key.file_name())
        .first_raw()
        .unwrap_or("application/octet-stream");
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
    let mut data = None;
    if !head && object.meta.size <= SMALL {
        data = object.read_cached();
        if data.is_none() {
            let (o, d) = tokio::task::spawn_blocking(move || {
                let d = object.read_all();
                (object, d)
            })
            .await?;
            object = o;
            data = Some(d?);
        }
    }
    let meta = object.meta;
    let etag_text = meta.etag();
    let etag: ETag = etag_text
        .parse()
        .map_err(|_| ApiError::Internal("unparseable ETag".into()))?;
    let mut builder = Response::builder();
    let h = builder
        .headers_mut()
        .ok_or_else(|| ApiError::Internal("response builder".into()))?;
    validators(h, &meta, &etag_text);
    super::browser::object(h, content_type);

    match conditional::evaluate(headers, &etag, meta.modified()) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return builder
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .map_err(|e| ApiError::Internal(e.to_string()));
        }
        Precondition::Failed => return Err(ApiError::PreconditionFailed),
    }

    let size = data.as_ref().map_or(meta.size, |d| d.len() as u64);
    let (status, start, len) = match range::decide(headers, &etag, meta.modified(), size) {
        RangeDecision::Full => (StatusCode::OK, 0, size),
        RangeDecision::Partial(a, b) => {
            insert(h, header::CONTENT_RANGE, &format!("bytes {a}-{b}/{size}"));
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        RangeDecision::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    insert(h, header::CONTENT_LENGTH, &len.to_string());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let body = if head {
        Body::empty()
    } else if let Some(data) = data {
        let end = (start + len) as usize;
        Body::from(bytes::Bytes::from(data).slice(start as usize..end))
    } else {
        let mut file = tokio::fs::File::from_std(object.file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(|e| ApiError::Store(StoreError::from_io(e)))?;
        }
        Body::from_stream(ReaderStream::with_capacity(file.take(len), CHUNK))
    };
    if !head {
        app.metrics.bytes_out.inc_by(len);
    }
    builder
        .status(status)
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// ETag, Last-Modified and Repr-Digest: every response about an object
/// (GET, HEAD, 304, and PUT's 201/204) carries them.
pub fn validators(h: &mut HeaderMap, meta: &ObjectMeta, etag: &str) {
    insert(h, header::ETAG, etag);
    insert(
        h,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(meta.modified()),
    );
    if let Some(d) = &meta.sha256 {
        insert(h, "repr-digest", &repr_digest(d));
    }
}

fn insert<K: header::IntoHeaderName>(h: &mut HeaderMap, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}
