//! `--forward-writes-to`: a read-only node proxies writes to the primary, so
//! clients may send every request to any node.
//!
//! With `--forward-secret-file` every forwarded write is signed
//! (`forward_signature`), so the primary knows it came through a replica of
//! ours. The signature covers the body's SHA-256: the client's own
//! `sha-256` digest header when it sent one (the primary verifies the body
//! against it before publishing, so the body is bound and still streams
//! through), else the digest of the body spooled here (`forward_spool`),
//! sent along as `Repr-Digest` for the primary to verify the same way. The
//! client's `Authorization` goes on unchanged: the primary's write token
//! still applies.

use axum::body::Body;
use axum::response::Response;
use futures_util::TryStreamExt;
use http::{HeaderMap, HeaderValue, Method, header};

use super::App;
use super::digest_headers;
use super::error::ApiError;
use super::forward_signature::{self as sig, NONCE_BYTES, Signature, Signed};
use super::forward_spool;
use crate::forward_secret::ForwardSecret;

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
    secret: Option<ForwardSecret>,
    /// Largest body spooled to be signed (`--max-forward-spool-bytes`).
    spool_max: u64,
}

impl Forwarder {
    pub fn new(
        base: &url::Url,
        secret: Option<ForwardSecret>,
        spool_max: u64,
    ) -> Result<Forwarder, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Forwarder {
            client,
            base: base.as_str().trim_end_matches('/').to_owned(),
            secret,
            spool_max,
        })
    }

    /// Send the request to the primary and relay its answer, streaming both
    /// bodies (the request's is spooled first when it must be signed and
    /// the client sent no digest).
    pub async fn forward(
        &self,
        app: &App,
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
        // Only we speak for this replica.
        out.remove(sig::HEADER);
        let request = match &self.secret {
            None => self
                .client
                .request(method, &url)
                .headers(out)
                .body(stream(body))
                .build(),
            Some(secret) => return self.signed(app, secret, method, &url, out, body).await,
        };
        let request = request.map_err(|e| ApiError::BadGateway(format!("{url}: {e}")))?;
        self.send(request).await
    }

    async fn signed(
        &self,
        app: &App,
        secret: &ForwardSecret,
        method: Method,
        url: &str,
        mut out: HeaderMap,
        body: Body,
    ) -> Result<Response, ApiError> {
        let (sha256, body) = if method == Method::DELETE {
            (sig::empty_sha256(), stream(body))
        } else if let Some(d) = sig::body_sha256(&out).map_err(ApiError::BadRequest)? {
            (d, stream(body))
        } else {
            let length = out
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let s = forward_spool::spool(app, body, length, self.spool_max).await?;
            let digest = HeaderValue::from_str(&digest_headers::repr_digest(&s.sha256))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            out.append("repr-digest", digest);
            out.insert(header::CONTENT_LENGTH, HeaderValue::from(s.len));
            let file = tokio_util::io::ReaderStream::new(s.file);
            (s.sha256, reqwest::Body::wrap_stream(file))
        };
        let mut request = self
            .client
            .request(method.clone(), url)
            .headers(out)
            .body(body)
            .build()
            .map_err(|e| ApiError::BadGateway(format!("{url}: {e}")))?;
        // The path exactly as it goes on the wire (the URL parser may have
        // normalised it), which is what the primary will check.
        let what = Signed {
            method: method.as_str(),
            path: request.url().path(),
            sha256,
        };
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| ApiError::Internal(format!("no randomness for a nonce: {e}")))?;
        let signature = Signature::sign(secret.key(), &what, sig::unix_now(), nonce);
        request
            .headers_mut()
            .insert(sig::HEADER, signature.header_value());
        self.send(request).await
    }

    async fn send(&self, request: reqwest::Request) -> Result<Response, ApiError> {
        let url = request.url().clone();
        let upstream = self
            .client
            .execute(request)
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

fn stream(body: Body) -> reqwest::Body {
    reqwest::Body::wrap_stream(body.into_data_stream())
}
