//! A replica with a secret must sign the body's SHA-256, which it knows only
//! once the whole body has arrived. When the client sent no `sha-256`
//! digest, the body is spooled here while it is hashed, then sent on.
//!
//! The spool is an unnamed file in the system temp dir (`$TMPDIR`, else
//! `/tmp`; `O_TMPFILE` where the filesystem has it), so nothing is left
//! behind even by a crash, and never under the data root, which a replica
//! does not write. It holds at most `--max-forward-spool-bytes`; each one
//! holds an upload slot, so at most `--max-uploads` exist at once.

use axum::body::Body;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::App;
use super::error::ApiError;
use super::object_put::next_chunk;

pub struct Spooled {
    /// Rewound to the start.
    pub file: tokio::fs::File,
    pub len: u64,
    pub sha256: [u8; 32],
}

/// Read the whole body into a spool file, hashing it. `length` is the
/// request's Content-Length, if any, which is refused at once when over
/// the bound.
pub async fn spool(
    app: &App,
    body: Body,
    length: Option<u64>,
    max: u64,
) -> Result<Spooled, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "this replica signs the writes it forwards, and holds a body without a \
             sha-256 digest header (up to {max} bytes, --max-forward-spool-bytes) to \
             sign it: send Repr-Digest: sha-256=:<base64>: with the body (it is then \
             streamed), or write to the primary"
        ))
    };
    if length.is_some_and(|l| l > max) {
        return Err(too_large());
    }
    let dir = std::env::temp_dir();
    let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(&dir))
        .await?
        .map_err(|e| {
            ApiError::Internal(format!(
                "creating a spool file in {} to sign a forwarded write: {e}",
                std::env::temp_dir().display()
            ))
        })?;
    let mut file = tokio::fs::File::from_std(file);
    let io = |e: std::io::Error| ApiError::Internal(format!("spooling a forwarded write: {e}"));
    let mut hash = Sha256::new();
    let mut len: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = next_chunk(app, &mut stream).await? {
        len += chunk.len() as u64;
        if len > max {
            return Err(too_large());
        }
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.rewind().await.map_err(io)?;
    Ok(Spooled {
        file,
        len,
        sha256: hash.finalize().into(),
    })
}
