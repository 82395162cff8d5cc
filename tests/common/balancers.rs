//! Helpers for the load-balancer deployment tests (`tests/deployment.rs`):
//! the shipped nginx and HAProxy configs rendered into a temp dir with
//! loopback addresses and started for real, the shipped rsync replication
//! script, and concurrent HTTP load.
//!
//! Included with `#[path = "common/balancers.rs"] mod balancers;` next to
//! `mod common;`, so the other test binaries do not compile it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{send_signal, wait_until};

/// The repository, for the shipped configs and scripts.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How long nginx or HAProxy may take to answer through its port.
const LB_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one run of the replication script may take.
const REPLICATE_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

/// Where Debian puts nginx and haproxy; a test runner's PATH may lack it.
const SBIN_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether every tool is installed. When one is missing the test is
/// skipped (prints `SKIP:`), unless `PUTFS_REQUIRE_TOOLS=1`, where
/// scripts/test has installed them and a missing one is a failure.
pub fn tools_present(test: &str, names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| find_tool(n).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("PUTFS_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{test}: PUTFS_REQUIRE_TOOLS=1 but {missing:?} not installed");
    }
    println!("SKIP: {test}: {missing:?} not installed (scripts/test installs them)");
    false
}

// ---------------------------------------------------------------------------
// Ports and config rendering
// ---------------------------------------------------------------------------

/// A loopback port that was free a moment ago. nginx and HAProxy cannot
/// report a port they picked, so the caller binds this one and retries with
/// another if something took it in between.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
    l.local_addr().unwrap().port()
}

/// `text` with every occurrence of each pattern replaced. A pattern that
/// does not occur is a failure: the shipped file changed and the test would
/// otherwise run something other than what it believes.
pub fn render(name: &str, text: &str, subs: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in subs {
        assert!(
            out.contains(from),
            "{name}: expected `{from}` in the shipped file, to substitute it"
        );
        out = out.replace(from, to);
    }
    out
}

pub fn shipped(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Unique per test process and call, for names that are global to the host
/// (HAProxy's abstract sockets).
pub fn unique_tag() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

// ---------------------------------------------------------------------------
// Commands with a deadline
// ---------------------------------------------------------------------------

pub struct Ran {
    pub cmd: String,
    pub code: Option<i32>,
    pub output: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn expect_ok(&self, what: &str) -> &Ran {
        assert!(self.ok(), "{what} failed:\n{}", self.describe());
        self
    }

    pub fn describe(&self) -> String {
        format!("$ {}\nexit {:?}\n{}", self.cmd, self.code, self.output)
    }
}

/// Runs `cmd` to completion (stdout and stderr together), killing it by its
/// PID if it outlives `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Ran {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let log = Arc::new(Mutex::new(String::new()));
    let readers = drain(&mut child, &log);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            send_signal(child.id() as i32, libc::SIGKILL);
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    for r in readers {
        let _ = r.join();
    }
    let output = log.lock().unwrap().clone();
    Ran {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        output: if status.is_none() {
            format!("{output}\n(killed after {timeout:?})")
        } else {
            output
        },
    }
}

/// Background threads that copy the child's stdout and stderr into `log`.
fn drain(child: &mut Child, log: &Arc<Mutex<String>>) -> Vec<thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for stream in streams {
        let log = log.clone();
        handles.push(thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => log
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&line)),
                }
            }
        }));
    }
    handles
}

/// `scripts/replicate-rsync SOURCE DEST`, as shipped; panics unless it
/// exits 0.
pub fn replicate(source: &Path, dest: &Path) {
    let script = repo().join("scripts/replicate-rsync");
    assert!(
        script.is_file(),
        "{} is missing: the deployment test replicates with the shipped script",
        script.display()
    );
    let mut cmd = Command::new(&script);
    cmd.arg(source).arg(dest);
    run(cmd, REPLICATE_TIMEOUT).expect_ok("scripts/replicate-rsync");
}

// ---------------------------------------------------------------------------
// Daemons
// ---------------------------------------------------------------------------

/// A load balancer process we started: its output is kept (and printed if
/// the test panics), and it is stopped by its own PID on drop.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    pub addr: SocketAddr,
}

impl Daemon {
    fn spawn(name: &str, mut cmd: Command, addr: SocketAddr) -> Daemon {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        drain(&mut child, &log);
        Daemon {
            name: name.to_string(),
            child: Some(child),
            log,
            addr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Polls until the balancer answers HTTP on its port (any status: the
    /// sharded config answers 404 for `/.putfs/`, and backends may still be
    /// starting). `Err(output)` if the process exited first (a port taken
    /// between [`free_port`] and the bind, or a bad config).
    fn wait_serving(&mut self) -> Result<(), String> {
        let client = lb_client();
        let url = self.url("/.putfs/live");
        let deadline = Instant::now() + LB_START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                self.child = None;
                // The drain threads may still be copying the last lines.
                let log = self.log.clone();
                wait_until(Duration::from_secs(2), || !log.lock().unwrap().is_empty());
                return Err(format!(
                    "{} exited ({status}) before serving:\n{}",
                    self.name,
                    self.logs()
                ));
            }
            if client.get(&url).send().is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer {url} within {LB_START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.logs()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Workers of an nginx master, so they can be killed if the master is.
    fn children(pid: u32) -> Vec<i32> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- {} output ----\n{}---- end ----",
                self.name,
                self.logs()
            );
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM: nginx's master then stops its workers, HAProxy exits.
        // Both are quick; SIGKILL (master and the workers it had) only if not.
        let workers = Daemon::children(child.id());
        send_signal(child.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        for w in workers {
            // SAFETY: kill(2) on a PID our own nginx master forked; a worker
            // already gone just makes this fail.
            unsafe {
                libc::kill(w, libc::SIGKILL);
            }
        }
    }
}

/// Starts a balancer on a fresh port, retrying with another port when the
/// process exits at start-up because the port was taken.
fn start_on_free_port(name: &str, mut launch: impl FnMut(u16) -> Daemon) -> Daemon {
    let mut last = String::new();
    for _ in 0..5 {
        let mut d = launch(free_port());
        match d.wait_serving() {
            Ok(()) => return d,
            Err(e) if e.contains("Address already in use") => last = e,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{name}: no free port after 5 attempts; last:\n{last}");
}

// -- nginx ------------------------------------------------------------------

/// nginx running the shipped `nginx/nginx.conf` with `site` (a file of
/// `nginx/`) as its include, under a prefix in `dir`.
pub struct Nginx;

impl Nginx {
    /// `site_subs` are applied to the site file; `listen 80;` is replaced
    /// with the chosen loopback port here.
    pub fn start(dir: &Path, site: &str, site_subs: &[(&str, String)]) -> Daemon {
        let nginx = find_tool("nginx").expect("nginx installed");
        start_on_free_port("nginx", |port| {
            let prefix = Nginx::render(dir, site, site_subs, port);
            let conf = prefix.join("nginx.conf");
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("logs/startup.log"))
                .arg("-g")
                .arg("daemon off;");
            Daemon::spawn("nginx", cmd, ([127, 0, 0, 1], port).into())
        })
    }

    /// Writes `dir/nginx-<port>/{nginx.conf,<site>}` and checks them with
    /// `nginx -t`; returns the prefix.
    pub fn render(dir: &Path, site: &str, site_subs: &[(&str, String)], port: u16) -> PathBuf {
        let prefix = dir.join(format!("nginx-{port}"));
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        std::fs::create_dir_all(prefix.join("tmp")).unwrap();
        // Workers run as www-data (the shipped `user`), and a tempdir is
        // 0700: let them reach their temp paths.
        for d in [dir, prefix.as_path()] {
            set_mode(d, 0o755);
        }
        set_mode(&prefix.join("tmp"), 0o777);
        let p = prefix.display();
        let main = render(
            "nginx/nginx.conf",
            &shipped("nginx/nginx.conf"),
            &[
                ("/run/nginx-putfs.pid", format!("{p}/nginx.pid")),
                ("/var/log/nginx/", format!("{p}/logs/")),
                ("/var/lib/nginx/", format!("{p}/tmp/")),
                ("include putfs-cluster.conf;", format!("include {site};")),
            ],
        );
        std::fs::write(prefix.join("nginx.conf"), main).unwrap();
        let mut subs = site_subs.to_vec();
        subs.push(("listen 80;", format!("listen 127.0.0.1:{port};")));
        let text = render(
            &format!("nginx/{site}"),
            &shipped(&format!("nginx/{site}")),
            &subs,
        );
        std::fs::write(prefix.join(site), text).unwrap();

        let mut t = Command::new(find_tool("nginx").expect("nginx installed"));
        t.arg("-t")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("logs/startup.log"));
        let ran = run(t, Duration::from_secs(30));
        assert!(
            ran.ok() && ran.output.contains("test is successful"),
            "nginx -t on the shipped nginx/{site}:\n{}",
            ran.describe()
        );
        prefix
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// -- HAProxy ----------------------------------------------------------------

pub struct Haproxy;

impl Haproxy {
    /// HAProxy running the shipped `haproxy/<cfg>` with `subs` applied;
    /// `bind :80` becomes the chosen loopback port and every `abns@` name
    /// gets a unique prefix (abstract sockets are global to the host).
    pub fn start(dir: &Path, cfg: &str, subs: &[(&str, String)]) -> Daemon {
        let haproxy = find_tool("haproxy").expect("haproxy installed");
        start_on_free_port("haproxy", |port| {
            let path = Haproxy::render(dir, cfg, subs, port);
            let mut cmd = Command::new(&haproxy);
            cmd.arg("-f").arg(&path).arg("-db");
            Daemon::spawn("haproxy", cmd, ([127, 0, 0, 1], port).into())
        })
    }

    /// Writes `dir/<port>-<cfg>` and checks it with `haproxy -c` (valid and
    /// without warnings).
    pub fn render(dir: &Path, cfg: &str, subs: &[(&str, String)], port: u16) -> PathBuf {
        let mut all = subs.to_vec();
        all.push(("bind :80", format!("bind 127.0.0.1:{port}")));
        let mut text = render(
            &format!("haproxy/{cfg}"),
            &shipped(&format!("haproxy/{cfg}")),
            &all,
        );
        let tag = unique_tag();
        text = text.replace("abns@putfs-", &format!("abns@t{tag}-putfs-"));
        // A stats socket, so a test can wait for HAProxy's own view of the
        // servers (Haproxy::wait_all_up); the shipped file has none.
        assert!(
            text.contains("\nglobal\n"),
            "haproxy/{cfg} has a global section"
        );
        text = text.replacen(
            "\nglobal\n",
            &format!(
                "\nglobal\n    stats socket {} mode 600 level user\n",
                Haproxy::stats_socket(dir, port).display()
            ),
            1,
        );
        let path = dir.join(format!("{port}-{cfg}"));
        std::fs::write(&path, text).unwrap();

        let mut c = Command::new(find_tool("haproxy").expect("haproxy installed"));
        c.arg("-c").arg("-f").arg(&path);
        let ran = run(c, Duration::from_secs(30));
        assert!(
            ran.ok() && ran.output.contains("Configuration file is valid"),
            "haproxy -c on the shipped haproxy/{cfg}:\n{}",
            ran.describe()
        );
        assert!(
            !ran.output.contains("[WARNING]"),
            "haproxy -c warns about the shipped haproxy/{cfg}:\n{}",
            ran.describe()
        );
        path
    }
}

impl Haproxy {
    fn stats_socket(dir: &Path, port: u16) -> PathBuf {
        dir.join(format!("{port}-haproxy.sock"))
    }

    /// Every checked, non-backup server HAProxy knows as `(proxy/server,
    /// status)`, e.g. `("putfs_replicas/replica-1", "UP")`; `None` while
    /// the stats socket does not answer.
    pub fn servers(dir: &Path, haproxy: &Daemon) -> Option<Vec<(String, String)>> {
        use std::io::Write;
        let sock = Haproxy::stats_socket(dir, haproxy.addr.port());
        let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
        // A stuck HAProxy fails the wait instead of hanging the test.
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"show stat\n").ok()?;
        let mut csv = String::new();
        s.read_to_string(&mut csv).ok()?;
        let mut lines = csv.lines();
        let cols: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let col = |name: &str| cols.iter().position(|c| *c == name);
        let (px, sv, st, bck) = (col("pxname")?, col("svname")?, col("status")?, col("bck")?);
        Some(
            lines
                .map(|l| l.split(',').collect::<Vec<_>>())
                .filter(|f| f.len() > st.max(bck))
                .filter(|f| !["FRONTEND", "BACKEND"].contains(&f[sv]) && f[bck] == "0")
                .filter(|f| f[st] != "no check")
                .map(|f| (format!("{}/{}", f[px], f[sv]), f[st].to_string()))
                .collect(),
        )
    }

    /// Waits until `ready` holds for HAProxy's view of its servers (see
    /// [`Haproxy::servers`]).
    pub fn wait_servers(
        dir: &Path,
        haproxy: &Daemon,
        what: &str,
        ready: impl Fn(&[(String, String)]) -> bool,
    ) {
        let mut last = None;
        let ok = wait_until(Duration::from_secs(30), || {
            last = Haproxy::servers(dir, haproxy);
            last.as_deref().is_some_and(&ready)
        });
        assert!(ok, "HAProxy: {what}: not so after 30 s: {last:?}");
    }

    /// Waits until HAProxy's health checks have every checked, non-backup
    /// server UP: a rolling restart moves to the next node only then, as an
    /// operator would.
    pub fn wait_all_up(dir: &Path, haproxy: &Daemon) {
        Haproxy::wait_servers(dir, haproxy, "every server UP", |servers| {
            servers.iter().all(|(_, st)| st == "UP")
        });
    }
}

// ---------------------------------------------------------------------------
// HTTP through the balancers
// ---------------------------------------------------------------------------

/// A client for balancer traffic: no proxy from the environment, no
/// redirects, and a timeout short enough that a hang is a failure, not a
/// stuck test.
pub fn lb_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build reqwest client")
}

/// `total` requests built by `make(client, i)` from `threads` threads;
/// returns how many ended in each outcome: the status (`"200"`), `"200 bad
/// body"` when `expect` rejects the body of a 2xx, or `"error: …"`.
pub fn load(
    total: usize,
    threads: usize,
    make: impl Fn(&reqwest::blocking::Client, usize) -> reqwest::blocking::RequestBuilder
    + Send
    + Sync
    + 'static,
    expect: impl Fn(usize, &[u8]) -> bool + Send + Sync + 'static,
) -> BTreeMap<String, usize> {
    let make = Arc::new(make);
    let expect = Arc::new(expect);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (make, expect, next, tally) =
                (make.clone(), expect.clone(), next.clone(), tally.clone());
            thread::spawn(move || {
                let client = lb_client();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    let outcome = match make(&client, i).send() {
                        Err(e) => format!("error: {e}"),
                        Ok(r) => {
                            let status = r.status().as_u16();
                            match r.bytes() {
                                Err(e) => format!("{status} body error: {e}"),
                                Ok(b) if (200..300).contains(&status) && !expect(i, &b) => {
                                    format!("{status} bad body")
                                }
                                Ok(_) => status.to_string(),
                            }
                        }
                    };
                    *tally.lock().unwrap().entry(outcome).or_default() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("load thread panicked");
    }
    Arc::try_unwrap(tally).unwrap().into_inner().unwrap()
}

/// `{"200": total}`, the tally of a run where every request succeeded.
pub fn all_ok(total: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([("200".to_string(), total)])
}
