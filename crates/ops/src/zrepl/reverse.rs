//! Turn a push/sink pair around after a failover, without a full resend.
//!
//! Inputs are the two configs as they were before the failure, the name of
//! the last snapshot both sides share, and how the recovered node's new
//! sink will see the new primary. Output: both new configs, the dataset
//! layout, and the operator plans (see `plan`).

use super::emit::to_yaml;
use super::error::{ConfigWarning, ZreplError};
use super::input::ReverseInput;
use super::layout::{Layout, dataset, input_err, layout, old_identity};
use super::model::*;
use super::names;
use super::plan::{Step, flip_back_plan, reverse_plan};
use super::validate::validate_config;

/// Result of a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// Config for the old secondary: its sink job replaced by a push job.
    pub new_primary: Config,
    pub new_primary_yaml: String,
    /// Config for the old primary: its push job replaced by a sink job.
    pub recovered: Config,
    pub recovered_yaml: String,
    pub layout: Layout,
    /// Steps to reverse replication, in order.
    pub plan: Vec<Step>,
    /// Steps to return to the original direction later, in order.
    pub flip_back: Vec<Step>,
    /// Warnings carried over from the input configs.
    pub warnings: Vec<ConfigWarning>,
}

/// Build the reversed configs and the plans.
pub fn reverse(input: &ReverseInput) -> Result<Reversal, ZreplError> {
    for (what, c) in [
        ("old primary's config", &input.old_primary),
        ("old secondary's config", &input.old_secondary),
    ] {
        validate_config(c).map_err(|findings| ZreplError::Invalid {
            what: what.into(),
            findings,
        })?;
    }
    let push = find_push(&input.old_primary, input.push_job.as_deref())?;
    let sink = find_sink(&input.old_secondary, input.sink_job.as_deref())?;
    let Connect::Tcp(old_connect) = &push.connect else {
        return Err(input_err(format!(
            "push job {:?} does not use the tcp transport; reversal only rewires tcp (tls and ssh need per-node keys)",
            push.name
        )));
    };
    let Serve::Tcp(old_serve) = &sink.serve else {
        return Err(input_err(format!(
            "sink job {:?} does not use the tcp transport",
            sink.name
        )));
    };
    let original = dataset(input, push)?;
    let old_identity = old_identity(input, old_serve, &sink.name)?;
    let layout = layout(input, push, sink, &original, &old_identity)?;

    let mut new_primary = input.old_secondary.clone();
    new_primary
        .jobs
        .retain(|j| !matches!(j, Job::Sink(s) if s.name == sink.name));
    new_primary.jobs.push(Job::Push(PushJob {
        connect: Connect::Tcp(TcpConnect {
            address: input.recovered_address.clone(),
            dial_timeout: old_connect.dial_timeout.clone(),
        }),
        filesystems: relocate_filter(&push.filesystems, &sink.root_fs, &old_identity),
        ..push.clone()
    }));

    let mut recovered = input.old_primary.clone();
    recovered
        .jobs
        .retain(|j| !matches!(j, Job::Push(p) if p.name == push.name));
    check_no_local_snapshots(&recovered, &layout.rename_target)?;
    recovered.jobs.push(Job::Sink(SinkJob {
        serve: Serve::Tcp(TcpServe {
            listen: input.recovered_listen.clone(),
            listen_freebind: old_serve.listen_freebind,
            clients: [(
                input.new_primary_ip.clone(),
                input.new_primary_identity.clone(),
            )]
            .into(),
        }),
        root_fs: input.recovered_root_fs.clone(),
        ..sink.clone()
    }));

    let mut warnings = Vec::new();
    for (what, c) in [
        ("new primary's config", &new_primary),
        ("recovered node's config", &recovered),
    ] {
        let v = validate_config(c).map_err(|findings| ZreplError::Invalid {
            what: what.into(),
            findings,
        })?;
        warnings.extend(v.warnings);
    }
    let new_primary_yaml = to_yaml(&new_primary);
    let recovered_yaml = to_yaml(&recovered);
    Ok(Reversal {
        plan: reverse_plan(&layout, &new_primary_yaml, &recovered_yaml),
        flip_back: flip_back_plan(
            &layout,
            &to_yaml(&input.old_primary),
            &to_yaml(&input.old_secondary),
        ),
        new_primary,
        new_primary_yaml,
        recovered,
        recovered_yaml,
        layout,
        warnings,
    })
}

fn find_push<'c>(c: &'c Config, name: Option<&str>) -> Result<&'c PushJob, ZreplError> {
    let all: Vec<&PushJob> = c
        .jobs
        .iter()
        .filter_map(|j| if let Job::Push(p) = j { Some(p) } else { None })
        .collect();
    pick(all, name, "push", "old primary's config", |p| &p.name)
}

fn find_sink<'c>(c: &'c Config, name: Option<&str>) -> Result<&'c SinkJob, ZreplError> {
    let all: Vec<&SinkJob> = c
        .jobs
        .iter()
        .filter_map(|j| if let Job::Sink(s) = j { Some(s) } else { None })
        .collect();
    pick(all, name, "sink", "old secondary's config", |s| &s.name)
}

fn pick<'c, T>(
    all: Vec<&'c T>,
    name: Option<&str>,
    kind: &str,
    what: &str,
    name_of: impl Fn(&T) -> &String,
) -> Result<&'c T, ZreplError> {
    let names: Vec<&String> = all.iter().map(|j| name_of(j)).collect();
    match name {
        Some(n) => all.into_iter().find(|j| name_of(j) == n).ok_or_else(|| {
            input_err(format!(
                "{what} has no {kind} job named {n:?} (it has: {names:?})"
            ))
        }),
        None if all.len() == 1 => Ok(all[0]),
        None if all.is_empty() => Err(input_err(format!("{what} has no {kind} job"))),
        None => Err(input_err(format!(
            "{what} has several {kind} jobs ({names:?}); name the one to reverse"
        ))),
    }
}

/// On the new primary the old primary's datasets live below
/// `root_fs/identity/`, so each filter pattern moves there too.
fn relocate_filter(filter: &Filesystems, root_fs: &str, identity: &str) -> Filesystems {
    filter
        .iter()
        .map(|(pattern, pass)| {
            let moved = if pattern == "<" {
                format!("{root_fs}/{identity}<")
            } else {
                format!("{root_fs}/{identity}/{pattern}")
            };
            (moved, *pass)
        })
        .collect()
}

/// A snapshot taken locally on a receiver makes the next incremental
/// receive fail, so no job left on the recovered node may snapshot it.
fn check_no_local_snapshots(c: &Config, target: &str) -> Result<(), ZreplError> {
    for job in &c.jobs {
        let (name, filter) = match job {
            Job::Push(j) => (&j.name, &j.filesystems),
            Job::Source(j) => (&j.name, &j.filesystems),
            Job::Snap(j) => (&j.name, &j.filesystems),
            Job::Sink(_) | Job::Pull(_) => continue,
        };
        if names::filter_passes(filter, target) {
            return Err(input_err(format!(
                "job {name:?} on the recovered node would snapshot the received dataset {target:?}; \
                 exclude it (\"{target}<\": false) first"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zrepl::layout::sink_path;
    use crate::zrepl::plan::{Action, Node};
    use crate::zrepl::validate;

    fn sample(name: &str) -> Config {
        let path = format!("{}/src/zrepl/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        validate(&text)
            .unwrap_or_else(|e| panic!("{name}: {e:#?}"))
            .config
    }

    fn input() -> ReverseInput {
        ReverseInput {
            old_primary: sample("node_a_primary.yml"),
            old_secondary: sample("node_b_secondary.yml"),
            new_primary_identity: "node-b".into(),
            new_primary_ip: "127.0.0.3".into(),
            recovered_address: "127.0.0.2:8888".into(),
            recovered_listen: "127.0.0.2:8888".into(),
            recovered_root_fs: "tankA/sink".into(),
            shared_snapshot: "zrepl_20250101_120000_000".into(),
            recovered_mountpoint: Some("/srv/putfs".into()),
            ..ReverseInput::default()
        }
    }

    fn argvs(steps: &[Step], node: Node) -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.node == node)
            .filter_map(|s| match &s.action {
                Action::Run(argv) => Some(argv.join(" ")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reversed_pair_validates() {
        let r = reverse(&input()).expect("reverse");
        for text in [&r.new_primary_yaml, &r.recovered_yaml] {
            let v = validate(text).unwrap_or_else(|e| panic!("{e:#?}\n{text}"));
            assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        }
        let Some(Job::Push(p)) = r
            .new_primary
            .jobs
            .iter()
            .find(|j| matches!(j, Job::Push(_)))
        else {
            panic!("no push job: {:?}", r.new_primary)
        };
        assert_eq!(p.name, "putfs-push", "job names stay with their role");
        assert_eq!(
            p.filesystems.get("tankB/sink/node-a/tankA/putfs<"),
            Some(&true)
        );
        let Connect::Tcp(c) = &p.connect else {
            panic!()
        };
        assert_eq!(c.address, "127.0.0.2:8888");
        // The old secondary's other jobs survive, its sink is gone.
        assert!(r.new_primary.jobs.iter().any(|j| j.name() == "local-snaps"));
        assert!(!r.new_primary.jobs.iter().any(|j| matches!(j, Job::Sink(_))));
        let Some(Job::Sink(s)) = r.recovered.jobs.iter().find(|j| matches!(j, Job::Sink(_))) else {
            panic!()
        };
        assert_eq!(s.name, "putfs-sink");
        assert_eq!(s.root_fs, "tankA/sink");
        assert_eq!(
            s.serve,
            Serve::Tcp(TcpServe {
                listen: "127.0.0.2:8888".into(),
                listen_freebind: None,
                clients: [("127.0.0.3".to_string(), "node-b".to_string())].into(),
            })
        );
        assert!(!r.recovered.jobs.iter().any(|j| matches!(j, Job::Push(_))));
    }

    #[test]
    fn rename_target_is_what_the_new_sink_computes() {
        let r = reverse(&input()).expect("reverse");
        let l = &r.layout;
        assert_eq!(l.new_primary_dataset, "tankB/sink/node-a/tankA/putfs");
        assert_eq!(
            l.rename_target,
            sink_path("tankA/sink", "node-b", &l.new_primary_dataset)
        );
        assert_eq!(
            l.rename_target,
            "tankA/sink/node-b/tankB/sink/node-a/tankA/putfs"
        );
        let on_recovered = argvs(&r.plan, Node::Recovered);
        let pos = |cmd: &str| {
            on_recovered
                .iter()
                .position(|a| a == cmd)
                .unwrap_or_else(|| panic!("{cmd:?} not in {on_recovered:#?}"))
        };
        let rollback = pos(
            "putfs ops rollback --dataset tankA/putfs --snapshot zrepl_20250101_120000_000 --yes",
        );
        let create = pos("zfs create -p tankA/sink/node-b/tankB/sink/node-a/tankA");
        let rename = pos("zfs rename tankA/putfs tankA/sink/node-b/tankB/sink/node-a/tankA/putfs");
        let demote = pos("putfs ops demote --dataset tankA/putfs --yes");
        let mount = pos(
            "putfs ops mount --dataset tankA/sink/node-b/tankB/sink/node-a/tankA/putfs \
             --expect-mountpoint /srv/putfs --expect-readonly on",
        );
        let release = pos("zrepl zfs-abstraction release-all --job putfs-push");
        assert!(release < rollback && rollback < demote && demote < create);
        assert!(create < rename && rename < mount);
        // The guid checks come before anything destructive.
        let first_destructive = r
            .plan
            .iter()
            .position(|s| matches!(&s.action, Action::Run(a) if a.iter().any(|w| w == "rollback")))
            .expect("rollback step");
        assert!(
            r.plan[..first_destructive]
                .iter()
                .filter(|s| matches!(&s.action, Action::Run(a) if a.contains(&"guid".to_string())))
                .count()
                == 2
        );
        // Config installs carry the reversed configs.
        assert!(r.plan.iter().any(
            |s| matches!(&s.action, Action::InstallConfig { yaml, .. } if *yaml == r.recovered_yaml)
        ));
    }

    #[test]
    fn flip_back_restores_the_original_layout() {
        let r = reverse(&input()).expect("reverse");
        let rec = argvs(&r.flip_back, Node::Recovered);
        assert!(
            rec.contains(
                &"zfs rename tankA/sink/node-b/tankB/sink/node-a/tankA/putfs tankA/putfs"
                    .to_string()
            ),
            "{rec:#?}"
        );
        let newp = argvs(&r.flip_back, Node::NewPrimary);
        assert!(
            newp.contains(
                &"zfs snapshot -r tankB/sink/node-a/tankA/putfs@zrepl_flipback_zrepl_20250101_120000_000".to_string()
            ),
            "{newp:#?}"
        );
        let restored: Vec<&String> = r
            .flip_back
            .iter()
            .filter_map(|s| match &s.action {
                Action::InstallConfig { yaml, .. } => Some(yaml),
                _ => None,
            })
            .collect();
        assert_eq!(restored.len(), 2);
        for yaml in restored {
            validate(yaml).expect("restored config validates");
        }
        // After flip-back the old secondary's sink computes the path its dataset already has.
        assert_eq!(
            r.layout.new_primary_dataset,
            sink_path("tankB/sink", "node-a", "tankA/putfs")
        );
    }

    #[test]
    fn generated_pair_reverses() {
        use crate::zrepl::generate::{PairInput, generate_pair};
        let pair = generate_pair(&PairInput::new(
            "tankA/putfs",
            "127.0.0.3:8888",
            ":8888",
            "127.0.0.2",
            "node-a",
            "tankB/sink",
        ))
        .expect("generate");
        let r = reverse(&ReverseInput {
            old_primary: pair.push,
            old_secondary: pair.sink,
            ..input()
        })
        .expect("reverse");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(
            r.layout.rename_target,
            "tankA/sink/node-b/tankB/sink/node-a/tankA/putfs"
        );
    }

    #[test]
    fn unusable_inputs_are_refused() {
        let mut i = input();
        i.recovered_root_fs = "tankB/sink".into();
        let err = reverse(&i).unwrap_err().to_string();
        assert!(err.contains("cannot cross pools"), "{err}");

        let mut i = input();
        i.recovered_root_fs = "tankA/putfs/sink".into();
        assert!(reverse(&i).unwrap_err().to_string().contains("lies inside"));

        let mut i = input();
        i.old_primary_identity = Some("someone-else".into());
        assert!(
            reverse(&i)
                .unwrap_err()
                .to_string()
                .contains("gives no client the identity")
        );

        let mut i = input();
        i.shared_snapshot = "tankA/putfs@x".into();
        assert!(reverse(&i).is_err());

        // The plans mount the renamed dataset where putfs serves it.
        let mut i = input();
        i.recovered_mountpoint = None;
        assert!(reverse(&i).unwrap_err().to_string().contains("mountpoint"));
        i.recovered_mountpoint = Some("srv/putfs".into());
        assert!(
            reverse(&i)
                .unwrap_err()
                .to_string()
                .contains("absolute path")
        );

        let mut i = input();
        i.recovered_address = "nohost".into();
        let err = reverse(&i).unwrap_err().to_string();
        assert!(
            err.contains("new primary's config does not validate") && err.contains("missing port"),
            "{err}"
        );

        let err = ReverseInput::from_yaml("jobs: [{type: push}]", "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("old primary's config does not validate")
                && err.contains("missing required field connect"),
            "{err}"
        );

        // A snap job left on the recovered node would snapshot the receiver.
        let mut i = input();
        let extra = "jobs:\n- {type: snap, name: all, filesystems: {\"tankA<\": true}, snapshotting: {type: manual}, pruning: {keep: [{type: last_n, count: 5}]}}\n";
        i.old_primary
            .jobs
            .extend(validate(extra).expect("valid").config.jobs);
        assert!(
            reverse(&i)
                .unwrap_err()
                .to_string()
                .contains("would snapshot the received dataset")
        );
    }
}
