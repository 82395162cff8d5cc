//! A gap in which most of the snapshot is "deleted since" is refused
//! unless the operator says the deletes are real.
//!
//! Objects deleted after the snapshot are few in any real failover: a
//! primary deletes a little of what it holds between two snapshots. A live
//! tree that lacks every object of the snapshot, or most of many, is far
//! more likely not the data (a filesystem that did not mount, the wrong
//! dataset or directory, a tree emptied by mistake) than deletes that
//! clients were promised; and acting on it is the one thing that cannot be
//! undone: `transfer-gap --apply-deletes` deletes them on the new primary.
//! `live_root` catches the usual causes first; this is the net under it,
//! for every cause.
//!
//! Counting the snapshot's objects costs a walk of its tree, so the count
//! stops as soon as it proves the deletes are at most half: in proportion
//! to the deletes, not to the dataset.

use std::path::Path;

use super::error::OpsError;
use super::gap::addressable;

/// From this many objects in the snapshot on, deleting more than half of
/// them is implausible; below it, only deleting every one is.
pub const MANY: u64 = 16;

/// Refuse (exit 3) when `deleted` is an implausible share of the objects
/// in the snapshot at `snap_root`, unless `accept`.
pub fn check(
    deleted: u64,
    snap_root: &Path,
    live_root: &Path,
    snapshot: &str,
    accept: bool,
) -> Result<(), OpsError> {
    if deleted == 0 || accept {
        return Ok(());
    }
    let total = count_objects(snap_root, deleted.saturating_mul(2)).map_err(OpsError::io(
        format!("counting the objects of snapshot {snapshot}"),
    ))?;
    if !implausible(deleted, total) {
        return Ok(());
    }
    let share = if deleted >= total {
        "every one of them".to_owned()
    } else {
        "more than half of them".to_owned()
    };
    Err(OpsError::Refused(format!(
        "{deleted} of the {total} object(s) in snapshot {snapshot} are gone from {} ({share}). \
         Real deletes after a snapshot are few; this is what a live tree that is not this \
         node's data looks like (a filesystem that is not mounted, the wrong dataset or \
         directory, a tree emptied by mistake), and acting on it would delete those objects \
         on the new primary (transfer-gap --apply-deletes). Check that {} is the data root \
         putfs served. If the deletes are real, run again with --accept-mass-delete",
        live_root.display(),
        live_root.display()
    )))
}

fn implausible(deleted: u64, total: u64) -> bool {
    deleted >= total || (total >= MANY && deleted.saturating_mul(2) > total)
}

/// The objects under `root` (files reached through real directories, as
/// the gap counts them), counting no further than `enough` + 1.
fn count_objects(root: &Path, enough: u64) -> std::io::Result<u64> {
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .follow_root_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || e.file_name().to_str().is_some_and(addressable));
    let mut n = 0;
    for entry in walk {
        if entry?.file_type().is_file() {
            n += 1;
            if n > enough {
                break;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_or_most_of_many_is_implausible() {
        assert!(implausible(1, 1));
        assert!(implausible(6, 6));
        assert!(!implausible(4, 6), "most of few: ordinary");
        assert!(!implausible(19, 40));
        assert!(implausible(21, 40));
        assert!(!implausible(8, 16));
        assert!(implausible(9, 16));
    }

    #[test]
    fn counts_objects_only_as_far_as_needed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join(".putfs")).unwrap();
        std::fs::write(t.path().join(".putfs/heartbeat"), "h").unwrap();
        std::fs::create_dir_all(t.path().join("d")).unwrap();
        for i in 0..10 {
            std::fs::write(t.path().join(format!("d/{i}")), "x").unwrap();
        }
        assert_eq!(count_objects(t.path(), 100).unwrap(), 10);
        assert_eq!(count_objects(t.path(), 3).unwrap(), 4);
        let e = check(10, t.path(), Path::new("/srv/putfs"), "@s", false).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("--accept-mass-delete"), "{e}");
        check(10, t.path(), Path::new("/srv/putfs"), "@s", true).unwrap();
        check(3, t.path(), Path::new("/srv/putfs"), "@s", false).unwrap();
    }
}
