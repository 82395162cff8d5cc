//! The state file: what `putfs ops` has done and decided for one data root,
//! so that reruns continue and later steps can check earlier ones (rollback
//! refuses unless the gap was transferred and verified).
//!
//! It lives next to the data root, not inside it: inside, a ZFS rollback
//! would roll it back too, and replication would carry it to the peer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::OpsError;
use super::zfs::Snapshot;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The promotion in force; `ops demote` and `ops rollback` end it.
    #[serde(default)]
    pub promotion: Option<Promotion>,
    /// How this node last stopped being (or was made other than) a
    /// primary, unless a promotion came after.
    #[serde(default)]
    pub demotion: Option<Demotion>,
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    #[serde(default)]
    pub rollbacks: Vec<Rollback>,
    #[serde(default)]
    pub deletes: Vec<DeleteRun>,
    /// The deletes acknowledged after a snapshot, saved by `rollback`
    /// before it runs: afterwards nothing else lists them.
    #[serde(default)]
    pub saved_deletes: Vec<SavedDeletes>,
}

/// `ops promote`: this node became the primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Promotion {
    pub dataset: Option<String>,
    /// The last snapshot shared with the old primary: the common ancestor
    /// (none for a replica kept by rsync or rclone).
    pub shared_snapshot: Option<Snapshot>,
    pub at: String,
}

/// `ops demote` or `ops rollback`: this node is no longer a primary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demotion {
    pub dataset: Option<String>,
    pub to: Demoted,
    /// The promotion this ended, if one was in force.
    pub ended_promotion: Option<Promotion>,
    pub at: String,
}

/// What the node became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Demoted {
    /// A receiver: readonly, fed by replication (`ops demote`).
    Replica,
    /// The old primary, rolled back to the snapshot it shares with the new
    /// one and not yet a replica (`ops rollback`).
    RolledBack { snapshot: String },
}

/// `ops transfer-gap`: a gap copied to a destination and checked there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub snapshot: String,
    pub destination: String,
    pub objects: u64,
    pub bytes: u64,
    /// SHA-256 over everything the comparison found (the gap, the
    /// conflicts and the deletes, `GapReport::fingerprint`): rollback
    /// checks that what it is about to destroy is what was transferred.
    pub fingerprint: String,
    pub verified: bool,
    pub conflicts: Vec<String>,
    /// The keys deleted on this node after the snapshot, when this ran:
    /// rollback wants a delete run to the same destination that covers
    /// them (or `--keep-deleted`).
    #[serde(default)]
    pub deleted: Vec<String>,
    pub at: String,
}

/// `ops transfer-gap --apply-deletes`: the deletes acknowledged on the old
/// primary after the snapshot, as applied at the destination by one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteRun {
    pub snapshot: String,
    pub destination: String,
    /// Deleted by this run (the destination held the snapshot's own copy).
    pub deleted: Vec<String>,
    /// Not at the destination (deleted there, or by an earlier run).
    pub absent: Vec<String>,
    /// Left in place, and why (the destination holds other bytes).
    pub kept: Vec<KeptDelete>,
    pub at: String,
}

/// The deletes a rollback was about to make unlistable, saved first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedDeletes {
    pub dataset: String,
    pub snapshot: String,
    pub objects: Vec<DeletedObject>,
    /// What the rollback found: applied by a delete run, or kept undone
    /// on purpose (`--keep-deleted`).
    pub status: String,
    pub at: String,
}

/// An object deleted after the snapshot, as the snapshot held it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedObject {
    pub key: String,
    pub sha256: Option<String>,
    pub size: u64,
    pub mtime_ns: i128,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptDelete {
    pub key: String,
    pub reason: String,
}

/// `ops rollback`: done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollback {
    pub dataset: String,
    pub snapshot: String,
    pub destroyed_snapshots: Vec<String>,
    pub destroyed_objects: u64,
    pub at: String,
}

/// Where the state of a data root lives by default: `.<name>.putfs-ops.json`
/// beside it.
pub fn default_path(root: &Path) -> Result<PathBuf, OpsError> {
    let abs =
        std::path::absolute(root).map_err(OpsError::io(format!("resolving {}", root.display())))?;
    let name = abs.file_name().ok_or_else(|| {
        OpsError::Usage(format!(
            "cannot put a state file beside {}; pass --state",
            abs.display()
        ))
    })?;
    let parent = abs.parent().unwrap_or(Path::new("/"));
    Ok(parent.join(format!(".{}.putfs-ops.json", name.to_string_lossy())))
}

impl State {
    pub fn load(path: &Path) -> Result<State, OpsError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                OpsError::Other(format!("state file {} is damaged: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(OpsError::Io {
                context: format!("reading {}", path.display()),
                error: e,
            }),
        }
    }

    /// Write atomically and durably: temp file, fsync, rename, fsync dir.
    pub fn save(&self, path: &Path) -> Result<(), OpsError> {
        let dir = dir_of(path);
        let ctx = || format!("writing {}", path.display());
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(OpsError::io(ctx()))?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(|e| OpsError::Other(e.to_string()))?;
        tmp.as_file().sync_all().map_err(OpsError::io(ctx()))?;
        tmp.persist(path)
            .map_err(|e| OpsError::io(ctx())(e.error))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(OpsError::io(ctx()))?;
        Ok(())
    }

    /// End the promotion in force (if any) and record why: a later
    /// `promote` then records a fresh shared snapshot instead of keeping
    /// the one of a failover long past.
    pub fn demote(&mut self, dataset: Option<String>, to: Demoted) {
        self.demotion = Some(Demotion {
            dataset,
            to,
            ended_promotion: self.promotion.take(),
            at: now(),
        });
    }

    /// The newest transfer of this snapshot's gap (verified or not: a
    /// later failed run must not be outvoted by an older success).
    pub fn latest_transfer(&self, snapshot: &str) -> Option<&Transfer> {
        self.transfers.iter().rev().find(|t| t.snapshot == snapshot)
    }
}

/// The directory a file at `path` lives in: `.` for a bare file name
/// (whose `parent()` is the empty path, which no call can open).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Now, as RFC 3339 (UTC).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("st.json")), Path::new("."));
        assert_eq!(dir_of(Path::new("a/st.json")), Path::new("a"));
        assert_eq!(dir_of(Path::new("/st.json")), Path::new("/"));
    }

    #[test]
    fn default_path_is_beside_the_root() {
        assert_eq!(
            default_path(Path::new("/tank/putfs")).unwrap(),
            Path::new("/tank/.putfs.putfs-ops.json")
        );
    }

    #[test]
    fn roundtrip() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s.json");
        assert!(State::load(&p).unwrap().transfers.is_empty());
        let mut s = State::default();
        s.transfers.push(Transfer {
            snapshot: "s1".into(),
            destination: "d".into(),
            objects: 1,
            bytes: 2,
            fingerprint: "f".into(),
            verified: true,
            conflicts: vec![],
            deleted: vec![],
            at: now(),
        });
        s.save(&p).unwrap();
        assert_eq!(
            State::load(&p)
                .unwrap()
                .latest_transfer("s1")
                .unwrap()
                .objects,
            1
        );
        assert!(State::load(&p).unwrap().latest_transfer("s2").is_none());
    }

    #[test]
    fn a_demotion_ends_the_promotion_and_survives_a_reload() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s.json");
        // A state file written before demotions existed still loads.
        std::fs::write(
            &p,
            r#"{"promotion":{"dataset":"b/x","shared_snapshot":null,"at":"t"}}"#,
        )
        .unwrap();
        let mut s = State::load(&p).unwrap();
        assert!(s.promotion.is_some() && s.demotion.is_none());
        s.demote(Some("b/x".into()), Demoted::Replica);
        s.save(&p).unwrap();
        let s = State::load(&p).unwrap();
        assert!(s.promotion.is_none());
        let d = s.demotion.unwrap();
        assert_eq!(d.to, Demoted::Replica);
        assert_eq!(d.ended_promotion.unwrap().dataset.as_deref(), Some("b/x"));
    }
}
