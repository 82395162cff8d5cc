//! Gap transfer into a data root reached as a directory, with rsync.
//!
//! rsync never writes at a key's path: it copies the gap (`-a -X`, so
//! owners, mtimes and the stored digests travel) into a staging folder
//! under the target's `.putfs/`, where its temp files (`.name.XXXXXX`)
//! are invisible to readers. Each staged object is then moved into place
//! by a rename that refuses to replace (`publish.rs`): a key the target
//! holds, or gets from its own live server meanwhile, is compared and never
//! overwritten. (rsync's own `--temp-dir` and `--ignore-existing` would
//! still rename over a key created during the copy; `--temp-dir` on another
//! filesystem makes rsync copy straight into the key's path, and
//! `--delay-updates` parks finished files in a visible `.~tmp~/` in every
//! key directory.)
//!
//! Then everything is made durable (`durable.rs`) and read back: the bytes
//! must have our SHA-256, and a stored digest, where one came along, must
//! say the same.
//!
//! Only a local path (which may be a mount of the new primary's data
//! root) can be handled so: a remote `host:path` can neither be published
//! into without replacing nor fsynced from here, so it is refused in favour
//! of the new primary's HTTP address.

use std::io::Write;
use std::path::Path;

use super::Outcome;
use super::durable;
use super::publish::{self, Placed};
use super::target::{STAGE, Target};
use crate::context::Ctx;
use crate::error::OpsError;
use crate::gap::Change;
use crate::store::digest::hash_reader;
use crate::store::fsops;

/// rsync's own rule: `host:path` and `rsync://` are remote.
pub fn is_local(dest: &str) -> bool {
    if dest.starts_with("rsync://") {
        return false;
    }
    match dest.find(':') {
        Some(colon) => dest.find('/').is_some_and(|slash| slash < colon),
        None => true,
    }
}

pub fn transfer(ctx: &Ctx, root: &Path, gap: &[&Change], dest: &Path) -> Result<Outcome, OpsError> {
    let target = Target::open(dest, ctx.runner.dry_run())?;
    if gap.is_empty() {
        return Ok(Outcome::default());
    }
    // What the target lacks is copied; the rest is compared where it is.
    let missing: Vec<&Change> = gap
        .iter()
        .filter(|c| {
            matches!(
                fsops::stat_at(target.root(), &c.key),
                Err(rustix::io::Errno::NOENT)
            )
        })
        .copied()
        .collect();
    if ctx.runner.dry_run() {
        eprintln!(
            "dry run: {} object(s) to copy, {} to compare with what {} holds",
            missing.len(),
            gap.len() - missing.len(),
            dest.display()
        );
        if !missing.is_empty() {
            rsync(ctx, root, &missing, &dest.join(STAGE))?;
        }
        return Ok(Outcome::default());
    }
    if !missing.is_empty() {
        let stage = target.fresh_stage()?;
        rsync(ctx, root, &missing, &stage)?;
    }
    let mut outcome = Outcome::default();
    let mut landed = Vec::new();
    for c in gap {
        let sha = c
            .sha256
            .as_deref()
            .ok_or_else(|| OpsError::Other(format!("no digest for {}", c.key)))?;
        match publish::place(&target, &c.key, sha)? {
            Placed::Copied => outcome.copied += 1,
            Placed::AlreadyThere => outcome.already_there += 1,
            Placed::Conflict(why) => {
                outcome.conflicts.push(format!("{} ({why})", c.key));
                continue;
            }
        }
        landed.push(*c);
    }
    target.remove_stage()?;
    let keys: Vec<&str> = landed.iter().map(|c| c.key.as_str()).collect();
    let shown = dest.display().to_string();
    durable::sync_paths(target.root(), &keys, &shown)?;
    for c in &landed {
        verify(&target, c)?;
    }
    Ok(outcome)
}

/// `rsync -a -X --files-from` of `gap` into `stage` (without -X where the
/// destination takes no xattrs: ETags there fall back to size and mtime).
fn rsync(ctx: &Ctx, root: &Path, gap: &[&Change], stage: &Path) -> Result<(), OpsError> {
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
    let dst = format!("{}/", stage.display());
    let argv = ["rsync", "-a", "--from0", &files_from];
    match ctx
        .runner
        .change(&[&argv[..], &["-X", &src, &dst]].concat())
    {
        Ok(_) => Ok(()),
        Err(OpsError::Command {
            code: Some(23),
            stderr,
            ..
        }) if stderr.contains("xattr") || stderr.contains("Operation not supported") => {
            eprintln!("warning: the destination does not take xattrs; copying without them");
            ctx.runner.change(&[&argv[..], &[&src, &dst]].concat())?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Read `c` back at the target: our bytes, read in full, and a stored
/// digest (if valid for the file) that says so too.
fn verify(target: &Target, c: &Change) -> Result<(), OpsError> {
    let shown = target.path.display();
    let failed =
        |e: &dyn std::fmt::Display| OpsError::Other(format!("verifying {} at {shown}: {e}", c.key));
    let obj = target
        .store
        .lookup(&super::parse_key(&c.key)?)
        .map_err(|e| failed(&e))?
        .ok_or_else(|| failed(&"it is not there"))?;
    let got = hash_reader(&obj.file, &[]).map_err(|e| failed(&e))?.sha256;
    let want = c.sha256.as_deref().unwrap_or("?");
    if hex::encode(got) != want {
        return Err(OpsError::Other(format!(
            "verification failed: {} at {shown} has sha256 {}, expected {want}",
            c.key,
            hex::encode(got)
        )));
    }
    if let Some(d) = obj.meta.sha256
        && d != got
    {
        return Err(OpsError::Other(format!(
            "verification failed: {} at {shown} carries a stored digest ({}) that is not its \
             content's",
            c.key,
            hex::encode(d)
        )));
    }
    Ok(())
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
