//! The headers that describe an object (ETag, Last-Modified, Repr-Digest,
//! Content-Type), rendered once: per request for a file, once per entry for
//! the read cache.

use std::time::SystemTime;

use headers::ETag;
use http::{HeaderMap, HeaderValue, header};

use super::digest_headers::repr_digest;
use super::error::ApiError;
use crate::store::{Key, ObjectMeta};

#[derive(Clone)]
pub struct Described {
    pub size: u64,
    pub modified: SystemTime,
    /// For preconditions and `If-Range`.
    pub etag: ETag,
    pub content_type: &'static str,
    etag_value: HeaderValue,
    last_modified: HeaderValue,
    repr_digest: Option<HeaderValue>,
}

impl Described {
    pub fn new(key: &Key, meta: &ObjectMeta) -> Result<Described, ApiError> {
        let content_type = mime_guess::from_path(key.file_name())
            .first_raw()
            .unwrap_or("application/octet-stream");
        let etag_text = meta.etag();
        let unparseable = || ApiError::Internal("unparseable ETag".into());
        Ok(Described {
            size: meta.size,
            modified: meta.modified(),
            etag: etag_text.parse().map_err(|_| unparseable())?,
            content_type,
            etag_value: HeaderValue::from_str(&etag_text).map_err(|_| unparseable())?,
            last_modified: value(&httpdate::fmt_http_date(meta.modified()))?,
            repr_digest: meta
                .sha256
                .as_ref()
                .map(|d| value(&repr_digest(d)))
                .transpose()?,
        })
    }

    /// ETag, Last-Modified and Repr-Digest: every response about an object
    /// (GET, HEAD, 304, and PUT's 201/204) carries them.
    pub fn validators(&self, h: &mut HeaderMap) {
        h.insert(header::ETAG, self.etag_value.clone());
        h.insert(header::LAST_MODIFIED, self.last_modified.clone());
        if let Some(d) = &self.repr_digest {
            h.insert("repr-digest", d.clone());
        }
    }
}

fn value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|e| ApiError::Internal(format!("header value: {e}")))
}
