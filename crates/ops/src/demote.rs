//! `putfs ops demote`: make this node a replica (the inverse of promote).
//!
//! Runs where a node starts receiving: a new replica's dataset after its
//! first replication, the recovered old primary in the reversal plan, and
//! the promoted node when the flip-back plan hands writes back. It ends the
//! promotion recorded in the state file, for two reasons: `ops status`
//! must stop calling the node a primary (zfs-fuse cannot show `readonly`
//! of a mounted dataset, so the record is all status has there), and the
//! next `ops promote` must record a fresh shared snapshot instead of
//! keeping the one of a failover long past.

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs};
use super::error::OpsError;
use super::mount_state::MountState;
use super::state::Demoted;
use super::units::BECOME_REPLICA;
use super::writer_lock;

/// Make this node a replica: refuse while a writable putfs serves the
/// data (stop it first: it cannot write to a receiver), set readonly=on
/// and atime=off on --dataset (a write or an access-time update breaks
/// the next incremental receive), and end the promotion recorded in the
/// state file, so `putfs ops status` says replica and the next promote
/// records a fresh shared snapshot. With --root only (rsync, rclone)
/// nothing but the record changes.
#[derive(Debug, Args)]
pub struct DemoteArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn run(args: DemoteArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    let zfs = ctx.zfs();
    // An unmounted dataset serves nobody: only a mounted one can have a
    // writer, and only there is the lock file the dataset's.
    let served_root = match &ctx.live.dataset {
        Some(ds) => {
            let st = MountState::read(&zfs, ds)?;
            st.path().filter(|_| st.mounted)
        }
        None => Some(ctx.root()?),
    };
    if let Some(root) = &served_root {
        writer_lock::refuse_if_served(
            root,
            "a replica takes no writes, and readonly=on would fail every write it \
             acknowledged",
        )?;
    }
    let (state_path, mut st) = ctx.load_state()?;
    eprintln!("plan:");
    if let Some(ds) = &ctx.live.dataset {
        eprintln!("  zfs set readonly=on {ds}");
        eprintln!("  zfs set atime=off {ds}");
    }
    match &st.promotion {
        Some(p) => eprintln!(
            "  end the promotion of {} recorded in {}",
            p.at,
            state_path.display()
        ),
        None => eprintln!("  record the role in {}", state_path.display()),
    }
    if !ctx.confirm("Demote this node to replica?", "demote")? {
        return Ok(());
    }
    if let Some(ds) = &ctx.live.dataset {
        zfs.set(ds, "readonly=on")?;
        zfs.set(ds, "atime=off")?;
    }
    st.demote(ctx.live.dataset.clone(), Demoted::Replica);
    st.save(&state_path)?;
    if ctx.common.json {
        println!(
            "{}",
            serde_json::json!({"demoted": {"dataset": ctx.live.dataset, "state": state_path, "ended_promotion": st.demotion.as_ref().and_then(|d| d.ended_promotion.clone())}})
        );
    }
    eprintln!(
        "demoted: this node is a replica; recorded in {}",
        state_path.display()
    );
    eprintln!(
        "serve it read-only, now and at every boot (`{BECOME_REPLICA}`), and let replication \
         feed it; take it out of the load balancers' writers"
    );
    Ok(())
}
