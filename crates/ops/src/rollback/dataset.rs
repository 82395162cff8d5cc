//! What the rollback reads of the dataset: where its live tree is (only
//! while mounted), and the snapshots and bookmarks `zfs rollback -r`
//! destroys with it.

use std::path::PathBuf;

use crate::error::OpsError;
use crate::mount_state::MountState;
use crate::zfs::{Snapshot, Zfs};

/// The live tree is only the dataset's while it is mounted.
pub fn mounted_root(zfs: &Zfs<'_>, ds: &str) -> Result<PathBuf, OpsError> {
    let st = MountState::read(zfs, ds)?;
    match st.path() {
        Some(p) if st.mounted => Ok(p),
        _ => Err(OpsError::Refused(format!(
            "{ds} is {}: its live tree cannot be compared with the snapshot (the mountpoint \
             would be a bare directory). Mount it (`zfs mount {ds}`) and run the rollback again",
            st.describe()
        ))),
    }
}

/// The snapshots newer than `target`, which `rollback -r` destroys.
pub fn later_snapshots(
    zfs: &Zfs<'_>,
    ds: &str,
    target: &Snapshot,
) -> Result<Vec<String>, OpsError> {
    Ok(zfs
        .snapshots(ds)?
        .into_iter()
        .filter(|s| {
            (s.creation, s.createtxg) > (target.creation, target.createtxg) && s.name != target.name
        })
        .map(|s| s.name)
        .collect())
}

/// Bookmarks newer than the target, which `rollback -r` destroys too.
/// Where bookmarks do not exist (zfs-fuse) or txgs are unknown: none.
pub fn later_bookmarks(zfs: &Zfs<'_>, ds: &str, target: &Snapshot) -> Vec<String> {
    let Some(txg) = target.createtxg else {
        return Vec::new();
    };
    let out = zfs
        .runner
        .probe(&[
            "zfs",
            "list",
            "-H",
            "-p",
            "-t",
            "bookmark",
            "-d",
            "1",
            "-o",
            "name,createtxg",
            ds,
        ])
        .ok()
        .flatten()
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, t)| t.trim().parse::<u64>().is_ok_and(|t| t > txg))
        .map(|(n, _)| n.to_owned())
        .collect()
}
