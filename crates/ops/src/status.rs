//! `putfs ops status`: where this node stands. The role comes from the
//! evidence `role` weighs (the writer's lock, `readonly`, and what
//! promote, demote and rollback recorded); the mount state is printed
//! because a dataset that is not mounted serves nothing, whatever its role.

use std::path::{Path, PathBuf};

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs};
use super::error::OpsError;
use super::mount_state::{MountState, is_data_root};
use super::role::{self, Lock};
use super::state::Demoted;
use super::transfer::node::Node;
use super::writer_lock::{self, Known};
use super::zfs::Snapshot;
use crate::store::heartbeat::{self, Heartbeat};
use crate::store::{self, RESERVED_PREFIX};

/// Show this node's role (primary, replica, rolled back), whether its
/// dataset is mounted and a writable putfs serves it, its snapshots, the
/// newest snapshot it shares with a peer, and the replication lag and
/// position read from the heartbeat under the root.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The peer's dataset, on this machine.
    #[arg(long, conflicts_with = "peer_snapshots")]
    pub peer_dataset: Option<String>,
    /// The peer's snapshots, one per line: `NAME [GUID]` (as printed by
    /// `zfs list -H -o name,guid -t snapshot` on the peer, with or without
    /// the dataset@ part); `-` reads stdin.
    #[arg(long)]
    pub peer_snapshots: Option<PathBuf>,
    /// The primary (http://host:port): ask it for its write count now, to
    /// show this replica's lag in writes (the primary's count minus the
    /// replicated heartbeat's).
    #[arg(long, value_name = "URL")]
    pub primary: Option<url::Url>,
}

/// A peer snapshot as far as we know it.
struct PeerSnap {
    name: String,
    guid: Option<String>,
}

pub fn run(args: StatusArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let zfs = ctx.zfs();
    if ctx.live.dataset.is_none() {
        require_root(ctx.live.root.as_deref())?;
    }
    let root = ctx.root().ok();
    let snapshots = match &ctx.live.dataset {
        Some(ds) => zfs.snapshots(ds)?,
        None => Vec::new(),
    };
    let mount = match &ctx.live.dataset {
        Some(ds) => Some(MountState::read(&zfs, ds)?),
        None => None,
    };
    // Only a mounted dataset's lock file is the dataset's. Status reports
    // what it can: a lock file it may not open (another user's) makes the
    // writer unknown, said as such, not a failure.
    let lock_root = match (&root, &mount) {
        (Some(r), None) => Some(r),
        (Some(r), Some(m)) if m.mounted => Some(r),
        _ => None,
    };
    let known = lock_root.map_or(Known::Free, |r| writer_lock::known(r));
    let (writer, lock) = match &known {
        Known::Free => (None, Lock::Free),
        Known::Held(w) => (Some(w), Lock::Held(w)),
        Known::Unknown(why) => {
            eprintln!("warning: {why}");
            (None, Lock::Unknown)
        }
    };
    let writer_unknown = match &known {
        Known::Unknown(why) => Some(why.as_str()),
        _ => None,
    };
    // A server's pid stays in the lock file after it exits (a tool writes
    // its name beside its pid): the last writer, when none holds it now.
    // Only on a plain root: `zfs send` carries the lock file to the replica
    // with the rest of the dataset, the primary's line included, while the
    // shipped rsync and rclone replication never copy `.putfs/`.
    let last_server = match (&known, lock_root, &ctx.live.dataset) {
        (Known::Free, Some(r), None) => store::lock::last_holder(r)
            .filter(|h| h.what.is_none())
            .and_then(|h| h.pid),
        _ => None,
    };
    let state = ctx.load_state().ok().map(|(_, s)| s);
    let promoted = state.as_ref().and_then(|s| s.promotion.clone());
    let demoted = state.as_ref().and_then(|s| s.demotion.clone());
    let role = role::role(&role::Evidence {
        lock,
        readonly: mount.as_ref().and_then(|m| m.readonly),
        has_dataset: ctx.live.dataset.is_some(),
        promotion: promoted.as_ref(),
        demotion: demoted.as_ref(),
        last_server,
    });
    // The heartbeat under a primary's root is its own: only a replica's
    // is a measure of replication lag.
    let replica = !role.starts_with("primary");
    let peer = read_peer(&ctx, &args.peer_dataset, &args.peer_snapshots)?;
    let shared = peer.as_ref().and_then(|p| newest_shared(&snapshots, p));
    let now = heartbeat::now_ms();
    let hb = root.as_deref().and_then(Heartbeat::read);
    let age = hb.as_ref().map(|h| h.age_seconds(now));
    let lag = age.filter(|_| replica);
    // A replica is at its heartbeat's position; a primary's running
    // position is ahead of its last heartbeat's by the writes since.
    let position = hb.as_ref().map(|h| h.position);
    let writes = hb.as_ref().map(|h| h.writes);
    let primary_writes = match &args.primary {
        Some(url) => Some(primary_writes(url)?),
        None => None,
    };
    let lag_writes = match (primary_writes, writes) {
        (Some(p), Some(w)) if replica => Some(p.saturating_sub(w)),
        _ => None,
    };

    if ctx.common.json {
        println!(
            "{}",
            serde_json::json!({
                "role": role,
                "dataset": ctx.live.dataset,
                "root": root,
                "snapshots": snapshots,
                "shared_snapshot": shared,
                "promotion": promoted,
                "demotion": demoted,
                "mounted": mount.as_ref().map(|m| m.mounted),
                "mountpoint": mount.as_ref().map(|m| m.mountpoint.clone()),
                "writer": writer,
                "writer_unknown": writer_unknown,
                "heartbeat": hb,
                "lag_seconds": lag,
                "position": position,
                "position_source": position.map(|_| "heartbeat"),
                "writes": writes,
                "primary_writes": primary_writes,
                "lag_writes": lag_writes,
            })
        );
        return Ok(());
    }
    println!("role:      {role}");
    if let Some(ds) = &ctx.live.dataset {
        println!("dataset:   {ds}");
    }
    if let Some(r) = &root {
        println!("root:      {}", r.display());
    }
    if let Some(m) = &mount {
        println!("mount:     {}", m.describe());
    }
    if let Some(p) = &promoted {
        let snap = p
            .shared_snapshot
            .as_ref()
            .map_or("-".to_owned(), |s| s.name.clone());
        println!("promoted:  {} (shared snapshot @{snap})", p.at);
    }
    if let Some(d) = demoted.as_ref().filter(|_| promoted.is_none()) {
        let what = match &d.to {
            Demoted::Replica => "made a replica".to_owned(),
            Demoted::RolledBack { snapshot } => format!("rolled back to @{snapshot}"),
        };
        println!("demoted:   {} ({what})", d.at);
    }
    println!("snapshots: {}", snapshots.len());
    for s in &snapshots {
        let when = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.creation.max(0) as u64),
        );
        println!("  @{:<40} {when}  guid {}", s.name, s.guid);
    }
    match (&peer, &shared) {
        (Some(_), Some(s)) => println!("shared with peer: @{} (newest common snapshot)", s.name),
        (Some(_), None) => println!("shared with peer: NONE (a full resend would be needed)"),
        (None, _) => {}
    }
    match (&hb, age) {
        (Some(h), Some(a)) if replica => println!(
            "heartbeat: from {} seq {}, {a:.1} s old (replication lag)",
            h.node, h.seq
        ),
        (Some(h), Some(a)) => println!(
            "heartbeat: written here by {} seq {}, {a:.1} s ago (a primary's own: no lag)",
            h.node, h.seq
        ),
        _ => println!("heartbeat: none found under the root"),
    }
    match position {
        Some(p) if replica => println!("position:  {p} (from the replicated heartbeat)"),
        Some(p) => println!(
            "position:  {p} (from this primary's own heartbeat: the running server is at \
             or past it, see putfs_replication_position)"
        ),
        None => {}
    }
    match writes {
        Some(w) if replica => println!("writes:    {w} (from the replicated heartbeat)"),
        Some(w) => println!(
            "writes:    {w} (from this primary's own heartbeat: the running server has \
             counted at least as many, see putfs_replication_writes)"
        ),
        None => {}
    }
    match (primary_writes, lag_writes) {
        (Some(p), Some(l)) => println!("lag:       {l} writes (the primary has counted {p})"),
        (Some(p), None) if replica => println!(
            "lag:       unknown in writes (the primary has counted {p}; no heartbeat here)"
        ),
        (Some(p), None) => println!("primary:   has counted {p} writes"),
        _ => {}
    }
    Ok(())
}

/// The write count a primary has now: the `PutFS-Live-Writes` header of
/// its `GET /.putfs/heartbeat`.
fn primary_writes(primary: &url::Url) -> Result<u64, OpsError> {
    let node = Node::new(primary.as_str(), None)?;
    let url = format!("{}/.putfs/heartbeat", node.base);
    let failed = |why: String| OpsError::Other(format!("--primary: {url}: {why}"));
    let request = node
        .get_endpoint(".putfs/heartbeat")
        .timeout(std::time::Duration::from_secs(10));
    // Sent inside the runtime: the timeout's timer needs its reactor.
    let resp = node
        .block_on(async { request.send().await })
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("answered {}", resp.status())));
    }
    resp.headers()
        .get(heartbeat::LIVE_WRITES_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            failed(format!(
                "no {} count in its answer: is it a writable putfs?",
                heartbeat::LIVE_WRITES_HEADER
            ))
        })
}

/// Without a dataset, the root is all status has to go on: refuse one that
/// is missing or is not a data root rather than report on nothing.
fn require_root(root: Option<&Path>) -> Result<(), OpsError> {
    let Some(root) = root else {
        return Err(OpsError::Usage(
            "name the data with --root DIR and/or --dataset POOL/FS".into(),
        ));
    };
    match std::fs::metadata(root) {
        Err(e) => Err(OpsError::Usage(format!(
            "the data root {} cannot be read ({e}): is the path right, and is its filesystem \
             mounted?",
            root.display()
        ))),
        Ok(m) if !m.is_dir() => Err(OpsError::Usage(format!(
            "the data root {} is not a directory",
            root.display()
        ))),
        Ok(_) if !is_data_root(root) => Err(OpsError::Usage(format!(
            "{} is not a putfs data root (it has no {RESERVED_PREFIX}/ folder, which every root \
             putfs has served writable has, and every replica receives): is it the right \
             directory, and is its filesystem mounted?",
            root.display()
        ))),
        Ok(_) => Ok(()),
    }
}

fn read_peer(
    ctx: &Ctx,
    dataset: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Vec<PeerSnap>>, OpsError> {
    if let Some(ds) = dataset {
        return Ok(Some(
            ctx.zfs()
                .snapshots(ds)?
                .into_iter()
                .map(|s| PeerSnap {
                    name: s.name,
                    guid: Some(s.guid),
                })
                .collect(),
        ));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(OpsError::io("reading stdin"))?
    } else {
        std::fs::read_to_string(path)
            .map_err(OpsError::io(format!("reading {}", path.display())))?
    };
    Ok(Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut f = l.split_whitespace();
                let full = f.next().unwrap_or_default();
                let name = full.rsplit_once('@').map_or(full, |(_, n)| n).to_owned();
                PeerSnap {
                    name,
                    guid: f.next().map(str::to_owned),
                }
            })
            .collect(),
    ))
}

/// The newest of our snapshots the peer also has: same GUID where the peer's
/// is known (a snapshot received from us keeps its GUID), else same name.
fn newest_shared(ours: &[Snapshot], peer: &[PeerSnap]) -> Option<Snapshot> {
    ours.iter()
        .rev()
        .find(|s| {
            peer.iter().any(|p| match &p.guid {
                Some(g) => *g == s.guid,
                None => p.name == s.name,
            })
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, guid: &str, creation: i64) -> Snapshot {
        Snapshot {
            name: name.into(),
            guid: guid.into(),
            creation,
            createtxg: None,
        }
    }

    #[test]
    fn newest_shared_by_guid_then_name() {
        let ours = vec![snap("a", "1", 1), snap("b", "2", 2), snap("c", "3", 3)];
        let by_guid = vec![PeerSnap {
            name: "x".into(),
            guid: Some("2".into()),
        }];
        assert_eq!(newest_shared(&ours, &by_guid).unwrap().name, "b");
        let by_name = vec![
            PeerSnap {
                name: "a".into(),
                guid: None,
            },
            PeerSnap {
                name: "c".into(),
                guid: None,
            },
        ];
        assert_eq!(newest_shared(&ours, &by_name).unwrap().name, "c");
        assert!(newest_shared(&ours, &[]).is_none());
    }
}
