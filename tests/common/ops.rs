//! Helpers for the `putfs ops` end-to-end tests: running `putfs ops` and
//! other real tools with a deadline, hashing object trees, parsing
//! `find-gap --json`, and a zfs-fuse lab (daemon + file-backed pools) that
//! tears itself down on drop, panics included.
//!
//! Included by the test files with `#[path = "common/ops.rs"] mod ops;`
//! next to `mod common;`, so the other test binaries do not compile it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{send_signal, sha256, tempdir, wait_until, walk};

/// How long one `putfs ops` or tool invocation may run before the test
/// kills it (by its own PID) and fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(300);

/// Where Debian puts zfs, zpool, zfs-fuse; a test runner's PATH may lack it.
const SBIN_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

// ---------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------

/// PATH with the sbin directories appended (for us and for `putfs ops`,
/// which runs `zfs` itself).
pub fn tool_path_env() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in SBIN_DIRS {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).expect("join PATH")
}

/// Absolute path of an executable found on [`tool_path_env`].
pub fn find_tool(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&tool_path_env())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| {
                    m.is_file()
                        && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
                .unwrap_or(false)
        })
}

/// Panics with a clear message when a tool the test needs is missing.
pub fn require_tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("`{name}` is not installed (scripts/test installs it with apt-get)")
    })
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub cmd: String,
    /// `None` if it died from a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stdout then stderr, for "the output mentions X" checks.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.out(), self.err())
    }

    /// Non-empty stdout lines as a set.
    pub fn line_set(&self) -> BTreeSet<String> {
        self.out()
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// NUL-separated stdout records as a set.
    pub fn nul_set(&self) -> BTreeSet<String> {
        self.stdout
            .split(|b| *b == 0)
            .filter(|r| !r.is_empty())
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    /// The command, its exit and everything it printed, for assertion
    /// messages.
    pub fn describe(&self) -> String {
        format!(
            "$ {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.cmd,
            self.code,
            self.out(),
            self.err()
        )
    }

    /// Asserts the exit code, printing the whole run otherwise.
    #[track_caller]
    pub fn expect(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n{}",
            self.describe()
        );
        self
    }

    /// Asserts stderr logged an external command whose argv starts with
    /// `argv_prefix` (the `+ <command line>` lines of the ops command
    /// runner, read as shell words so any valid quoting is accepted).
    #[track_caller]
    pub fn expect_logged(&self, argv_prefix: &[&str], what: &str) -> &Self {
        let found = self.logged_commands().iter().any(|argv| {
            argv.len() >= argv_prefix.len() && argv.iter().zip(argv_prefix).all(|(a, b)| a == b)
        });
        assert!(
            found,
            "{what}: stderr has no `+ {}…` line\n{}",
            argv_prefix.join(" "),
            self.describe()
        );
        self
    }

    /// The argv of every `+ …` line on stderr.
    pub fn logged_commands(&self) -> Vec<Vec<String>> {
        self.err()
            .lines()
            .filter_map(|l| l.strip_prefix("+ "))
            .filter_map(shell_split)
            .collect()
    }
}

/// Splits a POSIX shell command line into words (quotes and backslashes;
/// no expansions). `None` if a quote is unterminated.
pub fn shell_split(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let x = chars.next()?;
                            if !matches!(x, '"' | '\\' | '$' | '`') {
                                cur.push('\\');
                            }
                            cur.push(x);
                        }
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

fn shell_word(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn describe_cmd(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(shell_word)
        .collect::<Vec<_>>()
        .join(" ")
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Polls a child until it exits or `deadline`; on the deadline kills it
/// (its own PID) and returns `None`.
fn wait_deadline(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to completion (stdin from `input`, or /dev/null), capturing
/// its output; panics if it runs past `timeout`.
pub fn run_cmd(mut cmd: Command, input: Option<Vec<u8>>, timeout: Duration) -> Output {
    let desc = describe_cmd(&cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{desc}`: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_deadline(&mut child, Instant::now() + timeout);
    let output = Output {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "command ran longer than {timeout:?} and was killed\n{}",
        output.describe()
    );
    output
}

/// A `Command` for a tool found on the extended PATH, with that PATH.
pub fn tool(name: &str) -> Command {
    let mut cmd = Command::new(require_tool(name));
    cmd.env("PATH", tool_path_env());
    cmd
}

/// Runs a tool with arguments and returns its output (any exit code).
pub fn run_tool<I, S>(name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = tool(name);
    cmd.args(args);
    run_cmd(cmd, None, CMD_TIMEOUT)
}

/// As [`run_tool`], panicking unless it exits 0.
#[track_caller]
pub fn run_tool_ok<I, S>(name: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run_tool(name, args);
    assert_eq!(out.code, Some(0), "command failed\n{}", out.describe());
    out
}

/// `putfs ops <args>` with the real binary: no stdin (so no terminal),
/// the test's own `PUTFS_*` variables removed, sbin on PATH.
pub fn putfs_ops<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_cmd(ops_command(args, tool_path_env()), None, CMD_TIMEOUT)
}

/// As [`putfs_ops`], with `dir` first on PATH: a stand-in there replaces
/// the real tool of the same name (e.g. a `zfs` that has `zfs diff`).
pub fn putfs_ops_with_path_first<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let dirs = std::iter::once(dir.to_path_buf())
        .chain(std::env::split_paths(&tool_path_env()).collect::<Vec<_>>());
    let path = std::env::join_paths(dirs).expect("join PATH");
    run_cmd(ops_command(args, path), None, CMD_TIMEOUT)
}

fn ops_command<I, S>(args: I, path: OsString) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_putfs"));
    cmd.arg("ops").args(args);
    for (key, _) in std::env::vars_os() {
        if key.as_bytes().starts_with(b"PUTFS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", path);
    cmd
}

/// `a | b`, both with a deadline; returns both outputs (the first one's
/// stdout is the pipe, so it is empty).
pub fn pipe(mut a: Command, mut b: Command, timeout: Duration) -> (Output, Output) {
    let (da, db) = (describe_cmd(&a), describe_cmd(&b));
    let mut ca = a
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{da}`: {e}"));
    let mid = ca.stdout.take().unwrap();
    let mut cb = b
        .stdin(Stdio::from(mid))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{db}`: {e}"));
    let ea = drain(ca.stderr.take().unwrap());
    let ob = drain(cb.stdout.take().unwrap());
    let eb = drain(cb.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    let sb = wait_deadline(&mut cb, deadline);
    let sa = wait_deadline(&mut ca, deadline);
    let oa = Output {
        cmd: da,
        code: sa.and_then(|s| s.code()),
        stdout: Vec::new(),
        stderr: ea.join().unwrap_or_default(),
    };
    let ob = Output {
        cmd: db,
        code: sb.and_then(|s| s.code()),
        stdout: ob.join().unwrap_or_default(),
        stderr: eb.join().unwrap_or_default(),
    };
    assert!(
        sa.is_some() && sb.is_some(),
        "pipe ran longer than {timeout:?}\n{}\n{}",
        oa.describe(),
        ob.describe()
    );
    (oa, ob)
}

// ---------------------------------------------------------------------------
// Keys, objects and trees
// ---------------------------------------------------------------------------

pub fn sha_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// A key as a request path: every byte outside `A-Z a-z 0-9 - . _ ~ /`
/// percent-encoded.
pub fn key_url(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 1);
    s.push('/');
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Whether a relative path is putfs's own (`.putfs/…`, `.putfs-tmp.*`):
/// any segment starting with `.putfs`.
pub fn is_internal(rel: &Path) -> bool {
    rel.components()
        .any(|c| c.as_os_str().as_bytes().starts_with(b".putfs"))
}

/// Every object (regular file outside putfs's own entries) under `root`:
/// key → sha256 hex.
pub fn object_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for rel in walk(root) {
        if is_internal(&rel) {
            continue;
        }
        let path = root.join(&rel);
        let md = std::fs::symlink_metadata(&path).unwrap();
        if md.is_file() {
            let data =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            out.insert(rel.to_str().expect("UTF-8 key").to_string(), sha_hex(&data));
        }
    }
    out
}

/// Every entry under `root` (internal ones included) with, for files, the
/// sha256, size and mtime: a fingerprint that changes when anything does.
pub fn full_fingerprint(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    for rel in walk(root) {
        let path = root.join(&rel);
        let md = std::fs::symlink_metadata(&path).unwrap();
        let value = if md.is_file() {
            format!(
                "file {} {} {}.{}",
                sha_hex(&std::fs::read(&path).unwrap()),
                md.len(),
                md.mtime(),
                md.mtime_nsec()
            )
        } else if md.is_dir() {
            "dir".to_string()
        } else {
            format!("other {:o}", md.mode())
        };
        out.insert(rel.to_string_lossy().into_owned(), value);
    }
    out
}

/// Sets a file's mtime with the real `touch -d`.
pub fn touch_date(path: &Path, date: &str) {
    run_tool_ok(
        "touch",
        [OsStr::new("-d"), OsStr::new(date), path.as_os_str()],
    );
}

/// Sets a file's mtime to another file's (`touch -r`).
pub fn touch_like(path: &Path, reference: &Path) {
    run_tool_ok(
        "touch",
        [OsStr::new("-r"), reference.as_os_str(), path.as_os_str()],
    );
}

/// `cp -a SRC DST` (DST must not exist): a snapshot made by copying.
pub fn cp_a(src: &Path, dst: &Path) {
    run_tool_ok("cp", [OsStr::new("-a"), src.as_os_str(), dst.as_os_str()]);
}

pub fn file_sha(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|d| sha_hex(&d))
}

/// Keys of `map` as a set.
pub fn keys<V>(map: &BTreeMap<String, V>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

// ---------------------------------------------------------------------------
// find-gap --json
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct GapEntry {
    pub change: String,
    pub key: String,
    pub size: Option<u64>,
    pub mtime_ns: Option<i64>,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GapReport {
    pub entries: Vec<GapEntry>,
    pub summary: serde_json::Value,
}

impl GapReport {
    pub fn of(&self, change: &str) -> BTreeMap<String, GapEntry> {
        self.entries
            .iter()
            .filter(|e| e.change == change)
            .map(|e| (e.key.clone(), e.clone()))
            .collect()
    }

    pub fn summary_u64(&self, field: &str) -> u64 {
        self.summary
            .get(field)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("summary lacks numeric {field:?}: {}", self.summary))
    }

    pub fn summary_str(&self, field: &str) -> String {
        self.summary
            .get(field)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("summary lacks string {field:?}: {}", self.summary))
            .to_string()
    }
}

/// Parses `find-gap --json` (NDJSON: entries, then one `{"summary":…}`).
#[track_caller]
pub fn parse_gap_json(out: &Output) -> GapReport {
    let text = out.out();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty(),
        "--json printed nothing\n{}",
        out.describe()
    );
    let mut entries = Vec::new();
    let mut summary = None;
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "line {} is not JSON ({e}): {line:?}\n{}",
                i + 1,
                out.describe()
            )
        });
        if let Some(s) = v.get("summary") {
            assert_eq!(
                i,
                lines.len() - 1,
                "the summary must be the last line\n{}",
                out.describe()
            );
            summary = Some(s.clone());
            continue;
        }
        let field = |k: &str| v.get(k).cloned();
        entries.push(GapEntry {
            change: field("change")
                .and_then(|c| c.as_str().map(str::to_string))
                .unwrap_or_else(|| panic!("entry without \"change\": {line}")),
            key: field("key")
                .and_then(|c| c.as_str().map(str::to_string))
                .unwrap_or_else(|| panic!("entry without \"key\": {line}")),
            size: field("size").and_then(|c| c.as_u64()),
            mtime_ns: field("mtime_ns").and_then(|c| c.as_i64()),
            sha256: field("sha256").and_then(|c| c.as_str().map(str::to_ascii_lowercase)),
        });
    }
    GapReport {
        entries,
        summary: summary.unwrap_or_else(|| panic!("no {{\"summary\":…}} line\n{}", out.describe())),
    }
}

/// Finds `field` anywhere in a JSON document (depth-first), for fields
/// whose nesting the contract does not fix.
pub fn json_find<'a>(v: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(x) = map.get(field) {
                return Some(x);
            }
            map.values().find_map(|x| json_find(x, field))
        }
        serde_json::Value::Array(items) => items.iter().find_map(|x| json_find(x, field)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// zfs-fuse lab
// ---------------------------------------------------------------------------

const ZPOOL_CACHE: &str = "/var/lib/zfs/zpool.cache";

/// PID of a running `zfs-fuse`, if any (it is one machine-wide daemon).
pub fn running_zfs_fuse() -> Option<i32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("comm"))
            .map(|c| c.trim() == "zfs-fuse")
            .unwrap_or(false)
        {
            return Some(pid);
        }
    }
    None
}

/// Why ZFS tests cannot run here, if they cannot.
pub fn zfs_unavailable() -> Option<String> {
    let mut missing: Vec<String> = ["zfs-fuse", "zfs", "zpool", "rsync"]
        .iter()
        .filter(|t| find_tool(t).is_none())
        .map(|t| format!("`{t}` not installed"))
        .collect();
    if !Path::new("/dev/fuse").exists() {
        missing.push("/dev/fuse missing".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 && running_zfs_fuse().is_none() {
        missing.push("not root (cannot start zfs-fuse)".into());
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// A zfs-fuse daemon (ours, or the one already running) and the pools a
/// test created on file vdevs in a temp dir. Drop destroys the pools,
/// stops the daemon if we started it, removes its pool cache, lazily
/// unmounts anything left under the temp dir, then removes the dir.
pub struct ZfsLab {
    /// Pools to destroy, in creation order.
    pools: Vec<String>,
    /// Our daemon; `None` when we use one that was already running.
    daemon: Option<Child>,
    dir: tempfile::TempDir,
}

impl ZfsLab {
    /// Starts zfs-fuse if none runs and waits until `zpool list` answers.
    pub fn start() -> ZfsLab {
        let dir = tempdir();
        let daemon = match running_zfs_fuse() {
            Some(pid) => {
                eprintln!("using the zfs-fuse daemon already running (pid {pid})");
                None
            }
            None => {
                let log = std::fs::File::create(dir.path().join("zfs-fuse.log")).unwrap();
                let child = Command::new(require_tool("zfs-fuse"))
                    .args(["--no-daemon", "--no-kstat-mount", "--disable-page-cache"])
                    .current_dir("/")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().unwrap())
                    .stderr(log)
                    .spawn()
                    .expect("start zfs-fuse");
                eprintln!("started zfs-fuse (pid {})", child.id());
                Some(child)
            }
        };
        // Built before the readiness wait so a failure still tears down.
        let mut lab = ZfsLab {
            pools: Vec::new(),
            daemon,
            dir,
        };
        let mut last = None;
        let ready = wait_until(Duration::from_secs(60), || {
            if let Some(child) = lab.daemon.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "zfs-fuse exited at start ({status}); log:\n{}",
                    std::fs::read_to_string(lab.dir.path().join("zfs-fuse.log"))
                        .unwrap_or_default()
                );
            }
            let out = run_tool("zpool", ["list"]);
            let ok = out.code == Some(0);
            last = Some(out);
            ok
        });
        assert!(
            ready,
            "zfs-fuse did not answer `zpool list` within 60 s\n{}",
            last.map(|o| o.describe()).unwrap_or_default()
        );
        lab
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `truncate -s 512M VDEV && zpool create -m MNT NAME VDEV`; returns
    /// the mountpoint.
    pub fn create_pool(&mut self, name: &str) -> PathBuf {
        let vdev = self.dir().join(format!("{name}.vdev"));
        let mnt = self.dir().join(format!("mnt-{name}"));
        run_tool_ok(
            "truncate",
            [OsStr::new("-s"), OsStr::new("512M"), vdev.as_os_str()],
        );
        // Registered first: a half-created pool must still be destroyed.
        self.pools.push(name.to_string());
        run_tool_ok(
            "zpool",
            [
                OsStr::new("create"),
                OsStr::new("-m"),
                mnt.as_os_str(),
                OsStr::new(name),
                vdev.as_os_str(),
            ],
        );
        mnt
    }

    /// `zfs ARGS` (any exit code).
    pub fn zfs<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_tool("zfs", args)
    }

    /// `zfs ARGS`, which must succeed; returns stdout.
    #[track_caller]
    pub fn zfs_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_tool_ok("zfs", args).out()
    }

    /// `zfs get -Hp -o value PROP DS`, trimmed.
    pub fn get(&self, prop: &str, ds: &str) -> String {
        self.zfs_ok(["get", "-Hp", "-o", "value", prop, ds])
            .trim()
            .to_string()
    }

    /// A property as set on the dataset. zfs-fuse reports `readonly` of a
    /// mounted dataset from the FUSE mount options (`off`, source
    /// `temporary`) even when `readonly=on` is set and enforced; the set
    /// value only shows while unmounted, so unmount, read, remount.
    pub fn prop_as_set(&self, prop: &str, ds: &str) -> String {
        let read = || {
            let out = self.zfs_ok(["get", "-H", "-o", "value,source", prop, ds]);
            let (v, src) = out.trim_end().split_once('\t').unwrap_or((out.trim(), ""));
            (v.to_string(), src.to_string())
        };
        let (value, source) = read();
        if source != "temporary" {
            return value;
        }
        self.zfs_ok(["umount", ds]);
        let (value, _) = read();
        self.zfs_ok(["mount", ds]);
        value
    }

    /// Snapshot names (after the `@`) of exactly `ds`, oldest first.
    pub fn snapshots(&self, ds: &str) -> Vec<String> {
        let prefix = format!("{ds}@");
        let mut snaps: Vec<(i64, String)> = self
            .zfs_ok(["get", "-rHp", "-o", "name,value", "creation", ds])
            .lines()
            .filter_map(|l| {
                let (name, value) = l.split_once('\t')?;
                let snap = name.strip_prefix(&prefix)?;
                Some((value.trim().parse().unwrap_or(0), snap.to_string()))
            })
            .collect();
        // Same-second snapshots keep zfs's (creation) order: stable sort.
        snaps.sort_by_key(|(t, _)| *t);
        snaps.into_iter().map(|(_, s)| s).collect()
    }

    /// Filesystems (no snapshots) of a pool, sorted.
    pub fn datasets(&self, pool: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .zfs_ok(["list", "-H", "-o", "name", "-r", pool])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    pub fn mountpoint(&self, ds: &str) -> PathBuf {
        PathBuf::from(self.get("mountpoint", ds))
    }

    /// Mounts `ds` if it is not; returns its mountpoint.
    pub fn ensure_mounted(&self, ds: &str) -> PathBuf {
        if self.get("mounted", ds) != "yes" {
            self.zfs_ok(["mount", ds]);
        }
        self.mountpoint(ds)
    }

    /// `zfs send SEND_ARGS | zfs recv RECV_ARGS`; returns both outputs.
    pub fn send_recv(&self, send_args: &[&str], recv_args: &[&str]) -> (Output, Output) {
        let mut a = tool("zfs");
        a.arg("send").args(send_args);
        let mut b = tool("zfs");
        b.arg("recv").args(recv_args);
        pipe(a, b, CMD_TIMEOUT)
    }

    /// As [`ZfsLab::send_recv`], panicking unless both sides succeed.
    #[track_caller]
    pub fn send_recv_ok(&self, send_args: &[&str], recv_args: &[&str]) {
        let (s, r) = self.send_recv(send_args, recv_args);
        assert!(
            s.code == Some(0) && r.code == Some(0),
            "zfs send | zfs recv failed\n{}\n{}",
            s.describe(),
            r.describe()
        );
    }

    /// Destroys one pool of this lab now (a lab shared by several tests
    /// gives each its own pool) and removes its vdev file.
    pub fn destroy_pool(&mut self, name: &str) {
        self.pools.retain(|p| p != name);
        destroy_pool(name);
        let _ = std::fs::remove_file(self.dir().join(format!("{name}.vdev")));
    }

    fn destroy_pools(&mut self) {
        for pool in self.pools.drain(..).rev() {
            destroy_pool(&pool);
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let pid = child.id() as i32;
        if child.try_wait().ok().flatten().is_none() {
            send_signal(pid, libc::SIGTERM);
            // It takes ~7 s to exit after SIGTERM.
            let deadline = Instant::now() + Duration::from_secs(60);
            if wait_deadline(&mut child, deadline).is_none() {
                eprintln!("WARNING: zfs-fuse (pid {pid}) ignored SIGTERM for 60 s; killed");
            }
        }
        let _ = std::fs::remove_file(ZPOOL_CACHE);
    }

    /// Lazily unmounts anything still mounted under our temp dir (a FUSE
    /// mount whose daemon died stays as "transport endpoint not connected").
    fn unmount_leftovers(&self) {
        let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
            return;
        };
        let base = self.dir().to_string_lossy().into_owned();
        let mut ours: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .map(|m| m.replace("\\040", " "))
            .filter(|m| m.starts_with(&base))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            eprintln!("WARNING: {m} still mounted after teardown; umount -l");
            let _ = run_tool("umount", ["-l", &m]);
        }
    }
}

/// `zpool destroy -f`, retried while busy; a warning if it never goes.
fn destroy_pool(pool: &str) {
    let mut last = None;
    let gone = wait_until(Duration::from_secs(60), || {
        let out = run_tool("zpool", ["destroy", "-f", pool]);
        let done = out.code == Some(0) || out.err().contains("no such pool");
        last = Some(out);
        if !done {
            // A busy pool is retried; this pause paces the retry.
            thread::sleep(Duration::from_millis(200));
        }
        done
    });
    if !gone {
        eprintln!(
            "WARNING: could not destroy test pool {pool}\n{}",
            last.map(|o| o.describe()).unwrap_or_default()
        );
    }
}

impl Drop for ZfsLab {
    fn drop(&mut self) {
        self.destroy_pools();
        self.stop_daemon();
        self.unmount_leftovers();
        // self.dir (the vdevs and mountpoints) is removed after this.
    }
}

/// A `zfs rename` that moves a dataset under another parent. On zfs-fuse
/// it answers "dataset is busy" while the source or the new parent is
/// mounted (OpenZFS unmounts and remounts by itself); then unmount both,
/// rename, and mount them again. Returns whether the workaround was needed.
pub fn zfs_rename_across(lab: &ZfsLab, argv: &[String]) -> bool {
    let out = lab.zfs(&argv[1..]);
    if out.code == Some(0) {
        return false;
    }
    assert!(
        out.err().contains("busy"),
        "plan step failed\n{}",
        out.describe()
    );
    let names: Vec<&String> = argv[2..].iter().filter(|a| !a.starts_with('-')).collect();
    assert_eq!(names.len(), 2, "unexpected rename argv {argv:?}");
    let (src, dst) = (names[0].as_str(), names[1].as_str());
    let parent = dst.rsplit_once('/').map_or(dst, |(p, _)| p);
    for ds in [src, parent] {
        if lab.get("mounted", ds) == "yes" {
            lab.zfs_ok(["umount", ds]);
        }
    }
    let retry = lab.zfs(&argv[1..]);
    assert_eq!(
        retry.code,
        Some(0),
        "`zfs rename` failed even with source and target parent unmounted\n{}\nfirst try:\n{}",
        retry.describe(),
        out.describe()
    );
    for ds in [parent, dst] {
        if lab.get("mounted", ds) != "yes" {
            lab.zfs_ok(["mount", ds]);
        }
    }
    true
}
