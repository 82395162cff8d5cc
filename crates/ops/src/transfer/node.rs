//! One putfs node over HTTP, as transfer-gap talks to it.
//!
//! Every request carries the write token; keys are percent-encoded segment
//! by segment; transient failures (no connection, 5xx) are retried with a
//! backoff. What the node holds at a key is read as an ETag and a SHA-256
//! from one response, so an `If-Match` sent afterwards names exactly the
//! version that was compared: the server checks it atomically with the
//! change (a PUT or DELETE that finds another version answers 412).
//! `Last-Modified` comes from that same response: an object written on the
//! node since the snapshot shows a time of its own (`deletes/`).

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::OpsError;

/// Attempts after the first for a request that failed in transit or 5xx.
pub const RETRIES: u32 = 4;

pub struct Node {
    pub base: String,
    client: reqwest::Client,
    token: Option<String>,
    rt: tokio::runtime::Runtime,
}

/// The version of an object a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// As the node sent it, quotes included.
    pub etag: String,
    /// Lower-case hex.
    pub sha256: String,
    /// `Last-Modified`, in seconds since the epoch.
    pub modified: Option<i64>,
}

impl Node {
    pub fn new(base: &str, token: Option<String>) -> Result<Node, OpsError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OpsError::Other(format!("starting the runtime: {e}")))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OpsError::Other(format!("building the HTTP client: {e}")))?;
        Ok(Node {
            base: base.trim_end_matches('/').to_owned(),
            client,
            token,
            rt,
        })
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The object's URL: every segment percent-encoded.
    pub fn url(&self, key: &str) -> String {
        let path: Vec<String> = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        format!("{}/{}", self.base, path.join("/"))
    }

    /// A GET of one of the node's own endpoints (`.putfs/…`), sent as is.
    pub fn get_endpoint(&self, path: &str) -> reqwest::RequestBuilder {
        self.authorized(self.client.get(format!("{}/{path}", self.base)))
    }

    /// A request for `key`, with the token.
    pub fn request(&self, method: reqwest::Method, key: &str) -> reqwest::RequestBuilder {
        self.authorized(self.client.request(method, self.url(key)))
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Send what `build` makes, again after a transport error or a 5xx
    /// (except 507: a full disk does not empty itself).
    pub async fn send_retrying(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OpsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let why = match build().send().await {
                Ok(r) if r.status().is_server_error() && r.status().as_u16() != 507 => {
                    format!("HTTP {}", r.status())
                }
                Ok(r) => return Ok(r),
                Err(e) => e.to_string(),
            };
            if attempt > RETRIES {
                return Err(OpsError::Other(format!(
                    "{what} failed {attempt} times, last: {why}"
                )));
            }
            eprintln!("{what}: {why}; retrying");
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
    }

    /// What the node holds at `key`: `None` when nothing (404). The digest
    /// is the node's `Repr-Digest`; a node that does not know it (an object
    /// without its stored digest) is read and hashed, and the ETag taken
    /// from that same response.
    pub async fn current(&self, key: &str) -> Result<Option<Current>, OpsError> {
        let what = format!("HEAD {}", self.url(key));
        let head = self
            .send_retrying(&what, || self.request(reqwest::Method::HEAD, key))
            .await?;
        match head.status().as_u16() {
            404 => return Ok(None),
            200 => {}
            s => return Err(unexpected(&what, s, String::new())),
        }
        if let (Some(etag), Some(sha256)) = (etag(&head), repr_sha256(&head)) {
            let modified = modified(&head);
            return Ok(Some(Current {
                etag,
                sha256,
                modified,
            }));
        }
        let what = format!("GET {}", self.url(key));
        let resp = self
            .send_retrying(&what, || self.request(reqwest::Method::GET, key))
            .await?;
        match resp.status().as_u16() {
            404 => return Ok(None),
            200 => {}
            s => return Err(unexpected(&what, s, resp.text().await.unwrap_or_default())),
        }
        let etag = etag(&resp)
            .ok_or_else(|| OpsError::Other(format!("{what}: the answer has no ETag")))?;
        let modified = modified(&resp);
        let mut h = Sha256::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            h.update(&chunk.map_err(|e| OpsError::Other(format!("{what}: {e}")))?);
        }
        Ok(Some(Current {
            etag,
            sha256: hex::encode(h.finalize()),
            modified,
        }))
    }

    /// Which data root the node serves (`/.putfs/identity`, see
    /// `store::identity`); `Err(why)` where it does not say.
    pub async fn identity(&self) -> Result<Result<String, String>, OpsError> {
        let url = format!("{}/.putfs/identity", self.base);
        let what = format!("GET {url}");
        let resp = self
            .send_retrying(&what, || self.authorized(self.client.get(&url)))
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Ok(Err(format!("HTTP {status}")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| OpsError::Other(format!("{what}: {e}")))?;
        let body: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return Ok(Err(format!("an answer that is not JSON: {e}"))),
        };
        Ok(body["root"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "an answer without \"root\"".to_owned()))
    }
}

/// An answer transfer-gap has no rule for.
pub fn unexpected(what: &str, status: u16, body: String) -> OpsError {
    let hint = match status {
        401 => " (pass B's write token with --token or PUTFS_WRITE_TOKEN)",
        403 => " (is the node read-only, or the key under a --retain rule?)",
        _ => "",
    };
    OpsError::Other(format!("{what}: HTTP {status}{hint}: {}", body.trim()))
}

/// `sha-256=:…:` for a hex digest.
pub fn repr_digest(sha256_hex: &str) -> Option<String> {
    let bytes = hex::decode(sha256_hex).ok()?;
    Some(format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

fn etag(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn modified(resp: &reqwest::Response) -> Option<i64> {
    let v = resp.headers().get("last-modified")?.to_str().ok()?;
    let t = httpdate::parse_http_date(v).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

fn repr_sha256(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("repr-digest")
        .and_then(|v| v.to_str().ok())?
        .split(',')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("sha-256=:")?.strip_suffix(':'))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(hex::encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_every_segment() {
        let n = Node::new("http://127.0.0.1:1/", None).unwrap();
        assert_eq!(
            n.url("a b/100%/ü"),
            "http://127.0.0.1:1/a%20b/100%25/%C3%BC"
        );
    }

    #[test]
    fn repr_digest_of_hex() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            repr_digest(empty).as_deref(),
            Some("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:")
        );
        assert_eq!(repr_digest("xyz"), None);
    }
}
