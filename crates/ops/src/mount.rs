//! `putfs ops mount`: mount a dataset putfs is about to serve, and prove
//! it is mounted where putfs will look.
//!
//! The printed plans need one step that works the same whatever the
//! platform did before it: OpenZFS leaves a dataset unmounted after a
//! `zfs rename` of an unmounted dataset, zfs-fuse mounts it; both mount on
//! `zfs set mountpoint`. A bare `zfs mount` fails on an already mounted
//! dataset, so this mounts only when needed, then checks what serving
//! needs: mounted, at the expected mountpoint, read-only or not as
//! expected, and holding `.putfs/` (else it is not the data root putfs
//! served before, and a writable putfs refuses it).

use clap::{Args, ValueEnum};

use super::context::{CommonArgs, Ctx, LiveArgs};
use super::error::OpsError;
use super::mount_state::{self, MountState};

/// Mount --dataset if it is not mounted, then check it: mounted at its
/// mountpoint (--expect-mountpoint), readonly as --expect-readonly says,
/// and a putfs data root (.putfs/ inside). Changes nothing when it is
/// mounted already; exit 3 when a check fails, saying what to do.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// The dataset to mount and check.
    #[arg(long)]
    pub dataset: String,
    /// The mountpoint it must have, e.g. /srv/putfs.
    #[arg(long)]
    pub expect_mountpoint: Option<String>,
    /// Whether it must be read-only (a replica) or writable (a primary).
    #[arg(long, value_enum)]
    pub expect_readonly: Option<OnOff>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

pub fn run(args: MountArgs) -> Result<(), OpsError> {
    let ds = args.dataset.clone();
    let ctx = Ctx::new(
        LiveArgs {
            root: None,
            dataset: Some(ds.clone()),
        },
        args.common,
    );
    let zfs = ctx.zfs();
    let before = MountState::read(&zfs, &ds)?;
    let Some(mp) = before.path() else {
        return Err(OpsError::Refused(format!(
            "{ds} has mountpoint={}: give it the directory putfs serves (`zfs set \
             mountpoint={} {ds}`)",
            before.mountpoint,
            args.expect_mountpoint.as_deref().unwrap_or("/srv/putfs")
        )));
    };
    if let Some(want) = &args.expect_mountpoint
        && before.mountpoint != *want
    {
        return Err(OpsError::Refused(format!(
            "{ds} has mountpoint={}, but putfs serves {want}: `zfs set mountpoint={want} {ds}`",
            before.mountpoint
        )));
    }
    // Read before mounting: zfs-fuse shows the property only then.
    let mut readonly = before.readonly;
    check_readonly(&ds, readonly, args.expect_readonly)?;
    if !before.mounted {
        zfs.mount(&ds)?;
        if ctx.common.dry_run {
            eprintln!("dry run: {ds} is not mounted; stopping before the checks that need it");
            return Ok(());
        }
        let after = MountState::read(&zfs, &ds)?;
        if !after.mounted {
            return Err(OpsError::Other(format!(
                "`zfs mount {ds}` succeeded but {ds} is still {}",
                after.describe()
            )));
        }
        readonly = readonly.or(after.readonly);
    }
    mount_state::require_marker(&mp, "run this again")?;
    let ro = match readonly {
        Some(true) => "read-only",
        Some(false) => "writable",
        None => "readonly unknown: this platform shows only the mount option while mounted",
    };
    if ctx.common.json {
        println!(
            "{}",
            serde_json::json!({"mounted": {"dataset": ds, "mountpoint": mp, "readonly": readonly, "was_mounted": before.mounted}})
        );
    }
    eprintln!(
        "{ds} is mounted at {} ({ro}) and holds .putfs/: putfs may serve it",
        mp.display()
    );
    Ok(())
}

fn check_readonly(ds: &str, actual: Option<bool>, want: Option<OnOff>) -> Result<(), OpsError> {
    let Some(want) = want else {
        return Ok(());
    };
    let want_on = want == OnOff::On;
    match actual {
        Some(v) if v == want_on => Ok(()),
        Some(_) => Err(OpsError::Refused(format!(
            "{ds} has readonly={}, expected {}: `zfs set readonly={} {ds}` if that is right",
            if want_on { "off" } else { "on" },
            if want_on { "on" } else { "off" },
            if want_on { "on" } else { "off" },
        ))),
        None => {
            eprintln!(
                "note: cannot verify readonly of {ds} while it is mounted on this platform \
                 (zfs-fuse shows the mount option); check it while unmounted"
            );
            Ok(())
        }
    }
}
