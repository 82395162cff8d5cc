//! Start-up cleanup of temp files orphaned by a crash.

use std::path::Path;

use walkdir::WalkDir;

use super::Store;
use super::key::TEMP_PREFIX;

impl Store {
    /// Take the writer's lock on the data root (`.putfs/lock`, flock): held
    /// for the life of the process. `None` when another live putfs holds it;
    /// its uploads' temp files must then not be taken for orphans.
    pub fn lock_writer(&self) -> std::io::Result<Option<std::fs::File>> {
        let dir = self.root_path().join(super::key::RESERVED_PREFIX);
        std::fs::create_dir_all(&dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every `.putfs-tmp.*` file under the root that this process did
    /// not create (its name lacks our boot id), so it is safe to run while
    /// uploads are already being served. Only call it holding the writer's
    /// lock. Returns how many were removed.
    pub fn remove_orphan_temps(&self) -> usize {
        let ours = format!("{TEMP_PREFIX}{}.", self.boot_id);
        let mut removed = 0;
        let walk = WalkDir::new(self.root_path()).follow_links(false);
        for entry in walk.into_iter().filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file()
                && name.starts_with(TEMP_PREFIX)
                && !name.starts_with(&ours)
                && remove(entry.path())
            {
                removed += 1;
            }
        }
        removed
    }
}

fn remove(path: &Path) -> bool {
    match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not remove orphaned temp file");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testutil::temp_store;

    #[test]
    fn removes_orphans_not_own_temps() {
        let (_t, store) = temp_store();
        let root = store.root_path().to_owned();
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        std::fs::write(root.join("x/y/.putfs-tmp.deadbeef.1"), "orphan").unwrap();
        std::fs::write(root.join(".putfs-tmp.old.2"), "orphan").unwrap();
        let own = format!(".putfs-tmp.{}.7", store.boot_id);
        std::fs::write(root.join(&own), "in flight").unwrap();
        std::fs::write(root.join("x/keep"), "object").unwrap();
        let lock = store.lock_writer().unwrap();
        assert!(lock.is_some());
        assert!(
            store.lock_writer().unwrap().is_none(),
            "a second writer is refused the lock"
        );
        assert_eq!(store.remove_orphan_temps(), 2);
        assert!(root.join(&own).exists());
        assert!(root.join("x/keep").exists());
        assert!(!root.join("x/y/.putfs-tmp.deadbeef.1").exists());
    }
}
