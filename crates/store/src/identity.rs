//! Which directory, on which running machine, a data root is: a value two
//! processes can compare without trusting anything that replication
//! copies. The heartbeat's node name, a marker file, the objects
//! themselves: all of them travel to the replica with the data, so a
//! replica and its primary look alike there. What never travels is where
//! the root lives: its device and inode, on the kernel that booted with
//! this boot id. `putfs ops transfer-gap` compares the identity its
//! destination's server reports (`/.putfs/identity`) with its own root's,
//! and refuses to "transfer" a gap to the very node it comes from.
//!
//! Only a digest is shown, so the endpoint says nothing about the machine.

use std::path::Path;

use sha2::{Digest, Sha256};

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// The identity of the directory at `root` on this machine, as it is now
/// (hex SHA-256 of the boot id, device and inode).
pub fn of_root(root: &Path) -> std::io::Result<String> {
    let st = rustix::fs::stat(root)?;
    let boot = std::fs::read_to_string(BOOT_ID)?;
    let mut h = Sha256::new();
    h.update(
        format!(
            "putfs data root\n{}\n{}\n{}\n",
            boot.trim(),
            st.st_dev,
            st.st_ino
        )
        .as_bytes(),
    );
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_directory_by_any_path_and_no_other() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::os::unix::fs::symlink(&a, t.path().join("link")).unwrap();
        let id = of_root(&a).unwrap();
        assert_eq!(of_root(&t.path().join("link")).unwrap(), id);
        assert_eq!(of_root(&a.join("../a")).unwrap(), id);
        assert_ne!(of_root(&b).unwrap(), id);
    }
}
