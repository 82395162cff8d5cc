//! Shared harness for the integration tests: spawns the real `putfs` binary on
//! port 0, reads the bound address from its stdout, and offers HTTP helpers
//! (reqwest for ordinary requests, raw `TcpStream` for requests a client
//! library would normalise or could not send: dot segments, `%2F`, partial
//! bodies, disconnects).
//!
//! Every test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

/// How long a server may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a raw-socket read may block before the test gives up.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
const READY_MARKER: &str = "putfs listening on http://";

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/// A running `putfs serve` child. Killed (by its own PID) on drop; its
/// stdout/stderr are drained by background threads and kept for diagnostics.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    root: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
    /// A listening socket handed to the child as a service manager would
    /// (fd 3, `LISTEN_FDS=1`, `LISTEN_PID`), instead of `--listen`.
    inherit: Option<std::os::fd::RawFd>,
    /// `--listen` for the next start: port 0, or the port this server had
    /// (see [`Server::restart_on_same_port`]).
    listen: String,
}

impl Server {
    /// `putfs serve --root <root> --listen 127.0.0.1:0 <args>`.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        Server::start_with_env(root, args, &[])
    }

    /// As [`Server::start`], with extra environment variables. Every
    /// `PUTFS_*` variable of the test's own environment is removed first so
    /// the developer's shell cannot change what a test means.
    pub fn start_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            root: root.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: Arc::new(Mutex::new(String::new())),
            inherit: None,
            listen: "127.0.0.1:0".into(),
        };
        server.spawn();
        server
    }

    /// Like [`Server::start`] but returns the child's exit status and output
    /// instead of panicking when it exits before listening (for tests of
    /// refused configurations).
    pub fn try_start(root: &Path, args: &[&str]) -> Result<Server, String> {
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            root: root.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: Arc::new(Mutex::new(String::new())),
            inherit: None,
            listen: "127.0.0.1:0".into(),
        };
        server.try_spawn().map(|()| server)
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!("{e}");
        }
    }

    /// As [`Server::start`], serving on `socket` as systemd socket
    /// activation passes it: the socket outlives the process, so the next
    /// server started on it takes over its queue of connections.
    pub fn start_on_socket(root: &Path, args: &[&str], socket: &std::net::TcpListener) -> Server {
        use std::os::fd::AsRawFd;
        let mut server = Server {
            child: None,
            addr: socket.local_addr().unwrap(),
            root: root.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: Arc::new(Mutex::new(String::new())),
            inherit: Some(socket.as_raw_fd()),
            listen: "127.0.0.1:0".into(),
        };
        server.spawn();
        server
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let mut cmd = match self.inherit {
            None => Command::new(env!("CARGO_BIN_EXE_putfs")),
            Some(fd) => {
                use std::os::unix::process::CommandExt;
                // `$$` is the shell's pid, which `exec` hands to putfs: the
                // LISTEN_PID a service manager would set.
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
                    env!("CARGO_BIN_EXE_putfs"),
                ]);
                // SAFETY: dup2 and fcntl are async-signal-safe. The socket
                // must be fd 3 without FD_CLOEXEC to survive both execs
                // (dup2 onto itself would leave the flag set).
                unsafe {
                    c.pre_exec(move || {
                        let r = if fd == 3 {
                            libc::fcntl(3, libc::F_SETFD, 0)
                        } else {
                            libc::dup2(fd, 3)
                        };
                        if r < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                c
            }
        };
        cmd.arg("serve")
            .arg("--root")
            .arg(&self.root)
            .arg("--listen")
            .arg(&self.listen)
            .args(&self.args);
        // Tests hand writable servers a fresh temp dir: mark it as a new
        // data root (tests/root_guard.rs covers the refusal without it).
        if self.wants_init() {
            cmd.arg("--init");
        }
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"PUTFS_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn putfs binary");
        let log = Arc::new(Mutex::new(String::new()));
        self.log = log.clone();

        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let stdout = child.stdout.take().unwrap();
        let mut found = false;
        drain_lines(stdout, "stdout", log.clone(), move |text| {
            if !found && let Some(addr) = parse_listening_line(text) {
                found = true;
                let _ = tx.send(addr);
            }
        });
        let stderr = child.stderr.take().unwrap();
        drain_lines(stderr, "stderr", log.clone(), |_| {});

        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                assert!(
                    addr.ip().is_loopback(),
                    "server announced a non-loopback address {addr}"
                );
                self.addr = addr;
                self.child = Some(child);
                Ok(())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "putfs did not print {READY_MARKER:?} within {START_TIMEOUT:?}; output:\n{}",
                    log.lock().unwrap()
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().ok();
                // stderr may still be draining; give the thread a moment by
                // polling for the pipe to close rather than sleeping blind.
                wait_until(Duration::from_secs(2), || {
                    log.lock().unwrap().contains("[stderr]")
                });
                Err(format!(
                    "putfs exited ({status:?}) before listening; output:\n{}",
                    log.lock().unwrap()
                ))
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A writable server on an existing directory that is not yet a data
    /// root, started without an explicit `--init`.
    fn wants_init(&self) -> bool {
        let read_only = self
            .args
            .iter()
            .any(|a| a == "--read-only" || a == "--init")
            || self
                .env
                .iter()
                .any(|(k, v)| (k == "PUTFS_READ_ONLY" || k == "PUTFS_INIT") && v != "false");
        !read_only && self.root.is_dir() && !self.root.join(".putfs").exists()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("server not running").id() as i32
    }

    /// `http://127.0.0.1:PORT/<path>`; `path` is used verbatim (already
    /// percent-encoded), with or without its leading `/`.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("http://{}{}", self.addr, path)
        } else {
            format!("http://{}/{}", self.addr, path)
        }
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        send_signal(child.id() as i32, libc::SIGKILL);
        child.wait().expect("wait for killed server")
    }

    /// Sends SIGTERM; does not wait (see [`Server::wait_exit`]).
    pub fn sigterm(&self) {
        send_signal(self.pid(), libc::SIGTERM);
    }

    /// Polls for the child's exit; `None` if still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("server not running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().expect("try_wait").is_none(),
        }
    }

    /// Kills the current process if it still runs (SIGKILL) and starts a new
    /// one on the same root with the same flags; the port changes.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// Kills the current process if it still runs (SIGKILL) and starts a new
    /// one on the same root, flags and port, as a node restarting behind a
    /// load balancer does; connections are refused in between.
    pub fn restart_on_same_port(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.listen = self.addr.to_string();
        self.spawn();
    }

    // -- reqwest conveniences ---------------------------------------------

    pub fn get(&self, path: &str) -> Resp {
        send(client().get(self.url(path)))
    }

    pub fn head(&self, path: &str) -> Resp {
        send(client().head(self.url(path)))
    }

    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        send(client().put(self.url(path)).body(body.into()))
    }

    pub fn delete(&self, path: &str) -> Resp {
        send(client().delete(self.url(path)))
    }

    /// `QUERY path` with an optional `(content-type, body)`.
    pub fn query(&self, path: &str, body: Option<(&str, &str)>) -> Resp {
        let mut req = client().request(query_method(), self.url(path));
        if let Some((ct, b)) = body {
            if !ct.is_empty() {
                req = req.header("Content-Type", ct);
            }
            req = req.body(b.to_string());
        }
        send(req)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- putfs output (root {}) ----\n{}---- end ----",
                self.root.display(),
                self.logs()
            );
        }
        if let Some(mut child) = self.child.take() {
            // Child::kill signals this child's own PID only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(READY_MARKER)? + READY_MARKER.len()..];
    let hostport = rest
        .split(|c: char| c.is_whitespace())
        .next()?
        .trim_end_matches('/');
    hostport.parse().ok()
}

pub fn send_signal(pid: i32, sig: i32) {
    assert!(pid > 0, "refusing to signal pid {pid}");
    // SAFETY: kill(2) on a positive PID we spawned; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// True if the status says the process ended on its own (not by a signal).
pub fn exited_normally(status: &ExitStatus) -> bool {
    status.signal().is_none()
}

// ---------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns
/// whether it held. The only waiting primitive the tests use.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// reqwest
// ---------------------------------------------------------------------------

/// A client that never uses a proxy (the environment's HTTP_PROXY must not
/// send loopback traffic elsewhere) and never follows redirects.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(300))
        .build()
        .expect("build reqwest client")
}

pub fn query_method() -> reqwest::Method {
    reqwest::Method::from_bytes(b"QUERY").unwrap()
}

/// A fully read response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Non-empty lines of a text listing, sorted (listings come in
    /// filesystem order).
    pub fn lines_sorted(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .text()
            .split('\n')
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }
}

/// Sends and reads the whole body; panics on a transport error.
pub fn send(req: reqwest::blocking::RequestBuilder) -> Resp {
    let resp = req.send().expect("HTTP request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().expect("read response body").to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// Methods named in an `Allow` header, upper-cased and sorted.
pub fn allow_set(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

pub fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over TcpStream
// ---------------------------------------------------------------------------

/// Header name/value pairs as received, in order.
pub type Headers = Vec<(String, String)>;

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The body ended where its framing said (Content-Length reached or the
    /// terminating zero chunk seen).
    pub complete: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to putfs");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Request head with `Host` and `Connection: close`; `target` is sent as is.
pub fn request_head(method: &str, target: &str, headers: &[(&str, &str)]) -> String {
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One request over a fresh connection; `Content-Length` is added for PUT
/// and any non-empty body. Reads the response until EOF.
pub fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    let len = body.len().to_string();
    let has_len = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if !has_len && (!body.is_empty() || method == "PUT") {
        all.push(("Content-Length", &len));
    }
    let mut stream = connect(addr);
    stream
        .write_all(request_head(method, target, &all).as_bytes())
        .expect("write request head");
    // The server may answer (and close) before taking the body: ignore
    // write errors and read whatever answer came.
    let _ = stream.write_all(body);
    read_response(&mut stream, method == "HEAD")
}

/// Reads one response (skipping 1xx interim heads) until EOF.
pub fn read_response(stream: &mut TcpStream, is_head: bool) -> RawResponse {
    let data = read_to_eof(stream);
    parse_response(&data, is_head)
        .unwrap_or_else(|| panic!("unparseable response: {:?}", String::from_utf8_lossy(&data)))
}

/// Reads until EOF, a reset or IO_TIMEOUT; returns what arrived.
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    data
}

/// Reads one response head (up to the blank line), interim or final.
/// `None` if the connection closed or timed out first.
pub fn read_head(stream: &mut TcpStream) -> Option<(u16, Headers)> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => data.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    parse_head(&data).map(|(s, h, _)| (s, h))
}

fn parse_head(data: &[u8]) -> Option<(u16, Headers, usize)> {
    let end = find(data, b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&data[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Some((status, headers, end + 4))
}

pub fn parse_response(mut data: &[u8], is_head: bool) -> Option<RawResponse> {
    loop {
        let (status, headers, body_start) = parse_head(data)?;
        if (100..200).contains(&status) {
            data = &data[body_start..];
            continue;
        }
        let rest = &data[body_start..];
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let (body, complete) = if is_head || status == 204 || status == 304 {
            (Vec::new(), true)
        } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            decode_chunked(rest)
        } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let n = len.min(rest.len());
            (rest[..n].to_vec(), rest.len() >= len)
        } else {
            // Close-delimited: cannot tell an abort from the end.
            (rest.to_vec(), true)
        };
        return Some(RawResponse {
            status,
            headers,
            body,
            complete,
        });
    }
}

fn decode_chunked(mut data: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            return (body, false);
        };
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers (none expected) then the final CRLF.
            return (body, find(data, b"\r\n").is_some());
        }
        if data.len() < size + 2 {
            body.extend_from_slice(&data[..size.min(data.len())]);
            return (body, false);
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a connection that stays open (no `Connection: close`):
/// writes the head and body, reads exactly one response (Content-Length
/// framed, or none for HEAD/204/304). `None` if the connection closed or
/// timed out before a whole response arrived.
pub fn keep_alive_request(
    stream: &mut TcpStream,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<RawResponse> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let (status, headers) = loop {
        let (status, headers) = read_head(stream)?;
        if !(100..200).contains(&status) {
            break (status, headers);
        }
    };
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; if method == "HEAD" { 0 } else { len }];
    stream.read_exact(&mut body).ok()?;
    Some(RawResponse {
        status,
        headers,
        body,
        complete: true,
    })
}

/// Waits up to `within` for the peer to close the connection (a read
/// returning 0, or a reset), discarding anything it sends first. Returns
/// how long that took, or `None` if the connection was still open.
pub fn wait_closed(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let deadline = started + within;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// Sends a request head and a body produced by `write_body` on one thread
/// while another reads the answer, so an answer sent before the body is
/// taken (507, 408, 422…) is read before a reset can discard it.
pub fn raw_upload_concurrent(
    addr: SocketAddr,
    head: String,
    write_body: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> RawResponse {
    let mut stream = connect(addr);
    stream.write_all(head.as_bytes()).expect("write head");
    let mut writer = stream.try_clone().unwrap();
    let handle = thread::spawn(move || write_body(&mut writer));
    let data = read_to_eof(&mut stream);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = handle.join();
    parse_response(&data, false)
        .unwrap_or_else(|| panic!("unparseable response: {:?}", String::from_utf8_lossy(&data)))
}

// ---------------------------------------------------------------------------
// Filesystem
// ---------------------------------------------------------------------------

/// Every entry under `root` (files, dirs, symlinks; symlinks not followed),
/// as paths relative to `root`, sorted.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    fn rec(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().to_path_buf());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rec(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    rec(root, root, &mut out);
    out.sort();
    out
}

/// `.putfs-tmp*` entries anywhere under `root`.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b".putfs-tmp"))
        })
        .collect()
}

/// Entries under `root` outside putfs's own top-level `.putfs/` folder.
pub fn user_entries(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| !p.starts_with(".putfs"))
        .collect()
}

/// Asserts (polling up to 10 s, cleanup may trail the answer) that no temp
/// file is left under `root`.
pub fn assert_no_temp_files(root: &Path) {
    let ok = wait_until(Duration::from_secs(10), || temp_files(root).is_empty());
    assert!(
        ok,
        "temp files left under {}: {:?}",
        root.display(),
        temp_files(root)
    );
}

pub fn mtime_ns(path: &Path) -> i128 {
    let md = std::fs::metadata(path).unwrap();
    md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128
}

/// Whether `dir`'s filesystem accepts `user.*` extended attributes.
pub fn xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    std::fs::write(&probe, b"x").unwrap();
    let ok = set_xattr(&probe, "user.putfs-test", b"1").is_ok();
    std::fs::remove_file(&probe).unwrap();
    ok
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a live buffer of value.len().
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid NUL-terminated strings and a live buffer of buf.len().
    let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return None;
    }
    buf.truncate(rc as usize);
    Some(buf)
}

// ---------------------------------------------------------------------------
// Digests and data
// ---------------------------------------------------------------------------

pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

pub fn sha512(data: &[u8]) -> Vec<u8> {
    sha2::Sha512::digest(data).to_vec()
}

pub fn md5(data: &[u8]) -> Vec<u8> {
    md5::Md5::digest(data).to_vec()
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The `Repr-Digest` value putfs must send for `data`.
pub fn repr_digest_sha256(data: &[u8]) -> String {
    format!("sha-256=:{}:", b64(&sha256(data)))
}

/// An ETag must be strong and derived from the SHA-256 (README: "The ETag
/// is derived from that digest"); the exact spelling is the server's, so
/// accept hex, base64 or base64url of the digest, or a hex prefix of at
/// least 16 digits.
pub fn etag_derives_from(etag: &str, digest: &[u8; 32]) -> bool {
    if etag.starts_with("W/") || !(etag.starts_with('"') && etag.ends_with('"')) || etag.len() < 3 {
        return false;
    }
    let inner = &etag[1..etag.len() - 1];
    let hex = hex::encode(digest);
    let std_b64 = b64(digest);
    let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    inner.contains(&hex)
        || inner.contains(std_b64.trim_end_matches('='))
        || inner.contains(&url_b64)
        || (inner.len() >= 16 && hex.starts_with(&inner.to_ascii_lowercase()))
}

/// A small deterministic PRNG (splitmix64): tests need varied bytes, not
/// cryptographic ones, and must not depend on a rand crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seeded from the clock and a counter, so parallel tests differ.
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(nanos ^ ((std::process::id() as u64) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

/// Whether the crash-model tests can mount FUSE here (/dev/fuse and root;
/// CI has both). Without them a test skips, unless `PUTFS_REQUIRE_TOOLS`.
pub fn fuse_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = Path::new("/dev/fuse").exists() && unsafe { libc::geteuid() } == 0;
    if !ok {
        assert!(
            std::env::var_os("PUTFS_REQUIRE_TOOLS").is_none(),
            "the crash-model tests need /dev/fuse and root"
        );
        eprintln!("skipped: the crash-model tests need /dev/fuse and root");
    }
    ok
}

/// The S3 listener's URL, from its `putfs s3 listening on` line (a server
/// started with `--s3-listen`).
pub fn s3_url(s: &Server) -> String {
    let mut url = None;
    let found = wait_until(Duration::from_secs(10), || {
        url = s.logs().lines().find_map(|l| {
            l.split_once("putfs s3 listening on ")
                .map(|(_, u)| u.trim().to_owned())
        });
        url.is_some()
    });
    assert!(found, "no S3 listening line:\n{}", s.logs());
    url.unwrap_or_default()
}

/// A fresh temporary directory (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create tempdir")
}

/// Reads `VmRSS` or `VmHWM` (kB) from /proc/<pid>/status.
pub fn proc_status_kib(pid: i32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Sum of the samples of a Prometheus metric whose labels contain every
/// `name="value"` pair in `labels` (0 if absent).
pub fn metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether a sample (or the HELP/TYPE line) of `name` appears.
pub fn has_metric(metrics: &str, name: &str) -> bool {
    metrics.lines().any(|l| {
        let l = l
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ");
        l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
    })
}

/// Read a child's pipe line by line on a thread until it closes, appending
/// each line to `log` (tagged) and handing it to `on_line`.
fn drain_lines<R: std::io::Read + Send + 'static>(
    pipe: R,
    tag: &'static str,
    log: Arc<Mutex<String>>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            log.lock().unwrap().push_str(&format!("[{tag}] {text}"));
            on_line(&text);
        }
    });
}
