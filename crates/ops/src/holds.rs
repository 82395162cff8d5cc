//! Holds on the snapshots a `zfs rollback -r` would destroy.
//!
//! A held snapshot cannot be destroyed, so one hold on a later snapshot
//! makes the whole rollback fail ("dataset is busy"), after the operator
//! has confirmed it. zrepl places them on the old primary: a step hold
//! (`zrepl_STEP_J_<job>`) on the snapshots of a replication step that was
//! under way when the node failed, and on receivers a last-received hold
//! (`zrepl_last_received_J_<job>`). Both only protect a replication that
//! will never continue from this side: the rollback destroys those very
//! snapshots, zrepl is stopped on this node first (the runbook), and the
//! node becomes a receiver of the other direction. So `ops rollback`
//! releases zrepl's holds on the snapshots it destroys (and only there),
//! and refuses any other hold: someone else (a backup job, an operator)
//! wants that snapshot kept, and only a person can decide it may go.
//!
//! Bookmarks never block a rollback: `zfs rollback -r` destroys the later
//! ones itself, and zrepl's replication cursor sits at the shared snapshot,
//! which is kept.
//!
//! zfs-fuse counts holds (`userrefs`) but cannot list their tags (its
//! `zfs holds` needs a missing helper); a hold there is refused with the
//! commands to look and release by hand.

use super::error::OpsError;
use super::zfs::Zfs;
use super::zrepl::names::check_component;

/// Hold tags zrepl places: `zrepl_STEP_J_<job>` and
/// `zrepl_last_received_J_<job>`, where the job name is a valid dataset
/// component (zrepl's `endpoint` package: `ParseStepHoldTag`,
/// `ParseLastReceivedHoldTag`, `MakeJobID`). Anything else, however it
/// starts, is someone else's.
pub fn is_zrepl_tag(tag: &str) -> bool {
    ["zrepl_STEP_J_", "zrepl_last_received_J_"]
        .iter()
        .filter_map(|p| tag.strip_prefix(p))
        .any(|job| check_component(job).is_ok())
}

/// One held snapshot (full name `ds@snap`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Held {
    pub snapshot: String,
    pub count: u64,
    /// The hold tags; `None` where the platform cannot list them.
    pub tags: Option<Vec<String>>,
}

/// What the holds on the doomed snapshots mean for the rollback.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HoldPlan {
    /// zrepl's holds: (tag, snapshot), released before the rollback.
    pub release: Vec<(String, String)>,
    /// Holds that stop the rollback until someone releases them.
    pub blocking: Vec<Held>,
}

impl HoldPlan {
    /// The refusal for blocking holds, with the commands to run.
    pub fn refusal(&self) -> Option<String> {
        if self.blocking.is_empty() {
            return None;
        }
        let mut lines = Vec::new();
        for h in &self.blocking {
            match &h.tags {
                Some(tags) => {
                    for t in tags.iter().filter(|t| !is_zrepl_tag(t)) {
                        lines.push(format!(
                            "zfs release {} {}",
                            shell_words::quote(t),
                            h.snapshot
                        ));
                    }
                }
                None => lines.push(format!(
                    "zfs holds {s}    # {n} hold(s); then: zfs release TAG {s}",
                    s = h.snapshot,
                    n = h.count
                )),
            }
        }
        Some(format!(
            "the rollback would destroy held snapshots, and zfs refuses to destroy a held \
             snapshot. These holds are not zrepl's (or their tags cannot be listed here), so \
             something else wants the snapshots kept: make sure it may lose them, release \
             the holds, and run the rollback again:\n  {}",
            lines.join("\n  ")
        ))
    }
}

/// Look at the holds on `snapshots` (names after the `@`) of `dataset`.
pub fn plan(zfs: &Zfs<'_>, dataset: &str, snapshots: &[String]) -> Result<HoldPlan, OpsError> {
    let mut plan = HoldPlan::default();
    for held in held(zfs, dataset, snapshots)? {
        match &held.tags {
            Some(tags) if tags.iter().all(|t| is_zrepl_tag(t)) => plan
                .release
                .extend(tags.iter().map(|t| (t.clone(), held.snapshot.clone()))),
            _ => plan.blocking.push(held),
        }
    }
    Ok(plan)
}

/// Release zrepl's holds (after the confirmation, before the rollback).
pub fn release(zfs: &Zfs<'_>, plan: &HoldPlan) -> Result<(), OpsError> {
    for (tag, snap) in &plan.release {
        zfs.runner.change(&["zfs", "release", tag, snap])?;
    }
    Ok(())
}

fn held(zfs: &Zfs<'_>, dataset: &str, snapshots: &[String]) -> Result<Vec<Held>, OpsError> {
    if snapshots.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = snapshots.iter().map(|s| format!("{dataset}@{s}")).collect();
    let mut argv = vec!["zfs", "get", "-Hp", "-o", "name,value", "userrefs"];
    argv.extend(names.iter().map(String::as_str));
    let out = zfs.runner.query(&argv)?;
    let mut found = Vec::new();
    for line in out.lines() {
        let Some((name, value)) = line.split_once('\t') else {
            continue;
        };
        let count: u64 = value.trim().parse().unwrap_or(0);
        if count == 0 {
            continue;
        }
        let tags = zfs
            .runner
            .probe(&["zfs", "holds", "-H", name])?
            .map(|out| parse_holds(&out));
        found.push(Held {
            snapshot: name.to_owned(),
            count,
            tags,
        });
    }
    Ok(found)
}

/// `zfs holds -H SNAP`: `NAME<TAB>TAG<TAB>TIMESTAMP` per hold.
fn parse_holds(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split('\t').nth(1))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Runner;
    use crate::runner::fake::Fake;

    #[test]
    fn zrepl_holds_are_released_and_others_refused_with_commands() {
        let fake = Fake::default();
        fake.answer(
            "zfs get -Hp -o name,value userrefs",
            0,
            "t/a@s3\t1\nt/a@s4\t2\nt/a@s5\t0\n",
        );
        fake.answer(
            "zfs holds -H t/a@s3",
            0,
            "t/a@s3\tzrepl_STEP_J_putfs-push\tWed Jan  1 00:00 2025\n",
        );
        fake.answer(
            "zfs holds -H t/a@s4",
            0,
            "t/a@s4\tzrepl_STEP_J_putfs-push\tx\nt/a@s4\tnightly backup\tx\n",
        );
        let runner = Runner::with_exec(Box::new(fake.clone()), false);
        let zfs = Zfs::new(&runner);
        let snaps = ["s3", "s4", "s5"].map(String::from);
        let p = plan(&zfs, "t/a", &snaps).unwrap();
        assert_eq!(
            p.release,
            [("zrepl_STEP_J_putfs-push".to_owned(), "t/a@s3".to_owned())]
        );
        assert_eq!(p.blocking.len(), 1);
        let why = p.refusal().unwrap();
        assert!(why.contains("zfs release 'nightly backup' t/a@s4"), "{why}");
        assert!(
            !why.contains("zfs release zrepl_"),
            "zrepl's are not the blocker: {why}"
        );

        release(&zfs, &p).unwrap();
        assert!(
            fake.commands()
                .contains(&"zfs release zrepl_STEP_J_putfs-push t/a@s3".to_owned())
        );
    }

    #[test]
    fn only_zrepls_own_tag_shapes_are_zrepls() {
        assert!(is_zrepl_tag("zrepl_STEP_J_putfs-push"));
        assert!(is_zrepl_tag("zrepl_last_received_J_putfs-sink"));
        assert!(is_zrepl_tag("zrepl_STEP_J__internal job"));
        // An operator's own tags that merely start like zrepl's.
        for tag in [
            "zrepl_keep",
            "zrepl_backup_J_nightly",
            "zrepl_STEP_J_",
            "zrepl_STEP_J_a/b",
            "zrepl_last_received_J_x@y",
            "zrepl_STEP_putfs-push",
        ] {
            assert!(!is_zrepl_tag(tag), "{tag}");
        }
    }

    #[test]
    fn holds_that_cannot_be_listed_block_with_how_to_look() {
        let fake = Fake::default();
        fake.answer("zfs get -Hp -o name,value userrefs", 0, "t/a@s3\t1\n");
        fake.answer("zfs holds", 255, "");
        let runner = Runner::with_exec(Box::new(fake), false);
        let p = plan(&Zfs::new(&runner), "t/a", &["s3".to_owned()]).unwrap();
        assert!(p.release.is_empty());
        let why = p.refusal().unwrap();
        assert!(
            why.contains("zfs holds t/a@s3") && why.contains("zfs release TAG t/a@s3"),
            "{why}"
        );
        // Nothing later, nothing held.
        let none = plan(&Zfs::new(&runner), "t/a", &[]).unwrap();
        assert_eq!(none, HoldPlan::default());
    }
}
