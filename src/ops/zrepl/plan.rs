//! Ordered operator steps for reversing replication after a failover, and
//! for flipping back to the original direction later.
//!
//! Every command is an argv (no shell), tagged with the node it runs on,
//! so `putfs ops` can print it, run it through its command runner, or both.
//! Steps are ordered so that nothing destructive happens before both
//! sides have been shown to hold the same shared snapshot.

use std::fmt;

use super::layout::Layout;

/// Where zrepl reads its config (the packaged default).
pub const CONFIG_PATH: &str = "/etc/zrepl/zrepl.yml";

/// The two machines of a putfs zrepl pair, named by their role after the
/// failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// The old secondary, now serving writes.
    NewPrimary,
    /// The old primary, back after the failure.
    Recovered,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Node::NewPrimary => "new primary (old secondary)",
            Node::Recovered => "recovered node (old primary)",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run this argv on the node.
    Run(Vec<String>),
    /// Replace the node's zrepl config with this text.
    InstallConfig { path: String, yaml: String },
    /// Something only the operator can do or confirm.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: Node,
    pub description: String,
    pub action: Action,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.node, self.description)?;
        match &self.action {
            Action::Run(argv) => write!(f, "\n    $ {}", argv.join(" ")),
            Action::InstallConfig { path, .. } => write!(f, "\n    (write {path})"),
            Action::Manual => Ok(()),
        }
    }
}

fn run(node: Node, description: impl Into<String>, argv: &[&str]) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::Run(argv.iter().map(|s| s.to_string()).collect()),
    }
}

fn manual(node: Node, description: impl Into<String>) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::Manual,
    }
}

fn install(node: Node, description: impl Into<String>, yaml: &str) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::InstallConfig {
            path: CONFIG_PATH.into(),
            yaml: yaml.into(),
        },
    }
}

fn zrepl_service(node: Node, verb: &str, why: &str) -> Step {
    run(node, why, &["systemctl", verb, "zrepl"])
}

/// Parent of a dataset path (the path itself if it has none).
fn parent(ds: &str) -> &str {
    ds.rsplit_once('/').map_or(ds, |(p, _)| p)
}

/// Reverse replication: the new primary pushes to the recovered node,
/// starting incrementally from the shared snapshot.
pub fn reverse_plan(l: &Layout, new_primary_yaml: &str, recovered_yaml: &str) -> Vec<Step> {
    use Node::{NewPrimary, Recovered};
    let shared_on_new = format!("{}@{}", l.new_primary_dataset, l.shared_snapshot);
    let shared_on_old = format!("{}@{}", l.original, l.shared_snapshot);
    let shared_at_target = format!("{}@{}", l.rename_target, l.shared_snapshot);
    let mut steps = vec![
        manual(
            Recovered,
            format!(
                "Confirm the gap files (written to {} after @{}) are already copied to the new \
                 primary: the rollback below destroys them.",
                l.original, l.shared_snapshot
            ),
        ),
        run(
            NewPrimary,
            "Print the shared snapshot's GUID on the new primary. If it is missing, stop: \
             there is no common snapshot and only a full resend is possible.",
            &["zfs", "get", "-Hp", "-o", "value", "guid", &shared_on_new],
        ),
        run(
            Recovered,
            "Print the shared snapshot's GUID on the recovered node; it must equal the one \
             above (same name with another GUID is not a common snapshot).",
            &["zfs", "get", "-Hp", "-o", "value", "guid", &shared_on_old],
        ),
        zrepl_service(
            NewPrimary,
            "stop",
            "Stop zrepl: config changes only take effect on restart.",
        ),
        zrepl_service(
            Recovered,
            "stop",
            "Stop zrepl before touching its datasets: the old push job would snapshot and prune.",
        ),
        manual(
            Recovered,
            format!(
                "Stop putfs on the recovered node: the rename below unmounts {}.",
                l.original
            ),
        ),
        run(
            Recovered,
            format!(
                "Release the old push job's holds and bookmarks on this node: held snapshots \
                 newer than @{} would make the rollback fail, and this node no longer runs {:?}.",
                l.shared_snapshot, l.push_job
            ),
            &[
                "zrepl",
                "zfs-abstraction",
                "release-all",
                "--job",
                &l.push_job,
            ],
        ),
        run(
            NewPrimary,
            format!(
                "Release the old sink job's last-received holds on this node; nothing runs {:?} \
                 here any more and the holds would pin old snapshots forever.",
                l.sink_job
            ),
            &[
                "zrepl",
                "zfs-abstraction",
                "release-all",
                "--job",
                &l.sink_job,
            ],
        ),
        run(
            Recovered,
            format!(
                "Roll back to the shared snapshot, destroying later snapshots and unreplicated \
                 writes; zrepl never rolls back a diverged receiver itself. If {} has child \
                 datasets, roll each back to @{} as well.",
                l.original, l.shared_snapshot
            ),
            &["zfs", "rollback", "-r", &shared_on_old],
        ),
        run(
            Recovered,
            "Create the parents of the path the new sink will compute \
             (root_fs/client identity/source path); existing ones are left alone.",
            &["zfs", "create", "-p", parent(&l.rename_target)],
        ),
        run(
            Recovered,
            "Unmount it for the move (zfs-fuse refuses to rename a mounted dataset to a new \
             parent; on OpenZFS this is harmless). The rename mounts it again.",
            &["zfs", "unmount", &l.original],
        ),
        run(
            Recovered,
            format!(
                "Move the dataset to where the new sink looks for it: {}/{}/{}. zrepl then \
                 finds @{} there and sends only what changed since.",
                l.recovered_root_fs,
                l.new_primary_identity,
                l.new_primary_dataset,
                l.shared_snapshot
            ),
            &["zfs", "rename", &l.original, &l.rename_target],
        ),
        run(
            Recovered,
            "Make the dataset a receiver: a write would break the next incremental receive.",
            &["zfs", "set", "readonly=on", &l.rename_target],
        ),
        run(
            Recovered,
            "Turn off atime: access-time updates alone count as a modification.",
            &["zfs", "set", "atime=off", &l.rename_target],
        ),
    ];
    if let Some(mp) = &l.mountpoint {
        let prop = format!("mountpoint={mp}");
        steps.push(run(
            Recovered,
            "Keep the old mountpoint so putfs can serve reads from the same directory.",
            &["zfs", "set", &prop, &l.rename_target],
        ));
    }
    steps.extend([
        run(
            Recovered,
            "Check the shared snapshot is now at the path the new sink computes.",
            &["zfs", "list", "-H", "-o", "name", &shared_at_target],
        ),
        install(
            NewPrimary,
            format!("Install the new primary's config (push job {:?}).", l.push_job),
            new_primary_yaml,
        ),
        install(
            Recovered,
            format!("Install the recovered node's config (sink job {:?}).", l.sink_job),
            recovered_yaml,
        ),
        zrepl_service(Recovered, "start", "Start the sink first so the first push finds it."),
        zrepl_service(NewPrimary, "start", "Start the push side."),
        run(
            NewPrimary,
            "Replicate now instead of waiting for the next snapshot interval.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
        manual(
            NewPrimary,
            format!(
                "Check `zrepl status`: {:?} must send {} incrementally from @{} (a small \
                 transfer, not a full send), and zrepl_replication_last_successful{{zrepl_job=\"{}\"}} \
                 must advance. putfs on the recovered node may serve reads again from the \
                 mountpoint of {} (`zfs get mountpoint`).",
                l.push_job, l.new_primary_dataset, l.shared_snapshot, l.push_job, l.rename_target
            ),
        ),
    ]);
    steps
}

/// Return to the original direction once reversed replication has caught
/// up. The original sink path is where the new primary's dataset already
/// lives, so renaming the recovered node's copy back is all it takes.
pub fn flip_back_plan(
    l: &Layout,
    original_primary_yaml: &str,
    original_secondary_yaml: &str,
) -> Vec<Step> {
    use Node::{NewPrimary, Recovered};
    let last = format!("{}@{}", l.new_primary_dataset, l.flip_back_snapshot);
    let arrived = format!("{}@{}", l.rename_target, l.flip_back_snapshot);
    vec![
        manual(
            NewPrimary,
            format!(
                "Wait until reversed replication has caught up: `zrepl status` shows {:?} \
                 idle with nothing left to send.",
                l.push_job
            ),
        ),
        manual(
            NewPrimary,
            "Stop writes on the new primary (send PUT/DELETE nowhere, or stop putfs's write \
             path). Writes fail from here until the recovered node takes them.",
        ),
        run(
            NewPrimary,
            "Take the final snapshot; everything written so far is in it.",
            &["zfs", "snapshot", "-r", &last],
        ),
        run(
            NewPrimary,
            "Replicate the final snapshot now.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
        run(
            Recovered,
            "Repeat until this succeeds: the final snapshot has arrived.",
            &["zfs", "list", "-H", "-o", "name", &arrived],
        ),
        zrepl_service(NewPrimary, "stop", "Stop zrepl on the new primary."),
        zrepl_service(Recovered, "stop", "Stop zrepl on the recovered node."),
        run(
            NewPrimary,
            format!(
                "Release the reversed push job's holds and bookmarks; {:?} stops running here.",
                l.push_job
            ),
            &[
                "zrepl",
                "zfs-abstraction",
                "release-all",
                "--job",
                &l.push_job,
            ],
        ),
        run(
            Recovered,
            format!(
                "Release the reversed sink job's holds; {:?} stops running here.",
                l.sink_job
            ),
            &[
                "zrepl",
                "zfs-abstraction",
                "release-all",
                "--job",
                &l.sink_job,
            ],
        ),
        run(
            Recovered,
            "Unmount it for the move back.",
            &["zfs", "unmount", &l.rename_target],
        ),
        run(
            Recovered,
            format!(
                "Rename the dataset back to its original path; the original push job sends from \
                 there, and the original sink computes {}, where the other copy already is. \
                 The empty parents under {} can be destroyed later.",
                l.new_primary_dataset, l.recovered_root_fs
            ),
            &["zfs", "rename", &l.rename_target, &l.original],
        ),
        run(
            Recovered,
            "Make it writable again: it is the primary.",
            &["zfs", "set", "readonly=off", &l.original],
        ),
        run(
            Recovered,
            "Restore the atime setting it inherits.",
            &["zfs", "inherit", "atime", &l.original],
        ),
        run(
            NewPrimary,
            "Make the old secondary a receiver again.",
            &["zfs", "set", "readonly=on", &l.new_primary_dataset],
        ),
        run(
            NewPrimary,
            "Turn off atime on the receiver.",
            &["zfs", "set", "atime=off", &l.new_primary_dataset],
        ),
        install(
            NewPrimary,
            "Restore the original secondary config (sink).",
            original_secondary_yaml,
        ),
        install(
            Recovered,
            "Restore the original primary config (push).",
            original_primary_yaml,
        ),
        manual(
            Recovered,
            "Start putfs's write path on the recovered node and point writes (DNS or load \
             balancer) back to it.",
        ),
        zrepl_service(NewPrimary, "start", "Start the sink first."),
        zrepl_service(Recovered, "start", "Start the push side."),
        run(
            Recovered,
            "Replicate now; the first run is incremental from the final snapshot.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
    ]
}
