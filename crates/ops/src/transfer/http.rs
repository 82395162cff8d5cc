//! Gap transfer to a putfs node over HTTP, additive on every key.
//!
//! Every PUT carries `If-None-Match: *`: the node creates the key or
//! answers 412, atomically, so nothing the node holds is ever replaced,
//! whether the key is write-once or mutable there. A 412 is then settled
//! by comparing: the node's SHA-256 differs → a conflict, reported; it is
//! ours → the object is PUT once more with `If-Match` on that exact
//! version, which the node answers only after making the object durable
//! (it may have arrived by a replicator that never fsynced it), and which
//! cannot replace anything but those same bytes. Every PUT also carries
//! `Repr-Digest`, so the node checks every byte it stores. Afterwards each
//! object is looked up again and its digest compared.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;

use super::Outcome;
use super::node::{self, Node};
use crate::context::Ctx;
use crate::error::OpsError;
use crate::gap::Change;
use crate::progress::Progress;

/// Create, find, compare rounds before a key that keeps changing on the
/// node is given up on.
const ROUNDS: u32 = 5;

enum Put {
    Copied,
    AlreadyThere,
    Conflict(String),
}

/// What a PUT asks of the node's current object.
enum Precondition<'a> {
    /// There is none (`If-None-Match: *`).
    Absent,
    /// It is this version (`If-Match`).
    Is(&'a str),
}

pub fn transfer(
    ctx: &Ctx,
    root: &Path,
    gap: &[&Change],
    node: &Node,
    jobs: usize,
) -> Result<Outcome, OpsError> {
    if ctx.runner.dry_run() {
        for c in gap {
            eprintln!(
                "+ PUT {} If-None-Match: *    (dry run: not sent)",
                node.url(&c.key)
            );
        }
        return Ok(Outcome::default());
    }
    if gap.is_empty() {
        return Ok(Outcome::default());
    }
    let progress = Progress::counted(ctx.show_progress(), "transferring", gap.len() as u64);
    let results: Vec<Result<(String, Put), OpsError>> = node.block_on(async {
        futures_util::stream::iter(gap.iter().map(|c| {
            let progress = &progress;
            async move {
                let r = put(node, root, c).await;
                progress.tick();
                r.map(|p| (c.key.clone(), p))
            }
        }))
        .buffer_unordered(jobs.max(1))
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
            (key, Put::Conflict(why)) => {
                outcome.conflicts.push(format!("{key} ({why})"));
                conflicted.insert(key);
            }
        }
    }
    // Look again: the node must hold exactly our bytes.
    for c in gap.iter().filter(|c| !conflicted.contains(&c.key)) {
        let now = node.block_on(node.current(&c.key))?;
        let got = now.as_ref().map(|n| n.sha256.as_str());
        if got != c.sha256.as_deref() {
            return Err(OpsError::Other(format!(
                "verification failed: {} at {} has sha256 {}, expected {}",
                c.key,
                node.base,
                got.unwrap_or("(missing)"),
                c.sha256.as_deref().unwrap_or("?")
            )));
        }
    }
    Ok(outcome)
}

/// Create the key on the node, or settle what is already there.
async fn put(node: &Node, root: &Path, c: &Change) -> Result<Put, OpsError> {
    let ours = c
        .sha256
        .as_deref()
        .ok_or_else(|| OpsError::Other(format!("no digest for {}", c.key)))?;
    for _ in 0..ROUNDS {
        match put_file(node, root, c, Precondition::Absent).await? {
            Sent::Stored => return Ok(Put::Copied),
            Sent::Conflict(why) => return Ok(Put::Conflict(why)),
            Sent::PreconditionFailed => {}
        }
        // The key exists on the node: which bytes?
        let Some(current) = node.current(&c.key).await? else {
            continue; // deleted meanwhile: create it again
        };
        if current.sha256 != ours {
            return Ok(Put::Conflict(format!(
                "the destination holds other bytes, sha256 {}; not replaced",
                current.sha256
            )));
        }
        match put_file(node, root, c, Precondition::Is(&current.etag)).await? {
            Sent::Stored => return Ok(Put::AlreadyThere),
            Sent::Conflict(why) => return Ok(Put::Conflict(why)),
            Sent::PreconditionFailed => {} // changed meanwhile: look again
        }
    }
    Err(OpsError::Other(format!(
        "{} kept changing on {} while it was transferred ({ROUNDS} rounds); rerun",
        c.key, node.base
    )))
}

enum Sent {
    /// 201, or 204 (the node holds these bytes, durably).
    Stored,
    /// 412.
    PreconditionFailed,
    /// 409: a write-once key with other bytes, or a directory or a file in
    /// the way.
    Conflict(String),
}

/// One PUT of the gap file, with its digest and `pre`; retried on
/// transport errors and 5xx.
async fn put_file(
    node: &Node,
    root: &Path,
    c: &Change,
    pre: Precondition<'_>,
) -> Result<Sent, OpsError> {
    let digest = c
        .sha256
        .as_deref()
        .and_then(node::repr_digest)
        .ok_or_else(|| OpsError::Other(format!("no digest for {}", c.key)))?;
    let target = node.url(&c.key);
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
        let req = node
            .request(reqwest::Method::PUT, &c.key)
            .header("repr-digest", &digest)
            .header("content-length", len)
            .body(body);
        let req = match pre {
            Precondition::Absent => req.header("if-none-match", "*"),
            Precondition::Is(etag) => req.header("if-match", etag),
        };
        let why = match req.send().await {
            Ok(resp) => match resp.status().as_u16() {
                201 | 204 => return Ok(Sent::Stored),
                412 => return Ok(Sent::PreconditionFailed),
                409 => {
                    let text = resp.text().await.unwrap_or_default();
                    return Ok(Sent::Conflict(format!(
                        "the destination refused it: {}",
                        text.trim()
                    )));
                }
                s if s >= 500 && s != 507 => format!("HTTP {s}"),
                s => {
                    let text = resp.text().await.unwrap_or_default();
                    return Err(node::unexpected(&format!("PUT {target}"), s, text));
                }
            },
            Err(e) => e.to_string(),
        };
        if attempt > node::RETRIES {
            return Err(OpsError::Other(format!(
                "PUT {target} failed {attempt} times, last: {why}"
            )));
        }
        eprintln!("PUT {target}: {why}; retrying");
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}
