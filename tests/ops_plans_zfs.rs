//! Drill: the printed plans of `putfs ops reverse-zrepl` (reversal and
//! flip back) EXECUTED step by step on zfs-fuse pools, with the runbook's
//! commands around them, and `putfs ops status` checked at every stage.
//!
//! Two nodes on one machine: A (pool `pda<pid>`, serving `<lab>/srv-a`)
//! and B (pool `pdb<pid>`, receiving A's dataset under its sink root and
//! serving `<lab>/srv-b`). Every step of plan.json runs as printed:
//! - `zfs …` and `putfs ops …` for real (a `zfs rename` that zfs-fuse
//!   calls busy right after an unmount is repeated, as its step says);
//! - `check` steps: the command's output lines must equal `expect`;
//! - `systemctl …`: systemd as the shipped units make it behave (see
//!   tests/common/systemd.rs): putfs.socket holds each node's address, the putfs units
//!   require it and conflict with each other, putfs-primary runs the
//!   `ExecCondition=`/`ExecStartPre=` lines of ops/systemd (its role guard
//!   among them), a reboot starts what is enabled, and while the socket
//!   listens with no putfs running, a connection starts putfs-replica:
//!   after every step one arrives at each node, as a load balancer's
//!   health check or a Prometheus scrape would;
//! - load-balancer steps move a node in or out of the readers; a node in
//!   the readers must keep its address open;
//! - `systemctl … zrepl`, `zrepl …` and config installs are checked for
//!   form (unit, job names of the installed configs, `zrepl-check`), and
//!   `zrepl signal wakeup` is done by zfs send/recv from the push job's
//!   dataset to the path its partner sink computes: a wakeup that would
//!   need a full resend fails the drill.
//!
//! After every step, every running putfs must be serving a mounted dataset
//! of its own node at its data root, and answer.
//!
//! Around the plans, the runbook as an operator runs it: A is set up as
//! the primary, B as its replica; four readers read from B through its
//! promotion (`putfs ops promote` and the command it prints next) and
//! through the flip back: not one read may fail. The promoted B, and both
//! nodes after the flip back, keep their roles across a reboot, and a
//! `systemctl restart putfs-primary` on a node that is not the primary is
//! skipped by the unit's role guard. A's gap holds new keys, deletes
//! acknowledged after the snapshot (one of them re-created on B since,
//! which must survive), a key deleted and re-created with the same bytes,
//! a gap key re-created with other bytes, and a key that is mutable on B
//! and that B wrote too (a conflict: B's version is kept and A's copied
//! beside it, as the runbook says). The gap goes to B by rsync and by
//! HTTP, the deletes are applied, and at the end both nodes hold exactly
//! every acknowledged write and none of the acknowledged deletes.
//!
//! zfs-fuse is one machine-wide daemon: one test in this binary. Without
//! zfs-fuse it prints `SKIP:` and passes, unless `PUTFS_REQUIRE_ZFS=1`.

mod common;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/systemd.rs"]
mod systemd;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::*;
use ops::*;
use systemd::*;

/// Both nodes' putfs.env: keys under cfg/ may be replaced.
const MUTABLE: &str = "cfg/**";

/// One machine of the pair, as the plans see it.
struct Node {
    machine: Machine,
    /// `node` in plan.json after the failover.
    plan_role: &'static str,
    pool: String,
    /// The installed /etc/zrepl/zrepl.yml.
    config: serde_yaml_ng::Value,
}

impl Node {
    fn new(name: &'static str, plan_role: &'static str, pool: &str, root: &Path) -> Node {
        Node {
            machine: Machine::new(name, root, &["--mutable", MUTABLE]),
            plan_role,
            pool: pool.to_string(),
            config: serde_yaml_ng::Value::Null,
        }
    }

    fn job_names(&self) -> Vec<String> {
        jobs(&self.config)
            .iter()
            .filter_map(|j| j["name"].as_str().map(str::to_string))
            .collect()
    }
}

impl std::ops::Deref for Node {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.machine
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }
}

/// The command `putfs ops promote` says to run next (between backticks
/// after "next:").
fn promote_next_step(stderr: &str) -> String {
    let next = stderr
        .split_once("next:")
        .unwrap_or_else(|| panic!("promote printed no next step:\n{stderr}"))
        .1;
    next.split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command in promote's next step:\n{stderr}"))
        .to_string()
}

fn jobs(config: &serde_yaml_ng::Value) -> Vec<serde_yaml_ng::Value> {
    config["jobs"].as_sequence().cloned().unwrap_or_default()
}

fn job(config: &serde_yaml_ng::Value, kind: &str) -> Option<serde_yaml_ng::Value> {
    jobs(config)
        .into_iter()
        .find(|j| j["type"].as_str() == Some(kind))
}

/// The dataset mounted at `path`, from /proc/self/mountinfo.
fn mounted_at(path: &Path) -> Option<String> {
    let want = path.to_str()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().rev().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mountpoint = left.split(' ').nth(4)?.replace("\\040", " ");
        (mountpoint == want).then(|| right.split(' ').nth(1).unwrap_or("").to_string())
    })
}

/// Every running putfs serves a mounted dataset of its own node's pool
/// from its data root, and answers.
#[track_caller]
fn assert_served_mounted(nodes: &[&Node], after: &str) {
    for n in nodes {
        assert!(
            !n.in_readers || n.socket.is_some(),
            "after {after}: {} is in the load balancers' readers but its address refuses \
             connections",
            n.name
        );
        let Some((unit, server)) = &n.putfs else {
            continue;
        };
        let ds = mounted_at(&n.root).unwrap_or_else(|| {
            panic!(
                "after {after}: {}'s {unit} serves {}, where no dataset is mounted",
                n.name,
                n.root.display()
            )
        });
        assert!(
            ds.starts_with(&format!("{}/", n.pool)),
            "after {after}: {}'s {unit} serves {ds}, not a dataset of {}",
            n.name,
            n.pool
        );
        let r = server.get("/.putfs/ready");
        assert_eq!(
            r.status,
            200,
            "after {after}: {}'s {unit}: {}",
            n.name,
            r.text()
        );
    }
}

fn status(ds: &str) -> serde_json::Value {
    let out = putfs_ops(["status", "--dataset", ds, "--json"]);
    out.expect(0, &format!("status of {ds}"));
    serde_json::from_str(out.out().trim())
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}", out.describe()))
}

#[track_caller]
fn assert_role(ds: &str, starts: &str, stage: &str) -> serde_json::Value {
    let st = status(ds);
    let role = st["role"].as_str().unwrap_or_default().to_string();
    assert!(
        role.starts_with(starts),
        "stage {stage}: `putfs ops status --dataset {ds}` says {role:?}, expected {starts:?}…\n{st:#}"
    );
    st
}

/// Readers on a node's socket, each GET on a fresh connection (as a load
/// balancer's retries would see it), counting every read that fails.
struct Readers {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    fn start(addr: SocketAddr, key: &str, body: Vec<u8>) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed: Arc<Mutex<Vec<String>>> = Arc::default();
        let threads = (0..4)
            .map(|_| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                let (key, body) = (key.to_string(), body.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match read_once(addr, &key, &body) {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => failed.lock().unwrap().push(e),
                        }
                    }
                })
            })
            .collect();
        Readers {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Waits for `n` more good reads, then stops: (good reads, failures).
    fn finish(self, n: usize, stage: &str) -> usize {
        let target = self.ok.load(Ordering::SeqCst) + n;
        let more = wait_until(Duration::from_secs(60), || {
            self.ok.load(Ordering::SeqCst) >= target
        });
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        let failed = self.failed.lock().unwrap();
        assert!(
            failed.is_empty(),
            "{stage}: {} of the reads failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(10)]
        );
        assert!(more, "{stage}: reads stalled");
        self.ok.load(Ordering::SeqCst)
    }
}

fn read_once(addr: SocketAddr, key: &str, body: &[u8]) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!("GET /{key} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let r = parse_response(&buf, false).ok_or("no complete response")?;
    if r.status != 200 || r.body != body {
        return Err(format!("status {}", r.status));
    }
    Ok(())
}

fn delete_acked(
    s: &Server,
    key: &str,
    acked: &mut BTreeMap<String, String>,
    deleted: &mut BTreeSet<String>,
) {
    let r = s.delete(&key_url(key));
    assert_eq!(r.status, 204, "DELETE {key}: {}", r.text());
    acked.remove(key);
    deleted.insert(key.to_string());
}

fn put_acked(s: &Server, key: &str, body: &[u8], acked: &mut BTreeMap<String, String>) {
    let r = s.put(&key_url(key), body.to_vec());
    assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
    acked.insert(key.to_string(), sha_hex(body));
}

/// Snapshots of `ds` with their GUIDs, oldest first.
fn snaps(lab: &ZfsLab, ds: &str) -> Vec<(String, String)> {
    lab.snapshots(ds)
        .into_iter()
        .map(|s| {
            let guid = lab.get("guid", &format!("{ds}@{s}"));
            (s, guid)
        })
        .collect()
}

/// What `zrepl signal wakeup JOB` on `from` does, by zfs send/recv: the
/// push job's dataset goes to where the other node's sink puts it,
/// incrementally from the newest snapshot both hold. A new snapshot is
/// taken first if the newest one was sent already (zrepl's snapshotter
/// would have made one). `full_ok` only for the very first replication.
fn wakeup(lab: &ZfsLab, from: &Node, to: &Node, job_name: &str, full_ok: bool, n: &mut u32) {
    assert!(
        from.zrepl_running && to.zrepl_running,
        "zrepl must run on both nodes"
    );
    let push = job(&from.config, "push")
        .unwrap_or_else(|| panic!("wakeup on {}: its config has no push job", from.name));
    assert_eq!(
        push["name"].as_str(),
        Some(job_name),
        "wakeup names the push job"
    );
    let sink = job(&to.config, "sink")
        .unwrap_or_else(|| panic!("{}'s config has no sink for {}'s push", to.name, from.name));
    let fs = push["filesystems"].as_mapping().expect("filesystems");
    assert_eq!(fs.len(), 1, "one dataset: {fs:?}");
    let source = fs
        .keys()
        .next()
        .and_then(|k| k.as_str())
        .unwrap()
        .trim_end_matches('<')
        .to_string();
    let clients = sink["serve"]["clients"].as_mapping().expect("clients");
    let identity = clients.values().next().and_then(|v| v.as_str()).unwrap();
    let root_fs = sink["root_fs"].as_str().unwrap();
    let target = format!("{root_fs}/{identity}/{source}");

    let mut sent = snaps(lab, &source);
    let received = if lab.zfs(["list", "-H", "-o", "name", &target]).code == Some(0) {
        snaps(lab, &target)
    } else {
        Vec::new()
    };
    let common = sent
        .iter()
        .rev()
        .find(|(_, g)| received.iter().any(|(_, r)| r == g))
        .cloned();
    if common.is_some() && common == sent.last().cloned() {
        *n += 1;
        lab.zfs_ok(["snapshot", &format!("{source}@zrepl_w{n}")]);
        sent = snaps(lab, &source);
    }
    let newest = format!("{source}@{}", sent.last().expect("a snapshot").0);
    match common {
        Some((c, _)) => {
            let from_snap = format!("{source}@{c}");
            lab.send_recv_ok(&["-I", &from_snap, &newest], &[&target]);
        }
        None => {
            assert!(
                full_ok,
                "wakeup {}→{}: {target} shares no snapshot with {source}: a full resend",
                from.name, to.name
            );
            lab.zfs_ok(["create", "-p", target.rsplit_once('/').unwrap().0]);
            lab.send_recv_ok(&[&newest], &[&target]);
        }
    }
}

/// Runs one plan (the `plan` or `flip_back` list of plan.json).
struct Drill<'a> {
    lab: &'a ZfsLab,
    a: Node,
    b: Node,
    snapshot_n: u32,
    /// Outputs of the GUID steps, to compare.
    guids: Vec<String>,
    busy_renames: u32,
}

impl Drill<'_> {
    fn nodes(&mut self, role: &str) -> (&mut Node, &mut Node) {
        if self.a.plan_role == role {
            (&mut self.a, &mut self.b)
        } else {
            assert_eq!(self.b.plan_role, role, "unknown node {role:?}");
            (&mut self.b, &mut self.a)
        }
    }

    fn run_plan(&mut self, name: &str, steps: &[serde_json::Value]) {
        for (i, step) in steps.iter().enumerate() {
            let what = format!(
                "{name} step {} [{}] {}",
                i + 1,
                step["node"].as_str().unwrap_or("?"),
                step["description"].as_str().unwrap_or("?")
            );
            eprintln!("--- {what}");
            self.step(step, &what);
            self.a.tick(&what);
            self.b.tick(&what);
            assert_served_mounted(&[&self.a, &self.b], &what);
        }
    }

    fn step(&mut self, step: &serde_json::Value, what: &str) {
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap_or_else(|| panic!("{what}: not a list: {v}"))
                .iter()
                .map(|a| a.as_str().expect("strings").to_string())
                .collect()
        };
        let role = step["node"].as_str().expect("node").to_string();
        if let Some(run) = step.get("run") {
            let argv = strings(run);
            self.run(&role, &argv, what);
        } else if let Some(check) = step.get("check") {
            let argv = strings(check);
            let expect = strings(&step["expect"]);
            assert_eq!(argv[0], "zfs", "{what}: checks are zfs queries");
            let out = self.lab.zfs(&argv[1..]);
            assert_eq!(out.code, Some(0), "{what}\n{}", out.describe());
            let got: Vec<String> = out.out().lines().map(str::to_string).collect();
            assert_eq!(got, expect, "{what}: check failed\n{}", out.describe());
        } else if let Some(path) = step.get("install_config") {
            assert_eq!(path.as_str(), Some("/etc/zrepl/zrepl.yml"), "{what}");
            let yaml = step["yaml"].as_str().expect("yaml");
            let file = self.lab.dir().join(format!("installed-{}.yml", role));
            std::fs::write(&file, yaml).unwrap();
            putfs_ops(["zrepl-check", file.to_str().unwrap()]).expect(0, what);
            let (node, _) = self.nodes(&role);
            assert!(
                !node.zrepl_running,
                "{what}: zrepl runs while its config changes"
            );
            node.config = serde_yaml_ng::from_str(yaml).unwrap();
        } else if let Some(change) = step.get("balancer") {
            let (node, other) = self.nodes(&role);
            match change.as_str() {
                Some("readers_out") => node.in_readers = false,
                Some("readers_in") => {
                    assert!(node.putfs.is_some(), "{what}: {} serves nothing", node.name);
                    node.in_readers = true;
                }
                Some("writes_here") => {
                    assert_eq!(
                        node.unit(),
                        Some(PRIMARY_UNIT),
                        "{what}: writes to {}",
                        node.name
                    );
                    assert_ne!(other.unit(), Some(PRIMARY_UNIT), "{what}: two primaries");
                    node.in_readers = true;
                }
                _ => panic!("{what}: load-balancer change {change}"),
            }
        } else {
            assert_eq!(step["manual"].as_bool(), Some(true), "{what}: {step}");
        }
    }

    fn run(&mut self, role: &str, argv: &[String], what: &str) {
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["zfs", "rename", ..] => {
                let mut out = self.lab.zfs(&argv[1..]);
                // zfs-fuse may call a dataset busy for a moment after its
                // unmount; the step says to repeat.
                for _ in 0..20 {
                    if out.code == Some(0) || !out.err().contains("busy") {
                        break;
                    }
                    self.busy_renames += 1;
                    std::thread::sleep(Duration::from_millis(500));
                    out = self.lab.zfs(&argv[1..]);
                }
                assert_eq!(out.code, Some(0), "{what}\n{}", out.describe());
            }
            ["zfs", rest @ ..] => {
                let out = self.lab.zfs(rest);
                assert_eq!(out.code, Some(0), "{what}\n{}", out.describe());
                if rest.contains(&"guid") {
                    self.guids.push(out.out().trim().to_string());
                }
            }
            ["putfs", "ops", rest @ ..] => {
                putfs_ops(rest).expect(0, what);
            }
            ["systemctl", ..] => {
                let (node, _) = self.nodes(role);
                node.systemctl(&words, what);
            }
            ["zrepl", "signal", "wakeup", job_name] => {
                let n = &mut self.snapshot_n;
                let (from, to) = if self.a.plan_role == role {
                    (&self.a, &self.b)
                } else {
                    (&self.b, &self.a)
                };
                wakeup(self.lab, from, to, job_name, false, n);
            }
            ["zrepl", "zfs-abstraction", "release-all", "--job", job_name] => {
                let (node, _) = self.nodes(role);
                assert!(
                    node.job_names().iter().any(|j| j == job_name),
                    "{what}: {} runs no job {job_name:?} ({:?})",
                    node.name,
                    node.job_names()
                );
                assert!(!node.zrepl_running, "{what}: release while zrepl runs");
            }
            _ => panic!("{what}: a step this drill cannot run: {argv:?}"),
        }
    }
}

#[test]
fn printed_plans_run_as_printed_on_zfs_fuse() {
    if let Some(why) = zfs_unavailable() {
        if std::env::var("PUTFS_REQUIRE_ZFS").as_deref() == Ok("1") {
            panic!("PUTFS_REQUIRE_ZFS=1 but ZFS tests cannot run: {why}");
        }
        println!("SKIP: printed_plans_run_as_printed_on_zfs_fuse: {why}");
        return;
    }
    let pid = std::process::id();
    let pool_a = format!("pda{pid}");
    let pool_b = format!("pdb{pid}");
    let ds_a = format!("{pool_a}/putfs");
    let ds_b = format!("{pool_b}/sink/a/{ds_a}");
    let target = format!("{pool_a}/sink/b/{ds_b}");
    let at = |ds: &str, s: &str| format!("{ds}@{s}");

    // Declared first: dropped last, after every server on its mounts.
    let mut lab = ZfsLab::start();
    lab.create_pool(&pool_a);
    lab.create_pool(&pool_b);
    let srv_a = lab.dir().join("srv-a");
    let srv_b = lab.dir().join("srv-b");
    let mut rng = Rng::from_time();
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();

    let cfg = lab.dir().join("zrepl");
    std::fs::create_dir_all(&cfg).unwrap();
    let a_yml = cfg.join("a.yml");
    let b_yml = cfg.join("b.yml");
    std::fs::write(
        &a_yml,
        format!(
            "jobs:\n  - name: putfs-push\n    type: push\n    connect: {{type: tcp, address: \
             \"127.0.0.3:8888\"}}\n    filesystems: {{\"{ds_a}\": true}}\n    snapshotting: \
             {{type: periodic, prefix: zrepl_, interval: 10m}}\n    pruning:\n      \
             keep_sender: [{{type: not_replicated}}, {{type: last_n, count: 10}}]\n      \
             keep_receiver: [{{type: last_n, count: 30}}]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &b_yml,
        format!(
            "jobs:\n  - name: putfs-sink\n    type: sink\n    serve: {{type: tcp, listen: \
             \"127.0.0.3:8888\", clients: {{\"127.0.0.1\": \"a\"}}}}\n    root_fs: \
             {pool_b}/sink\n    recv: {{properties: {{override: {{readonly: \"on\", atime: \
             \"off\"}}}}}}\n"
        ),
    )
    .unwrap();
    putfs_ops([
        "zrepl-check",
        a_yml.to_str().unwrap(),
        b_yml.to_str().unwrap(),
    ])
    .expect(0, "the drill's configs");
    let read_yaml = |p: &Path| -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let mut a = Node::new("A", "recovered", &pool_a, &srv_a);
    a.config = read_yaml(&a_yml);
    let mut b = Node::new("B", "new_primary", &pool_b, &srv_b);
    b.config = read_yaml(&b_yml);
    let mut snapshot_n = 0;

    // ---- stage "primary": A takes writes ---------------------------------
    lab.zfs_ok([
        "create",
        "-o",
        &format!("mountpoint={}", srv_a.display()),
        &ds_a,
    ]);
    // The runbook's setup: mark the new dataset once (`install -d`),
    // record the node as the primary, start the primary unit.
    std::fs::create_dir(srv_a.join(".putfs")).unwrap();
    putfs_ops(["promote", "--root", srv_a.to_str().unwrap(), "--yes"])
        .expect(0, "record A as the primary (setup)");
    a.systemctl(
        &["systemctl", "enable", "--now", "putfs.socket", PRIMARY_UNIT],
        "setup of A",
    );
    assert_eq!(a.unit(), Some(PRIMARY_UNIT), "setup of A");
    a.in_readers = true;
    for i in 0..12 {
        let len = rng.range(0, 20_000) as usize;
        let body = rng.bytes(len);
        put_acked(a.server(), &format!("base/o{i:02}.bin"), &body, &mut acked);
    }
    let st = assert_role(&ds_a, "primary: putfs (pid", "primary");
    assert!(
        st["role"]
            .as_str()
            .unwrap()
            .contains(&a.server().pid().to_string()),
        "the writer's pid: {st:#}"
    );

    // ---- stage "replica": B receives A (the runbook's setup) -------------
    lab.zfs_ok(["create", "-o", "mountpoint=none", &format!("{pool_b}/sink")]);
    lab.zfs_ok(["snapshot", &at(&ds_a, "zrepl_1")]);
    wakeup(&lab, &a, &b, "putfs-push", true, &mut snapshot_n);
    lab.zfs_ok(["set", "atime=off", &ds_b]);
    lab.zfs_ok(["set", &format!("mountpoint={}", srv_b.display()), &ds_b]);
    putfs_ops(["demote", "--dataset", &ds_b, "--yes"]).expect(0, "demote the new replica");
    b.systemctl(
        &["systemctl", "enable", "--now", "putfs.socket", REPLICA_UNIT],
        "setup of B",
    );
    b.in_readers = true;
    assert_served_mounted(&[&a, &b], "setup");
    assert_role(&ds_b, "replica", "replica");
    for i in 0..6 {
        let len = rng.range(1, 9_000) as usize;
        let body = rng.bytes(len);
        put_acked(a.server(), &format!("more/o{i}.bin"), &body, &mut acked);
    }
    lab.zfs_ok(["snapshot", &at(&ds_a, "zrepl_2")]);
    wakeup(&lab, &a, &b, "putfs-push", false, &mut snapshot_n);
    assert_eq!(
        object_tree(&srv_b),
        acked,
        "B holds A's objects at @zrepl_2"
    );

    // cfg/new is mutable on both nodes (putfs.env); A wrote a first version.
    // (Written after @zrepl_2: the gap's conflict below.)
    let read_key = "base/o00.bin";
    let read_body = std::fs::read(srv_a.join(read_key)).unwrap();
    // Promotion refuses a dataset that is not mounted (its mountpoint is a
    // bare directory a writable putfs would refuse), before changing
    // anything. B serves nothing meanwhile: its socket is stopped too.
    b.in_readers = false;
    b.systemctl(&["systemctl", "stop", "putfs.socket"], "B out for a check");
    lab.zfs_ok(["unmount", &ds_b]);
    let refused = putfs_ops(["promote", "--dataset", &ds_b, "--yes"]);
    refused.expect(3, "promote of an unmounted dataset");
    assert!(
        refused.err().contains(&format!("zfs mount {ds_b}")),
        "{}",
        refused.describe()
    );
    assert_eq!(
        lab.get("readonly", &ds_b),
        "on",
        "a refused promote changed readonly"
    );
    lab.zfs_ok(["mount", &ds_b]);
    assert_role(&ds_b, "replica", "replica, after the refused promote");
    b.systemctl(&["systemctl", "start", "putfs.socket"], "B back");
    b.tick("B back");
    b.in_readers = true;
    let readers = Readers::start(b.addr, read_key, read_body.clone());

    // ---- A fails with a gap; a snapshot in flight is held ----------------
    let mut gap = BTreeMap::new();
    for i in 0..5 {
        put_acked(
            a.server(),
            &format!("gap/g{i}.bin"),
            &rng.bytes(3000),
            &mut gap,
        );
    }
    // Deletes acknowledged after the snapshot: B must not bring them back.
    delete_acked(a.server(), "base/o03.bin", &mut acked, &mut deleted);
    delete_acked(a.server(), "base/o04.bin", &mut acked, &mut deleted);
    // Deleted and re-created with the same bytes: not a delete at all.
    let o05 = std::fs::read(srv_a.join("base/o05.bin")).unwrap();
    delete_acked(a.server(), "base/o05.bin", &mut acked, &mut deleted);
    put_acked(a.server(), "base/o05.bin", &o05, &mut acked);
    deleted.remove("base/o05.bin");
    // A gap key deleted and re-created with other bytes.
    delete_acked(a.server(), "gap/g1.bin", &mut gap, &mut deleted);
    put_acked(a.server(), "gap/g1.bin", &rng.bytes(2500), &mut gap);
    deleted.remove("gap/g1.bin");
    // A key mutable on B too, which B will also write.
    let cfg_a = b"A's settings".to_vec();
    put_acked(a.server(), "cfg/new", &cfg_a, &mut gap);
    gap.remove("cfg/new");
    // zrepl was sending @zrepl_3 when A died: its step hold stays behind.
    lab.zfs_ok(["snapshot", &at(&ds_a, "zrepl_3")]);
    lab.zfs_ok(["hold", "zrepl_STEP_J_putfs-push", &at(&ds_a, "zrepl_3")]);
    acked.extend(gap.clone());
    a.crash();

    // ---- stage "promoted": B takes over ---------------------------------
    // The runbook's promotion, under read load: promote, then run the
    // next step it prints. putfs.socket keeps B's address through the
    // switch of units.
    let promoted = putfs_ops(["promote", "--dataset", &ds_b, "--yes"]);
    promoted.expect(0, "promote B");
    let next = promote_next_step(&promoted.err());
    run_systemctl_line(
        &mut b.machine,
        &next,
        "promotion of B: the step promote printed",
    );
    assert_eq!(b.unit(), Some(PRIMARY_UNIT), "B runs {next:?}");
    let st = assert_role(&ds_b, "primary: putfs (pid", "promoted");
    assert_eq!(
        st["promotion"]["shared_snapshot"]["name"], "zrepl_2",
        "{st:#}"
    );
    let mut on_b = BTreeMap::new();
    for i in 0..4 {
        put_acked(
            b.server(),
            &format!("on-b/o{i}.bin"),
            &rng.bytes(2000),
            &mut on_b,
        );
    }
    // B re-creates a key A deleted (other bytes): the delete must not win.
    assert_eq!(b.server().delete(&key_url("base/o04.bin")).status, 204);
    put_acked(b.server(), "base/o04.bin", &rng.bytes(1234), &mut on_b);
    deleted.remove("base/o04.bin");
    // B writes cfg/new too: a conflict with A's version.
    let cfg_b = b"B's settings".to_vec();
    put_acked(b.server(), "cfg/new", &cfg_b, &mut on_b);
    acked.extend(on_b.clone());
    let reads = readers.finish(200, "promotion of B under read load");
    eprintln!("promotion: {reads} reads from B, none failed");
    // A reboot of the new primary brings it back as the primary.
    b.reboot("reboot of the promoted B");
    assert_eq!(
        b.unit(),
        Some(PRIMARY_UNIT),
        "after a reboot the promoted B runs {:?} (enabled: {:?}): every write would fail",
        b.unit(),
        b.enabled
    );
    put_acked(b.server(), "on-b/after-reboot.bin", b"rebooted", &mut acked);
    b.in_readers = true;

    // ---- A back: the gap to B, then the rollback's refusals --------------
    let transfer = |to: &str, extra: &[&str]| {
        let mut args = vec![
            "transfer-gap",
            "--dataset",
            &ds_a,
            "--snapshot",
            "zrepl_2",
            "--to",
            to,
        ];
        args.extend_from_slice(extra);
        putfs_ops(args)
    };
    // By rsync into B's data root (mounted here; B's putfs serves it):
    // cfg/new is a conflict, B's version stays, and the deletes are shown
    // with the command that applies them.
    let srv_b_dir = srv_b.to_str().unwrap().to_string();
    let by_rsync = transfer(&srv_b_dir, &[]);
    by_rsync.expect(4, "transfer-gap by rsync: the conflict on cfg/new");
    assert!(
        by_rsync.err().contains("cfg/new"),
        "{}",
        by_rsync.describe()
    );
    assert!(
        by_rsync.err().contains("--apply-deletes"),
        "the deletes' command is printed\n{}",
        by_rsync.describe()
    );
    transfer(&srv_b_dir, &["--ignore-conflicts"]).expect(0, "transfer-gap by rsync");
    assert_eq!(
        b.server().get(&key_url("cfg/new")).body,
        cfg_b,
        "B's version kept"
    );
    // The runbook's way out of a conflict: A's version beside B's.
    put_acked(b.server(), "cfg/new.from-a", &cfg_a, &mut acked);
    // Over HTTP, applying the deletes where B still holds the snapshot's
    // bytes (base/o03); base/o04, re-created on B since, is kept.
    let b_url = format!("http://{}", b.server().addr);
    let by_http = transfer(&b_url, &["--ignore-conflicts", "--apply-deletes", "--yes"]);
    by_http.expect(0, "transfer-gap over HTTP with the deletes");
    assert_eq!(b.server().get(&key_url("base/o03.bin")).status, 404);
    assert_eq!(
        sha_hex(&b.server().get(&key_url("base/o04.bin")).body),
        acked["base/o04.bin"],
        "B's re-created object survives the deletes\n{}",
        by_http.describe()
    );
    for (key, sha) in acked.iter().filter(|(k, _)| !k.starts_with("on-b/")) {
        let got = sha_hex(&b.server().get(&key_url(key)).body);
        assert_eq!(&got, sha, "{key} on B after the transfer");
    }
    let a_snaps = lab.snapshots(&ds_a);
    let rollback = |extra: &[&str]| {
        let mut args = vec![
            "rollback",
            "--dataset",
            &ds_a,
            "--snapshot",
            "zrepl_2",
            "--yes",
        ];
        args.extend_from_slice(extra);
        putfs_ops(args)
    };
    // A boots: its enabled units start, putfs-primary among them (A does
    // not know B was promoted), a writable putfs the rollback names.
    a.boot("A boots");
    assert_eq!(a.unit(), Some(PRIMARY_UNIT), "A boots as it was set up");
    let served = rollback(&[]);
    served.expect(3, "rollback while A's putfs serves writable");
    let pid_text = format!("pid {}", a.server().pid());
    assert!(served.err().contains(&pid_text), "{}", served.describe());
    assert_eq!(
        lab.snapshots(&ds_a),
        a_snaps,
        "a refused rollback changed A"
    );
    // The runbook: keep A's zrepl and putfs-primary from running. Its
    // socket stays, so the next connection starts putfs-replica there.
    a.systemctl(
        &["systemctl", "disable", "--now", "zrepl", PRIMARY_UNIT],
        "A: the runbook's step 2",
    );
    a.tick("A: the runbook's step 2");
    assert_eq!(a.unit(), Some(REPLICA_UNIT));
    // The held @zrepl_3: refused before `zfs rollback` would fail halfway,
    // with the commands to look and release (zfs-fuse cannot list tags).
    let held = rollback(&[]);
    held.expect(3, "rollback with a held later snapshot");
    assert!(
        held.err()
            .contains(&format!("zfs holds {}", at(&ds_a, "zrepl_3"))),
        "{}",
        held.describe()
    );
    assert_eq!(lab.snapshots(&ds_a), a_snaps);
    lab.zfs_ok(["release", "zrepl_STEP_J_putfs-push", &at(&ds_a, "zrepl_3")]);
    rollback(&[]).expect(0, "rollback");
    assert_eq!(lab.snapshots(&ds_a), ["zrepl_1", "zrepl_2"]);
    assert_role(&ds_a, "rolled back to @zrepl_2", "rolled back");
    // Configuration management restarts putfs-primary on every node: on
    // A, no longer the primary, its role guard skips it, and the next
    // connection brings putfs-replica back.
    let what = "systemctl restart putfs-primary on the rolled-back A";
    a.systemctl(&["systemctl", "restart", PRIMARY_UNIT], what);
    a.tick(what);
    assert_eq!(a.unit(), Some(REPLICA_UNIT), "{what}: a second primary");
    assert_eq!(a.skipped, 1, "{what}");
    let what = "systemctl restart putfs-primary on the promoted B";
    b.systemctl(&["systemctl", "restart", PRIMARY_UNIT], what);
    assert_eq!(b.unit(), Some(PRIMARY_UNIT), "{what}");

    // ---- stage "reversed": the printed reversal plan --------------------
    let out_dir = cfg.join("reversed");
    let reverse = putfs_ops([
        "reverse-zrepl",
        "--old-primary-config",
        a_yml.to_str().unwrap(),
        "--old-secondary-config",
        b_yml.to_str().unwrap(),
        "--shared-snapshot",
        "zrepl_2",
        "--new-primary-identity",
        "b",
        "--new-primary-ip",
        "127.0.0.3",
        "--recovered-address",
        "127.0.0.1:8888",
        "--recovered-listen",
        "127.0.0.1:8888",
        "--recovered-root-fs",
        &format!("{pool_a}/sink"),
        "--recovered-mountpoint",
        srv_a.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--flip-back",
    ]);
    reverse.expect(0, "reverse-zrepl");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["layout"]["recovered_dataset_after"], target.as_str());
    let mut drill = Drill {
        lab: &lab,
        a,
        b,
        snapshot_n,
        guids: Vec::new(),
        busy_renames: 0,
    };
    drill.run_plan("reversal", plan["plan"].as_array().expect("plan"));
    assert_eq!(drill.guids.len(), 2, "two GUID steps: {:?}", drill.guids);
    assert_eq!(
        drill.guids[0], drill.guids[1],
        "the shared snapshot's GUIDs differ"
    );
    assert_eq!(
        drill.a.unit(),
        Some(REPLICA_UNIT),
        "A serves reads after the reversal"
    );
    assert_eq!(drill.b.unit(), Some(PRIMARY_UNIT));
    assert_eq!(mounted_at(&srv_a).as_deref(), Some(target.as_str()));
    assert_role(&target, "replica", "reversed (A)");
    assert_role(&ds_b, "primary: putfs (pid", "reversed (B)");
    assert_eq!(
        object_tree(&srv_a),
        object_tree(&srv_b),
        "A caught up with B"
    );
    for (key, sha) in &acked {
        let r = drill.a.server().get(&key_url(key));
        assert_eq!(r.status, 200, "A serves {key} read-only");
        assert_eq!(&sha_hex(&r.body), sha, "{key} on A");
    }

    // ---- stage "flipped back": the printed flip-back plan ---------------
    for i in 0..3 {
        let body = rng.bytes(1500);
        put_acked(
            drill.b.server(),
            &format!("late-b/o{i}.bin"),
            &body,
            &mut acked,
        );
    }
    let readers = Readers::start(drill.b.addr, read_key, read_body.clone());
    drill.run_plan(
        "flip back",
        plan["flip_back"].as_array().expect("flip_back"),
    );
    let reads = readers.finish(100, "flip back under read load on B");
    eprintln!("flip back: {reads} reads from B, none failed");
    assert_eq!(drill.a.unit(), Some(PRIMARY_UNIT), "A takes writes again");
    assert_eq!(drill.b.unit(), Some(REPLICA_UNIT), "B serves reads");
    assert_eq!(mounted_at(&srv_a).as_deref(), Some(ds_a.as_str()));
    assert_eq!(mounted_at(&srv_b).as_deref(), Some(ds_b.as_str()));
    assert_role(&ds_a, "primary: putfs (pid", "flipped back (A)");
    let st = assert_role(&ds_b, "replica", "flipped back (B)");
    assert!(st["promotion"].is_null(), "B's promotion ended: {st:#}");
    assert_eq!(lab.get("readonly", &ds_a), "off", "A's dataset is writable");
    // Both keep their roles across a reboot; on B, no longer the primary,
    // a restart of putfs-primary is skipped by its role guard.
    drill.a.reboot("reboot of A after the flip back");
    drill.b.reboot("reboot of B after the flip back");
    assert_eq!(drill.a.unit(), Some(PRIMARY_UNIT), "A after a reboot");
    assert_eq!(drill.b.unit(), Some(REPLICA_UNIT), "B after a reboot");
    let what = "systemctl restart putfs-primary on B after the flip back";
    let skipped = drill.b.skipped;
    drill
        .b
        .systemctl(&["systemctl", "restart", PRIMARY_UNIT], what);
    drill.b.tick(what);
    assert_eq!(
        drill.b.unit(),
        Some(REPLICA_UNIT),
        "{what}: a second primary"
    );
    assert_eq!(drill.b.skipped, skipped + 1, "{what}");
    // A takes a write, and it replicates to B incrementally.
    put_acked(drill.a.server(), "after/flip.bin", b"back on A", &mut acked);
    let mut n = drill.snapshot_n;
    wakeup(&lab, &drill.a, &drill.b, "putfs-push", false, &mut n);
    let r = drill.b.server().get(&key_url("after/flip.bin"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"back on A"[..]));
    assert_eq!(object_tree(&srv_a), acked, "no acknowledged write lost");
    assert_eq!(object_tree(&srv_b), acked);
    for key in &deleted {
        assert!(
            !srv_a.join(key).exists(),
            "{key}: an acknowledged delete undone on A"
        );
        assert!(
            !srv_b.join(key).exists(),
            "{key}: an acknowledged delete undone on B"
        );
    }
    assert_eq!(
        deleted,
        ["base/o03.bin".to_string()].into(),
        "the deletes checked"
    );
    eprintln!(
        "socket activation started putfs-replica {} time(s) on A and {} on B; putfs-primary \
         was skipped by its role guard {} time(s) on A and {} on B",
        drill.a.activations, drill.b.activations, drill.a.skipped, drill.b.skipped
    );
    if drill.busy_renames > 0 {
        eprintln!(
            "NOTE (zfs-fuse): `zfs rename` answered \"dataset is busy\" {} time(s) right after \
             an unmount and succeeded when repeated, as the plan step says",
            drill.busy_renames
        );
    }
    drop(drill);
    drop(lab);
}
