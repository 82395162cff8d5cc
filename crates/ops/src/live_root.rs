//! Is the live tree the data? Checked before any gap is computed.
//!
//! A gap compares the live tree with a snapshot, so a live tree that is
//! not the data makes every object of the snapshot "deleted since":
//! `transfer-gap --apply-deletes` would then delete them on the new
//! primary, and the gap (what rollback destroys unseen) would look empty.
//! That is exactly what a dataset that is not mounted looks like (its
//! mountpoint is a bare directory on the parent filesystem), or one with
//! another filesystem mounted over it, or the wrong `--root`. So:
//! - the live root must be a putfs data root: it holds `.putfs/`, which a
//!   writable putfs creates and a replica receives with the data;
//! - with `--dataset`, the mount table (not ZFS's `mounted` property,
//!   which says nothing about what shows at the path) must show the
//!   dataset at the live root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::context::Ctx;
use super::error::OpsError;
use super::mountinfo::{self, Mount};
use crate::store::RESERVED_PREFIX;

/// The live tree, checked.
pub struct LiveRoot {
    pub path: PathBuf,
    /// With `--dataset`: where the mount table has it, the prefix of every
    /// path `zfs diff` prints.
    pub diff_prefix: Option<PathBuf>,
}

/// The live root of `ctx`, refused (exit 3) unless it is the data.
pub fn verify(ctx: &Ctx) -> Result<LiveRoot, OpsError> {
    let path = ctx.root()?;
    let diff_prefix = match ctx.live.dataset.as_deref() {
        Some(ds) => Some(mounted_at(ds, &path, &mountinfo::read()?)?),
        None => None,
    };
    require_data_root(&path, ctx.live.dataset.as_deref())?;
    Ok(LiveRoot { path, diff_prefix })
}

/// Refuse unless `dataset` is what shows at `root`; its path in the mount
/// table (the first entry, as libzfs takes it) otherwise.
fn mounted_at(dataset: &str, root: &Path, mounts: &[Mount]) -> Result<PathBuf, OpsError> {
    let Some(first) = mounts.iter().find(|m| m.is_zfs() && m.source == dataset) else {
        return Err(OpsError::Refused(format!(
            "{dataset} is not mounted (the mount table, /proc/self/mountinfo, has no entry \
             for it): {} is the bare mountpoint directory, and comparing it with the \
             snapshot would count every object as deleted since. Mount it (`zfs mount \
             {dataset}`; `putfs ops mount --dataset {dataset}` mounts and checks), then run \
             this again",
            root.display()
        )));
    };
    let io = |e| OpsError::Io {
        context: format!("checking what is mounted at {}", root.display()),
        error: e,
    };
    let real = std::fs::canonicalize(root).map_err(io)?;
    let dev = mountinfo::dev_of(std::fs::metadata(&real).map_err(io)?.dev());
    // What a reader of the path sees: the last mount there with its device.
    let shown = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == real && m.dev == dev);
    match shown {
        Some(m) if m.is_zfs() && m.source == dataset => Ok(first.mount_point.clone()),
        Some(m) => Err(OpsError::Refused(format!(
            "{} does not show {dataset}: {} is mounted over it there, and hides it. Unmount \
             that (`umount {}`), then run this again",
            root.display(),
            m.describe(),
            real.display()
        ))),
        None => Err(OpsError::Refused(format!(
            "{} is not where {dataset} is mounted (the mount table has it at {}): pass \
             --root as that path, or mount {dataset} at its mountpoint, then run this again",
            root.display(),
            first.mount_point.display()
        ))),
    }
}

/// Refuse unless `root` holds `.putfs/` (a real directory).
fn require_data_root(root: &Path, dataset: Option<&str>) -> Result<(), OpsError> {
    let marker = root.join(RESERVED_PREFIX);
    if std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let mount = match dataset {
        Some(ds) => format!("`zfs mount {ds}`"),
        None => "mount it".to_owned(),
    };
    Err(OpsError::Refused(format!(
        "{} holds no {RESERVED_PREFIX}/ folder, so it is not a putfs data root: compared \
         with the snapshot, every object would count as deleted since. If its filesystem \
         is not mounted, {mount}; if this is the wrong directory, name the data root putfs \
         serves (--root, --dataset). Then run this again",
        root.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(dev: (u64, u64), at: &Path, fstype: &str, source: &str) -> Mount {
        Mount {
            dev,
            root: PathBuf::from("/"),
            mount_point: at.to_owned(),
            fstype: fstype.into(),
            source: source.into(),
        }
    }

    #[test]
    fn the_dataset_must_be_what_shows_at_the_root() {
        let t = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(t.path()).unwrap();
        let dev = mountinfo::dev_of(std::fs::metadata(&real).unwrap().dev());
        let ds = mount(dev, &real, "zfs", "tank/a");

        assert_eq!(
            mounted_at("tank/a", t.path(), std::slice::from_ref(&ds)).unwrap(),
            real
        );

        let e = mounted_at("tank/a", t.path(), &[]).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("zfs mount tank/a"), "{e}");

        let over = mount(dev, &real, "tmpfs", "none");
        let hidden = [mount((0, 99), &real, "zfs", "tank/a"), over];
        let e = mounted_at("tank/a", t.path(), &hidden).unwrap_err();
        assert!(e.to_string().contains("tmpfs (none)"), "{e}");

        let elsewhere = [mount(dev, Path::new("/elsewhere"), "zfs", "tank/a")];
        let e = mounted_at("tank/a", t.path(), &elsewhere).unwrap_err();
        assert!(e.to_string().contains("/elsewhere"), "{e}");
    }

    #[test]
    fn a_root_without_the_marker_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let e = require_data_root(t.path(), Some("tank/a")).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("zfs mount tank/a"), "{e}");
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        require_data_root(t.path(), None).unwrap();
    }
}
