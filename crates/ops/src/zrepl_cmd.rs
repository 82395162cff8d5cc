//! `putfs ops reverse-zrepl` and `putfs ops zrepl-check`: the command-line
//! side of `ops::zrepl`.

use std::path::{Path, PathBuf};

use clap::Args;

use super::error::OpsError;
use super::zrepl::{self, Action, Node, ReverseInput, Step};

/// Reverse zrepl after a failover: write the new configs (the new primary
/// pushes to the recovered node) and the plan that lets replication continue
/// incrementally from the shared snapshot instead of resending everything.
///
/// zrepl's sink receives into root_fs/<client identity>/<source dataset>, so
/// the recovered node's rolled-back dataset must be renamed to exactly that
/// path. The plan is for each node in order, and runs as printed: it stops
/// putfs before unmounting, rolls back and demotes through `putfs ops`,
/// checks each dataset's state (`expect:` lines) before the step that
/// needs it, mounts the dataset at --recovered-mountpoint and only then
/// starts putfs. Both configs are validated first.
#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// The old primary's zrepl config (with the push job).
    #[arg(long)]
    pub old_primary_config: PathBuf,
    /// The old secondary's zrepl config (with the sink job).
    #[arg(long)]
    pub old_secondary_config: PathBuf,
    /// The last snapshot both nodes have (from `putfs ops promote`/`status`).
    #[arg(long)]
    pub shared_snapshot: String,
    /// Identity the recovered node's sink gives the new primary.
    #[arg(long)]
    pub new_primary_identity: String,
    /// IP (or CIDR) the new primary connects to the recovered node from.
    #[arg(long)]
    pub new_primary_ip: String,
    /// host:port the new primary dials to reach the recovered node's sink.
    #[arg(long)]
    pub recovered_address: String,
    /// Address the recovered node's sink listens on, e.g. :8888.
    #[arg(long)]
    pub recovered_listen: String,
    /// Root of the recovered node's sink, in the dataset's pool (e.g. tank/sink).
    #[arg(long)]
    pub recovered_root_fs: String,
    /// Where putfs on the recovered node serves the data (e.g. /srv/putfs):
    /// the plans mount the renamed dataset there before putfs starts.
    #[arg(long)]
    pub recovered_mountpoint: String,
    /// The putfs dataset on the old primary (default: the one its push job replicates).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Where to write new-primary.yml, recovered.yml and plan.json.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Also print the plan to return to the original topology once synced.
    #[arg(long)]
    pub flip_back: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn reverse(args: ReverseArgs) -> Result<(), OpsError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(OpsError::io(format!("reading {}", p.display())))
    };
    let mut input = ReverseInput::from_yaml(
        &read(&args.old_primary_config)?,
        &read(&args.old_secondary_config)?,
    )
    .map_err(|e| OpsError::Other(e.to_string()))?;
    input.new_primary_identity = args.new_primary_identity;
    input.new_primary_ip = args.new_primary_ip;
    input.recovered_address = args.recovered_address;
    input.recovered_listen = args.recovered_listen;
    input.recovered_root_fs = args.recovered_root_fs;
    input.shared_snapshot = args.shared_snapshot;
    input.recovered_mountpoint = Some(args.recovered_mountpoint);
    input.dataset = args.dataset;
    let r = zrepl::reverse(&input).map_err(|e| OpsError::Other(e.to_string()))?;

    std::fs::create_dir_all(&args.out_dir)
        .map_err(OpsError::io(format!("creating {}", args.out_dir.display())))?;
    let write = |name: &str, text: &str| {
        let p = args.out_dir.join(name);
        std::fs::write(&p, text).map_err(OpsError::io(format!("writing {}", p.display())))
    };
    write("new-primary.yml", &r.new_primary_yaml)?;
    write("recovered.yml", &r.recovered_yaml)?;
    let plan = serde_json::json!({
        "layout": {
            "new_primary_dataset": r.layout.new_primary_dataset,
            "recovered_dataset_now": r.layout.original,
            "recovered_dataset_after": r.layout.rename_target,
        },
        "plan": r.plan.iter().map(step_json).collect::<Vec<_>>(),
        "flip_back": r.flip_back.iter().map(step_json).collect::<Vec<_>>(),
        "warnings": r.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    write(
        "plan.json",
        &serde_json::to_string_pretty(&plan).map_err(|e| OpsError::Other(e.to_string()))?,
    )?;
    if args.json {
        println!("{plan}");
        return Ok(());
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    println!(
        "wrote {}/new-primary.yml, recovered.yml and plan.json",
        args.out_dir.display()
    );
    println!("\nplan (in order):");
    print_steps(&r.plan);
    if args.flip_back {
        println!(
            "\nflip back to the original topology, once the reversed replication has caught up:"
        );
        print_steps(&r.flip_back);
    }
    Ok(())
}

fn print_steps(steps: &[Step]) {
    for (i, s) in steps.iter().enumerate() {
        match &s.action {
            Action::Run(argv) => println!(
                "{:>3}. [{}] {}\n       $ {}",
                i + 1,
                s.node,
                s.description,
                shell_words::join(argv)
            ),
            Action::Check { argv, expect } => println!(
                "{:>3}. [{}] Check: {}\n       $ {}\n       expect: {}",
                i + 1,
                s.node,
                s.description,
                shell_words::join(argv),
                expect.join(" / ")
            ),
            Action::InstallConfig { path, .. } => {
                println!("{:>3}. [{}] {} ({path})", i + 1, s.node, s.description)
            }
            Action::Balancer(_) => println!(
                "{:>3}. [{}] Load balancers: {}",
                i + 1,
                s.node,
                s.description
            ),
            Action::Manual => println!("{:>3}. [{}] {}", i + 1, s.node, s.description),
        }
    }
}

fn step_json(s: &Step) -> serde_json::Value {
    let node = match s.node {
        Node::NewPrimary => "new_primary",
        Node::Recovered => "recovered",
    };
    match &s.action {
        Action::Run(argv) => {
            serde_json::json!({"node": node, "description": s.description, "run": argv})
        }
        Action::Check { argv, expect } => {
            serde_json::json!({"node": node, "description": s.description, "check": argv, "expect": expect})
        }
        Action::InstallConfig { path, yaml } => {
            serde_json::json!({"node": node, "description": s.description, "install_config": path, "yaml": yaml})
        }
        Action::Balancer(change) => {
            serde_json::json!({"node": node, "description": s.description, "balancer": change.as_str()})
        }
        Action::Manual => {
            serde_json::json!({"node": node, "description": s.description, "manual": true})
        }
    }
}
