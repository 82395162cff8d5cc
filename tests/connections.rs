//! Connections: a client that half-closes after a complete request still
//! gets its answer; idle connections, slow request heads and silent
//! connections are closed after `--idle-timeout`, on HTTP/1.1 and HTTP/2;
//! request heads are bounded.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use common::*;

/// How long a test waits for the server to close a connection with
/// `--idle-timeout 1s` (generous: the machine may be busy).
const CLOSE_WITHIN: Duration = Duration::from_secs(15);

/// Writes `request`, shuts down the write side (as `nc -N` does) and reads
/// the answer until the server closes.
fn half_closed(s: &Server, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(s.addr);
    stream.write_all(request).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_eof(&mut stream)
}

#[test]
fn half_closed_get_is_answered() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("hc/get.txt", b"hello".to_vec()).status, 201);
    for head in [
        request_head("GET", "/hc/get.txt", &[]),
        // Without `Connection: close` too.
        "GET /hc/get.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_owned(),
    ] {
        let data = half_closed(&s, head.as_bytes());
        let r = parse_response(&data, false)
            .unwrap_or_else(|| panic!("no answer to a half-closed GET ({head:?}): {data:?}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
    }
}

#[test]
fn half_closed_put_is_stored_and_answered() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    // A small body (read whole) and a large one (streamed to a temp file).
    for (key, body) in [
        ("hc/small.bin", Rng::new(7).bytes(100)),
        ("hc/large.bin", Rng::new(8).bytes(300_000)),
    ] {
        let len = body.len().to_string();
        let mut request =
            request_head("PUT", &format!("/{key}"), &[("Content-Length", &len)]).into_bytes();
        request.extend_from_slice(&body);
        let data = half_closed(&s, &request);
        let r = parse_response(&data, false)
            .unwrap_or_else(|| panic!("no answer to a half-closed PUT of {key}: {data:?}"));
        assert_eq!(r.status, 201, "{key}: {}", r.text());
        assert_eq!(std::fs::read(dir.path().join(key)).unwrap(), body, "{key}");
    }
    assert_no_temp_files(dir.path());
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--idle-timeout", "1s"]);
    let mut stream = connect(s.addr);
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        let r = keep_alive_request(&mut stream, "GET", "/.putfs/live", &[], b"")
            .expect("keep-alive request answered");
        assert_eq!(r.status, 200);
    }
    let took = wait_closed(&mut stream, CLOSE_WITHIN)
        .unwrap_or_else(|| panic!("idle connection still open after {CLOSE_WITHIN:?}"));
    assert!(
        took >= Duration::from_millis(500),
        "closed after {took:?}, before the idle timeout"
    );
}

#[test]
fn slow_request_head_and_silent_connection_are_closed() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--idle-timeout", "1s"]);
    let mut slow = connect(s.addr);
    slow.write_all(b"GET /.putfs/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut silent = connect(s.addr);
    assert!(
        wait_closed(&mut slow, CLOSE_WITHIN).is_some(),
        "a request head left unfinished kept its connection open"
    );
    assert!(
        wait_closed(&mut silent, CLOSE_WITHIN).is_some(),
        "a connection that sent nothing stayed open"
    );
    // The server still serves.
    assert_eq!(s.get("/.putfs/live").status, 200);
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

#[test]
fn http2_works_and_idle_http2_connections_are_closed() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--idle-timeout", "1s"]);
    assert_eq!(s.put("h2/a.txt", b"over h2".to_vec()).status, 201);
    let h2 = reqwest::blocking::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(s.url("h2/a.txt")).send().unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), b"over h2");

    let mut stream = connect(s.addr);
    stream.write_all(H2_PREFACE).unwrap();
    assert!(
        wait_closed(&mut stream, CLOSE_WITHIN).is_some(),
        "an idle HTTP/2 connection stayed open"
    );
}

#[test]
fn oversized_request_head_is_refused() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let big = "x".repeat(100 * 1024);
    let r = raw(s.addr, "GET", "/.putfs/live", &[("X-Big", &big)], b"");
    assert_eq!(r.status, 431, "a 100 KiB request head: {}", r.status);
    let ok = "x".repeat(8 * 1024);
    let r = raw(s.addr, "GET", "/.putfs/live", &[("X-Ok", &ok)], b"");
    assert_eq!(r.status, 200, "an 8 KiB header must pass");
}

#[test]
fn sigterm_closes_idle_connections_without_waiting_for_the_timeout() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "20s"]);
    let mut idle = connect(s.addr);
    let r = keep_alive_request(&mut idle, "GET", "/.putfs/live", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    s.sigterm();
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("an idle keep-alive connection held up the shutdown");
    assert!(exited_normally(&status), "{status:?}");
    assert!(wait_closed(&mut idle, Duration::from_secs(5)).is_some());
}
