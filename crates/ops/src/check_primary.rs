//! `putfs ops check-primary`: the role guard of putfs-primary.service.
//!
//! A node takes writes only because someone made it the primary: its
//! setup (`putfs ops promote --root …` once, before the first start) or a
//! promotion. `systemctl restart putfs-primary`, run on every node by
//! configuration management, or by hand on the wrong one, would otherwise
//! start a writable putfs on a replica: an rsync replica's data root is
//! writable, so it would take writes no one replicates, a second primary.
//!
//! The evidence is the state file `putfs ops` keeps beside the data root
//! (not inside it: replication carries the data root to the other node and
//! a rollback rewinds it, so a marker there would say "primary" on the
//! replica too): a promotion in force. `demote` and `rollback` end it.
//!
//! The unit runs this as `ExecCondition=`, not `ExecStartPre=`: a failing
//! condition skips the start without marking the unit failed, whereas a
//! failing ExecStartPre with `Restart=on-failure` would retry every
//! RestartSec (each retry stopping putfs-replica through `Conflicts=`) until
//! the start limit, and systemd then stops putfs.socket, the node's address,
//! with it. Skipped, the node keeps its socket, and the next connection
//! starts putfs-replica again. It only reads a file: no ZFS, no network.

use std::path::PathBuf;

use clap::Args;

use super::error::OpsError;
use super::state::{self, Demoted, State};
use super::units::BECOME_REPLICA;

/// Exit 0 if this node is recorded as the primary (a promotion in force in
/// the state file beside the data root), else exit 3 saying why and what
/// to do. putfs-primary.service runs it before every start
/// (`ExecCondition=`), so a writable putfs never starts on a replica.
#[derive(Debug, Args)]
pub struct CheckPrimaryArgs {
    /// The data root putfs-primary would serve (it need not be mounted).
    #[arg(long, env = "PUTFS_ROOT")]
    pub root: PathBuf,
    /// State file (default: .<root name>.putfs-ops.json beside the root).
    #[arg(long, env = "PUTFS_OPS_STATE")]
    pub state: Option<PathBuf>,
}

pub fn run(args: CheckPrimaryArgs) -> Result<(), OpsError> {
    let path = match &args.state {
        Some(p) => p.clone(),
        None => state::default_path(&args.root)?,
    };
    let st = State::load(&path)?;
    match verdict(&st) {
        Ok(at) => {
            eprintln!(
                "putfs-primary may start: this node is the primary (promoted {at}; {})",
                path.display()
            );
            Ok(())
        }
        Err(why) => Err(OpsError::Refused(format!(
            "not starting a writable putfs on {root}: this node is not recorded as the \
             primary in {state} ({why}). A writable putfs here would take writes that nothing \
             replicates. If this node is a replica, serve it with putfs-replica \
             (`{BECOME_REPLICA}`). If it \
             is to take writes, make it the primary first: `putfs ops promote --root {root}` \
             (add --dataset POOL/FS on ZFS; see the runbook), which also records a newly set up \
             primary, then start putfs-primary again.",
            root = args.root.display(),
            state = path.display(),
        ))),
    }
}

/// `Ok(when promoted)`, or why the node is not the primary.
fn verdict(st: &State) -> Result<&str, String> {
    if let Some(p) = &st.promotion {
        return Ok(&p.at);
    }
    Err(match &st.demotion {
        Some(d) => match &d.to {
            Demoted::Replica => format!("demoted to a replica {}", d.at),
            Demoted::RolledBack { snapshot } => {
                format!("rolled back to @{snapshot} {} after a failover", d.at)
            }
        },
        None => "no promotion recorded".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Promotion;

    #[test]
    fn only_a_promotion_in_force_lets_the_primary_start() {
        let mut st = State::default();
        assert_eq!(verdict(&st), Err("no promotion recorded".into()));
        st.promotion = Some(Promotion {
            dataset: None,
            shared_snapshot: None,
            at: "T1".into(),
        });
        assert_eq!(verdict(&st), Ok("T1"));
        st.demote(None, Demoted::Replica);
        assert!(
            verdict(&st)
                .unwrap_err()
                .starts_with("demoted to a replica")
        );
        st.promotion = st.demotion.as_ref().and_then(|d| d.ended_promotion.clone());
        st.demote(
            None,
            Demoted::RolledBack {
                snapshot: "s".into(),
            },
        );
        assert!(verdict(&st).unwrap_err().starts_with("rolled back to @s"));
    }
}
