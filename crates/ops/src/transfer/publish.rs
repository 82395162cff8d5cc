//! Moving a staged gap object into its key's place without ever replacing
//! anything: `renameat2(RENAME_NOREPLACE)` from the staging folder (or
//! `link()` + `unlink()` where the filesystem lacks it, just as exclusive),
//! so a key the target's own server wrote meanwhile, mutable or not, keeps
//! its bytes, and readers see the object appear whole or not at all.
//!
//! Directories the key needs are created with the staged directory's mode
//! and owner (what `rsync -a` gave it from the old primary), so the target's
//! server, running as its own user, can write into them later. The
//! primitives (the exclusive move, the directory walk, the lookup with its
//! digest) are the store's own (`store::fsops`, `Store::lookup`).

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use super::target::{STAGE, Target};
use crate::error::OpsError;
use crate::store::{StoreError, fsops};

/// Placing one object: attempts when its directory vanishes meanwhile (the
/// target's server prunes directories a DELETE left empty).
const ATTEMPTS: u32 = 5;

const IN_THE_WAY: &str = "a parent segment of the key is an object at the destination";

#[derive(Debug, PartialEq, Eq)]
pub enum Placed {
    Copied,
    AlreadyThere,
    Conflict(String),
}

/// Put the staged `key` in place (if it was staged), else compare what the
/// target holds there with `sha256`.
pub fn place(t: &Target, key: &str, sha256: &str) -> Result<Placed, OpsError> {
    let staged = format!("{STAGE}/{key}");
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    let failed = |e: Errno| OpsError::Other(format!("placing {key} in {}: {e}", t.path.display()));
    match fsops::stat_at(t.root(), &staged) {
        Ok(_) => {}
        Err(Errno::NOENT) => return compare(t, key, sha256),
        Err(e) => return Err(failed(e)),
    }
    let stage_dir_path = if dir.is_empty() {
        STAGE.to_owned()
    } else {
        format!("{STAGE}/{dir}")
    };
    let stage_dir = fsops::open_dir(t.root(), &stage_dir_path).map_err(failed)?;
    for _ in 0..ATTEMPTS {
        let key_dir = match make_dirs(t, dir) {
            Ok(fd) => fd,
            Err(Errno::NOTDIR | Errno::EXIST) => return Ok(Placed::Conflict(IN_THE_WAY.into())),
            Err(e) => return Err(failed(e)),
        };
        let (from, to) = (stage_dir.as_fd(), key_dir.as_fd());
        match fsops::rename_noreplace(from, name, to, name, t.use_rename()) {
            Ok(()) => return Ok(Placed::Copied),
            Err(Errno::EXIST) => return compare(t, key, sha256),
            // The directory was pruned between our mkdir and the rename.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(OpsError::Other(format!(
        "placing {key} in {}: its directory kept vanishing; rerun",
        t.path.display()
    )))
}

/// Compare the object the target holds at `key` with `sha256`, as the
/// target's own store reads it (its stored digest where valid; the bytes
/// are read in full afterwards, by `rsync::verify`).
pub fn compare(t: &Target, key: &str, sha256: &str) -> Result<Placed, OpsError> {
    let reading =
        |e: StoreError| OpsError::Other(format!("reading {key} at {}: {e}", t.path.display()));
    let mut obj = match t.store.lookup(&super::parse_key(key)?) {
        Ok(Some(o)) => o,
        Ok(None) if fsops::stat_at(t.root(), key).is_ok() => {
            return Ok(Placed::Conflict(
                "not a regular file at the destination".into(),
            ));
        }
        Ok(None) => {
            return Err(OpsError::Other(format!(
                "{key} vanished from {} while it was transferred; rerun",
                t.path.display()
            )));
        }
        Err(StoreError::IsDirectory) => {
            return Ok(Placed::Conflict("a directory at the destination".into()));
        }
        Err(StoreError::ParentNotDir) => return Ok(Placed::Conflict(IN_THE_WAY.into())),
        Err(e) => return Err(reading(e)),
    };
    let theirs = hex::encode(obj.digests(&[]).map_err(reading)?.sha256);
    if theirs == sha256 {
        Ok(Placed::AlreadyThere)
    } else {
        Ok(Placed::Conflict(format!(
            "the destination holds other bytes, sha256 {theirs}; not replaced"
        )))
    }
}

/// Open `dir` beneath the target's root, creating what is missing with the
/// mode and owner of its staged twin (what `rsync -a` gave it from the old
/// primary), so the target's server, running as its own user, can write
/// into it later. ENOTDIR or EEXIST: an object is in the way.
fn make_dirs(t: &Target, dir: &str) -> Result<rustix::fd::OwnedFd, Errno> {
    let segments = dir.split('/').filter(|s| !s.is_empty());
    let twin = |path: &str| fsops::stat_at(t.root(), &format!("{STAGE}/{path}"));
    let mode_of = |path: &str| Ok(Mode::from_raw_mode(twin(path)?.st_mode & 0o7777));
    let made = |parent: rustix::fd::BorrowedFd<'_>, name: &str, path: &str| {
        // As `rsync -a` would have left it: the umask does not apply, and
        // the owner is kept where we may set it (as root).
        let model = twin(path)?;
        let _ = rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(model.st_mode & 0o7777),
            AtFlags::empty(),
        );
        let _ = rustix::fs::chownat(
            parent,
            name,
            Some(rustix::process::Uid::from_raw(model.st_uid)),
            Some(rustix::process::Gid::from_raw(model.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        Ok(())
    };
    fsops::create_dirs(t.root(), segments, mode_of, made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn target() -> (tempfile::TempDir, Target) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        let target = Target::open(t.path(), false).unwrap();
        target.fresh_stage().unwrap();
        (t, target)
    }

    fn stage(t: &Target, key: &str, body: &[u8]) {
        let p = t.path.join(STAGE).join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    fn sha(b: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    }

    #[test]
    fn places_new_keys_and_never_replaces() {
        let (_d, t) = target();
        stage(&t, "a/b/new", b"ours");
        assert_eq!(place(&t, "a/b/new", &sha(b"ours")).unwrap(), Placed::Copied);
        assert_eq!(std::fs::read(t.path.join("a/b/new")).unwrap(), b"ours");
        assert!(!t.path.join(STAGE).join("a/b/new").exists());

        std::fs::write(t.path.join("theirs"), b"theirs").unwrap();
        stage(&t, "theirs", b"ours");
        assert!(matches!(
            place(&t, "theirs", &sha(b"ours")).unwrap(),
            Placed::Conflict(_)
        ));
        assert_eq!(std::fs::read(t.path.join("theirs")).unwrap(), b"theirs");

        std::fs::write(t.path.join("same"), b"same").unwrap();
        stage(&t, "same", b"same");
        assert_eq!(
            place(&t, "same", &sha(b"same")).unwrap(),
            Placed::AlreadyThere
        );
        // Not staged: compared where it is.
        assert_eq!(
            place(&t, "same", &sha(b"same")).unwrap(),
            Placed::AlreadyThere
        );
    }

    #[test]
    fn an_object_in_the_way_is_a_conflict() {
        let (_d, t) = target();
        std::fs::write(t.path.join("file"), b"x").unwrap();
        stage(&t, "file/under", b"ours");
        assert!(matches!(
            place(&t, "file/under", &sha(b"ours")).unwrap(),
            Placed::Conflict(_)
        ));
        std::fs::create_dir(t.path.join("dir")).unwrap();
        stage(&t, "dir", b"ours");
        assert!(matches!(
            place(&t, "dir", &sha(b"ours")).unwrap(),
            Placed::Conflict(_)
        ));
    }

    #[test]
    fn new_directories_take_the_staged_mode() {
        let (_d, t) = target();
        stage(&t, "m/k", b"x");
        let staged = t.path.join(STAGE).join("m");
        std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o750))
            .unwrap();
        place(&t, "m/k", &sha(b"x")).unwrap();
        let mode = std::fs::metadata(t.path.join("m")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o750, "{mode:o}");
    }
}
