//! `--forward-secret-file`: the key a primary and its replicas share to sign
//! and verify forwarded writes.
//!
//! Read once at start. A secret that anyone else on the machine can read
//! proves nothing, and a short one can be guessed, so both refuse to start
//! rather than run with a signature that looks like protection. The bytes
//! never reach a log: `Debug` shows only the path.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Fewest bytes a secret may have: HMAC-SHA256's own key size. The
/// suggested `head -c 32 /dev/urandom | base64` gives 44.
pub const MIN_SECRET_BYTES: usize = 32;

/// A file this long is not a secret someone meant to write.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

#[derive(Clone)]
pub struct ForwardSecret {
    key: Arc<[u8]>,
    path: PathBuf,
}

impl std::fmt::Debug for ForwardSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardSecret")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ForwardSecret {
    /// Read and check the secret at `path`. The mode is read from the open
    /// file, so it is the mode of what was read (a symlink's target).
    pub fn read(path: &Path) -> Result<ForwardSecret, String> {
        let shown = path.display();
        let fail = |what: String| format!("--forward-secret-file {shown}: {what}");
        let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        if !meta.is_file() {
            return Err(fail("is not a regular file".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "is readable or writable by group or others (mode {mode:04o}); \
                 run: chmod 600 {shown}"
            )));
        }
        let mut raw = Vec::new();
        file.take(MAX_SECRET_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        if raw.len() as u64 > MAX_SECRET_BYTES {
            return Err(fail(format!(
                "is longer than {MAX_SECRET_BYTES} bytes: not a secret file"
            )));
        }
        // `echo` and editors end the file with a newline; it is not part of
        // the secret (else one node's file with it and another's without
        // would not agree).
        while matches!(raw.last(), Some(b'\n' | b'\r')) {
            raw.pop();
        }
        if raw.is_empty() {
            return Err(fail(format!("is empty; {}", how_to_make(&shown))));
        }
        if raw.len() < MIN_SECRET_BYTES {
            return Err(fail(format!(
                "holds {} bytes, fewer than the {MIN_SECRET_BYTES} a secret needs; {}",
                raw.len(),
                how_to_make(&shown)
            )));
        }
        Ok(ForwardSecret {
            key: raw.into(),
            path: path.to_path_buf(),
        })
    }

    /// The HMAC key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn how_to_make(path: &std::path::Display<'_>) -> String {
    format!("make one with: head -c 32 /dev/urandom | base64 > {path} && chmod 600 {path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, content: &[u8], mode: u32) -> PathBuf {
        let p = dir.join("secret");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    const GOOD: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_a_private_secret_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = GOOD.to_vec();
        content.extend_from_slice(b"\r\n");
        let s = ForwardSecret::read(&write(dir.path(), &content, 0o600)).unwrap();
        assert_eq!(s.key(), GOOD);
        assert!(!format!("{s:?}").contains("0123"), "Debug shows the secret");
        let s = ForwardSecret::read(&write(dir.path(), GOOD, 0o400)).unwrap();
        assert_eq!(s.key(), GOOD);
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let err = ForwardSecret::read(&dir.path().join("missing")).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        for (content, mode, says) in [
            (GOOD, 0o644, "chmod 600"),
            (GOOD, 0o620, "chmod 600"),
            (GOOD, 0o604, "chmod 600"),
            (&b"\n"[..], 0o600, "is empty"),
            (&GOOD[..31], 0o600, "holds 31 bytes"),
        ] {
            let p = write(dir.path(), content, mode);
            let err = ForwardSecret::read(&p).unwrap_err();
            assert!(err.contains(says), "{err}");
            assert!(err.contains(&p.display().to_string()), "{err}");
        }
        let err = ForwardSecret::read(dir.path()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
