//! `--forward-writes-to`: a read-only node proxies writes to the primary, so
//! clients may send every request to any node.

use axum::body::Body;
use axum::response::Response;
use futures_util::TryStreamExt;
use http::{HeaderMap, Method, header};

use super::error::ApiError;

/// Headers that describe one connection, not the request: never forwarded.
const HOP_BY_HOP: [header::HeaderName; 8] = [
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    base: String,
}

impl Forwarder {
    pub fn new(base: &url::Url) -> Result<Forwarder, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Forwarder {
            client,
            base: base.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// Send the request to the primary and relay its answer, streaming both
    /// bodies.
    pub async fn forward(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, ApiError> {
        let url = format!("{}{}", self.base, path_and_query);
        let mut out = headers.clone();
        for h in HOP_BY_HOP {
            out.remove(h);
        }
        let upstream = self
            .client
            .request(method, &url)
            .headers(out)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()))
            .send()
            .await
            .map_err(|e| ApiError::BadGateway(format!("{url}: {e}")))?;
        let mut resp = Response::builder().status(upstream.status());
        if let Some(h) = resp.headers_mut() {
            for (k, v) in upstream.headers() {
                if !HOP_BY_HOP.contains(k) {
                    h.append(k, v.clone());
                }
            }
        }
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        resp.body(Body::from_stream(stream))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}
