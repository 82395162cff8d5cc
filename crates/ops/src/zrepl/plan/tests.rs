//! The plans run against a model of what decides whether they run as
//! printed: which putfs unit runs on each node and which are enabled,
//! whether the node's putfs.socket listens, which datasets are mounted,
//! read-only, and checked by `putfs ops mount` since they last moved.
//! (tests/ops_plans_zfs.rs runs them for real on zfs-fuse.)
//!
//! systemd as the shipped units make it behave: a putfs unit requires
//! putfs.socket (starting one starts the socket, stopping the socket stops
//! it), the two putfs units conflict (starting one stops the other), and
//! while the socket listens with no putfs running, the next connection (a
//! load balancer's health check, a Prometheus scrape, a client) starts
//! putfs-replica: the model assumes one arrives after every step.

use std::collections::{BTreeMap, BTreeSet};

use super::super::layout::Layout;
use super::*;

fn layout() -> Layout {
    Layout {
        original: "tankA/putfs".into(),
        new_primary_dataset: "tankB/sink/a/tankA/putfs".into(),
        rename_target: "tankA/sink/b/tankB/sink/a/tankA/putfs".into(),
        recovered_root_fs: "tankA/sink".into(),
        new_primary_identity: "b".into(),
        shared_snapshot: "zrepl_1".into(),
        flip_back_snapshot: "zrepl_flipback_zrepl_1".into(),
        push_job: "putfs-push".into(),
        sink_job: "putfs-sink".into(),
        mountpoint: "/srv/putfs".into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum N {
    New,
    Rec,
}

fn n(node: Node) -> N {
    match node {
        Node::NewPrimary => N::New,
        Node::Recovered => N::Rec,
    }
}

#[derive(Debug, Default)]
struct Model {
    /// The putfs unit running on each node.
    running: BTreeMap<N, &'static str>,
    /// Units enabled on each node (started at boot).
    enabled: BTreeMap<N, BTreeSet<&'static str>>,
    /// Nodes whose putfs.socket listens.
    socket: BTreeSet<N>,
    /// Nodes the load balancers send reads to.
    readers: BTreeSet<N>,
    /// The dataset each node's putfs serves (the one at its mountpoint).
    served: BTreeMap<N, String>,
    mounted: BTreeSet<String>,
    readonly: BTreeSet<String>,
    /// Checked by `putfs ops mount` since it last moved or unmounted.
    checked: BTreeSet<String>,
}

const SOCKET: &str = "putfs.socket";

fn unit_name(u: &str) -> &'static str {
    match u {
        PRIMARY_UNIT => PRIMARY_UNIT,
        REPLICA_UNIT => REPLICA_UNIT,
        "putfs.socket" => SOCKET,
        ZREPL_UNIT => ZREPL_UNIT,
        other => panic!("unknown unit {other}"),
    }
}

impl Model {
    /// One step, then a connection to every node (see the module doc).
    fn step(&mut self, i: usize, s: &Step) {
        self.apply(i, s);
        for node in [N::New, N::Rec] {
            if self.socket.contains(&node) && !self.running.contains_key(&node) {
                self.running.insert(node, REPLICA_UNIT);
            }
        }
    }

    fn start(&mut self, node: N, unit: &'static str, at: &str) {
        if unit == ZREPL_UNIT {
            return;
        }
        // Requires=putfs.socket.
        self.socket.insert(node);
        if unit == SOCKET || self.running.get(&node) == Some(&unit) {
            return;
        }
        // Conflicts=: the other role stops first.
        self.running.remove(&node);
        let ds = self.served[&node].clone();
        assert!(
            self.mounted.contains(&ds) && self.checked.contains(&ds),
            "{at}: {unit} starts on {ds}, which is not mounted and checked: {self:?}"
        );
        let ro = self.readonly.contains(&ds);
        assert_eq!(ro, unit == REPLICA_UNIT, "{at}: {unit} on readonly={ro}");
        self.running.insert(node, unit);
    }

    fn stop(&mut self, node: N, unit: &'static str) {
        if unit == SOCKET {
            assert!(
                !self.readers.contains(&node),
                "{node:?}'s socket stops while the load balancers send it reads"
            );
            // Requires= stops the putfs units with their socket.
            self.socket.remove(&node);
            self.running.remove(&node);
        } else if self.running.get(&node) == Some(&unit) {
            self.running.remove(&node);
        }
    }

    fn apply(&mut self, i: usize, s: &Step) {
        let node = n(s.node);
        let at = format!("step {} [{}] {}", i + 1, s.node, s.description);
        let words: Vec<&str> = match &s.action {
            Action::Run(a) => a.iter().map(String::as_str).collect(),
            Action::Check { argv, expect } => {
                self.check(&at, argv, expect);
                return;
            }
            Action::Balancer(change) => {
                match change {
                    Balancer::ReadersOut => {
                        self.readers.remove(&node);
                    }
                    Balancer::ReadersIn => {
                        assert!(self.running.contains_key(&node), "{at}: serves nothing");
                        self.readers.insert(node);
                    }
                    Balancer::WritesHere => {
                        assert_eq!(self.running.get(&node), Some(&PRIMARY_UNIT), "{at}");
                        self.readers.insert(node);
                    }
                }
                return;
            }
            _ => return,
        };
        match words.as_slice() {
            ["systemctl", verb @ ("enable" | "disable"), rest @ ..] => {
                let (now, units) = match rest {
                    ["--now", units @ ..] => (true, units),
                    units => (false, units),
                };
                let units: Vec<&'static str> = units.iter().map(|u| unit_name(u)).collect();
                for u in &units {
                    let set = self.enabled.entry(node).or_default();
                    if *verb == "enable" {
                        set.insert(u);
                    } else {
                        set.remove(u);
                    }
                }
                if now {
                    for u in units {
                        if *verb == "enable" {
                            self.start(node, u, &at);
                        } else {
                            self.stop(node, u);
                        }
                    }
                }
            }
            ["systemctl", verb @ ("start" | "stop"), units @ ..] => {
                for u in units.iter().map(|u| unit_name(u)) {
                    if *verb == "start" {
                        self.start(node, u, &at);
                    } else {
                        self.stop(node, u);
                    }
                }
            }
            ["zfs", "unmount", ds] => {
                assert!(
                    self.served.get(&node).map(String::as_str) != Some(*ds)
                        || !self.running.contains_key(&node),
                    "{at}: unmounts {ds} while putfs serves it (target is busy)"
                );
                assert!(self.mounted.remove(*ds), "{at}: {ds} is not mounted");
                self.checked.remove(*ds);
            }
            ["zfs", "rename", from, to] => {
                assert!(
                    !self.mounted.contains(*from),
                    "{at}: renames mounted {from}"
                );
                self.checked.remove(*from);
                if self.readonly.remove(*from) {
                    self.readonly.insert(to.to_string());
                }
                for ds in self.served.values_mut() {
                    if ds == from {
                        *ds = to.to_string();
                    }
                }
            }
            ["zfs", "set", prop, ds] if prop.starts_with("mountpoint=") => {
                self.mounted.insert(ds.to_string());
            }
            ["zfs", "snapshot", _, snap] | ["zfs", "snapshot", snap] => {
                let ds = snap.split('@').next().unwrap_or_default();
                if self.served.get(&node).map(String::as_str) == Some(ds) {
                    assert_ne!(
                        self.running.get(&node),
                        Some(&PRIMARY_UNIT),
                        "{at}: snapshot while writes still land"
                    );
                }
            }
            ["putfs", "ops", "mount", "--dataset", ds, ..] => {
                self.mounted.insert(ds.to_string());
                self.checked.insert(ds.to_string());
            }
            ["putfs", "ops", "demote", "--dataset", ds, ..] => {
                assert_ne!(self.running.get(&node), Some(&PRIMARY_UNIT), "{at}");
                self.readonly.insert(ds.to_string());
            }
            ["putfs", "ops", "promote", "--dataset", ds, ..] => {
                assert!(self.checked.contains(*ds), "{at}: {ds} not checked");
                self.readonly.remove(*ds);
            }
            ["putfs", "ops", "rollback", "--dataset", ds, ..] => {
                assert_ne!(
                    self.running.get(&node),
                    Some(&PRIMARY_UNIT),
                    "{at}: a writable putfs still serves {ds}"
                );
                assert!(self.mounted.contains(*ds), "{at}: {ds} not mounted");
            }
            _ => {}
        }
    }

    fn check(&self, at: &str, argv: &[String], expect: &[String]) {
        let w: Vec<&str> = argv.iter().map(String::as_str).collect();
        if let ["zfs", "get", "-H", "-o", "value", props, ds] = w.as_slice() {
            for (p, want) in props.split(',').zip(expect) {
                let have = match p {
                    "mounted" => Some(if self.mounted.contains(*ds) {
                        "yes"
                    } else {
                        "no"
                    }),
                    "readonly" => Some(if self.readonly.contains(*ds) {
                        "on"
                    } else {
                        "off"
                    }),
                    _ => None,
                };
                if let Some(have) = have {
                    assert_eq!(have, want, "{at}: {p} of {ds}: {self:?}");
                }
            }
        }
    }
}

fn start(l: &Layout, rec_unit: Option<&'static str>) -> Model {
    let mut m = Model::default();
    m.served.insert(N::New, l.new_primary_dataset.clone());
    m.served.insert(N::Rec, l.original.clone());
    m.running.insert(N::New, PRIMARY_UNIT);
    // Promoted as the runbook says; the recovered node keeps its primary
    // unit disabled (runbook: `systemctl disable --now zrepl putfs-primary`).
    m.enabled.insert(N::New, [SOCKET, PRIMARY_UNIT].into());
    m.enabled.insert(N::Rec, [SOCKET].into());
    m.socket = [N::New, N::Rec].into();
    // The runbook keeps the recovered node out of the load balancers.
    m.readers = [N::New].into();
    if let Some(u) = rec_unit {
        m.running.insert(N::Rec, u);
    }
    for ds in [&l.new_primary_dataset, &l.original] {
        m.mounted.insert(ds.clone());
        m.checked.insert(ds.clone());
    }
    m
}

/// After a reboot each node runs what is enabled: exactly one putfs unit,
/// the one it runs now, and its socket.
#[track_caller]
fn assert_reboot_keeps_roles(m: &Model) {
    for node in [N::New, N::Rec] {
        let enabled = &m.enabled[&node];
        let putfs: Vec<_> = enabled.iter().filter(|u| **u != SOCKET).collect();
        assert_eq!(
            putfs,
            [&m.running[&node]],
            "{node:?}: enabled {enabled:?}, runs {:?}",
            m.running.get(&node)
        );
        assert!(enabled.contains(SOCKET), "{node:?}: {enabled:?}");
    }
}

#[test]
fn the_reversal_stops_moves_mounts_and_starts_in_a_working_order() {
    let l = layout();
    // The recovered node may come back serving (a read-only putfs, or a
    // writable one by mistake): the plan stops it either way.
    for rec in [None, Some(REPLICA_UNIT), Some(PRIMARY_UNIT)] {
        let mut m = start(&l, rec);
        for (i, s) in reverse_plan(&l, "np", "rec").iter().enumerate() {
            m.step(i, s);
        }
        assert_eq!(m.running.get(&N::New), Some(&PRIMARY_UNIT));
        assert_eq!(m.running.get(&N::Rec), Some(&REPLICA_UNIT), "{m:?}");
        assert_eq!(m.served[&N::Rec], l.rename_target);
        assert!(m.readonly.contains(&l.rename_target));
        assert!(m.mounted.contains(&l.rename_target) && m.checked.contains(&l.rename_target));
        assert_reboot_keeps_roles(&m);
        assert!(m.readers.contains(&N::Rec), "back in the readers: {m:?}");
    }
}

#[test]
fn the_flip_back_hands_writes_back_without_a_busy_unmount() {
    let l = layout();
    let mut m = start(&l, None);
    for (i, s) in reverse_plan(&l, "np", "rec").iter().enumerate() {
        m.step(i, s);
    }
    for (i, s) in flip_back_plan(&l, "a", "b").iter().enumerate() {
        m.step(i, s);
    }
    assert_eq!(m.running.get(&N::Rec), Some(&PRIMARY_UNIT), "{m:?}");
    assert_eq!(m.running.get(&N::New), Some(&REPLICA_UNIT), "{m:?}");
    assert_eq!(m.served[&N::Rec], l.original);
    assert!(!m.readonly.contains(&l.original) && m.readonly.contains(&l.new_primary_dataset));
    assert!(m.mounted.contains(&l.original) && m.checked.contains(&l.original));
    assert_reboot_keeps_roles(&m);
    assert_eq!(m.readers, [N::New, N::Rec].into());
}

#[test]
fn checks_print_with_their_expected_values() {
    let l = layout();
    let plan = reverse_plan(&l, "np", "rec");
    let shown: Vec<String> = plan.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(|s| s.contains(
            "$ zfs get -H -o value mounted,readonly,atime tankA/putfs\n    expect: no / on / off"
        )),
        "{shown:#?}"
    );
    // Every unit the plans name is one ops/systemd ships, or zrepl; putfs
    // units change with the role, so they are enabled and disabled.
    for s in plan.iter().chain(&flip_back_plan(&l, "a", "b")) {
        if let Action::Run(a) = &s.action
            && a[0] == "systemctl"
        {
            for unit in a[2..].iter().filter(|w| !w.starts_with('-')) {
                assert!(
                    [PRIMARY_UNIT, REPLICA_UNIT, SOCKET, ZREPL_UNIT].contains(&unit.as_str()),
                    "{unit}"
                );
                let verb = a[1].as_str();
                if unit != ZREPL_UNIT {
                    assert!(["enable", "disable"].contains(&verb), "{a:?}");
                    assert_eq!(a[2], "--now", "{a:?}");
                } else {
                    assert!(["start", "stop"].contains(&verb), "{a:?}");
                }
            }
        }
    }
}
