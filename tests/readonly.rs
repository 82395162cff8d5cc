//! Replica mode: `--read-only` serves reads and changes nothing on disk;
//! with `--forward-writes-to` it proxies writes to the primary.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Paths and sizes of everything under `root` (including `.putfs/`).
fn snapshot(root: &Path) -> Vec<(PathBuf, u64)> {
    walk(root)
        .into_iter()
        .map(|p| {
            let md = std::fs::symlink_metadata(root.join(&p)).unwrap();
            (p, if md.is_file() { md.len() } else { 0 })
        })
        .collect()
}

fn populate(root: &Path) {
    let s = Server::start(root, &[]);
    assert_eq!(s.put("docs/a.txt", b"alpha".to_vec()).status, 201);
    assert_eq!(s.put("b.bin", b"beta".to_vec()).status, 201);
}

#[test]
fn read_only_serves_reads_and_refuses_writes() {
    let dir = tempdir();
    populate(dir.path());
    let before = snapshot(dir.path());
    let s = Server::start(dir.path(), &["--read-only"]);

    let g = s.get("docs/a.txt");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, b"alpha");
    assert_eq!(s.head("b.bin").status, 200);
    assert_eq!(
        s.query("/", None).lines_sorted(),
        vec!["b.bin", "docs/a.txt"]
    );
    assert_eq!(
        s.get("/.putfs/ready").status,
        200,
        "a read-only node is ready"
    );

    for (key, body) in [
        ("new.txt", "n"),
        ("docs/a.txt", "alpha"),
        ("docs/a.txt", "other"),
    ] {
        let r = s.put(key, body.as_bytes().to_vec());
        assert_eq!(r.status, 403, "PUT {key}");
        assert!(!r.text().trim().is_empty(), "403 without a reason");
    }
    let r = s.delete("b.bin");
    assert_eq!(r.status, 403);
    assert!(!r.text().trim().is_empty(), "403 without a reason");

    let m = s.get("/.putfs/metrics").text();
    assert_eq!(metric_value(&m, "putfs_read_only", &[]), 1.0, "{m}");

    assert_eq!(
        snapshot(dir.path()),
        before,
        "a read-only node changed the data root"
    );
}

#[test]
fn read_only_refuses_before_reading_the_body() {
    let dir = tempdir();
    populate(dir.path());
    let before = snapshot(dir.path());
    let s = Server::start(dir.path(), &["--read-only"]);
    let mut stream = connect(s.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(
            request_head(
                "PUT",
                "/big/upload.bin",
                &[("Content-Length", "100000000"), ("Expect", "100-continue")],
            )
            .as_bytes(),
        )
        .unwrap();
    let (status, _) = read_head(&mut stream).expect("an answer without the body");
    assert_eq!(
        status, 403,
        "a replica asked for the body (100) or answered otherwise"
    );
    assert!(temp_files(dir.path()).is_empty());
    drop(stream);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn read_only_forwards_writes_to_the_primary() {
    let primary_root = tempdir();
    let replica_root = tempdir();
    let primary = Server::start(primary_root.path(), &[]);
    let target = format!("http://{}", primary.addr);
    let replica = Server::start(
        replica_root.path(),
        &["--read-only", "--forward-writes-to", &target],
    );

    let r = replica.put("fw/obj.txt", b"forwarded".to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::read(primary_root.path().join("fw/obj.txt")).unwrap(),
        b"forwarded"
    );
    assert!(
        !replica_root.path().join("fw").exists(),
        "the replica wrote locally"
    );
    assert_eq!(
        r.header("repr-digest"),
        Some(repr_digest_sha256(b"forwarded"))
    );

    // The primary's answers come back unchanged.
    assert_eq!(replica.put("fw/obj.txt", b"forwarded".to_vec()).status, 204);
    assert_eq!(replica.put("fw/obj.txt", b"different".to_vec()).status, 409);
    // Digest headers are forwarded with the body.
    let bad = format!("sha-256=:{}:", b64(&sha256(b"not it")));
    let r = send(
        client()
            .put(replica.url("fw/digest.txt"))
            .header("Content-Digest", bad)
            .body(b"payload".to_vec()),
    );
    assert_eq!(r.status, 422, "Content-Digest not forwarded");
    assert!(!primary_root.path().join("fw/digest.txt").exists());

    let d = replica.delete("fw/obj.txt");
    assert_eq!(d.status, 204);
    assert!(!primary_root.path().join("fw/obj.txt").exists());
    assert!(temp_files(replica_root.path()).is_empty());
}
