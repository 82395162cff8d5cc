//! Promotion without dropped reads. A replica becomes the primary by being
//! replaced: the read-only server stops and a writable one starts on the
//! same data root. Restarting on a port means a moment with no listener
//! (connections refused); with the listening socket held by the service
//! manager (systemd socket activation, `ops/systemd/putfs.socket`), the
//! next server takes over the same socket and its queue, and no reader
//! notices. Here the test holds the socket, as systemd would.
//!
//! Readers of both kinds a load balancer or a client library is: one
//! connection per read (`Connection: close`), and keep-alive connections
//! reused read after read. On SIGTERM the old server answers every request
//! it has received (with `Connection: close`) and closes idle keep-alive
//! connections; a request that leaves a client just as its idle connection
//! is closed gets no byte of answer and was never read, and clients retry
//! exactly that case once on a new connection (RFC 9112 section 9.3.1;
//! nginx for a cached upstream connection). Every other failure counts.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::*;

/// How a reader reads: `read` is `Ok` only for a complete 200 with the
/// expected body.
trait Reader: Send {
    fn read(&mut self, addr: SocketAddr, expect: &[u8]) -> Result<(), String>;
    /// Requests sent again after an idle connection closed under them.
    fn retried(&self) -> usize {
        0
    }
}

/// One GET per connection.
struct OneShot;

impl Reader for OneShot {
    fn read(&mut self, addr: SocketAddr, expect: &[u8]) -> Result<(), String> {
        read_once(addr, expect)
    }
}

/// GETs on one connection for as long as the server keeps it.
#[derive(Default)]
struct KeepAlive {
    conn: Option<TcpStream>,
    retried: usize,
}

/// Why a keep-alive request failed.
enum Failed {
    /// Not one byte of an answer: the server closed the connection before
    /// it read the request.
    NoAnswer(String),
    Other(String),
}

impl Reader for KeepAlive {
    fn read(&mut self, addr: SocketAddr, expect: &[u8]) -> Result<(), String> {
        let result = match self.conn.take() {
            Some(conn) => match self.request(conn, expect) {
                Err(Failed::NoAnswer(_)) => {
                    // Closed while idle: the one case a client retries.
                    self.retried += 1;
                    fresh(addr).and_then(|conn| self.request(conn, expect))
                }
                r => r,
            },
            None => fresh(addr).and_then(|conn| self.request(conn, expect)),
        };
        result.map_err(|e| match e {
            Failed::NoAnswer(e) => format!("no answer on a new connection: {e}"),
            Failed::Other(e) => e,
        })
    }

    fn retried(&self) -> usize {
        self.retried
    }
}

impl KeepAlive {
    /// One GET on `conn`, which is kept unless the answer closes it.
    fn request(&mut self, mut conn: TcpStream, expect: &[u8]) -> Result<(), Failed> {
        conn.write_all(b"GET /obj HTTP/1.1\r\nHost: x\r\n\r\n")
            .map_err(|e| Failed::NoAnswer(format!("write: {e}")))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(r) = parse_response(&buf, false).filter(|r| r.complete)
                && content_length_read(&buf)
            {
                if r.status != 200 || r.body != expect {
                    return Err(Failed::Other(format!("status {}", r.status)));
                }
                if r.header("connection").as_deref() != Some("close") {
                    self.conn = Some(conn);
                }
                return Ok(());
            }
            match conn.read(&mut chunk) {
                Ok(0) if buf.is_empty() => return Err(Failed::NoAnswer("EOF".into())),
                Err(e) if buf.is_empty() => return Err(Failed::NoAnswer(format!("read: {e}"))),
                Ok(0) => return Err(Failed::Other("connection closed mid-answer".into())),
                Err(e) => return Err(Failed::Other(format!("read mid-answer: {e}"))),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// The head is complete and the body as long as its Content-Length.
fn content_length_read(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    len.is_some_and(|n| buf.len() >= end + 4 + n)
}

fn fresh(addr: SocketAddr) -> Result<TcpStream, Failed> {
    let s = TcpStream::connect(addr).map_err(|e| Failed::Other(format!("connect: {e}")))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    Ok(s)
}

/// One GET on a fresh connection: `Ok` only for a complete 200 with the
/// expected body.
fn read_once(addr: SocketAddr, expect: &[u8]) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /obj HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let r = parse_response(&buf, false).ok_or("no complete response")?;
    if r.status != 200 || r.body != expect {
        return Err(format!("status {}", r.status));
    }
    Ok(())
}

#[test]
fn a_replica_is_promoted_under_read_load_without_a_failed_read() {
    let dir = tempdir();
    let root = dir.path().join("root");
    // The data a replica serves (replicated, so its root is marked).
    let body = b"replicated object".to_vec();
    {
        let seed = Server::start(&root, &[]);
        assert_eq!(seed.put("obj", body.clone()).status, 201);
    }
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let mut replica = Server::start_on_socket(&root, &["--read-only"], &socket);
    assert_eq!(replica.addr, addr);
    assert_eq!(replica.put("new", b"x".to_vec()).status, 403);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicUsize::new(0));
    let failures: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let kinds: Vec<Box<dyn Reader>> = vec![
        Box::new(OneShot),
        Box::new(OneShot),
        Box::new(KeepAlive::default()),
        Box::new(KeepAlive::default()),
        Box::new(KeepAlive::default()),
        Box::new(KeepAlive::default()),
    ];
    let readers: Vec<_> = kinds
        .into_iter()
        .map(|mut reader| {
            let (stop, ok, retried, failures, body) = (
                stop.clone(),
                ok.clone(),
                retried.clone(),
                failures.clone(),
                body.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match reader.read(addr, &body) {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(e) => {
                            failures.lock().unwrap().push(e);
                            0
                        }
                    };
                }
                retried.fetch_add(reader.retried(), Ordering::SeqCst);
            })
        })
        .collect();
    let reads = |n: usize| {
        let target = ok.load(Ordering::SeqCst) + n;
        assert!(
            wait_until(Duration::from_secs(60), || ok.load(Ordering::SeqCst)
                >= target),
            "reads stalled: {:?}",
            failures.lock().unwrap()
        );
    };
    reads(200);

    // What the promotion's `systemctl enable --now putfs-primary` does
    // (Conflicts= stops the replica first): SIGTERM, wait, start the
    // writable server on the same socket.
    replica.sigterm();
    assert!(replica.wait_exit(Duration::from_secs(30)).is_some());
    let primary = Server::start_on_socket(&root, &[], &socket);
    reads(200);
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }

    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed reads: {failures:?}",
        failures.len()
    );
    eprintln!(
        "{} reads, none failed; {} sent again after an idle keep-alive connection closed \
         under them",
        ok.load(Ordering::SeqCst),
        retried.load(Ordering::SeqCst)
    );
    assert_eq!(primary.put("new", b"x".to_vec()).status, 201);
    let metrics = primary.get("/.putfs/metrics").text();
    assert_eq!(metric_value(&metrics, "putfs_listener_inherited", &[]), 1.0);
    assert_eq!(metric_value(&metrics, "putfs_read_only", &[]), 0.0);
    // Logs reach stderr through a background writer: poll for the line.
    assert!(
        wait_until(Duration::from_secs(10), || primary
            .logs()
            .contains("LISTEN_FDS")),
        "{}",
        primary.logs()
    );
}

/// Without a socket from the service manager, `--listen` is bound as ever
/// and the metric says so.
#[test]
fn without_an_inherited_socket_the_listen_address_is_bound() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let metrics = s.get("/.putfs/metrics").text();
    assert_eq!(metric_value(&metrics, "putfs_listener_inherited", &[]), 0.0);
}

/// Restart after restart on the held socket (an upgrade, a config change,
/// a flip back): a connection accepted an instant before the stop has its
/// request read and answered, never reset.
#[test]
fn restarts_on_the_held_socket_never_reset_a_reader() {
    let dir = tempdir();
    let root = dir.path().join("root");
    let body = b"object".to_vec();
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = Server::start_on_socket(&root, &[], &socket);
    assert_eq!(server.put("obj", body.clone()).status, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (stop, ok, failures, body) =
                (stop.clone(), ok.clone(), failures.clone(), body.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match read_once(addr, &body) {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(e) => {
                            failures.lock().unwrap().push(e);
                            0
                        }
                    };
                }
            })
        })
        .collect();
    for _ in 0..8 {
        let target = ok.load(Ordering::SeqCst) + 100;
        assert!(wait_until(Duration::from_secs(60), || ok
            .load(Ordering::SeqCst)
            >= target));
        server.sigterm();
        assert!(server.wait_exit(Duration::from_secs(30)).is_some());
        server = Server::start_on_socket(&root, &[], &socket);
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed reads: {failures:?}",
        failures.len()
    );
}
