//! `putfs ops promote`: make a replica the primary.

use clap::Args;

use super::context::{CommonArgs, Ctx, LiveArgs};
use super::error::OpsError;
use super::mount_state;
use super::state::{self, Promotion};
use super::units::BECOME_PRIMARY;

/// Turn this replica into the primary: record the last snapshot it shares
/// with the old primary (the common ancestor the later recovery needs),
/// make the dataset writable, and make putfs here the primary (with
/// --restart-cmd) or print exactly how; print the load-balancer change.
/// Stop the zrepl sink (or replication timer) on this node first. On a
/// newly set up primary, `--root` alone records the role that
/// putfs-primary.service's guard (`putfs ops check-primary`) looks for.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The snapshot shared with the old primary (default: this dataset's
    /// newest, which replication brought from the old primary).
    #[arg(long)]
    pub shared_snapshot: Option<String>,
    /// Shell command (run with `sh -c` once the dataset is writable) that
    /// makes putfs on this node the primary. With the shipped units:
    /// "systemctl disable putfs-replica && systemctl enable --now
    /// putfs-primary": enabled, so a reboot keeps the role; starting
    /// putfs-primary stops putfs-replica, and putfs.socket keeps the port
    /// open meanwhile.
    #[arg(long)]
    pub restart_cmd: Option<String>,
    /// This node's address as the load balancers know it (for the printed
    /// configuration change).
    #[arg(long, default_value = "THIS-NODE:8000")]
    pub node_addr: String,
}

pub fn run(args: PromoteArgs) -> Result<(), OpsError> {
    let ctx = Ctx::new(args.live, args.common);
    precheck(&ctx)?;
    let zfs = ctx.zfs();
    let (state_path, mut st) = ctx.load_state()?;
    // A rerun keeps what the first run recorded: by now this node may have
    // snapshots of its own that the old primary never had.
    let recorded = st
        .promotion
        .as_ref()
        .and_then(|p| p.shared_snapshot.clone());
    let (shared, dataset) = match ctx.live.dataset.clone() {
        Some(ds) => {
            let snap = match (&args.shared_snapshot, recorded) {
                (Some(name), _) => zfs.snapshot(&ds, name)?,
                (None, Some(rec)) => {
                    eprintln!(
                        "already promoted: keeping the recorded shared snapshot @{}",
                        rec.name
                    );
                    rec
                }
                (None, None) => zfs.snapshots(&ds)?.pop().ok_or_else(|| {
                    OpsError::NotFound(format!(
                        "{ds} has no snapshot: nothing was replicated to it, so there is no \
                         common ancestor to record"
                    ))
                })?,
            };
            (Some(snap), Some(ds))
        }
        None => (None, None),
    };
    eprintln!("plan:");
    if let Some(s) = &shared {
        eprintln!(
            "  record @{} (guid {}) as the snapshot shared with the old primary",
            s.name, s.guid
        );
    }
    if let Some(ds) = &dataset {
        eprintln!("  zfs set readonly=off {ds}");
    }
    match &args.restart_cmd {
        Some(cmd) => eprintln!("  run: {cmd}"),
        None => eprintln!("  (you) make putfs on this node the primary: {BECOME_PRIMARY}"),
    }
    if !ctx.confirm("Promote this node to primary?", "promote")? {
        return Ok(());
    }
    st.promotion = Some(Promotion {
        dataset: dataset.clone(),
        shared_snapshot: shared.clone(),
        at: state::now(),
    });
    st.save(&state_path)?;
    if let Some(ds) = &dataset {
        zfs.set(ds, "readonly=off")?;
    }
    if let Some(cmd) = &args.restart_cmd {
        // A shell line: the role change is two systemctl commands.
        ctx.runner.change(&["sh", "-c", cmd])?;
    }
    if ctx.common.json {
        println!(
            "{}",
            serde_json::json!({"promoted": {"dataset": dataset, "shared_snapshot": shared, "state": state_path}})
        );
    }
    let a = &args.node_addr;
    eprintln!("promoted; recorded in {}", state_path.display());
    if args.restart_cmd.is_none() {
        eprintln!(
            "next: make putfs here the primary, now and at every boot: `{BECOME_PRIMARY}` \
             (starting putfs-primary stops putfs-replica; putfs.socket keeps the port open \
             meanwhile, so no read fails)"
        );
    }
    eprintln!("then point writes at this node:");
    eprintln!("  nginx:   upstream putfs_primary {{ server {a}; }}   then: nginx -s reload");
    eprintln!(
        "  HAProxy: backend putfs_writers → server primary {a} check   then: systemctl reload haproxy"
    );
    eprintln!("and take the old primary out of the readers until it is recovered.");
    Ok(())
}

/// Before anything changes: the data root must be one a writable putfs
/// accepts. A dataset that is not mounted leaves a bare directory at its
/// mountpoint, and a directory without `.putfs/` is refused by
/// `putfs serve`; promoting then would record a promotion and make the
/// dataset writable with no server able to take the writes.
fn precheck(ctx: &Ctx) -> Result<(), OpsError> {
    const AGAIN: &str = "promote again";
    if let Some(ds) = &ctx.live.dataset {
        mount_state::require_data_root(&ctx.zfs(), ds, AGAIN)?;
    }
    // With --root as well, it must be that mountpoint (Ctx::root checks).
    mount_state::require_marker(&ctx.root()?, AGAIN)
}
