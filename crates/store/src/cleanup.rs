//! Start-up cleanup of temp files orphaned by a crash.

use std::path::Path;

use walkdir::WalkDir;

use super::Store;
use super::key::TEMP_PREFIX;

impl Store {
    /// Remove every `.putfs-tmp.*` file under the root that this process did
    /// not create (its name lacks our boot id), so it is safe to run while
    /// uploads are already being served. A writable store holds the root's
    /// writer lock, so no other process's upload can be in flight. Returns
    /// how many were removed.
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
    use crate::testutil::temp_store;

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
        assert_eq!(store.remove_orphan_temps(), 2);
        assert!(root.join(&own).exists());
        assert!(root.join("x/keep").exists());
        assert!(!root.join("x/y/.putfs-tmp.deadbeef.1").exists());
    }
}
