//! Faults a test build can switch on, so the crash tests can show that they
//! would catch the bug each one stands for. Only a build with the
//! `fault-injection` feature reads `PUTFS_FAULT`; a release build has no
//! switch at all.
//!
//! `PUTFS_FAULT` is a comma-separated list of:
//! - `skip-dir-fsync`: never fsync a directory (a published name, an unlink
//!   or a rename is then not durable);
//! - `skip-parent-fsync`: never fsync the parent of a directory a PUT relies
//!   on (objects in new directories are then not durable);
//! - `skip-204-durable`: answer 204 for identical bytes without making the
//!   existing object durable first;
//! - `skip-transfer-fsync` (read by `putfs ops transfer-gap`, not the
//!   server): record an rsync transfer as verified without fsyncing the
//!   transferred objects and their directories.

#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub skip_dir_fsync: bool,
    pub skip_parent_fsync: bool,
    pub skip_204_durable: bool,
}

impl Faults {
    #[cfg(feature = "fault-injection")]
    pub fn from_env() -> Faults {
        let mut f = Faults::default();
        for name in std::env::var("PUTFS_FAULT").unwrap_or_default().split(',') {
            match name.trim() {
                "" => {}
                "skip-dir-fsync" => f.skip_dir_fsync = true,
                "skip-parent-fsync" => f.skip_parent_fsync = true,
                "skip-204-durable" => f.skip_204_durable = true,
                "skip-transfer-fsync" => {}
                other => tracing::error!(fault = other, "unknown PUTFS_FAULT ignored"),
            }
        }
        if f.skip_dir_fsync || f.skip_parent_fsync || f.skip_204_durable {
            tracing::warn!(faults = ?f, "FAULT INJECTION: this server is not durable");
        }
        f
    }

    #[cfg(not(feature = "fault-injection"))]
    pub fn from_env() -> Faults {
        Faults::default()
    }
}

/// Whether `name` is among the `PUTFS_FAULT` switches, for faults outside
/// the store (`skip-transfer-fsync`). Always false without the feature.
pub fn switched_on(name: &str) -> bool {
    cfg!(feature = "fault-injection")
        && std::env::var("PUTFS_FAULT")
            .unwrap_or_default()
            .split(',')
            .any(|f| f.trim() == name)
}
