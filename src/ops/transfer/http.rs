//! Gap transfer to a putfs node over HTTP: every PUT carries the object's
//! `Repr-Digest`, so the new primary checks every byte and answers an
//! existing key before the body is sent (204 identical, 409 different).
//! Afterwards each object is read back and compared.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{Outcome, TransferArgs};
use crate::ops::context::Ctx;
use crate::ops::error::OpsError;
use crate::ops::gap::Change;
use crate::ops::progress::Progress;

const RETRIES: u32 = 4;

enum Put {
    Copied,
    AlreadyThere,
    Conflict,
}

pub fn transfer(
    ctx: &Ctx,
    root: &Path,
    gap: &[&Change],
    args: &TransferArgs,
) -> Result<Outcome, OpsError> {
    let base = args.to.trim_end_matches('/').to_owned();
    for c in gap {
        let line = format!("PUT {}", url(&base, &c.key));
        if ctx.runner.dry_run() {
            eprintln!("+ {line}    (dry run: not sent)");
        }
    }
    if ctx.runner.dry_run() || gap.is_empty() {
        return Ok(Outcome::default());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OpsError::Other(format!("starting the runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| OpsError::Other(format!("building the HTTP client: {e}")))?;
    let progress = Progress::counted(ctx.show_progress(), "transferring", gap.len() as u64);
    let token = args.token.clone();
    let results: Vec<Result<(String, Put), OpsError>> = rt.block_on(async {
        futures_util::stream::iter(gap.iter().map(|c| {
            let (client, base, token, progress) = (&client, &base, &token, &progress);
            async move {
                let r = put_with_retries(client, base, token.as_deref(), root, c).await;
                progress.tick();
                r.map(|p| (c.key.clone(), p))
            }
        }))
        .buffer_unordered(args.jobs.max(1))
        .collect()
        .await
    });
    progress.finish();
    let mut outcome = Outcome::default();
    let mut conflicted = std::collections::HashSet::new();
    for r in results {
        match r? {
            (_, Put::Copied) => outcome.copied += 1,
            (_, Put::AlreadyThere) => outcome.already_there += 1,
            (key, Put::Conflict) => {
                outcome.conflicts.push(format!(
                    "{key} (a different object already exists at the destination)"
                ));
                conflicted.insert(key);
            }
        }
    }
    // Read everything back: the destination must hold exactly our bytes.
    for c in gap.iter().filter(|c| !conflicted.contains(&c.key)) {
        let got = rt.block_on(remote_sha256(&client, &base, token.as_deref(), &c.key))?;
        if Some(&got) != c.sha256.as_ref() {
            return Err(OpsError::Other(format!(
                "verification failed: {} at {base} has sha256 {got}, expected {}",
                c.key,
                c.sha256.as_deref().unwrap_or("?")
            )));
        }
    }
    Ok(outcome)
}

/// The object's URL: every segment percent-encoded.
fn url(base: &str, key: &str) -> String {
    let path: Vec<String> = key
        .split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect();
    format!("{base}/{}", path.join("/"))
}

async fn put_with_retries(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    root: &Path,
    c: &Change,
) -> Result<Put, OpsError> {
    let sha = c
        .sha256
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| OpsError::Other(format!("no digest for {}", c.key)))?;
    let digest = format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(&sha)
    );
    let target = url(base, &c.key);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let file = tokio::fs::File::open(root.join(&c.key))
            .await
            .map_err(OpsError::io(format!("opening {}", c.key)))?;
        let len = file
            .metadata()
            .await
            .map_err(OpsError::io(format!("reading {}", c.key)))?
            .len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let mut req = client
            .put(&target)
            .header("repr-digest", &digest)
            .header("content-length", len)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let retry = match req.send().await {
            Ok(resp) => match resp.status().as_u16() {
                201 => return Ok(Put::Copied),
                204 => return Ok(Put::AlreadyThere),
                409 => return Ok(Put::Conflict),
                s if s >= 500 => format!("HTTP {s}"),
                s => {
                    let text = resp.text().await.unwrap_or_default();
                    return Err(OpsError::Other(format!(
                        "PUT {target}: HTTP {s}: {}",
                        text.trim()
                    )));
                }
            },
            Err(e) => e.to_string(),
        };
        if attempt > RETRIES {
            return Err(OpsError::Other(format!(
                "PUT {target} failed {attempt} times, last: {retry}"
            )));
        }
        eprintln!("PUT {target}: {retry}; retrying");
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}

/// The SHA-256 of the object at the destination: from `Repr-Digest` when
/// the node knows it, else by reading the object.
async fn remote_sha256(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    key: &str,
) -> Result<String, OpsError> {
    let target = url(base, key);
    let mut req = client.get(&target);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| OpsError::Other(format!("GET {target}: {e}")))?;
    if !resp.status().is_success() {
        return Err(OpsError::Other(format!(
            "verifying: GET {target}: HTTP {}",
            resp.status()
        )));
    }
    if let Some(d) = resp
        .headers()
        .get("repr-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha-256=:"))
        .and_then(|v| v.strip_suffix(':'))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    {
        return Ok(hex::encode(d));
    }
    let mut h = Sha256::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        h.update(&chunk.map_err(|e| OpsError::Other(format!("GET {target}: {e}")))?);
    }
    Ok(hex::encode(h.finalize()))
}
