//! Ordered operator steps for reversing replication after a failover
//! ([`reverse_plan`]), and for flipping back to the original direction
//! later ([`flip_back_plan`]).
//!
//! Every command is an argv (no shell), tagged with the node it runs on,
//! so `putfs ops` can print it, a test can run it, and an operator can
//! paste it. The plans are written to run as printed, on OpenZFS and on
//! zfs-fuse alike, which is what shapes them:
//! - a dataset is renamed only unmounted, and unmounted only once no putfs
//!   serves it (a read-only server keeps it busy: "target is busy");
//! - properties are checked where they can be read: zfs-fuse shows
//!   `readonly` only while a dataset is unmounted ([`Action::Check`]);
//! - after a rename the platforms differ (zfs-fuse mounts, OpenZFS does
//!   not), so the mount is `putfs ops mount`, which mounts only if needed
//!   and checks the dataset is the data root putfs is about to serve;
//! - putfs is started by the plan, after that check, under the unit that
//!   matches the role (`putfs-primary` or `putfs-replica`), enabled so a
//!   reboot keeps the role, and the other role's unit is disabled;
//! - a node that must serve nothing (its dataset about to be unmounted)
//!   stops putfs.socket with the units: while the socket listens, any
//!   connection (a health check, a Prometheus scrape, a queued client)
//!   starts putfs-replica again, which keeps the dataset busy; the socket
//!   starts again with the unit that serves next. Before that, the node
//!   leaves the load balancers' readers ([`Action::Balancer`]), so no read
//!   is sent to an address that refuses it;
//! - role changes go through `putfs ops` (rollback, demote, promote), which
//!   refuse while a writable putfs holds the data and record the role for
//!   `putfs ops status`.
//!
//! Nothing destructive happens before both sides have been shown to hold
//! the same shared snapshot.

mod flip_back;
mod reverse;

use std::fmt;

pub use flip_back::flip_back_plan;
pub use reverse::reverse_plan;

/// Where zrepl reads its config (the packaged default).
pub const CONFIG_PATH: &str = "/etc/zrepl/zrepl.yml";
/// The systemd units of `ops/systemd/` (a node runs one putfs unit or the
/// other).
pub use crate::units::{PRIMARY_UNIT, REPLICA_UNIT, SOCKET_UNIT};
pub const ZREPL_UNIT: &str = "zrepl";

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
    /// Run this argv on the node; it must succeed.
    Run(Vec<String>),
    /// Run this argv (it only reads); its output lines must be `expect`.
    Check {
        argv: Vec<String>,
        expect: Vec<String>,
    },
    /// Replace the node's zrepl config with this text.
    InstallConfig { path: String, yaml: String },
    /// Change the load balancers (nginx, HAProxy) for this node; the
    /// description says how.
    Balancer(Balancer),
    /// Something only the operator can do or confirm.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: Node,
    pub description: String,
    pub action: Action,
}

/// What a load-balancer step does to the node it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    /// No more reads to it: its address is about to stop.
    ReadersOut,
    /// Reads to it again.
    ReadersIn,
    /// Writes to it, and reads.
    WritesHere,
}

impl Balancer {
    /// The name plan.json uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Balancer::ReadersOut => "readers_out",
            Balancer::ReadersIn => "readers_in",
            Balancer::WritesHere => "writes_here",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.node, self.description)?;
        match &self.action {
            Action::Run(argv) => write!(f, "\n    $ {}", shell_words::join(argv)),
            Action::Check { argv, expect } => write!(
                f,
                "\n    $ {}\n    expect: {}",
                shell_words::join(argv),
                expect.join(" / ")
            ),
            Action::InstallConfig { path, .. } => write!(f, "\n    (write {path})"),
            Action::Balancer(_) | Action::Manual => Ok(()),
        }
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

fn run(node: Node, description: impl Into<String>, words: &[&str]) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::Run(argv(words)),
    }
}

fn check(node: Node, description: impl Into<String>, words: &[&str], expect: &[&str]) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::Check {
            argv: argv(words),
            expect: argv(expect),
        },
    }
}

/// `zfs get -H -o value PROPS DS`, expecting one value per property.
fn check_props(
    node: Node,
    description: impl Into<String>,
    ds: &str,
    props: &[(&str, &str)],
) -> Step {
    let names: Vec<&str> = props.iter().map(|(p, _)| *p).collect();
    let values: Vec<&str> = props.iter().map(|(_, v)| *v).collect();
    check(
        node,
        description,
        &["zfs", "get", "-H", "-o", "value", &names.join(","), ds],
        &values,
    )
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

fn systemctl(node: Node, verb: &str, units: &[&str], why: impl Into<String>) -> Step {
    let mut words = vec!["systemctl", verb];
    words.extend_from_slice(units);
    run(node, why, &words)
}

fn balancer(node: Node, change: Balancer, description: impl Into<String>) -> Step {
    Step {
        node,
        description: description.into(),
        action: Action::Balancer(change),
    }
}

/// Stop putfs in these roles and keep them from starting at boot. The
/// socket stays: a connection starts putfs-replica (read-only).
fn putfs_off(node: Node, units: &[&str], why: impl Into<String>) -> Step {
    let mut words = vec!["systemctl", "disable", "--now"];
    words.extend_from_slice(units);
    run(node, why, &words)
}

/// Stop putfs in either role and its socket, and keep all three from
/// starting at boot: nothing on this node serves or holds the data root.
fn serve_nothing(node: Node, why: impl Into<String>) -> Step {
    putfs_off(node, &[PRIMARY_UNIT, REPLICA_UNIT, SOCKET_UNIT], why)
}

/// Start putfs in this role with its socket, and at every boot from now
/// on.
fn putfs_on(node: Node, unit: &str, why: impl Into<String>) -> Step {
    run(
        node,
        why,
        &["systemctl", "enable", "--now", SOCKET_UNIT, unit],
    )
}

fn release_all(node: Node, job: &str, why: impl Into<String>) -> Step {
    run(
        node,
        why,
        &["zrepl", "zfs-abstraction", "release-all", "--job", job],
    )
}

/// Parent of a dataset path (the path itself if it has none).
fn parent(ds: &str) -> &str {
    ds.rsplit_once('/').map_or(ds, |(p, _)| p)
}

#[cfg(test)]
mod tests;
