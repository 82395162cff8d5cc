//! Promotion without dropped reads. A replica becomes the primary by being
//! replaced: the read-only server stops and a writable one starts on the
//! same data root. Restarting on a port means a moment with no listener
//! (connections refused); with the listening socket held by the service
//! manager (systemd socket activation, `ops/systemd/putfs.socket`), the
//! next server takes over the same socket and its queue, and no reader
//! notices. Here the test holds the socket, as systemd would.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::*;

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
    let failures: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let readers: Vec<_> = (0..4)
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

    // What `systemctl start putfs-primary` does (Conflicts= stops the
    // replica first): SIGTERM, wait, start the writable server.
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
    assert_eq!(primary.put("new", b"x".to_vec()).status, 201);
    let metrics = primary.get("/.putfs/metrics").text();
    assert_eq!(metric_value(&metrics, "putfs_listener_inherited", &[]), 1.0);
    assert_eq!(metric_value(&metrics, "putfs_read_only", &[]), 0.0);
    assert!(primary.logs().contains("LISTEN_FDS"), "{}", primary.logs());
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
