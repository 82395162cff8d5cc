//! The deployment kit's configuration, exercised for real: the Prometheus
//! rules with `promtool check rules` and `promtool test rules` (and every
//! alert shown firing and quiet), the zrepl configs with `putfs ops
//! zrepl-check` (and `reverse-zrepl`, which must produce the shipped
//! reversed pair), and the systemd units, parsed and then run: each
//! `ExecStart=` line starts a real server or replicates, putfs-primary's
//! role guard (`ExecCondition=`) lets only a node recorded as the primary
//! start, and `systemd-analyze verify` checks them where it exists. The replication
//! scripts themselves are tested in `replication_scripts.rs`.
//!
//! A missing tool skips its test with a `SKIP` line, unless
//! `PUTFS_REQUIRE_TOOLS=1` (scripts/test sets it), which makes it a failure.

mod common;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/tools.rs"]
mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::*;
use ops::*;
use tools::*;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Prometheus rules
// ---------------------------------------------------------------------------

fn yaml(path: &Path) -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a serde_yaml_ng::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("no string {key:?} in {v:?}"))
}

/// GitHub's heading anchors: lower case, spaces to `-`, punctuation gone.
fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

fn instance_of(series: &str) -> Option<String> {
    let rest = &series[series.find("instance=\"")? + "instance=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

#[test]
fn prometheus_rules_pass_promtool_and_every_alert_is_tested() {
    let Some(promtool) = need("promtool", "prometheus rules") else {
        return;
    };
    let dir = repo().join("ops/prometheus");
    let rules = dir.join("putfs-alerts.yml");
    let tests = dir.join("putfs-alerts.test.yml");
    let mut check = clean_command(&promtool);
    check.args(["check", "rules"]).arg(&rules);
    run(check).expect(0, "promtool check rules");
    let mut unit = clean_command(&promtool);
    unit.args(["test", "rules"]).arg(&tests).current_dir(&dir);
    let out = run(unit);
    out.expect(0, "promtool test rules");
    assert!(out.combined().contains("SUCCESS"), "{}", out.describe());

    // Every alert: labelled, annotated, linked to a runbook section that
    // exists, and unit-tested both firing and quiet.
    let runbook = std::fs::read_to_string(repo().join("ops/RUNBOOK.md")).unwrap();
    let sections = anchors(&runbook);
    let mut alerts = BTreeMap::new();
    for group in yaml(&rules)["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = str_of(rule, "alert").to_string();
            let expr = str_of(rule, "expr");
            assert!(
                !expr.contains("last_successful_step_timestamp"),
                "{name}: zrepl has no such metric"
            );
            let severity = str_of(&rule["labels"], "severity");
            assert!(
                ["warning", "critical"].contains(&severity),
                "{name}: severity {severity}"
            );
            let ann = &rule["annotations"];
            for key in ["summary", "description"] {
                assert!(!str_of(ann, key).is_empty(), "{name}: empty {key}");
            }
            let url = str_of(ann, "runbook_url");
            let anchor = url
                .strip_prefix("ops/RUNBOOK.md#")
                .unwrap_or_else(|| panic!("{name}: runbook_url {url}"));
            assert!(
                sections.contains(anchor),
                "{name}: RUNBOOK.md has no section #{anchor} (has {sections:?})"
            );
            assert!(runbook.contains(&name), "RUNBOOK.md never mentions {name}");
            alerts.insert(name, expr.to_string());
        }
    }
    for needed in [
        "putfs_replication_lag_seconds",
        "zrepl_replication_last_successful",
        "zrepl_replication_filesystem_errors",
        "up{job=\"putfs\"}",
        "putfs_data_root_free_bytes",
        "putfs_http_requests_total{status=~\"5..\"",
    ] {
        assert!(
            alerts.values().any(|e| e.contains(needed)),
            "no alert uses {needed}"
        );
    }

    let mut fired: BTreeSet<String> = BTreeSet::new();
    let mut quiet: BTreeSet<String> = BTreeSet::new();
    for case in yaml(&tests)["tests"].as_sequence().unwrap() {
        let instances: BTreeSet<String> = case["input_series"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| instance_of(str_of(s, "series")))
            .collect();
        for t in case["alert_rule_test"].as_sequence().unwrap() {
            let name = str_of(t, "alertname").to_string();
            assert!(alerts.contains_key(&name), "test of unknown alert {name}");
            let firing: BTreeSet<String> = t["exp_alerts"]
                .as_sequence()
                .map(|v| v.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|a| str_of(&a["exp_labels"], "instance").to_string())
                .collect();
            if !firing.is_empty() {
                fired.insert(name.clone());
            }
            if firing.len() < instances.len() {
                quiet.insert(name);
            }
        }
    }
    for name in alerts.keys() {
        assert!(fired.contains(name), "no unit test makes {name} fire");
        assert!(
            quiet.contains(name),
            "no unit test shows {name} quiet for some series"
        );
    }
}

// ---------------------------------------------------------------------------
// zrepl
// ---------------------------------------------------------------------------

fn zrepl_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("zrepl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn zrepl_configs_pass_zrepl_check_without_warnings() {
    let files = zrepl_files();
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "putfs-push.yml",
        "putfs-sink.yml",
        "putfs-push-reversed.yml",
        "putfs-sink-reversed.yml",
    ] {
        assert!(names.contains(expected), "zrepl/{expected} is missing");
    }
    let mut args = vec![OsStr::new("zrepl-check")];
    args.extend(files.iter().map(|p| p.as_os_str()));
    let out = putfs_ops(args);
    out.expect(0, "putfs ops zrepl-check zrepl/*.yml");
    for f in &files {
        assert!(
            out.out().contains(&format!("{}: ok", f.display())),
            "{} is not clean (warnings?)\n{}",
            f.display(),
            out.describe()
        );
    }

    // Recovery needs the shared snapshot kept on the sender.
    let push = yaml(&repo().join("zrepl/putfs-push.yml"));
    let job = &push["jobs"][0];
    assert_eq!(str_of(job, "type"), "push");
    assert_eq!(str_of(&job["snapshotting"], "prefix"), "zrepl_");
    let keep: Vec<&str> = job["pruning"]["keep_sender"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| str_of(r, "type"))
        .collect();
    assert!(keep.contains(&"not_replicated"), "keep_sender: {keep:?}");
    assert!(keep.contains(&"grid") || keep.contains(&"last_n"));
}

#[test]
fn reversed_zrepl_pair_is_what_reverse_zrepl_writes() {
    let dir = tempdir();
    let out = putfs_ops([
        "reverse-zrepl",
        "--old-primary-config",
        s(&repo().join("zrepl/putfs-push.yml")),
        "--old-secondary-config",
        s(&repo().join("zrepl/putfs-sink.yml")),
        "--shared-snapshot",
        "zrepl_20260101_000000_000",
        "--new-primary-identity",
        "putfs-b",
        "--new-primary-ip",
        "192.0.2.20",
        "--recovered-address",
        "192.0.2.10:8888",
        "--recovered-listen",
        ":8888",
        "--recovered-root-fs",
        "tank/sink",
        "--recovered-mountpoint",
        "/srv/putfs",
        "--out-dir",
        s(dir.path()),
    ]);
    out.expect(0, "putfs ops reverse-zrepl");
    for (generated, shipped) in [
        ("new-primary.yml", "putfs-push-reversed.yml"),
        ("recovered.yml", "putfs-sink-reversed.yml"),
    ] {
        assert_eq!(
            yaml(&dir.path().join(generated)),
            yaml(&repo().join("zrepl").join(shipped)),
            "zrepl/{shipped} differs from what reverse-zrepl writes as {generated}"
        );
    }
}

// ---------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------

/// A unit file: section → (key, value) in order; repeated keys kept.
struct Unit {
    name: String,
    sections: BTreeMap<String, Vec<(String, String)>>,
}

impl Unit {
    fn parse(name: &str, text: &str) -> Unit {
        let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = std::mem::take(&mut pending) + line;
            if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = Some(sec.to_string());
                sections.entry(sec.to_string()).or_default();
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}: not key=value: {line:?}"));
            let sec = current
                .clone()
                .unwrap_or_else(|| panic!("{name}: {k} outside a section"));
            sections
                .entry(sec)
                .or_default()
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        Unit {
            name: name.to_string(),
            sections,
        }
    }

    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|kv| {
                kv.iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last value (later assignments win), or a panic naming the key.
    fn one(&self, section: &str, key: &str) -> &str {
        self.all(section, key)
            .last()
            .copied()
            .unwrap_or_else(|| panic!("{}: [{section}] has no {key}=", self.name))
    }

    /// Whitespace-separated words of every assignment of a list key.
    fn words(&self, section: &str, key: &str) -> BTreeSet<String> {
        self.all(section, key)
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(str::to_string)
            .collect()
    }

    fn expect(&self, section: &str, key: &str, value: &str) {
        assert_eq!(
            self.one(section, key),
            value,
            "{}: [{section}] {key}=",
            self.name
        );
    }

    /// The service's environment as systemd builds it: `Environment=` in
    /// order, then `EnvironmentFile=` (a leading `-` = optional).
    fn environment(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for v in self.all("Service", "Environment") {
            for word in shell_words::split(v).expect("Environment= quoting") {
                let (k, val) = word.split_once('=').expect("Environment= KEY=VALUE");
                env.insert(k.to_string(), val.to_string());
            }
        }
        for f in self.all("Service", "EnvironmentFile") {
            let (optional, path) = match f.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, f),
            };
            match std::fs::read_to_string(path) {
                Ok(text) => env.extend(env_file(&text)),
                Err(_) if optional => {}
                Err(e) => panic!("{}: EnvironmentFile={path}: {e}", self.name),
            }
        }
        env
    }

    /// `ExecStart=` as argv: prefixes dropped, quotes removed, `${VAR}`
    /// one word, `$VAR` split at whitespace (zero words when empty).
    fn exec_start(&self, env: &BTreeMap<String, String>) -> Vec<String> {
        let line = self
            .one("Service", "ExecStart")
            .trim_start_matches(['-', '@', ':', '+', '!']);
        let lookup = |name: &str| {
            env.get(name)
                .unwrap_or_else(|| panic!("{}: ExecStart uses unset ${name}", self.name))
                .clone()
        };
        let mut argv = Vec::new();
        for word in shell_words::split(line).expect("ExecStart quoting") {
            if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
                argv.push(lookup(name));
            } else if let Some(name) = word.strip_prefix('$') {
                argv.extend(lookup(name).split_whitespace().map(str::to_string));
            } else {
                assert!(!word.contains('$'), "{}: cannot expand {word}", self.name);
                argv.push(word);
            }
        }
        argv
    }
}

fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';']))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("env file: KEY=VALUE");
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// A process started from a unit's ExecStart that prints putfs's
/// listening line; killed (its own PID) on drop.
struct Started {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Started {
    fn spawn(argv: &[String], env: &BTreeMap<String, String>) -> Started {
        let mut cmd = clean_command(&argv[0]);
        cmd.args(&argv[1..])
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ExecStart");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        for (pipe, tx) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                Some(tx),
            ),
            (Box::new(child.stderr.take().unwrap()), None),
        ] {
            let log = log.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    if let Some(tx) = &tx
                        && let Some(rest) = line.split("putfs listening on http://").nth(1)
                        && let Ok(addr) = rest.trim().trim_end_matches('/').parse::<SocketAddr>()
                    {
                        let _ = tx.send(addr);
                    }
                }
            });
        }
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Started { child, addr, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{argv:?} printed no listening line; output:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("---- output ----\n{}", self.log.lock().unwrap());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped units with the install paths pointed into `dir`: the
/// binaries at the build's putfs and the repo's script, `/etc/putfs/` at
/// `dir/etc/`, and `/srv/putfs` at the data root of each unit's role.
fn installed_units(dir: &Path, primary_root: &Path, replica_root: &Path) -> Vec<(String, PathBuf)> {
    let src = repo().join("ops/systemd");
    let units_dir = dir.join("units");
    std::fs::create_dir_all(&units_dir).unwrap();
    let etc = dir.join("etc");
    let script = repo().join("scripts/replicate-rsync");
    let mut out = Vec::new();
    for name in [
        "putfs.socket",
        "putfs-primary.service",
        "putfs-replica.service",
        "putfs-replicate-rsync.service",
        "putfs-replicate-rsync.timer",
    ] {
        let text = std::fs::read_to_string(src.join(name))
            .unwrap_or_else(|e| panic!("ops/systemd/{name}: {e}"));
        let root = if name == "putfs-primary.service" {
            primary_root
        } else {
            replica_root
        };
        let text = text
            .replace("/usr/local/bin/putfs-replicate-rsync", s(&script))
            .replace("/usr/local/bin/putfs", putfs_bin())
            .replace("/etc/putfs/", &format!("{}/", s(&etc)))
            .replace("/srv/putfs", s(root));
        let path = units_dir.join(name);
        std::fs::write(&path, text).unwrap();
        out.push((name.to_string(), path));
    }
    out
}

#[test]
fn systemd_units_are_sound_and_their_exec_start_lines_run() {
    if need("rsync", "systemd units (replication service)").is_none() {
        return;
    }
    let dir = tempdir();
    let primary_root = dir.path().join("primary");
    let replica_root = dir.path().join("replica");
    // The primary's dataset, marked as a data root as the unit's comment
    // and the runbook say (`install -d ... /srv/putfs/.putfs`).
    std::fs::create_dir_all(primary_root.join(".putfs")).unwrap();
    // The replica's root as well (the runbook's install step): the
    // replication unit refuses a directory that is not a data root, which
    // an unmounted filesystem's bare mountpoint is not.
    std::fs::create_dir_all(&replica_root).unwrap();
    let unmarked = run({
        let mut cmd = clean_command(repo().join("scripts/replicate-rsync"));
        cmd.arg(&primary_root).arg(&replica_root);
        cmd
    });
    unmarked.expect(5, "replicate-rsync into a root without .putfs/");
    std::fs::create_dir_all(replica_root.join(".putfs")).unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    // The shipped example of the shared settings, as installed.
    std::fs::copy(repo().join("ops/systemd/putfs.env"), etc.join("putfs.env")).unwrap();
    // replicate.env: the example must define both variables the unit uses;
    // the installed one names this test's primary.
    let example =
        env_file(&std::fs::read_to_string(repo().join("ops/systemd/replicate.env")).unwrap());
    let example: BTreeMap<_, _> = example.into_iter().collect();
    assert!(
        example.contains_key("PUTFS_REPLICATE_SOURCE"),
        "{example:?}"
    );
    assert!(
        example.contains_key("PUTFS_REPLICATE_OPTIONS"),
        "{example:?}"
    );
    std::fs::write(
        etc.join("replicate.env"),
        format!(
            "PUTFS_REPLICATE_SOURCE={}\nPUTFS_REPLICATE_OPTIONS=\n",
            s(&primary_root)
        ),
    )
    .unwrap();

    let files = installed_units(dir.path(), &primary_root, &replica_root);
    let units: BTreeMap<String, Unit> = files
        .iter()
        .map(|(name, path)| {
            (
                name.clone(),
                Unit::parse(name, &std::fs::read_to_string(path).unwrap()),
            )
        })
        .collect();

    if let Some(analyze) = find_tool("systemd-analyze") {
        let mut cmd = clean_command(analyze);
        cmd.arg("verify").args(files.iter().map(|(_, p)| p));
        let out = run(cmd);
        out.expect(0, "systemd-analyze verify");
        for bad in ["Unknown", "ignoring", "rror", "not executable"] {
            assert!(!out.combined().contains(bad), "{}", out.describe());
        }
    } else {
        eprintln!("SKIP systemd-analyze verify: not installed");
    }

    // Keys every putfs unit needs, and the hardening.
    for name in ["putfs-primary.service", "putfs-replica.service"] {
        let u = &units[name];
        assert!(u.words("Unit", "Wants").contains("network-online.target"));
        assert!(u.words("Unit", "After").contains("network-online.target"));
        assert!(
            u.words("Unit", "RequiresMountsFor")
                .contains(s(if name.contains("primary") {
                    &primary_root
                } else {
                    &replica_root
                }))
        );
        // Both serve the socket systemd holds, so a promotion or restart
        // never leaves the port without a listener (tests/promotion.rs).
        u.expect("Service", "Sockets", "putfs.socket");
        assert!(u.words("Unit", "Requires").contains("putfs.socket"));
        assert!(u.words("Unit", "After").contains("putfs.socket"));
        let other = if name.contains("primary") {
            "putfs-replica.service"
        } else {
            "putfs-primary.service"
        };
        assert!(
            u.words("Unit", "Conflicts").contains(other),
            "{name} must conflict with {other}"
        );
        for (k, v) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("User", "putfs"),
            ("Restart", "on-failure"),
        ] {
            u.expect("Service", k, v);
        }
        assert_eq!(u.one("Service", "CapabilityBoundingSet"), "");
        assert_eq!(u.one("Install", "WantedBy"), "multi-user.target");
    }
    // The socket: traffic with no server running starts the read-only one,
    // and the primary is ordered against the replica, so starting it stops
    // the replica first.
    let socket = &units["putfs.socket"];
    socket.expect("Socket", "Service", "putfs-replica.service");
    assert!(!socket.one("Socket", "ListenStream").is_empty());
    socket.expect("Install", "WantedBy", "sockets.target");
    assert!(
        units["putfs-primary.service"]
            .words("Unit", "After")
            .contains("putfs-replica.service")
    );
    let primary = &units["putfs-primary.service"];
    assert!(
        primary
            .words("Service", "ReadWritePaths")
            .contains(s(&primary_root)),
        "the primary must be able to write its data root"
    );
    assert!(
        units["putfs-replica.service"]
            .all("Service", "ReadWritePaths")
            .is_empty(),
        "a read-only node needs no writable path"
    );

    // The role guard, run as the unit has it: only a node recorded as the
    // primary (its setup or a promotion; `putfs ops promote`) starts
    // putfs-primary; elsewhere the start is skipped (exit 1..=254 of an
    // ExecCondition=), with what to do in the journal.
    let guard = primary.one("Service", "ExecCondition");
    assert!(
        guard.starts_with('+'),
        "the guard reads the state file putfs ops (root) wrote: run it with full privileges"
    );
    let guard: Vec<String> = shell_words::split(&guard[1..]).expect("ExecCondition quoting");
    assert_eq!(guard[0], putfs_bin(), "{guard:?}");
    let run_guard = || {
        let mut cmd = clean_command(&guard[0]);
        cmd.args(&guard[1..]);
        run(cmd)
    };
    let ops = |args: &[&str]| {
        let mut cmd = clean_command(putfs_bin());
        cmd.arg("ops").args(args);
        run(cmd)
    };
    let unrecorded = run_guard();
    unrecorded.expect(3, "the role guard on a node nobody made the primary");
    assert!(
        unrecorded
            .err()
            .contains(&format!("putfs ops promote --root {}", s(&primary_root))),
        "the refusal says what to do: {}",
        unrecorded.describe()
    );
    ops(&["promote", "--root", s(&primary_root), "--yes"])
        .expect(0, "record the new primary (the runbook's setup)");
    run_guard().expect(0, "the role guard on the recorded primary");
    ops(&["demote", "--root", s(&primary_root), "--yes"]).expect(0, "demote");
    let demoted = run_guard();
    demoted.expect(3, "the role guard on a demoted node");
    assert!(demoted.err().contains("demoted"), "{}", demoted.describe());
    ops(&["promote", "--root", s(&primary_root), "--yes"]).expect(0, "promote");
    run_guard().expect(0, "the role guard on a promoted node");

    // The primary's ExecStart: a server that takes writes and heartbeats.
    let mut env = primary.environment();
    // The only change to the units' own settings: no fixed port in tests.
    env.insert("PUTFS_LISTEN".into(), "127.0.0.1:0".into());
    let argv = primary.exec_start(&env);
    assert_eq!(argv[0], putfs_bin());
    let root_arg = argv.iter().position(|a| a == "--root").expect("--root");
    assert_eq!(argv[root_arg + 1], s(&primary_root));
    assert!(!argv.iter().any(|a| a == "--read-only"));
    let p = Started::spawn(&argv, &env);
    assert_eq!(get_status(&p.url("/.putfs/ready")), 200);
    let body = b"written through the primary unit".to_vec();
    let put = send(client().put(p.url("/unit/object.txt")).body(body.clone()));
    assert_eq!(put.status, 201, "{}", put.text());
    assert!(
        wait_until(Duration::from_secs(30), || read_heartbeat(&primary_root)
            .is_some()),
        "the primary wrote no heartbeat"
    );

    // The replication service's ExecStart copies it into the replica root.
    let rep = &units["putfs-replicate-rsync.service"];
    rep.expect("Service", "Type", "oneshot");
    assert!(
        rep.words("Unit", "Requisite")
            .contains("putfs-replica.service")
    );
    let rep_env = rep.environment();
    let rep_argv = rep.exec_start(&rep_env);
    assert_eq!(rep_argv.last().unwrap(), s(&replica_root));
    assert!(
        rep.words("Service", "ReadWritePaths")
            .contains(s(&replica_root))
    );
    let mut cmd = clean_command(&rep_argv[0]);
    cmd.args(&rep_argv[1..]).envs(&rep_env);
    run(cmd).expect(0, "putfs-replicate-rsync.service ExecStart");
    assert_eq!(
        std::fs::read(replica_root.join("unit/object.txt")).unwrap(),
        body
    );
    assert!(read_heartbeat(&replica_root).is_some());
    let timer = &units["putfs-replicate-rsync.timer"];
    timer.expect("Timer", "Unit", "putfs-replicate-rsync.service");
    timer.one("Timer", "OnUnitInactiveSec");
    timer.expect("Install", "WantedBy", "timers.target");

    // The replica's ExecStart: read-only, with --max-lag, writes nothing.
    let replica = &units["putfs-replica.service"];
    let mut env = replica.environment();
    env.insert("PUTFS_LISTEN".into(), "127.0.0.1:0".into());
    let argv = replica.exec_start(&env);
    assert!(argv.iter().any(|a| a == "--read-only"), "{argv:?}");
    let lag = argv
        .iter()
        .position(|a| a == "--max-lag")
        .expect("--max-lag");
    assert!(
        humantime_like(&argv[lag + 1]),
        "--max-lag {:?}",
        argv[lag + 1]
    );
    let before = full_fingerprint(&replica_root);
    let r = Started::spawn(&argv, &env);
    assert_eq!(get_status(&r.url("/.putfs/ready")), 200);
    let got = send(client().get(r.url("/unit/object.txt")));
    assert_eq!((got.status, got.body.clone()), (200, body));
    let refused = send(client().put(r.url("/unit/other.txt")).body("x"));
    assert_eq!(refused.status, 403, "{}", refused.text());
    drop(r);
    assert_eq!(
        before,
        full_fingerprint(&replica_root),
        "the read-only node changed its data root"
    );
}

fn get_status(url: &str) -> u16 {
    send(client().get(url)).status
}

/// `20m`, `90s`, `1h30m`: what putfs's duration flags take.
fn humantime_like(v: &str) -> bool {
    !v.is_empty()
        && v.chars().next().unwrap().is_ascii_digit()
        && v.chars().all(|c| c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------
// Committed files
// ---------------------------------------------------------------------------

#[test]
fn deployment_files_name_no_path_of_the_build_machine() {
    let mut files = zrepl_files();
    for sub in ["ops/prometheus", "ops/systemd"] {
        files.extend(
            std::fs::read_dir(repo().join(sub))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
    }
    files.push(repo().join("ops/RUNBOOK.md"));
    for name in [
        "replicate-rsync",
        "replicate-rclone",
        "failover",
        "try-cluster",
    ] {
        let p = repo().join("scripts").join(name);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "scripts/{name} is not executable");
        files.push(p);
    }
    let here = s(&repo()).to_string();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains(&here), "{} names {here}", f.display());
        assert!(!text.contains("/tmp/"), "{} names a /tmp path", f.display());
    }
}
