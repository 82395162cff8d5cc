//! The reversal: the new primary pushes to the recovered node, starting
//! incrementally from the shared snapshot. On the recovered node: stop
//! putfs and its socket (out of the load balancers first), roll back,
//! demote, unmount, rename to where the new sink looks, mount at the old
//! mountpoint, and only then serve (read-only) and rejoin the readers.

use super::super::layout::Layout;
use super::Node::{NewPrimary, Recovered};
use super::*;

pub fn reverse_plan(l: &Layout, new_primary_yaml: &str, recovered_yaml: &str) -> Vec<Step> {
    let shared_on_new = format!("{}@{}", l.new_primary_dataset, l.shared_snapshot);
    let shared_on_old = format!("{}@{}", l.original, l.shared_snapshot);
    let shared_at_target = format!("{}@{}", l.rename_target, l.shared_snapshot);
    let target_parent = parent(&l.rename_target);
    let mp = l.mountpoint.as_str();
    let mountpoint = format!("mountpoint={mp}");
    vec![
        manual(
            Recovered,
            format!(
                "Run this after find-gap and transfer-gap: the rollback below destroys the gap \
                 (what {} took after @{}) and refuses unless it was transferred and verified.",
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
        systemctl(
            NewPrimary,
            "stop",
            &[ZREPL_UNIT],
            "Stop zrepl: config changes only take effect on restart. putfs keeps serving here.",
        ),
        systemctl(
            Recovered,
            "stop",
            &[ZREPL_UNIT],
            "Stop zrepl before touching its datasets: the old push job would snapshot and prune.",
        ),
        balancer(
            Recovered,
            Balancer::ReadersOut,
            "This node stays out of the load balancers' readers and writers until the end of \
             this plan; take it out now if it is in (nginx: mark its `server` line `down` in \
             the readers' upstream, then `nginx -s reload`; HAProxy: `disable server \
             putfs_readers/NAME` on the admin socket, or remove it and reload) and let its \
             in-flight reads finish: its putfs and its address stop next.",
        ),
        serve_nothing(
            Recovered,
            format!(
                "Stop putfs here in either role and its socket, and keep them from starting at \
                 boot (a unit that is not running is fine): the rollback refuses while a \
                 writable putfs serves {}, and the unmount below fails while any putfs serves \
                 it. The socket goes too: while putfs.socket listens, any connection (a health \
                 check, a Prometheus scrape) starts putfs-replica again.",
                l.original
            ),
        ),
        release_all(
            Recovered,
            &l.push_job,
            format!(
                "Release the old push job's holds and bookmarks on this node: this node no \
                 longer runs {:?}, and its holds would pin snapshots forever (the rollback \
                 releases zrepl's holds on the snapshots it destroys by itself).",
                l.push_job
            ),
        ),
        release_all(
            NewPrimary,
            &l.sink_job,
            format!(
                "Release the old sink job's last-received holds on this node; nothing runs {:?} \
                 here any more and the holds would pin old snapshots forever.",
                l.sink_job
            ),
        ),
        run(
            Recovered,
            format!(
                "Roll back to the shared snapshot, destroying later snapshots and the gap; \
                 zrepl never rolls back a diverged receiver itself. Refuses while putfs serves \
                 the dataset writable, without a verified transfer of the gap, or when a \
                 snapshot it destroys has a hold that is not zrepl's (it prints the `zfs \
                 release` commands). If `putfs ops rollback` did it already, this only rolls \
                 back again, dropping the access-time updates made since (a read-only putfs \
                 makes them, and they would break the first incremental receive). If {} has \
                 child datasets, roll each back to @{} as well.",
                l.original, l.shared_snapshot
            ),
            &[
                "putfs",
                "ops",
                "rollback",
                "--dataset",
                &l.original,
                "--snapshot",
                &l.shared_snapshot,
                "--yes",
            ],
        ),
        run(
            Recovered,
            "Make it a receiver before it moves: readonly=on and atime=off (a write or an \
             access-time update would break the next incremental receive), and record this \
             node as a replica for `putfs ops status`.",
            &["putfs", "ops", "demote", "--dataset", &l.original, "--yes"],
        ),
        run(
            Recovered,
            format!(
                "Create the new sink's root_fs unmounted (mountpoint=none: nothing under a \
                 sink's root is served at an inherited path); an existing {} is left as it is.",
                l.recovered_root_fs
            ),
            &[
                "zfs",
                "create",
                "-p",
                "-o",
                "mountpoint=none",
                &l.recovered_root_fs,
            ],
        ),
        run(
            Recovered,
            "Create the parents of the path the new sink will compute \
             (root_fs/client identity/source path); existing ones are left alone.",
            &["zfs", "create", "-p", target_parent],
        ),
        check_props(
            Recovered,
            format!(
                "The new parent must not be mounted anywhere: the renamed dataset would inherit \
                 its mountpoint, and zfs-fuse refuses to rename into a mounted parent. If this \
                 shows a path, `zfs set mountpoint=none {}` and check again.",
                l.recovered_root_fs
            ),
            target_parent,
            &[("mountpoint", "none")],
        ),
        check_props(
            Recovered,
            format!(
                "{} must be mounted here (the rollback read it), so the unmount below can run.",
                l.original
            ),
            &l.original,
            &[("mounted", "yes")],
        ),
        run(
            Recovered,
            "Unmount it for the move (zfs-fuse refuses to rename a mounted dataset; OpenZFS \
             would unmount it itself). \"target is busy\": a putfs or a shell still uses \
             the mountpoint; stop it and repeat.",
            &["zfs", "unmount", &l.original],
        ),
        check_props(
            Recovered,
            "Unmounted, and a receiver (zfs-fuse shows readonly truly only now).",
            &l.original,
            &[("mounted", "no"), ("readonly", "on"), ("atime", "off")],
        ),
        run(
            Recovered,
            format!(
                "Move the dataset to where the new sink looks for it: {}/{}/{}. zrepl then \
                 finds @{} there and sends only what changed since. zfs-fuse may answer \
                 \"dataset is busy\" for a second after an unmount: repeat.",
                l.recovered_root_fs,
                l.new_primary_identity,
                l.new_primary_dataset,
                l.shared_snapshot
            ),
            &["zfs", "rename", &l.original, &l.rename_target],
        ),
        run(
            Recovered,
            format!("Serve it from the same directory as before, {mp}; this mounts it."),
            &["zfs", "set", &mountpoint, &l.rename_target],
        ),
        run(
            Recovered,
            format!(
                "Mount it if the step above did not, and check it is what putfs will serve: \
                 mounted at {mp}, read-only, holding .putfs/."
            ),
            &[
                "putfs",
                "ops",
                "mount",
                "--dataset",
                &l.rename_target,
                "--expect-mountpoint",
                mp,
                "--expect-readonly",
                "on",
            ],
        ),
        check(
            Recovered,
            "The shared snapshot is now at the path the new sink computes.",
            &["zfs", "list", "-H", "-o", "name", &shared_at_target],
            &[&shared_at_target],
        ),
        install(
            NewPrimary,
            format!(
                "Install the new primary's config (push job {:?}).",
                l.push_job
            ),
            new_primary_yaml,
        ),
        install(
            Recovered,
            format!(
                "Install the recovered node's config (sink job {:?}).",
                l.sink_job
            ),
            recovered_yaml,
        ),
        systemctl(
            Recovered,
            "start",
            &[ZREPL_UNIT],
            "Start the sink first so the first push finds it.",
        ),
        systemctl(NewPrimary, "start", &[ZREPL_UNIT], "Start the push side."),
        run(
            NewPrimary,
            "Replicate now instead of waiting for the next snapshot interval.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
        putfs_on(
            Recovered,
            REPLICA_UNIT,
            format!(
                "Serve reads here again, read-only, from {mp} (checked above): the socket \
                 listens again and putfs-replica serves it."
            ),
        ),
        balancer(
            Recovered,
            Balancer::ReadersIn,
            "Put this node back into the load balancers' readers once its lag is low \
             (`putfs ops status`, or putfs_replication_lag_seconds on /.putfs/metrics).",
        ),
        manual(
            NewPrimary,
            format!(
                "Check `zrepl status`: {:?} must send {} incrementally from @{} (a small \
                 transfer, not a full send), and zrepl_replication_last_successful{{zrepl_job=\"{}\"}} \
                 must advance.",
                l.push_job, l.new_primary_dataset, l.shared_snapshot, l.push_job
            ),
        ),
    ]
}
