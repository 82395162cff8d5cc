//! Bounded resources: past `--max-connections`, `--max-requests` or
//! `--max-uploads` the server answers 503 with Retry-After instead of
//! taking on more; `/.putfs/` stays answerable; limits that cannot fit in
//! the open-file limit are refused at start, and the soft open-file limit
//! is raised to the hard one.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

fn assert_overloaded(r: &RawResponse, what: &str) {
    assert_eq!(r.status, 503, "{what}: {} {}", r.status, r.text());
    let retry = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After"));
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s >= 1),
        "{what}: Retry-After {retry:?}"
    );
}

/// The metrics page. Polls: a connection slot freed by the previous
/// request's connection may take a moment to be released.
fn metrics(s: &Server) -> String {
    let mut text = None;
    wait_until(Duration::from_secs(10), || {
        let r = s.get("/.putfs/metrics");
        text = (r.status == 200).then(|| r.text());
        text.is_some()
    });
    text.expect("/.putfs/metrics answered 200")
}

/// Starts a PUT of 1 MB, sends part of it and waits until the server has
/// the upload's temp file open: the upload now holds its slots.
fn start_upload(s: &Server, key: &str) -> std::net::TcpStream {
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head("PUT", key, &[("Content-Length", "1000000")]).as_bytes())
        .unwrap();
    stream.write_all(&[b'u'; 1000]).unwrap();
    // The upload's own temp file, beside its key: the heartbeat and other
    // internal files are written through temp files under .putfs/ too.
    let upload_temp = || {
        temp_files(s.root())
            .iter()
            .any(|p| !p.starts_with(".putfs"))
    };
    assert!(
        wait_until(Duration::from_secs(10), upload_temp),
        "the upload never started"
    );
    stream
}

fn finish_upload(mut stream: std::net::TcpStream) -> RawResponse {
    stream.write_all(&[b'u'; 999_000]).unwrap();
    read_response(&mut stream, false)
}

#[test]
fn connections_past_the_limit_are_answered_503_until_one_closes() {
    let dir = tempdir();
    let s = Server::start_with_env(dir.path(), &[], &[("PUTFS_MAX_CONNECTIONS", "2")]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(s.addr);
        let r = keep_alive_request(&mut c, "GET", "/.putfs/live", &[], b"").unwrap();
        assert_eq!(r.status, 200);
        held.push(c);
    }
    let r = raw(s.addr, "GET", "/.putfs/live", &[], b"");
    assert_overloaded(&r, "third connection");
    assert_eq!(
        r.header("connection").map(|v| v.to_ascii_lowercase()),
        Some("close".into())
    );

    // Closing one frees its slot.
    drop(held.pop());
    assert!(
        wait_until(Duration::from_secs(10), || {
            raw(s.addr, "GET", "/.putfs/live", &[], b"").status == 200
        }),
        "no connection was served after one of the two closed"
    );
    let m = metrics(&s);
    assert!(
        metric_value(
            &m,
            "putfs_overload_rejections_total",
            &[("reason", "connections")]
        ) >= 1.0,
        "{m}"
    );
}

#[test]
fn uploads_past_the_limit_are_answered_503_before_the_body() {
    let dir = tempdir();
    let s = Server::start_with_env(dir.path(), &[], &[("PUTFS_MAX_UPLOADS", "1")]);
    let first = start_upload(&s, "/first.bin");

    let body = vec![b's'; 200_000];
    let r = raw_upload_concurrent(
        s.addr,
        request_head("PUT", "/second.bin", &[("Content-Length", "200000")]),
        move |w| {
            let _ = w.write_all(&body);
        },
    );
    assert_overloaded(&r, "second upload");
    assert_eq!(
        r.header("connection").map(|v| v.to_ascii_lowercase()),
        Some("close".into()),
        "the unread body leaves the connection unusable"
    );
    assert!(!dir.path().join("second.bin").exists());
    // Reads are not uploads.
    assert_eq!(s.get("/").status, 200);
    let m = metrics(&s);
    assert_eq!(metric_value(&m, "putfs_uploads_in_flight", &[]), 1.0, "{m}");

    let r = finish_upload(first);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.put("third.bin", b"after".to_vec()).status, 201);
    let m = metrics(&s);
    assert!(
        metric_value(
            &m,
            "putfs_overload_rejections_total",
            &[("reason", "uploads")]
        ) >= 1.0,
        "{m}"
    );
    assert_eq!(metric_value(&m, "putfs_uploads_in_flight", &[]), 0.0, "{m}");
}

#[test]
fn requests_past_the_limit_are_answered_503_and_health_stays_answerable() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--max-requests", "1"]);
    std::fs::write(dir.path().join("there.txt"), b"here").unwrap();
    let first = start_upload(&s, "/slow.bin");

    let r = raw(s.addr, "GET", "/there.txt", &[], b"");
    assert_overloaded(&r, "GET while the only request slot is taken");
    assert_eq!(s.get("/.putfs/live").status, 200);
    assert_eq!(s.get("/.putfs/ready").status, 200);
    let m = metrics(&s);
    assert!(
        metric_value(
            &m,
            "putfs_overload_rejections_total",
            &[("reason", "requests")]
        ) >= 1.0,
        "{m}"
    );
    assert_eq!(
        metric_value(&m, "putfs_http_requests_in_flight", &[]),
        1.0,
        "{m}"
    );

    assert_eq!(finish_upload(first).status, 201);
    assert_eq!(s.get("/there.txt").body, b"here");
}

#[test]
fn a_streamed_response_holds_its_request_slot_until_sent() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--max-requests", "1"]);
    // Larger than what loopback socket buffers hold, so the server cannot
    // finish sending while the client does not read.
    let big = vec![b'b'; 32 << 20];
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("small.txt"), b"small").unwrap();

    let mut slow = connect(s.addr);
    slow.write_all(request_head("GET", "/big.bin", &[]).as_bytes())
        .unwrap();
    let (status, _) = read_head(&mut slow).expect("response head");
    assert_eq!(status, 200);
    let r = raw(s.addr, "GET", "/small.txt", &[], b"");
    assert_overloaded(&r, "GET while a large body is still being sent");

    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len(), big.len());
    assert!(
        wait_until(Duration::from_secs(10), || {
            raw(s.addr, "GET", "/small.txt", &[], b"").status == 200
        }),
        "the slot was not freed once the body was sent"
    );
}

#[test]
fn limits_that_do_not_fit_the_open_file_limit_are_refused() {
    let dir = tempdir();
    let err = Server::try_start(dir.path(), &["--max-connections", "4000000000"])
        .err()
        .expect("started with 4 billion connections allowed");
    for part in [
        "RLIMIT_NOFILE",
        "--max-connections 4000000000",
        "--max-requests",
    ] {
        assert!(err.contains(part), "{part:?} missing from:\n{err}");
    }
}

#[test]
fn too_few_blocking_threads_for_the_requests_are_refused() {
    let dir = tempdir();
    let err = Server::try_start(
        dir.path(),
        &["--blocking-threads", "8", "--max-requests", "64"],
    )
    .err()
    .expect("started with fewer blocking threads than requests");
    assert!(
        err.contains("--blocking-threads 8") && err.contains("--max-requests 64"),
        "{err}"
    );
    let s = Server::start(
        dir.path(),
        &["--blocking-threads", "40", "--max-requests", "8"],
    );
    assert_eq!(s.put("k", b"v".to_vec()).status, 201);
}

/// `(soft, hard)` of a process's open-file limit; `None` is unlimited.
fn open_files_limit(pid: i32) -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/PID/limits");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut next = || fields.next().and_then(|v| v.parse().ok());
    (next(), next())
}

#[test]
fn the_open_file_soft_limit_is_raised_to_the_hard_limit() {
    // Start the server with a low soft limit: lower ours, which it inherits
    // (only the soft limit; other tests here need few descriptors).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let low = 512.min(lim.rlim_max);
    if low == lim.rlim_max {
        eprintln!("hard open-file limit is {low}: nothing to raise");
        return;
    }
    let original = lim.rlim_cur;
    lim.rlim_cur = low;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let dir = tempdir();
    let started = Server::try_start(dir.path(), &[]);
    lim.rlim_cur = original;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let s = started.unwrap_or_else(|e| panic!("{e}"));

    let (soft, hard) = open_files_limit(s.pid());
    match hard {
        Some(hard) => assert_eq!(soft, Some(hard), "soft limit not raised to the hard limit"),
        None => assert!(soft.is_some_and(|v| v > low), "soft limit {soft:?}"),
    }
}
