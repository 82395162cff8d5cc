//! The flip back, once reversed replication has caught up: the new
//! primary stops taking writes and becomes a replica again, its last
//! writes reach the recovered node in a final snapshot, and the recovered
//! node's copy is renamed back and promoted. The original sink path is
//! where the new primary's dataset already lives, so only the recovered
//! node's copy moves.
//!
//! Reads never stop: the new primary serves them read-only before the
//! recovered node leaves the load balancers' readers and its read-only
//! putfs and socket stop for the unmount.

use super::super::layout::Layout;
use super::Node::{NewPrimary, Recovered};
use super::*;

pub fn flip_back_plan(
    l: &Layout,
    original_primary_yaml: &str,
    original_secondary_yaml: &str,
) -> Vec<Step> {
    let last = format!("{}@{}", l.new_primary_dataset, l.flip_back_snapshot);
    let arrived = format!("{}@{}", l.rename_target, l.flip_back_snapshot);
    let mp = l.mountpoint.as_str();
    vec![
        manual(
            NewPrimary,
            format!(
                "Wait until reversed replication has caught up: `zrepl status` shows {:?} \
                 idle with nothing left to send.",
                l.push_job
            ),
        ),
        putfs_off(
            NewPrimary,
            &[PRIMARY_UNIT],
            "Stop writes: putfs finishes the requests in flight (--shutdown-timeout) and \
             exits. Writes fail from here until the recovered node takes them. Reads go on: \
             putfs.socket stays, and the next connection starts putfs-replica (read-only).",
        ),
        run(
            NewPrimary,
            format!(
                "Make {} a receiver again (readonly=on, atime=off) and end the promotion \
                 recorded here, so `putfs ops status` says replica and a later promotion \
                 records a fresh shared snapshot. Refuses while putfs still serves it writable \
                 (it names the pid): wait for it to exit.",
                l.new_primary_dataset
            ),
            &[
                "putfs",
                "ops",
                "demote",
                "--dataset",
                &l.new_primary_dataset,
                "--yes",
            ],
        ),
        putfs_on(
            NewPrimary,
            REPLICA_UNIT,
            "Serve reads here again, read-only: the recovered node's putfs stops below.",
        ),
        run(
            NewPrimary,
            "Take the final snapshot; everything written here is in it.",
            &["zfs", "snapshot", "-r", &last],
        ),
        run(
            NewPrimary,
            "Replicate the final snapshot now.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
        check(
            Recovered,
            "Repeat until this passes: the final snapshot has arrived.",
            &["zfs", "list", "-H", "-o", "name", &arrived],
            &[&arrived],
        ),
        systemctl(
            NewPrimary,
            "stop",
            &[ZREPL_UNIT],
            "Stop zrepl on the new primary.",
        ),
        systemctl(
            Recovered,
            "stop",
            &[ZREPL_UNIT],
            "Stop zrepl on the recovered node.",
        ),
        release_all(
            NewPrimary,
            &l.push_job,
            format!(
                "Release the reversed push job's holds and bookmarks; {:?} stops running here.",
                l.push_job
            ),
        ),
        release_all(
            Recovered,
            &l.sink_job,
            format!(
                "Release the reversed sink job's holds; {:?} stops running here.",
                l.sink_job
            ),
        ),
        balancer(
            Recovered,
            Balancer::ReadersOut,
            "Take this node out of the load balancers' readers now (nginx: mark its `server` \
             line `down` in the readers' upstream, then `nginx -s reload`; HAProxy: `disable \
             server putfs_readers/NAME` on the admin socket) and let its in-flight reads \
             finish: its putfs and its address stop next, for the unmount. The new primary \
             serves reads meanwhile.",
        ),
        serve_nothing(
            Recovered,
            format!(
                "Stop the read-only putfs here and its socket: it serves {mp}, and the unmount \
                 below fails while it does (\"target is busy\"); while putfs.socket listens, \
                 any connection (a health check, a Prometheus scrape) starts it again."
            ),
        ),
        check_props(
            Recovered,
            "Mounted where it was served, so the unmount below can run.",
            &l.rename_target,
            &[("mounted", "yes"), ("mountpoint", mp)],
        ),
        run(
            Recovered,
            "Unmount it for the move back.",
            &["zfs", "unmount", &l.rename_target],
        ),
        run(
            Recovered,
            "Restore the atime setting it inherits (receivers keep it off).",
            &["zfs", "inherit", "atime", &l.rename_target],
        ),
        check_props(
            Recovered,
            "Unmounted, and still read-only: nothing wrote to it since the final snapshot \
             (zfs-fuse shows readonly truly only now).",
            &l.rename_target,
            &[("mounted", "no"), ("readonly", "on")],
        ),
        run(
            Recovered,
            format!(
                "Rename the dataset back to its original path; the original push job sends from \
                 there, and the original sink computes {}, where the other copy already is. \
                 The empty parents under {} can be destroyed later. zfs-fuse may answer \
                 \"dataset is busy\" for a second after an unmount: repeat.",
                l.new_primary_dataset, l.recovered_root_fs
            ),
            &["zfs", "rename", &l.rename_target, &l.original],
        ),
        run(
            Recovered,
            format!(
                "Mount it (zfs-fuse mounts on rename, OpenZFS does not) and check it: mounted \
                 at {mp}, still read-only, holding .putfs/."
            ),
            &[
                "putfs",
                "ops",
                "mount",
                "--dataset",
                &l.original,
                "--expect-mountpoint",
                mp,
                "--expect-readonly",
                "on",
            ],
        ),
        run(
            Recovered,
            format!(
                "Make it the primary: records @{} as the snapshot shared with the other node \
                 (the next failover's common ancestor) and sets readonly=off. Refuses unless \
                 it is mounted at {mp} with .putfs/.",
                l.flip_back_snapshot
            ),
            &["putfs", "ops", "promote", "--dataset", &l.original, "--yes"],
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
        putfs_on(
            Recovered,
            PRIMARY_UNIT,
            format!(
                "Take writes here: the socket listens again and putfs serves {mp} writable \
                 (its role guard passes: promoted above)."
            ),
        ),
        balancer(
            Recovered,
            Balancer::WritesHere,
            "Point writes back to this node and put it back into the readers (nginx: `upstream \
             putfs_primary` and the readers' upstream, then `nginx -s reload`; HAProxy: the \
             writers backend and `enable server putfs_readers/NAME`); \
             `curl -fsS http://THIS-NODE:8000/.putfs/ready` answers 200.",
        ),
        systemctl(NewPrimary, "start", &[ZREPL_UNIT], "Start the sink first."),
        systemctl(Recovered, "start", &[ZREPL_UNIT], "Start the push side."),
        run(
            Recovered,
            "Replicate now; the first run is incremental from the final snapshot.",
            &["zrepl", "signal", "wakeup", &l.push_job],
        ),
    ]
}
