//! SIGTERM: in-flight requests get `--shutdown-timeout` to finish; an
//! upload that does not finish in time publishes nothing and leaves no temp
//! file; the process exits by itself.

mod common;

use std::io::Write;
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
