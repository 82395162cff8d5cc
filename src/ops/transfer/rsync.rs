//! Gap transfer with rsync: `--ignore-existing` (the destination is never
//! overwritten), xattrs kept (the stored digests, so ETags match), fsync
//! where rsync has it; then every object checked at the destination.

use std::io::Write;
use std::path::Path;

use super::Outcome;
use crate::ops::context::Ctx;
use crate::ops::error::OpsError;
use crate::ops::gap::Change;
use crate::store::hash_file;

pub fn transfer(ctx: &Ctx, root: &Path, gap: &[&Change], dest: &str) -> Result<Outcome, OpsError> {
    if gap.is_empty() {
        return Ok(Outcome::default());
    }
    let mut list = tempfile::NamedTempFile::new().map_err(OpsError::io("writing the file list"))?;
    for c in gap {
        list.write_all(c.key.as_bytes())
            .and_then(|_| list.write_all(b"\0"))
            .map_err(OpsError::io("writing the file list"))?;
    }
    list.flush()
        .map_err(OpsError::io("writing the file list"))?;
    let files_from = format!("--files-from={}", list.path().display());
    let src = format!("{}/", root.display());
    let dst = if dest.ends_with('/') {
        dest.to_owned()
    } else {
        format!("{dest}/")
    };
    // The transfer is what makes the old primary's rollback safe, so the
    // copies must be durable: rsync's --fsync (3.2.4+), and a syncfs of a
    // local destination on top.
    let fsync = ctx
        .runner
        .query(&["rsync", "--help"])
        .is_ok_and(|h| h.contains("--fsync"));
    if !fsync && !is_local(dest) {
        return Err(OpsError::Other(
            "this rsync has no --fsync, so copies on a remote destination would not be durable \
             before the rollback; use rsync 3.2.4 or later, or an http:// destination"
                .into(),
        ));
    }

    let mut argv = vec![
        "rsync",
        "-a",
        "-i",
        "--ignore-existing",
        "--from0",
        &files_from,
    ];
    if fsync {
        argv.push("--fsync");
    }
    let with_xattrs = [&argv[..], &["-X", &src, &dst]].concat();
    let out = match ctx.runner.change(&with_xattrs) {
        Ok(out) => out,
        // A destination filesystem without user xattrs (zfs-fuse, some
        // NFS): copy without them; ETags there fall back to size+mtime.
        Err(OpsError::Command {
            code: Some(23),
            stderr,
            ..
        }) if stderr.contains("xattr") || stderr.contains("Operation not supported") => {
            eprintln!("warning: the destination does not take xattrs; copying without them");
            ctx.runner.change(&[&argv[..], &[&src, &dst]].concat())?
        }
        Err(e) => return Err(e),
    };
    if ctx.runner.dry_run() {
        return Ok(Outcome::default());
    }
    if is_local(dest) {
        let d = std::fs::File::open(dest).map_err(OpsError::io(format!("opening {dest}")))?;
        rustix::fs::syncfs(&d).map_err(|e| OpsError::Other(format!("syncfs {dest}: {e}")))?;
    }
    let copied = out.lines().filter(|l| l.starts_with(">f")).count() as u64;
    let conflicts = if is_local(dest) {
        verify_local(Path::new(dest), gap)?
    } else {
        verify_remote(ctx, &files_from, &src, &dst)?
    };
    Ok(Outcome {
        copied,
        already_there: (gap.len() as u64).saturating_sub(copied),
        conflicts,
    })
}

/// rsync's own rule: `host:path` and `rsync://` are remote.
fn is_local(dest: &str) -> bool {
    if dest.starts_with("rsync://") {
        return false;
    }
    match dest.find(':') {
        Some(colon) => dest.find('/').is_some_and(|slash| slash < colon),
        None => true,
    }
}

/// Hash every object at a local destination.
fn verify_local(dest: &Path, gap: &[&Change]) -> Result<Vec<String>, OpsError> {
    let mut conflicts = Vec::new();
    for c in gap {
        let path = dest.join(&c.key);
        let got = hash_file(&path).map_err(|e| {
            OpsError::Other(format!(
                "verifying {}: {e} (it should have been copied)",
                path.display()
            ))
        })?;
        if Some(hex::encode(got)) != c.sha256 {
            conflicts.push(format!(
                "{} (a different object already exists at the destination)",
                c.key
            ));
        }
    }
    Ok(conflicts)
}

/// Ask rsync which files still differ by checksum (`-n -c -i`).
fn verify_remote(
    ctx: &Ctx,
    files_from: &str,
    src: &str,
    dst: &str,
) -> Result<Vec<String>, OpsError> {
    let out = ctx.runner.query(&[
        "rsync", "-a", "-n", "-c", "-i", "--from0", files_from, src, dst,
    ])?;
    Ok(out
        .lines()
        .filter(|l| l.starts_with(">f") || l.starts_with("<f") || l.starts_with("cf"))
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(_, k)| format!("{k} (differs at the destination)"))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn local_or_remote() {
        assert!(is_local("/tank/putfs"));
        assert!(is_local("./x"));
        assert!(is_local("dir/with:colon"));
        assert!(!is_local("host:/tank/putfs"));
        assert!(!is_local("rsync://host/mod"));
    }
}
