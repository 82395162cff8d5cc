//! A node's role, from the evidence `ops status` can gather, strongest
//! first:
//! 1. a writable putfs holds the data root's lock: a primary, whatever any
//!    record says (a lock that could not be tested proves nothing either
//!    way, and the role line says so rather than "no writable putfs");
//! 2. the dataset is `readonly=on`: a replica (nothing can write to it);
//! 3. what `putfs ops` recorded: a promotion in force, else the latest
//!    demotion or rollback (each of those ends a promotion);
//! 4. on a plain root (no dataset), the lock file names a writable putfs
//!    as its last holder (a server's line stays in the file after it
//!    exits; the shipped rsync and rclone replication never copy `.putfs/`,
//!    and `putfs ops` rollback leaves its own line): a primary whose server
//!    is stopped. A dataset's lock file proves nothing: `zfs send` carries
//!    it, the primary's line included, to every replica;
//! 5. the dataset is writable: a primary with no server right now.
//!
//! The records come before "writable" because a rolled-back old primary
//! is still writable but must not be called a primary, and because
//! zfs-fuse hides `readonly` of a mounted dataset, leaving the records
//! as the only witness there.

use super::state::{Demoted, Demotion, Promotion};
use super::writer_lock::Writer;

/// What the writer's lock said.
#[derive(Debug, Default, Clone, Copy)]
pub enum Lock<'a> {
    #[default]
    Free,
    Held(&'a Writer),
    /// It could not be tested.
    Unknown,
}

/// What is known about one node.
#[derive(Debug, Default)]
pub struct Evidence<'a> {
    pub lock: Lock<'a>,
    /// `None`: no dataset, or a platform that cannot tell (zfs-fuse).
    pub readonly: Option<bool>,
    pub has_dataset: bool,
    pub promotion: Option<&'a Promotion>,
    pub demotion: Option<&'a Demotion>,
    /// The pid a writable putfs wrote into the lock file, the last holder,
    /// when it holds the lock no more.
    pub last_server: Option<u32>,
}

/// The role line of `ops status`; starts with "primary", "replica",
/// "rolled back" or "unknown".
pub fn role(e: &Evidence<'_>) -> String {
    match e.lock {
        Lock::Held(w) if w.is_server() => {
            return format!("primary: {} serves it writable", w.who());
        }
        _ => {}
    }
    let now = match e.lock {
        Lock::Free => "no writable putfs serves it now".to_owned(),
        Lock::Held(w) => format!("{} holds its writer's lock now", w.who()),
        Lock::Unknown => {
            "unknown whether a writable putfs serves it now (its lock could not be tested)"
                .to_owned()
        }
    };
    if e.readonly == Some(true) {
        return "replica (dataset is read-only)".into();
    }
    if let Some(p) = e.promotion {
        return format!("primary (promoted {}); {now}", p.at);
    }
    if let Some(d) = e.demotion {
        return match &d.to {
            Demoted::Replica => format!("replica (demoted {})", d.at),
            Demoted::RolledBack { snapshot } => format!(
                "rolled back to @{snapshot} ({}): the old primary, taking no writes; next, make \
                 it a replica (putfs ops reverse-zrepl)",
                d.at
            ),
        };
    }
    if let (Lock::Free, Some(pid)) = (e.lock, e.last_server) {
        return format!("primary (a writable putfs, pid {pid}, served it last); {now}");
    }
    match (e.readonly, e.has_dataset) {
        (Some(false), _) => format!("primary (dataset is writable); {now}"),
        (_, true) => format!(
            "unknown: this platform (zfs-fuse) reports readonly=off for every mounted dataset, \
             and no putfs ops promote, demote or rollback is recorded; {now}"
        ),
        (_, false) => format!("unknown (no dataset given, no role recorded); {now}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn promotion() -> Promotion {
        Promotion {
            dataset: Some("b/x".into()),
            shared_snapshot: None,
            at: "T1".into(),
        }
    }

    fn demotion(to: Demoted) -> Demotion {
        Demotion {
            dataset: Some("b/x".into()),
            to,
            ended_promotion: Some(promotion()),
            at: "T2".into(),
        }
    }

    #[test]
    fn every_stage_of_the_runbook() {
        let w = Writer {
            pid: Some(7),
            what: None,
            lock: PathBuf::from("/srv/putfs/.putfs/lock"),
        };
        let tool = Writer {
            what: Some("putfs ops rollback".into()),
            ..w.clone()
        };
        let p = promotion();
        let replica = demotion(Demoted::Replica);
        let rolled = demotion(Demoted::RolledBack {
            snapshot: "s".into(),
        });
        fn ds<'a>(
            readonly: Option<bool>,
            writer: Option<&'a Writer>,
            promotion: Option<&'a Promotion>,
            demotion: Option<&'a Demotion>,
        ) -> Evidence<'a> {
            Evidence {
                lock: writer.map_or(Lock::Free, Lock::Held),
                readonly,
                has_dataset: true,
                promotion,
                demotion,
                last_server: None,
            }
        }
        // A primary serving writes, recorded or not.
        assert!(
            role(&ds(None, Some(&w), None, Some(&replica))).starts_with("primary: putfs (pid 7)")
        );
        // A replica: read-only on OpenZFS, or recorded (zfs-fuse).
        assert!(role(&ds(Some(true), None, None, None)).starts_with("replica"));
        assert!(role(&ds(None, None, None, Some(&replica))).starts_with("replica (demoted T2)"));
        // Promoted, server stopped for a moment.
        assert!(role(&ds(Some(false), None, Some(&p), None)).starts_with("primary (promoted T1)"));
        assert!(role(&ds(None, None, Some(&p), None)).starts_with("primary (promoted"));
        // Rolled back: writable, yet not a primary.
        assert!(role(&ds(Some(false), None, None, Some(&rolled))).starts_with("rolled back to @s"));
        // Flipped back: the promoted node demoted again, the other promoted.
        assert!(role(&ds(None, None, None, Some(&replica))).starts_with("replica"));
        assert!(role(&ds(None, None, Some(&p), Some(&replica))).starts_with("primary (promoted"));
        // Nothing known.
        assert!(role(&ds(None, None, None, None)).starts_with("unknown"));
        assert!(
            role(&ds(Some(false), None, None, None)).starts_with("primary (dataset is writable)")
        );
        assert!(role(&Evidence::default()).starts_with("unknown (no dataset"));
        // A stopped server's line in the lock file: a primary, unless a
        // record or a read-only dataset says otherwise.
        let stopped = Evidence {
            last_server: Some(9),
            ..Evidence::default()
        };
        let r = role(&stopped);
        assert!(
            r.starts_with("primary (a writable putfs, pid 9, served it last)"),
            "{r}"
        );
        let demoted = Evidence {
            demotion: Some(&replica),
            ..stopped
        };
        assert!(role(&demoted).starts_with("replica (demoted"));
        // A tool holding the lock is no server.
        let r = role(&ds(None, Some(&tool), Some(&p), None));
        assert!(
            r.starts_with("primary (promoted") && r.contains("putfs ops rollback (pid 7)"),
            "{r}"
        );
        // A lock that could not be tested proves nothing.
        for ev in [
            Evidence {
                lock: Lock::Unknown,
                promotion: Some(&p),
                ..Evidence::default()
            },
            Evidence {
                lock: Lock::Unknown,
                ..Evidence::default()
            },
        ] {
            let r = role(&ev);
            assert!(
                r.contains("unknown whether") && !r.contains("no writable putfs serves"),
                "{r}"
            );
        }
    }
}
