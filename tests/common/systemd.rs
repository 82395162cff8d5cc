//! systemd as the shipped units (ops/systemd/) make it behave, for tests
//! that run the runbook's `systemctl` commands on putfs servers: the
//! listening socket, the two conflicting roles, the role guard read from
//! putfs-primary.service, socket activation, enabled units at boot.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use crate::ops::*;

pub const PRIMARY_UNIT: &str = "putfs-primary";
pub const REPLICA_UNIT: &str = "putfs-replica";
pub const SOCKET_UNIT: &str = "putfs.socket";
pub const ZREPL_UNIT: &str = "zrepl";

fn unit_name(u: &str, what: &str) -> &'static str {
    match u {
        PRIMARY_UNIT | "putfs-primary.service" => PRIMARY_UNIT,
        REPLICA_UNIT | "putfs-replica.service" => REPLICA_UNIT,
        SOCKET_UNIT => SOCKET_UNIT,
        ZREPL_UNIT | "zrepl.service" => ZREPL_UNIT,
        other => panic!("{what}: unknown unit {other}"),
    }
}

/// One machine, and systemd on it as the shipped units (ops/systemd/) make
/// it behave:
/// - putfs.socket holds the node's address; stopped, the address refuses;
/// - a putfs unit `Requires=putfs.socket` (starting one starts the socket,
///   stopping the socket stops it) and the two putfs units conflict
///   (starting one stops the other first);
/// - putfs-primary runs its `ExecCondition=` and `ExecStartPre=` lines,
///   read from the shipped unit: a condition that fails skips the start;
/// - while the socket listens and no putfs runs, a connection starts
///   putfs-replica (`Service=`): [`Machine::tick`] sends
///   one, as a load balancer's health check or a Prometheus scrape would;
/// - a reboot starts what is enabled.
pub struct Machine {
    pub name: &'static str,
    /// Where its putfs serves (the units' /srv/putfs).
    pub root: PathBuf,
    /// `putfs serve` flags both units add (putfs.env).
    pub serve_args: Vec<String>,
    /// putfs.socket's address, and its listening socket while it runs.
    pub addr: SocketAddr,
    pub socket: Option<TcpListener>,
    /// The putfs unit running here and its server.
    pub putfs: Option<(&'static str, Server)>,
    pub enabled: BTreeSet<&'static str>,
    pub zrepl_running: bool,
    /// The load balancers send it reads.
    pub in_readers: bool,
    /// putfs-replica started by a connection to the socket.
    pub activations: u32,
    /// putfs-primary starts its ExecCondition skipped.
    pub skipped: u32,
}

impl Machine {
    pub fn new(name: &'static str, root: &Path, serve_args: &[&str]) -> Machine {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        Machine {
            name,
            root: root.to_path_buf(),
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            addr: socket.local_addr().unwrap(),
            socket: Some(socket),
            putfs: None,
            enabled: BTreeSet::new(),
            zrepl_running: true,
            in_readers: false,
            activations: 0,
            skipped: 0,
        }
    }

    /// `systemctl VERB [--now] UNIT…` as written (one command, no `&&`).
    pub fn systemctl(&mut self, argv: &[&str], what: &str) {
        let ["systemctl", verb, rest @ ..] = argv else {
            panic!("{what}: not a systemctl command: {argv:?}");
        };
        let (now, units) = match rest {
            ["--now", units @ ..] => (true, units),
            units => (false, units),
        };
        assert!(!units.is_empty(), "{what}: no unit");
        let units: Vec<&'static str> = units.iter().map(|u| unit_name(u, what)).collect();
        match (*verb, now) {
            ("enable", _) | ("disable", _) => {
                for u in &units {
                    if *verb == "enable" {
                        self.enabled.insert(u);
                    } else {
                        self.enabled.remove(u);
                    }
                }
                if now {
                    self.transaction(verb == &"enable", &units, what);
                }
            }
            ("start", false) => self.transaction(true, &units, what),
            ("stop", false) => self.transaction(false, &units, what),
            ("restart", false) => {
                for u in &units {
                    self.stop_unit(u, what);
                }
                self.transaction(true, &units, what);
            }
            _ => panic!("{what}: systemctl {verb} {rest:?}"),
        }
    }

    /// Start or stop units in systemd's order: the socket before the
    /// services when starting, after them when stopping.
    fn transaction(&mut self, start: bool, units: &[&'static str], what: &str) {
        let mut ordered = units.to_vec();
        ordered.sort_by_key(|u| (*u == SOCKET_UNIT) != start);
        for u in ordered {
            if start {
                self.start_unit(u, what);
            } else {
                self.stop_unit(u, what);
            }
        }
    }

    fn listen(&mut self) {
        if self.socket.is_none() {
            self.socket = Some(TcpListener::bind(self.addr).unwrap_or_else(|e| {
                panic!(
                    "{}: putfs.socket cannot listen on {}: {e}",
                    self.name, self.addr
                )
            }));
        }
    }

    fn start_unit(&mut self, unit: &'static str, what: &str) {
        match unit {
            ZREPL_UNIT => self.zrepl_running = true,
            SOCKET_UNIT => self.listen(),
            _ => {
                self.listen();
                if self.unit() == Some(unit) {
                    return;
                }
                // Conflicts=: the other role stops (drained) first.
                if let Some(other) = self.unit() {
                    self.stop_unit(other, what);
                }
                if unit == PRIMARY_UNIT && !self.primary_pre_start(what) {
                    return;
                }
                let mut args: Vec<&str> = self.serve_args.iter().map(String::as_str).collect();
                if unit == REPLICA_UNIT {
                    args.push("--read-only");
                }
                let socket = self.socket.as_ref().expect("listening");
                let server = Server::start_on_socket(&self.root, &args, socket);
                self.putfs = Some((unit, server));
            }
        }
    }

    /// putfs-primary.service's ExecCondition= and ExecStartPre= lines, run
    /// as the shipped unit has them (paths pointed at this node): `false`
    /// when a condition skips the start; a failing ExecStartPre fails it.
    fn primary_pre_start(&mut self, what: &str) -> bool {
        let text = std::fs::read_to_string(repo().join("ops/systemd/putfs-primary.service"))
            .expect("ops/systemd/putfs-primary.service");
        for line in text.lines().map(str::trim) {
            let (kind, cmd) = match line.split_once('=') {
                Some((k @ ("ExecCondition" | "ExecStartPre"), v)) => (k, v),
                _ => continue,
            };
            let cmd = cmd
                .trim_start_matches(['+', '-', '!', '@', ':'])
                .replace("/usr/local/bin/putfs", env!("CARGO_BIN_EXE_putfs"))
                .replace("/srv/putfs", self.root.to_str().unwrap());
            let argv = shell_split(&cmd).unwrap_or_else(|| panic!("{kind}={cmd}"));
            let mut c = std::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            let out = run_cmd(c, None, Duration::from_secs(60));
            match (kind, out.code) {
                (_, Some(0)) => {}
                ("ExecCondition", Some(1..=254)) => {
                    eprintln!(
                        "{what}: {}: putfs-primary skipped by ExecCondition={cmd}\n{}",
                        self.name,
                        out.err().trim()
                    );
                    self.skipped += 1;
                    return false;
                }
                _ => panic!(
                    "{what}: {}: putfs-primary fails to start: {kind}={cmd}\n{}",
                    self.name,
                    out.describe()
                ),
            }
        }
        true
    }

    /// `systemctl stop UNIT`: SIGTERM and wait for the drain; the socket
    /// takes the putfs units with it (Requires=) and stops listening.
    fn stop_unit(&mut self, unit: &'static str, what: &str) {
        match unit {
            ZREPL_UNIT => self.zrepl_running = false,
            SOCKET_UNIT => {
                if let Some(u) = self.unit() {
                    self.stop_unit(u, what);
                }
                assert!(
                    !self.in_readers || self.socket.is_none(),
                    "{what}: {}'s putfs.socket stops while the load balancers send it reads: \
                     take it out of the readers first",
                    self.name
                );
                self.socket = None;
            }
            _ => {
                if self.unit() != Some(unit) {
                    return;
                }
                let (_, mut server) = self.putfs.take().unwrap();
                server.sigterm();
                assert!(
                    server.wait_exit(Duration::from_secs(45)).is_some(),
                    "{what}: {}: putfs did not exit within TimeoutStopSec",
                    self.name
                );
            }
        }
    }

    /// Traffic arrives (a health check, a scrape): with the socket
    /// listening and no putfs running, systemd starts putfs-replica, which
    /// answers it.
    pub fn tick(&mut self, what: &str) {
        if self.socket.is_none() || self.putfs.is_some() {
            return;
        }
        let addr = self.addr;
        let scrape = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /.putfs/metrics HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
                .map_err(|e| format!("write: {e}"))?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
            parse_response(&buf, false)
                .map(|r| r.status)
                .ok_or_else(|| "no answer".to_string())
        });
        eprintln!(
            "{what}: a connection to {}'s putfs.socket, no putfs running: systemd starts \
             putfs-replica",
            self.name
        );
        self.start_unit(REPLICA_UNIT, what);
        self.activations += 1;
        let answer = scrape.join().unwrap();
        assert_eq!(
            answer,
            Ok(200),
            "{what}: {}'s activated putfs-replica",
            self.name
        );
    }

    /// The machine goes down: its putfs dies, its socket with it.
    pub fn crash(&mut self) {
        if let Some((_, mut s)) = self.putfs.take() {
            s.kill9();
        }
        self.socket = None;
        self.in_readers = false;
    }

    /// The machine starts: the enabled units, as at boot. Both putfs
    /// units enabled would make the role a coin toss.
    pub fn boot(&mut self, what: &str) {
        assert!(
            !(self.enabled.contains(PRIMARY_UNIT) && self.enabled.contains(REPLICA_UNIT)),
            "{what}: {} has putfs-primary and putfs-replica enabled: which one a boot \
             starts is a coin toss",
            self.name
        );
        let units: Vec<&'static str> = self
            .enabled
            .iter()
            .copied()
            .filter(|u| *u != ZREPL_UNIT)
            .collect();
        self.transaction(true, &units, what);
        self.tick(what);
    }

    pub fn reboot(&mut self, what: &str) {
        self.in_readers = false;
        self.transaction(false, &[PRIMARY_UNIT, REPLICA_UNIT, SOCKET_UNIT], what);
        self.boot(what);
    }

    pub fn server(&self) -> &Server {
        &self.putfs.as_ref().expect("putfs runs").1
    }

    pub fn unit(&self) -> Option<&'static str> {
        self.putfs.as_ref().map(|(u, _)| *u)
    }
}

/// The repository (for the shipped unit files).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `systemctl …[ && systemctl …]`, the way `putfs ops promote` prints its
/// next step, run on `node`.
pub fn run_systemctl_line(node: &mut Machine, line: &str, what: &str) {
    for cmd in line.split("&&") {
        let argv = shell_split(cmd.trim()).unwrap_or_else(|| panic!("{what}: {cmd}"));
        let words: Vec<&str> = argv.iter().map(String::as_str).collect();
        node.systemctl(&words, what);
    }
    node.tick(what);
}
