//! Objects above 16 KiB that the read cache does not hold are sent over HTTP/1.1 with
//! `sendfile`: hyper is handed stand-in buffers that the connection's
//! writer replaces with the file's bytes. These tests read such objects
//! back byte for byte (random bytes, so a stand-in sent as itself, zeros,
//! or a piece sent from the wrong offset shows), whole and in ranges that
//! start and end inside the 1 MiB pieces and cross them, several answers
//! pipelined on one connection, over HTTP/2 (which copies), an object
//! whose pages are not in the page cache (read on a blocking thread, not by
//! `sendfile` on the event loop), and an object that shrinks on disk while
//! it is being sent.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::*;

/// Not a multiple of the 1 MiB piece: the last piece is short.
const SIZE: usize = 3 * 1024 * 1024 + 12_345;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    Rng::new(seed).bytes(len)
}

/// Drops the file's pages from the page cache (they are clean once the
/// PUT's fsync is done), so the next read finds them on the disk.
fn evict(path: &std::path::Path) {
    let f = std::fs::File::open(path).expect("open the object's file");
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
}

fn content_length(headers: &Headers) -> usize {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .expect("Content-Length")
}

#[test]
fn large_objects_and_their_ranges_arrive_byte_for_byte_pipelined_on_one_connection() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let data = random_bytes(SIZE, 7);
    assert_eq!(s.put("big.bin", data.clone()).status, 201);
    let mib = 1024 * 1024;
    // (Range header, expected first byte, expected last byte)
    let ranges: Vec<(Option<String>, usize, usize)> = vec![
        (None, 0, SIZE - 1),
        (
            Some(format!("bytes={}-{}", mib - 6, 2 * mib + 9)),
            mib - 6,
            2 * mib + 9,
        ),
        (
            Some(format!("bytes={}-", 3 * mib - 1)),
            3 * mib - 1,
            SIZE - 1,
        ),
        (Some("bytes=-5".into()), SIZE - 5, SIZE - 1),
        (Some("bytes=12-12".into()), 12, 12),
        (None, 0, SIZE - 1),
    ];
    let mut stream = connect(s.addr);
    // Every request is written before any answer is read.
    let mut heads = String::new();
    for (range, _, _) in &ranges {
        heads.push_str("GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(r) = range {
            heads.push_str(&format!("Range: {r}\r\n"));
        }
        heads.push_str("\r\n");
    }
    stream
        .write_all(heads.as_bytes())
        .expect("write the requests");
    for (range, first, last) in &ranges {
        let (status, headers) = read_head(&mut stream).expect("an answer");
        assert_eq!(status, if range.is_some() { 206 } else { 200 }, "{range:?}");
        let len = content_length(&headers);
        assert_eq!(len, last - first + 1, "{range:?}");
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).expect("the whole body");
        assert!(
            body == data[*first..=*last],
            "{range:?}: the body differs from the object's bytes {first}..={last}"
        );
    }
    // Objects above 16 KiB that the read cache does not hold go the same
    // way; two in a row on the connection, and a range.
    let mid = random_bytes(40_000, 9);
    assert_eq!(s.put("mid.bin", mid.clone()).status, 201);
    for (range, a, b) in [
        (None, 0, 39_999),
        (None, 0, 39_999),
        (Some("bytes=100-20099"), 100, 20_099),
    ] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("Range", *r)).collect();
        let r = keep_alive_request(&mut stream, "GET", "/mid.bin", &headers, b"")
            .expect("an answer on the same connection");
        assert!(r.body == mid[a..=b], "mid.bin {range:?}: the body differs");
    }
}

#[test]
fn an_object_read_from_the_disk_arrives_byte_for_byte() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let data = random_bytes(SIZE, 17);
    assert_eq!(s.put("cold.bin", data.clone()).status, 201);
    for range in [None, Some((1_000_001usize, 2_500_000usize))] {
        evict(&dir.path().join("cold.bin"));
        let mut req = client().get(s.url("cold.bin"));
        if let Some((a, b)) = range {
            req = req.header("Range", format!("bytes={a}-{b}"));
        }
        let r = send(req);
        let (a, b) = range.unwrap_or((0, SIZE - 1));
        assert_eq!(r.status, if range.is_some() { 206 } else { 200 });
        assert!(r.body == data[a..=b], "{range:?}: the body differs");
    }
}

#[test]
fn http2_answers_carry_the_same_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let data = random_bytes(SIZE, 11);
    assert_eq!(s.put("big.bin", data.clone()).status, 201);
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--http2-prior-knowledge", "-o", "-"])
        .arg(s.url("big.bin"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "HTTP/2 body differs");
}

#[test]
fn an_object_that_shrinks_while_sent_ends_the_connection_never_with_other_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let size = 64 * 1024 * 1024;
    let data = random_bytes(size, 13);
    assert_eq!(s.put("shrinks.bin", data.clone()).status, 201);
    let path = dir.path().join("shrinks.bin");

    let mut stream = connect(s.addr);
    stream
        .write_all(b"GET /shrinks.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write the request");
    let (status, headers) = read_head(&mut stream).expect("an answer");
    assert_eq!(status, 200);
    assert_eq!(content_length(&headers), size);
    // The server fills the socket's buffers, then waits for the reader.
    let mut first = vec![0u8; 64 * 1024];
    stream.read_exact(&mut first).expect("the first bytes");
    // Edited in place (putfs never does; an operator might): cut to 1 MiB.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(1024 * 1024).unwrap();
    drop(f);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let mut got = first;
    got.extend_from_slice(&rest);
    assert!(
        got.len() < size,
        "the whole length arrived, {} bytes, from a file cut to 1 MiB",
        got.len()
    );
    assert!(
        got == data[..got.len()],
        "the {} bytes that arrived are not the object's first bytes",
        got.len()
    );
    // The server goes on serving.
    assert_eq!(s.put("after.bin", b"after".to_vec()).status, 201);
    assert_eq!(s.get("after.bin").body, b"after");
}
