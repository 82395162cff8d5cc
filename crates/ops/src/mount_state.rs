//! Where a dataset is mounted, whether it is read-only, and whether its
//! mountpoint is a putfs data root: the facts every step that serves,
//! unmounts, renames or promotes a dataset depends on.
//!
//! A dataset that failed to mount leaves its mountpoint as a bare directory
//! on the parent filesystem. Everything there looks normal to a program
//! that only looks at paths, which is why `putfs serve` refuses a writable
//! root without `.putfs/`, and why `putfs ops` asks ZFS (`mounted`) instead
//! of trusting the path.
//!
//! zfs-fuse reports `readonly` of a *mounted* dataset from the mount
//! options ("off", source "temporary") whatever the property says, though
//! it enforces the property; only an unmounted dataset shows the value
//! set. [`MountState::readonly`] is `None` where the answer cannot be
//! trusted, so callers can say so instead of guessing.

use std::path::{Path, PathBuf};

use super::error::OpsError;
use super::zfs::Zfs;
use crate::store::RESERVED_PREFIX;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountState {
    pub dataset: String,
    pub mounted: bool,
    /// The `mountpoint` property as ZFS prints it (a path, `none`, `legacy`).
    pub mountpoint: String,
    /// `readonly`, where the platform tells the truth about it.
    pub readonly: Option<bool>,
}

impl MountState {
    pub fn read(zfs: &Zfs<'_>, dataset: &str) -> Result<MountState, OpsError> {
        if !zfs.exists(dataset)? {
            return Err(OpsError::NotFound(format!(
                "dataset {dataset} does not exist"
            )));
        }
        let out = zfs.runner.query(&[
            "zfs",
            "get",
            "-H",
            "-o",
            "property,value,source",
            "mounted,mountpoint,readonly",
            dataset,
        ])?;
        Ok(parse(dataset, &out))
    }

    /// The mountpoint, if it is a path.
    pub fn path(&self) -> Option<PathBuf> {
        self.mountpoint
            .starts_with('/')
            .then(|| PathBuf::from(&self.mountpoint))
    }

    /// "mounted at /srv/putfs" or "NOT mounted (mountpoint /srv/putfs)".
    pub fn describe(&self) -> String {
        if self.mounted {
            format!("mounted at {}", self.mountpoint)
        } else {
            format!("NOT mounted (mountpoint {})", self.mountpoint)
        }
    }
}

/// Parse `zfs get -H -o property,value,source mounted,mountpoint,readonly`.
fn parse(dataset: &str, out: &str) -> MountState {
    let mut st = MountState {
        dataset: dataset.to_owned(),
        mounted: false,
        mountpoint: "-".to_owned(),
        readonly: None,
    };
    for line in out.lines() {
        let mut f = line.split('\t');
        let (Some(prop), Some(value)) = (f.next(), f.next()) else {
            continue;
        };
        let source = f.next().unwrap_or("");
        match prop {
            "mounted" => st.mounted = value == "yes",
            "mountpoint" => st.mountpoint = value.to_owned(),
            "readonly" => st.readonly = readonly(value, source),
            _ => {}
        }
    }
    st
}

/// zfs-fuse's "off, temporary" on a mounted dataset says nothing.
fn readonly(value: &str, source: &str) -> Option<bool> {
    match (value, source) {
        ("off", "temporary") => None,
        (v, _) => Some(v == "on"),
    }
}

/// Does `root` hold putfs's `.putfs/` folder (is it a data root)?
pub fn is_data_root(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join(RESERVED_PREFIX)).is_ok_and(|m| m.is_dir())
}

/// The data root of `dataset`: its mountpoint, provided the dataset is
/// mounted there and the directory holds `.putfs/`, which is what a
/// writable putfs accepts. Otherwise refuse, saying what to do before
/// `doing` can go ahead.
pub fn require_data_root(zfs: &Zfs<'_>, dataset: &str, doing: &str) -> Result<PathBuf, OpsError> {
    let st = MountState::read(zfs, dataset)?;
    let Some(mp) = st.path() else {
        return Err(OpsError::Refused(format!(
            "{dataset} has mountpoint={}: putfs serves a directory. Give it one \
             (`zfs set mountpoint=/srv/putfs {dataset}`), then {doing}",
            st.mountpoint
        )));
    };
    if !st.mounted {
        return Err(OpsError::Refused(format!(
            "{dataset} is not mounted: {} is a bare directory on the parent filesystem, and a \
             writable putfs there would refuse to start (or write beside ZFS). Mount it \
             (`zfs mount {dataset}`), then {doing}",
            mp.display()
        )));
    }
    require_marker(&mp, doing)?;
    Ok(mp)
}

/// Refuse unless `root` is a data root (holds `.putfs/`).
pub fn require_marker(root: &Path, doing: &str) -> Result<(), OpsError> {
    if is_data_root(root) {
        return Ok(());
    }
    Err(OpsError::Refused(format!(
        "{} holds no {RESERVED_PREFIX}/ folder, so it is not a putfs data root and a writable \
         putfs refuses to start there. If replication should have filled it, it has not (or \
         this is the wrong dataset or directory: check the mountpoint). If it is deliberately a \
         new, empty data root, mark it (`install -d {}`, or start putfs once with --init), \
         then {doing}",
        root.display(),
        root.join(RESERVED_PREFIX).display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_zfs_get_and_distrusts_zfs_fuse_readonly() {
        let st = parse(
            "tank/a",
            "mounted\tyes\t-\nmountpoint\t/srv/putfs\tlocal\nreadonly\toff\ttemporary\n",
        );
        assert!(st.mounted);
        assert_eq!(st.path(), Some(PathBuf::from("/srv/putfs")));
        assert_eq!(st.readonly, None, "zfs-fuse's mount option");
        assert_eq!(st.describe(), "mounted at /srv/putfs");

        let st = parse(
            "tank/a",
            "mounted\tno\t-\nmountpoint\tnone\tinherited from tank/sink\nreadonly\ton\tlocal\n",
        );
        assert!(!st.mounted);
        assert_eq!(st.path(), None);
        assert_eq!(st.readonly, Some(true));
        assert_eq!(st.describe(), "NOT mounted (mountpoint none)");
        // OpenZFS: a dataset mounted with -o ro.
        assert_eq!(readonly("on", "temporary"), Some(true));
        assert_eq!(readonly("off", "default"), Some(false));
    }

    #[test]
    fn a_directory_without_the_marker_is_refused_with_what_to_do() {
        let t = tempfile::tempdir().unwrap();
        let e = require_marker(t.path(), "promote again").unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 3);
        assert!(
            msg.contains("--init") && msg.contains("promote again"),
            "{msg}"
        );
        std::fs::create_dir(t.path().join(".putfs")).unwrap();
        require_marker(t.path(), "x").unwrap();
    }
}
