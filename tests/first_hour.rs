//! The first hour with putfs: what a new user meets before anything else.
//! A log pipe that closes stops neither requests nor a shutdown; a root
//! putfs cannot write, a root that cannot be one and a port in use are
//! refused at start in plain words, with nothing created; `--listen`
//! takes a host name; a misspelt `PUTFS_*` variable is named, with the one
//! that was meant.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// How long a refusal or a shutdown may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// `nobody`: a user that root's permission bits stop.
const NOBODY: u32 = 65534;

/// `putfs serve --root ROOT ARGS`, with none of the test's own `PUTFS_*`
/// variables (a developer's shell must not change what a test means).
fn serve_cmd(root: &Path, args: &[&str]) -> Command {
    serve_cmd_with(Path::new(env!("CARGO_BIN_EXE_putfs")), root, args)
}

fn serve_cmd_with(bin: &Path, root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg("--root").arg(root).args(args);
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PUTFS_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A child killed (by its own pid) if the test ends while it runs.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Proc {
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What a process printed, collected to the end on threads.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn read_all<R: Read + Send + 'static>(pipe: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(pipe).read_to_string(&mut text);
        text
    })
}

/// Run `cmd` to its exit (killed after [`EXIT_TIMEOUT`]).
fn run(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc(cmd.spawn().expect("spawn putfs"));
    let out = read_all(p.0.stdout.take().unwrap());
    let err = read_all(p.0.stderr.take().unwrap());
    let status = p.wait_exit(EXIT_TIMEOUT);
    let _ = p.0.kill();
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let status = status
        .unwrap_or_else(|| panic!("putfs still ran after {EXIT_TIMEOUT:?}:\n{stdout}\n{stderr}"));
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Run `putfs serve` expecting a refusal: its stderr. It must exit
/// non-zero without serving, without a panic.
fn refused(cmd: Command) -> String {
    let out = run(cmd);
    assert!(
        !out.stdout.contains("listening"),
        "it served:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.status.code().is_some_and(|c| c != 0 && c != 101),
        "expected a refusal, got {:?}:\n{}",
        out.status,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out.stderr
}

/// Start `cmd`, wait for its listening line, SIGTERM it and collect
/// everything it printed.
fn serve_and_stop(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc(cmd.spawn().expect("spawn putfs"));
    let (tx, rx) = mpsc::channel();
    let stdout = p.0.stdout.take().unwrap();
    let out = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("putfs listening on") {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let err = read_all(p.0.stderr.take().unwrap());
    let listening = rx.recv_timeout(START_TIMEOUT).is_ok();
    if listening {
        send_signal(p.0.id() as i32, libc::SIGTERM);
    }
    let status = p.wait_exit(EXIT_TIMEOUT);
    let _ = p.0.kill();
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(listening, "putfs did not start:\n{stdout}\n{stderr}");
    Output {
        status: status.unwrap_or_else(|| panic!("no exit after SIGTERM:\n{stderr}")),
        stdout,
        stderr,
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a test that needs root may skip (it may not under
/// scripts/test, which sets PUTFS_REQUIRE_TOOLS).
fn skip_without_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    assert!(
        std::env::var_os("PUTFS_REQUIRE_TOOLS").is_none(),
        "this test needs root to {what}"
    );
    eprintln!("skipped: needs root to {what}");
    true
}

// ---------------------------------------------------------------------------
// A log sink that fails
// ---------------------------------------------------------------------------

/// `putfs serve 2>&1 | head -2`: stdout and stderr share one pipe whose
/// reader goes away once the server announced itself. Requests and the
/// shutdown must not notice.
fn closed_log_pipe(signal: i32) {
    let dir = tempdir();
    let root = dir.path().join("data");
    let (reader, writer) = std::io::pipe().expect("pipe");
    // Every request writes a log line, and debug logging many more.
    let mut cmd = serve_cmd(
        &root,
        &["--access-log", "--log", "debug", "--shutdown-timeout", "5s"],
    );
    cmd.stdout(writer.try_clone().unwrap()).stderr(writer);
    let mut p = Proc(cmd.spawn().expect("spawn putfs"));
    drop(cmd);
    let (tx, rx) = mpsc::channel();
    // The pipe's only reader: it reads up to the listening line and then
    // closes its end, as `head` does.
    let head = thread::spawn(move || {
        let mut lines = BufReader::new(reader);
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(rest) = line.split("putfs listening on http://").nth(1) {
                let _ = tx.send(rest.trim().to_owned());
                return;
            }
            line.clear();
        }
    });
    let addr = rx.recv_timeout(START_TIMEOUT).expect("listening line");
    head.join().unwrap();
    let url = |k: &str| format!("http://{addr}/{k}");
    let put = client().put(url("first/hour")).body("bytes").send();
    let put = put.map(|r| r.status().as_u16());
    assert!(
        matches!(put, Ok(201)),
        "PUT with a closed log pipe: {put:?}"
    );
    let get = client().get(url("first/hour")).send();
    let get = get.and_then(|r| r.bytes());
    assert!(
        matches!(&get, Ok(b) if b.as_ref() == b"bytes"),
        "GET with a closed log pipe: {get:?}"
    );
    let started = Instant::now();
    send_signal(p.0.id() as i32, signal);
    let status = p.wait_exit(Duration::from_secs(20));
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {:?} after signal {signal} with its log pipe closed",
            started.elapsed()
        )
    });
    assert!(status.success(), "exit after signal {signal}: {status:?}");
    assert_eq!(std::fs::read(root.join("first/hour")).unwrap(), b"bytes");
}

#[test]
fn a_closed_log_pipe_stops_neither_requests_nor_sigterm() {
    closed_log_pipe(libc::SIGTERM);
}

#[test]
fn a_closed_log_pipe_does_not_stop_sigint() {
    closed_log_pipe(libc::SIGINT);
}

// ---------------------------------------------------------------------------
// A root putfs cannot write
// ---------------------------------------------------------------------------

/// A directory tree `nobody` can traverse: the temp dir itself is 0700.
fn traversable_tempdir() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `putfs serve` as `nobody`. The binary is copied next to the data when
/// `nobody` cannot reach it where cargo built it.
fn serve_as_nobody(dir: &Path, root: &Path) -> Command {
    let built = Path::new(env!("CARGO_BIN_EXE_putfs"));
    let reachable = built
        .ancestors()
        .skip(1)
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    let bin: PathBuf = if reachable {
        built.to_owned()
    } else {
        let copy = dir.join("putfs");
        std::fs::copy(built, &copy).unwrap();
        copy
    };
    let mut cmd = serve_cmd_with(&bin, root, &[]);
    cmd.uid(NOBODY).gid(NOBODY);
    cmd
}

#[test]
fn a_root_putfs_cannot_write_is_refused_at_start() {
    if skip_without_root("run putfs as another user") {
        return;
    }
    let dir = traversable_tempdir();
    let root = dir.path().join("data");
    // Marked and lockable by nobody, but the root itself is root's.
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    chown(root.join(".putfs"), Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::write(root.join("old"), "x").unwrap();
    let err = refused(serve_as_nobody(dir.path(), &root));
    let shown = root.display().to_string();
    assert!(
        err.contains(&format!("cannot create files in {shown}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    assert!(err.contains("--read-only"), "{err}");
    assert!(temp_files(&root).is_empty(), "{:?}", walk(&root));
    assert_eq!(user_entries(&root), [PathBuf::from("old")]);
}

#[test]
fn a_putfs_folder_it_cannot_write_is_refused_at_start() {
    if skip_without_root("run putfs as another user") {
        return;
    }
    let dir = traversable_tempdir();
    let root = dir.path().join("data");
    // The root is nobody's, its .putfs/ root's (a lock file anyone may
    // open, so the lock is no obstacle).
    std::fs::create_dir_all(root.join(".putfs")).unwrap();
    let lock = root.join(".putfs/lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
    chown(&root, Some(NOBODY), Some(NOBODY)).unwrap();
    let err = refused(serve_as_nobody(dir.path(), &root));
    let shown = root.join(".putfs").display().to_string();
    assert!(
        err.contains(&format!("cannot create files in {shown}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    assert!(temp_files(&root).is_empty(), "{:?}", walk(&root));
    assert!(user_entries(&root).is_empty(), "{:?}", walk(&root));
}

/// A read-only mount stops root too.
#[test]
fn a_root_on_a_read_only_mount_is_refused_at_start() {
    if skip_without_root("mount a tmpfs") {
        return;
    }
    let dir = tempdir();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    mount(&["-t", "tmpfs", "-o", "size=4m", "tmpfs"], &mnt);
    let _guard = Unmount(mnt.clone());
    std::fs::create_dir(mnt.join(".putfs")).unwrap();
    mount(&["-o", "remount,ro"], &mnt);
    let err = refused(serve_cmd(&mnt, &[]));
    assert!(err.contains(&mnt.display().to_string()), "{err}");
    assert!(err.contains("read-only filesystem"), "{err}");
    assert!(err.contains("--read-only"), "{err}");
    // A replica serves it.
    let out = serve_and_stop(serve_cmd(&mnt, &["--read-only"]));
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn the_start_up_write_check_leaves_nothing_behind() {
    let dir = tempdir();
    let root = dir.path().join("data");
    let out = serve_and_stop(serve_cmd(&root, &["--heartbeat-interval", "0s"]));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        walk(&root),
        [PathBuf::from(".putfs"), PathBuf::from(".putfs/lock")]
    );
}

fn mount(args: &[&str], at: &Path) {
    let st = Command::new("mount").args(args).arg(at).status().unwrap();
    assert!(st.success(), "mount {args:?} {}: {st}", at.display());
}

/// Unmounts on drop, also when the test fails.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let st = Command::new("umount").arg(&self.0).status();
        if !matches!(st, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

// ---------------------------------------------------------------------------
// A root that cannot be one
// ---------------------------------------------------------------------------

#[test]
fn roots_that_cannot_be_one_are_named_in_plain_words() {
    let dir = tempdir();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("data");
    let dangling = dir.path().join("dangling");
    let nowhere = dir.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let missing = dir.path().join("missing");
    let shown = |p: &Path| p.display().to_string();
    let cases: Vec<(&Path, &[&str], Vec<String>)> = vec![
        (
            &file,
            &[],
            vec![shown(&file), "is a file, not a directory".into()],
        ),
        (
            &under_file,
            &[],
            vec![shown(&under_file), format!("{} is a file", shown(&file))],
        ),
        (
            &under_file,
            &["--read-only"],
            vec![shown(&under_file), format!("{} is a file", shown(&file))],
        ),
        (
            &dangling,
            &[],
            vec![
                shown(&dangling),
                format!("symbolic link to {}", shown(&nowhere)),
                "does not exist".into(),
            ],
        ),
        (
            &missing,
            &["--read-only"],
            vec![shown(&missing), "does not exist".into()],
        ),
    ];
    for (root, args, wanted) in cases {
        let err = refused(serve_cmd(root, args));
        for w in &wanted {
            assert!(err.contains(w), "{root:?} {args:?}: no {w:?} in\n{err}");
        }
        assert!(!err.contains("os error"), "{root:?} {args:?}: {err}");
    }
    assert!(!nowhere.exists(), "followed the dangling link");
    assert!(!missing.exists(), "a read-only server created its root");
}

// ---------------------------------------------------------------------------
// --listen
// ---------------------------------------------------------------------------

#[test]
fn a_port_in_use_is_refused_before_the_root_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempdir();
    let root = dir.path().join("data");
    let err = refused(serve_cmd(&root, &["--listen", &addr]));
    assert!(err.contains(&addr), "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(
        !root.exists(),
        "created the root of a server that never ran"
    );
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempdir();
    let root = dir.path().join("data");
    let mut cmd = serve_cmd(&root, &["--listen", "localhost:0"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc(cmd.spawn().unwrap());
    let mut lines = BufReader::new(p.0.stdout.take().unwrap()).lines();
    let err = read_all(p.0.stderr.take().unwrap());
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    let addr: std::net::SocketAddr = line
        .strip_prefix("putfs listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| {
            let _ = p.0.kill();
            panic!("listening line {line:?}; stderr:\n{}", err.join().unwrap())
        });
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST, "IPv4 first");
    assert_ne!(addr.port(), 0);
    let live = client().get(format!("http://{addr}/.putfs/live")).send();
    assert_eq!(live.map(|r| r.status().as_u16()).ok(), Some(200));
    send_signal(p.0.id() as i32, libc::SIGTERM);
    assert!(p.wait_exit(EXIT_TIMEOUT).is_some_and(|s| s.success()));
}

#[test]
fn listen_values_that_cannot_be_bound_are_named() {
    let dir = tempdir();
    let root = dir.path().join("data");
    for (value, wanted) in [
        ("localhost", "HOST:PORT"),
        ("localhost:http", "HOST:PORT"),
        // TEST-NET-1: no machine's own address (and nothing is sent).
        ("192.0.2.1:8000", "not an address of this machine"),
    ] {
        let err = refused(serve_cmd(&root, &["--listen", value]));
        assert!(err.contains(value), "{value}: {err}");
        assert!(err.contains(wanted), "{value}: {err}");
    }
    assert!(
        !root.exists(),
        "created the root of a server that never ran"
    );
}

// ---------------------------------------------------------------------------
// PUTFS_* variables
// ---------------------------------------------------------------------------

#[test]
fn a_misspelt_variable_is_named_with_the_one_meant() {
    let dir = tempdir();
    let mut cmd = serve_cmd(&dir.path().join("data"), &[]);
    cmd.env("PUTFS_MAX_DEPTH", "3").env("PUTFS_LISTN", "x");
    let out = serve_and_stop(cmd);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 2, "one line per variable:\n{}", out.stderr);
    let depth = warnings.iter().find(|l| l.contains("PUTFS_MAX_DEPTH"));
    assert!(
        depth.is_some_and(|l| l.contains("PUTFS_MAX_PATH_DEPTH")),
        "{}",
        out.stderr
    );
    let listen = warnings.iter().find(|l| l.contains("PUTFS_LISTN"));
    assert!(
        listen.is_some_and(|l| l.contains("PUTFS_LISTEN")),
        "{}",
        out.stderr
    );
}

#[test]
fn known_variables_draw_no_warning() {
    let dir = tempdir();
    let mut cmd = serve_cmd(&dir.path().join("data"), &[]);
    for (k, v) in [
        // Flags' own, upstream's, the replica unit's and ops' state file.
        ("PUTFS_MAX_PATH_DEPTH", "3"),
        ("PUTFS_WORM_STRICT", "false"),
        ("PUTFS_REPLICA_MAX_LAG", "20m"),
        ("PUTFS_OPS_STATE", "/nonexistent"),
        // Upstream's client, and the test scripts'.
        ("PUTFS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("PUTFS_SYNC_RETRIES", "0"),
        ("PUTFS_REQUIRE_TOOLS", "1"),
        ("PUTFS_BIN", "/nonexistent"),
    ] {
        cmd.env(k, v);
    }
    let out = serve_and_stop(cmd);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(!out.stderr.contains("PUTFS_"), "{}", out.stderr);
}
