//! SIGTERM: in-flight requests get `--shutdown-timeout` to finish; an
//! upload that does not finish in time publishes nothing and leaves no temp
//! file; the process exits by itself. A request that has reached the server
//! on an idle keep-alive connection (its head partly read, or waiting in
//! the socket) is answered, not dropped with the connection.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_with_a_stalled_upload_exits_in_time_and_publishes_nothing() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "2s"]);
    let mut stream = connect(s.addr);
    stream
        .write_all(
            request_head("PUT", "/slow/obj.bin", &[("Content-Length", "1000000")]).as_bytes(),
        )
        .unwrap();
    stream.write_all(&[b'q'; 1000]).unwrap();
    // Let the server get into the upload (not fatal if it buffers first).
    if !wait_until(Duration::from_secs(5), || {
        !temp_files(dir.path()).is_empty()
    }) {
        eprintln!("note: no temp file seen before SIGTERM");
    }

    let started = Instant::now();
    s.sigterm();
    let status = s.wait_exit(Duration::from_secs(15));
    let took = started.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!("still running {took:?} after SIGTERM with --shutdown-timeout 2s")
    });
    assert!(
        took < Duration::from_secs(8),
        "exit took {took:?} with --shutdown-timeout 2s"
    );
    assert!(
        exited_normally(&status),
        "killed by a signal instead of shutting down: {status:?}"
    );
    drop(stream);

    assert!(
        !dir.path().join("slow/obj.bin").exists(),
        "a partial upload was published"
    );
    assert!(
        temp_files(dir.path()).is_empty(),
        "temp files left after shutdown: {:?}",
        temp_files(dir.path())
    );
    assert!(
        user_entries(dir.path()).is_empty(),
        "left behind: {:?}",
        user_entries(dir.path())
    );
}

#[test]
fn sigterm_lets_an_in_flight_upload_finish() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "10s"]);
    let body = Rng::new(1).bytes(200_000);
    let mut stream = connect(s.addr);
    stream
        .write_all(
            request_head(
                "PUT",
                "/inflight.bin",
                &[("Content-Length", &body.len().to_string())],
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(&body[..100_000]).unwrap();
    if !wait_until(Duration::from_secs(5), || {
        !temp_files(dir.path()).is_empty()
    }) {
        eprintln!("note: no temp file seen before SIGTERM");
    }
    s.sigterm();
    // The rest arrives after the signal, within the shutdown timeout.
    stream.write_all(&body[100_000..]).unwrap();
    let r = read_response(&mut stream, false);
    assert_eq!(
        r.status,
        201,
        "in-flight upload after SIGTERM: {}",
        r.text()
    );
    let status = s
        .wait_exit(Duration::from_secs(15))
        .expect("process did not exit after the in-flight request finished");
    assert!(exited_normally(&status), "{status:?}");
    assert_eq!(
        std::fs::read(dir.path().join("inflight.bin")).unwrap(),
        body
    );
    assert!(temp_files(dir.path()).is_empty());
}

/// A keep-alive connection that has had one answer and now sits idle, the
/// state hyper closes at once on a graceful shutdown.
fn idle_keep_alive(s: &Server) -> TcpStream {
    let mut c = connect(s.addr);
    let r = keep_alive_request(&mut c, "GET", "/obj", &[], b"").expect("first answer");
    assert_eq!(r.status, 200);
    c
}

/// The second request on `c` was sent (or completed) around the SIGTERM:
/// it must be answered in full, and the connection then closed.
#[track_caller]
fn assert_answered_then_closed(c: &mut TcpStream, what: &str) -> RawResponse {
    let data = read_to_eof(c);
    let r = parse_response(&data, false).unwrap_or_else(|| {
        panic!(
            "{what}: no answer to a request the server had received, the connection \
             was closed under it ({} bytes: {:?})",
            data.len(),
            String::from_utf8_lossy(&data)
        )
    });
    assert_eq!((r.status, r.body.as_slice()), (200, &b"kept"[..]), "{what}");
    r
}

#[test]
fn sigterm_answers_a_request_whose_head_had_partly_arrived() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "10s"]);
    assert_eq!(s.put("obj", b"kept".to_vec()).status, 201);
    let mut c = idle_keep_alive(&s);
    // Half a request head: the server reads it and waits for the rest.
    c.write_all(b"GET /obj HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    s.sigterm();
    std::thread::sleep(Duration::from_millis(300));
    // The rest of the head, after the shutdown began: still answered.
    let _ = c.write_all(b"\r\n");
    let r = assert_answered_then_closed(&mut c, "a head completed after SIGTERM");
    assert_eq!(
        r.header("connection").as_deref(),
        Some("close"),
        "the answer tells the client this connection ends"
    );
    let status = s
        .wait_exit(Duration::from_secs(15))
        .expect("no exit after the last request was answered");
    assert!(exited_normally(&status), "{status:?}");
}

#[test]
fn sigterm_answers_requests_waiting_on_idle_connections() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "10s"]);
    assert_eq!(s.put("obj", b"kept".to_vec()).status, 201);
    let mut conns: Vec<TcpStream> = (0..16).map(|_| idle_keep_alive(&s)).collect();
    // Stopped, the server reads nothing: the requests wait in its sockets
    // when it learns of the SIGTERM, as a request sent a moment before a
    // shutdown does.
    send_signal(s.pid(), libc::SIGSTOP);
    for c in &mut conns {
        c.write_all(b"GET /obj HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    s.sigterm();
    send_signal(s.pid(), libc::SIGCONT);
    for (i, c) in conns.iter_mut().enumerate() {
        assert_answered_then_closed(c, &format!("connection {i}"));
    }
    let status = s
        .wait_exit(Duration::from_secs(15))
        .expect("no exit after the last request was answered");
    assert!(exited_normally(&status), "{status:?}");
}

#[test]
fn sigterm_answers_the_first_request_of_a_connection_it_had_accepted() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "10s"]);
    assert_eq!(s.put("obj", b"kept".to_vec()).status, 201);
    // A client connects (the server accepts it) and is about to send its
    // request when the SIGTERM arrives: a connection handed over with the
    // listening socket in a promotion, which no client would retry.
    let mut c = connect(s.addr);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let m = s.get("/.putfs/metrics").text();
            metric_value(&m, "putfs_http_connections_open", &[]) >= 2.0
        }),
        "the server did not accept the connection"
    );
    s.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(b"GET /obj HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let r = assert_answered_then_closed(&mut c, "the first request, sent after SIGTERM");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    let status = s
        .wait_exit(Duration::from_secs(15))
        .expect("no exit after the last request was answered");
    assert!(exited_normally(&status), "{status:?}");
}
