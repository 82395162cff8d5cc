//! What every `putfs ops` command starts from: the live data (root and/or
//! dataset), the snapshot to compare with, output and safety switches.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::error::OpsError;
use super::runner::Runner;
use super::snapshot_view::SnapshotView;
use super::state::{self, State};
use super::zfs::Zfs;

/// Which data: a data root, a ZFS dataset, or both.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// The data root (defaults to the dataset's mountpoint).
    #[arg(long, env = "PUTFS_ROOT")]
    pub root: Option<PathBuf>,
    /// The ZFS dataset holding the data root, e.g. tank/putfs.
    #[arg(long)]
    pub dataset: Option<String>,
}

/// Which snapshot to compare with.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// A snapshot of --dataset (the part after @).
    #[arg(long, conflicts_with = "snapshot_dir")]
    pub snapshot: Option<String>,
    /// A snapshot that is a plain directory (btrfs snapshot, rsync copy).
    #[arg(long)]
    pub snapshot_dir: Option<PathBuf>,
}

/// Output and safety switches.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Machine-readable output on stdout, no progress.
    #[arg(long)]
    pub json: bool,
    /// Show the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before destructive steps (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// State file (default: .<root name>.putfs-ops.json beside the root).
    #[arg(long, env = "PUTFS_OPS_STATE")]
    pub state: Option<PathBuf>,
}

pub struct Ctx {
    pub runner: Runner,
    pub live: LiveArgs,
    pub common: CommonArgs,
}

impl Ctx {
    pub fn new(live: LiveArgs, common: CommonArgs) -> Ctx {
        Ctx {
            runner: Runner::new(common.dry_run),
            live,
            common,
        }
    }

    pub fn zfs(&self) -> Zfs<'_> {
        Zfs::new(&self.runner)
    }

    pub fn dataset(&self) -> Result<&str, OpsError> {
        self.live
            .dataset
            .as_deref()
            .ok_or_else(|| OpsError::Usage("this needs --dataset POOL/FS".into()))
    }

    /// The live data root: --root, else the dataset's mountpoint. When both
    /// are given they must agree: ZFS reports paths relative to the
    /// mountpoint, and a root elsewhere would make the gap look empty.
    pub fn root(&self) -> Result<PathBuf, OpsError> {
        let root = match (&self.live.root, &self.live.dataset) {
            (Some(r), Some(ds)) => {
                let mp = self.zfs().mountpoint(ds)?;
                let same = |p: &std::path::Path| std::fs::canonicalize(p).ok();
                if same(r) != same(&mp) {
                    return Err(OpsError::Usage(format!(
                        "--root {} is not the mountpoint of --dataset {ds} ({}); putfs's data \
                         root must be the dataset's root: drop --root",
                        r.display(),
                        mp.display()
                    )));
                }
                r.clone()
            }
            (Some(r), None) => r.clone(),
            (None, Some(ds)) => self.zfs().mountpoint(ds)?,
            (None, None) => {
                return Err(OpsError::Usage(
                    "name the data with --root DIR and/or --dataset POOL/FS".into(),
                ));
            }
        };
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => Ok(root),
            Ok(_) => Err(OpsError::NotFound(format!(
                "data root {} is not a directory",
                root.display()
            ))),
            Err(e) => Err(OpsError::NotFound(format!(
                "data root {} cannot be read ({e}): is the path right, and is its filesystem \
                 mounted?",
                root.display()
            ))),
        }
    }

    pub fn state_path(&self) -> Result<PathBuf, OpsError> {
        match &self.common.state {
            Some(p) => Ok(p.clone()),
            None => state::default_path(&self.root()?),
        }
    }

    pub fn load_state(&self) -> Result<(PathBuf, State), OpsError> {
        let p = self.state_path()?;
        let s = State::load(&p)?;
        Ok((p, s))
    }

    /// Open the snapshot's tree for reading.
    pub fn snapshot_view(
        &self,
        snap: &SnapshotArgs,
    ) -> Result<(SnapshotView<'_>, String), OpsError> {
        match (&snap.snapshot, &snap.snapshot_dir) {
            (_, Some(dir)) => Ok((SnapshotView::dir(dir)?, dir.display().to_string())),
            (Some(name), None) => {
                let ds = self.dataset()?;
                let live = self.root()?;
                Ok((
                    SnapshotView::zfs(self.zfs(), ds, name, &live)?,
                    name.clone(),
                ))
            }
            (None, None) => Err(OpsError::Usage(
                "name the snapshot with --snapshot NAME (ZFS) or --snapshot-dir PATH".into(),
            )),
        }
    }

    /// Progress on a terminal only, never in JSON mode.
    pub fn show_progress(&self) -> bool {
        !self.common.json && std::io::stderr().is_terminal()
    }

    /// Go ahead with a destructive step? `Ok(false)` in a dry run.
    pub fn confirm(&self, what: &str, answer: &str) -> Result<bool, OpsError> {
        if self.common.dry_run {
            eprintln!("dry run: stopping before: {what}");
            return Ok(false);
        }
        if self.common.yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(OpsError::Refused(format!(
                "{what} needs confirmation: pass --yes (no terminal to ask on)"
            )));
        }
        eprint!("{what}\nType {answer:?} to go ahead: ");
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(OpsError::io("reading the confirmation"))?;
        if line.trim() == answer {
            Ok(true)
        } else {
            Err(OpsError::Refused("not confirmed".into()))
        }
    }
}
