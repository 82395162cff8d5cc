//! Uploads that do not finish: a client that disconnects, one that sends
//! less than its Content-Length, one that stalls past `--body-timeout`.
//! None may publish anything or leave a temp file or a created directory.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::*;

/// Waits (not fatally) for the server to have a temp file open, so the
/// abort happens mid-upload rather than before the server saw the request.
fn wait_for_temp(root: &std::path::Path) {
    if !wait_until(Duration::from_secs(5), || !temp_files(root).is_empty()) {
        eprintln!("note: no temp file seen before the abort");
    }
}

fn assert_clean(s: &Server, key: &str) {
    assert_no_temp_files(s.root());
    let clean = wait_until(Duration::from_secs(10), || {
        user_entries(s.root()).is_empty()
    });
    assert!(
        clean,
        "aborted upload left entries: {:?}",
        user_entries(s.root())
    );
    assert_eq!(s.get(key).status, 404);
    // The server still works.
    assert_eq!(s.put("after/ok", b"fine".to_vec()).status, 201);
}

#[test]
fn client_disconnect_mid_upload_publishes_nothing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let mut stream = connect(s.addr);
    stream
        .write_all(
            request_head("PUT", "/up/new/obj.bin", &[("Content-Length", "1000000")]).as_bytes(),
        )
        .unwrap();
    stream.write_all(&[b'x'; 1000]).unwrap();
    wait_for_temp(dir.path());
    drop(stream);
    assert_clean(&s, "up/new/obj.bin");
}

#[test]
fn body_shorter_than_content_length_publishes_nothing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head("PUT", "/short/obj.bin", &[("Content-Length", "5000")]).as_bytes())
        .unwrap();
    stream.write_all(&[b'y'; 4000]).unwrap();
    // Half-close: the server sees EOF 1000 bytes early but can still answer.
    stream.shutdown(Shutdown::Write).unwrap();
    let data = read_to_eof(&mut stream);
    if let Some(r) = parse_response(&data, false) {
        assert!(
            r.status >= 400,
            "a truncated body was answered {}",
            r.status
        );
    }
    assert_clean(&s, "short/obj.bin");
}

#[test]
fn stalled_upload_times_out_with_408_and_publishes_nothing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--body-timeout", "1s"]);
    let mut stream = connect(s.addr);
    stream
        .write_all(
            request_head("PUT", "/stall/obj.bin", &[("Content-Length", "1000000")]).as_bytes(),
        )
        .unwrap();
    stream.write_all(&[b'z'; 1000]).unwrap();
    let started = Instant::now();
    // Send nothing more; the server must give up on its own.
    let data = read_to_eof(&mut stream);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "server kept a stalled upload open for {waited:?} with --body-timeout 1s"
    );
    if !data.is_empty() {
        let r = parse_response(&data, false).expect("parse timeout answer");
        assert_eq!(r.status, 408, "stalled upload answered {}", r.status);
    }
    assert_clean(&s, "stall/obj.bin");
}

#[test]
fn slow_but_steady_upload_is_not_timed_out() {
    // --body-timeout is an idle timeout, not a deadline for the whole body.
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--body-timeout", "1s"]);
    let pieces = 8;
    let piece = b"0123456789";
    let len = (pieces * piece.len()).to_string();
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head("PUT", "/slow/obj", &[("Content-Length", &len)]).as_bytes())
        .unwrap();
    for _ in 0..pieces {
        stream.write_all(piece).unwrap();
        // Deliberate pacing (not synchronisation): 8 x 300 ms > 1 s in total,
        // each gap < 1 s.
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = read_response(&mut stream, false);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.get("slow/obj").body, piece.repeat(pieces));
}

#[test]
fn interrupted_replace_of_a_mutable_key_keeps_the_old_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--mutable", "m/**"]);
    assert_eq!(s.put("m/state", b"old bytes".to_vec()).status, 201);
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head("PUT", "/m/state", &[("Content-Length", "1000000")]).as_bytes())
        .unwrap();
    stream.write_all(&[b'n'; 1000]).unwrap();
    wait_for_temp(dir.path());
    drop(stream);
    assert_no_temp_files(dir.path());
    assert_eq!(s.get("m/state").body, b"old bytes");
}
