//! `scripts/try-cluster`, run as a newcomer runs it: it must bring up a
//! primary, two replicas fed by the shipped `replicate-rsync` and nginx with
//! the shipped config, print where they are, serve a PUT to the primary from
//! the replicas and through nginx, and on Ctrl-C stop every process it
//! started and remove its directory.
//!
//! Without nginx, rsync or util-linux the test prints `SKIP` and passes,
//! unless `PUTFS_REQUIRE_TOOLS=1` (scripts/test sets it).

mod common;
#[path = "common/ops.rs"]
mod ops;
// Not every helper there is used here.
#[allow(dead_code)]
#[path = "common/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use tools::*;

const TEST: &str = "try_cluster";
/// From start to the `ready:` line: no build (PUTFS_BIN is set), three
/// servers, two first replications and nginx.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// A replication run every 2 s (the script's default interval).
const REPLICA_TIMEOUT: Duration = Duration::from_secs(30);
/// From SIGINT to the script's exit: nothing is in flight, so every
/// process stops at once; the script's own SIGKILL comes after 15 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

fn script() -> Command {
    clean_command(repo().join("scripts/try-cluster"))
}

/// The script, running, with everything it printed so far.
struct TryCluster {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
    /// Process groups it reported starting, killed on drop if still there
    /// (only after a failed assertion).
    pids: Vec<i32>,
}

impl TryCluster {
    fn start(tmpdir: &Path) -> TryCluster {
        let mut cmd = script();
        cmd.env("PUTFS_BIN", putfs_bin())
            .env("TMPDIR", tmpdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // As at a terminal: bash cannot trap a signal that was ignored when
        // it started, and a test runner started in the background of a
        // non-interactive shell ignores SIGINT.
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn scripts/try-cluster");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        drain(Box::new(out), log.clone(), Some(tx));
        drain(Box::new(err), log.clone(), None);
        TryCluster {
            child: Some(child),
            log,
            lines,
            pids: Vec::new(),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Stdout lines up to and including the one starting with `ready:`.
    fn wait_ready(&mut self) -> Vec<String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    if let Some(pid) = started_pid(&line) {
                        self.pids.push(pid);
                    }
                    let ready = line.starts_with("ready:");
                    seen.push(line);
                    if ready {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().unwrap().wait().unwrap();
                    panic!(
                        "try-cluster exited ({status}) before `ready:`:\n{}",
                        self.log()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "no `ready:` line within {READY_TIMEOUT:?}:\n{}",
                self.log()
            );
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().unwrap();
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        if status.is_some() {
            self.child = None;
        }
        status
    }
}

impl Drop for TryCluster {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("---- try-cluster output ----\n{}---- end ----", self.log());
        }
        if let Some(child) = self.child.as_ref() {
            // SIGTERM: the script stops what it started and exits.
            send_signal(child.id() as i32, libc::SIGTERM);
            let _ = self.wait_exit(STOP_TIMEOUT);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pgid in &self.pids {
            if !group_members(*pgid).is_empty() {
                // SAFETY: kill(2) on a process group the script started.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

fn drain(
    stream: Box<dyn Read + Send>,
    log: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

/// `try-cluster: started NAME (pid N)` → N.
fn started_pid(line: &str) -> Option<i32> {
    let rest = line.strip_prefix("try-cluster: started ")?;
    rest.split_once("(pid ")?.1.strip_suffix(')')?.parse().ok()
}

fn started_names(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("try-cluster: started "))
        .filter_map(|l| l.split_once(" (pid ").map(|(n, _)| n.to_string()))
        .collect()
}

/// The indented `label: value` lines of the summary.
fn summary(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Live processes (zombies do not count) whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            found.push(pid);
        }
    }
    found
}

fn get(url: &str) -> Option<(u16, Vec<u8>)> {
    let resp = client().get(url).send().ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.bytes().ok()?.to_vec()))
}

#[track_caller]
fn wait_serves(what: &str, url: &str, body: &[u8]) {
    let mut last = None;
    let ok = wait_until(REPLICA_TIMEOUT, || {
        last = get(url);
        matches!(&last, Some((200, b)) if b == body)
    });
    assert!(
        ok,
        "{what}: GET {url} did not return the PUT's bytes within {REPLICA_TIMEOUT:?}; last: {:?}",
        last.map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
    );
}

fn tools_present() -> bool {
    ["nginx", "rsync", "flock", "setsid"]
        .iter()
        .all(|t| need(t, TEST).is_some())
}

// ---------------------------------------------------------------------------

#[test]
fn try_cluster_replicates_a_put_and_stops_everything_on_ctrl_c() {
    if !tools_present() {
        return;
    }
    let tmp = tempdir();
    // Run as root, nginx's workers are www-data and must reach their temp
    // paths under the script's directory, which it makes here.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut cluster = TryCluster::start(tmp.path());
    let lines = cluster.wait_ready();
    let up = t0.elapsed();

    assert_eq!(
        started_names(&lines),
        [
            "primary",
            "replica-1",
            "replica-2",
            "replicate-1",
            "replicate-2",
            "nginx"
        ],
        "what try-cluster reports starting"
    );
    let pids = cluster.pids.clone();
    for pid in &pids {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is not running"
        );
    }
    let info = summary(&lines);
    let field = |k: &str| {
        info.get(k)
            .unwrap_or_else(|| panic!("no `{k}:` line in:\n{}", lines.join("\n")))
            .clone()
    };
    let primary = field("primary (writes)");
    let nginx = field("nginx (reads)");
    let replicas = [field("replica-1"), field("replica-2")];
    let dir = PathBuf::from(field("files and logs"));
    assert!(
        dir.starts_with(tmp.path()) && dir.is_dir(),
        "try-cluster's directory {} is not a new directory under TMPDIR",
        dir.display()
    );
    for url in [&primary, &nginx, &replicas[0], &replicas[1]] {
        assert!(url.starts_with("http://127.0.0.1:"), "not loopback: {url}");
    }
    // The examples it prints name these addresses.
    let out = lines.join("\n");
    assert!(
        out.contains(&format!("curl -w '%{{http_code}}\\n' -T - {primary}/")),
        "no PUT example:\n{out}"
    );
    assert!(out.contains(&format!("curl {nginx}/")), "no GET example");

    // Write to the primary; nginx serves it at once (the primary is one of
    // its readers, and a replica without the key passes the read on), and
    // each replica once replicate-rsync has run.
    let body = format!("hello from {TEST} {}\n", std::process::id()).into_bytes();
    let key = "first/hour/hello.txt";
    let put = client()
        .put(format!("{primary}/{key}"))
        .body(body.clone())
        .send()
        .expect("PUT to the primary");
    assert_eq!(put.status().as_u16(), 201, "PUT to the primary");
    wait_serves("nginx", &format!("{nginx}/{key}"), &body);
    for (i, r) in replicas.iter().enumerate() {
        wait_serves(&format!("replica-{}", i + 1), &format!("{r}/{key}"), &body);
    }
    let replicated = t0.elapsed();
    // Writes sent to nginx reach the primary too.
    let via = client()
        .put(format!("{nginx}/first/hour/via-nginx.txt"))
        .body("through nginx")
        .send()
        .expect("PUT through nginx");
    assert_eq!(via.status().as_u16(), 201, "PUT through nginx");
    let listing = client()
        .get(format!("{nginx}/first/hour/"))
        .send()
        .expect("listing through nginx");
    assert_eq!(listing.status().as_u16(), 200);
    let listing = listing.text().unwrap();
    assert!(
        listing.lines().any(|l| l == "hello.txt"),
        "listing: {listing}"
    );

    // Ctrl-C: every process stops, the script exits 0, the directory goes.
    let t1 = Instant::now();
    send_signal(cluster.child.as_ref().unwrap().id() as i32, libc::SIGINT);
    let status = cluster
        .wait_exit(STOP_TIMEOUT)
        .unwrap_or_else(|| panic!("try-cluster still running {STOP_TIMEOUT:?} after SIGINT"));
    let stopped = t1.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "try-cluster's exit after SIGINT:\n{}",
        cluster.log()
    );
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still exists after try-cluster exited"
        );
        let left = group_members(*pid);
        assert!(
            left.is_empty(),
            "processes {left:?} of process group {pid} outlived try-cluster"
        );
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
    eprintln!(
        "try-cluster: ready after {up:?}, replicated after {replicated:?}, stopped {stopped:?} after SIGINT"
    );
}

#[test]
fn try_cluster_help_and_usage_errors() {
    let out = run({
        let mut c = script();
        c.arg("--help");
        c
    });
    out.expect(0, "try-cluster --help");
    assert!(
        out.out().contains("Usage: scripts/try-cluster"),
        "{}",
        out.out()
    );
    let out = run({
        let mut c = script();
        c.arg("--no-such-option");
        c
    });
    out.expect(2, "try-cluster with an unknown option");
    assert!(out.err().contains("--help"), "{}", out.err());
}
