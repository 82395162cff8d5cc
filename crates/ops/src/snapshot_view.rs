//! Reading a snapshot's tree: `--snapshot-dir` as given, a ZFS snapshot
//! through `.zfs/snapshot/NAME` where the platform has it, or through a
//! temporary read-only clone where it does not (zfs-fuse). The clone is
//! destroyed when the view is dropped; clones left by a killed run are
//! recognised by name and removed by the next one.

use std::path::{Path, PathBuf};

use super::error::OpsError;
use super::zfs::Zfs;

const CLONE_MARK: &str = "putfs-view-";

pub struct SnapshotView<'r> {
    pub path: PathBuf,
    /// How the view was made, for the summary.
    pub how: &'static str,
    /// When the snapshot was taken (seconds since the epoch), if known.
    pub taken: Option<i64>,
    clone: Option<(Zfs<'r>, String, tempfile::TempDir)>,
}

impl<'r> SnapshotView<'r> {
    /// A snapshot that is a plain directory.
    pub fn dir(path: &Path) -> Result<SnapshotView<'static>, OpsError> {
        if !path.is_dir() {
            return Err(OpsError::NotFound(format!(
                "snapshot directory {} does not exist",
                path.display()
            )));
        }
        Ok(SnapshotView {
            path: path.to_owned(),
            how: "directory",
            taken: None,
            clone: None,
        })
    }

    /// The tree of `dataset@snapshot`, whose live tree is mounted at `live`.
    pub fn zfs(
        zfs: Zfs<'r>,
        dataset: &str,
        snapshot: &str,
        live: &Path,
    ) -> Result<SnapshotView<'r>, OpsError> {
        let taken = Some(zfs.snapshot(dataset, snapshot)?.creation);
        let dot = live.join(".zfs/snapshot").join(snapshot);
        if dot.is_dir() {
            return Ok(SnapshotView {
                path: dot,
                how: ".zfs/snapshot",
                taken,
                clone: None,
            });
        }
        remove_stale_clones(&zfs, Zfs::pool(dataset));
        let mount = tempfile::Builder::new()
            .prefix("putfs-snapshot-")
            .tempdir()
            .map_err(OpsError::io("creating a mountpoint for the snapshot clone"))?;
        let mut id = [0u8; 4];
        getrandom::fill(&mut id).map_err(|e| OpsError::Other(e.to_string()))?;
        let name = format!(
            "{}/{CLONE_MARK}{}-{}",
            Zfs::pool(dataset),
            std::process::id(),
            hex::encode(id)
        );
        let mp = mount.path().to_string_lossy().into_owned();
        zfs.clone_readonly(&format!("{dataset}@{snapshot}"), &name, &mp)?;
        Ok(SnapshotView {
            path: mount.path().to_owned(),
            how: "temporary clone",
            taken,
            clone: Some((zfs, name, mount)),
        })
    }
}

impl Drop for SnapshotView<'_> {
    fn drop(&mut self) {
        if let Some((zfs, name, _mount)) = self.clone.take()
            && let Err(e) = zfs.destroy_retrying(&name)
        {
            eprintln!(
                "putfs ops: could not destroy the temporary clone {name}: {e}; destroy it by hand"
            );
        }
    }
}

/// Destroy view clones whose creating process is gone.
fn remove_stale_clones(zfs: &Zfs<'_>, pool: &str) {
    let Ok(out) = zfs.runner.query(&[
        "zfs",
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "filesystem",
        "-r",
        pool,
    ]) else {
        return;
    };
    for name in out.lines() {
        let Some(rest) = name
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_prefix(CLONE_MARK))
        else {
            continue;
        };
        // Ours only: a numeric pid that is gone, and a clone (origin set).
        let Some(pid) = rest.split('-').next().filter(|p| p.parse::<u32>().is_ok()) else {
            continue;
        };
        let is_clone = zfs.get(name, "origin").is_ok_and(|o| o.contains('@'));
        if is_clone && !Path::new("/proc").join(pid).exists() {
            let _ = zfs.destroy_retrying(name);
        }
    }
}
