//! The read cache (`--read-cache-bytes`, on by default) never answers with
//! an object the disk no longer has: not after the server's own DELETE or
//! replacement, not after files change under a read-only node (a rename
//! over the object as rsync does, an edit in place that puts the old mtime
//! back, a delete, a real `rsync`, a zfs receive and a zfs rollback).
//!
//! Every scenario first reads the object until `putfs_read_cache_hits_total`
//! shows it answered from memory, so that the answer that follows the
//! change would come from memory too if the cache trusted itself.
//!
//! zfs receive and rollback are covered by what they do to a file: a new
//! inode, or the same object number with another ctime (a file deleted and
//! written again on the primary gets a new ctime, which the stream
//! carries). They cannot be run live under a server on zfs-fuse: a receive
//! into a mounted dataset is not seen by any reader there (the FUSE
//! dentries stay stale: `cat` says ENOENT for a received file) until a
//! remount, and a dataset a server holds open cannot be remounted.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::path::Path;
use std::time::Duration;

use common::*;
use ops::*;

fn hits(s: &Server) -> f64 {
    metric_value(
        &s.get("/.putfs/metrics").text(),
        "putfs_read_cache_hits_total",
        &[],
    )
}

/// Reads `key` until its answer comes from the cache (a file is kept once
/// it has been unchanged for a second, `read_cache::SETTLED`), checking
/// every answer is `body`.
fn read_until_cached(s: &Server, key: &str, body: &[u8]) {
    let cached = wait_until(Duration::from_secs(15), || {
        let before = hits(s);
        for _ in 0..2 {
            let r = s.get(key);
            assert_eq!(r.status, 200, "GET {key}");
            assert_eq!(r.body, body, "GET {key}");
            assert_eq!(s.head(key).status, 200, "HEAD {key}");
        }
        hits(s) > before
    });
    assert!(cached, "GET {key} never came from the read cache");
}

/// GET and HEAD of `key` answer `body` with the validators of those bytes.
fn serves(s: &Server, key: &str, body: &[u8], what: &str) {
    let r = s.get(key);
    assert_eq!(r.status, 200, "{what}: GET {key}");
    assert_eq!(r.body, body, "{what}: GET {key} answered other bytes");
    let h = s.head(key);
    assert_eq!(h.status, 200, "{what}: HEAD {key}");
    assert_eq!(
        h.header("etag"),
        r.header("etag"),
        "{what}: HEAD and GET ETags"
    );
    assert_eq!(
        h.header("content-length"),
        Some(body.len().to_string()),
        "{what}: HEAD {key} length"
    );
    if let Some(d) = r.header("repr-digest") {
        assert_eq!(d, repr_digest_sha256(body), "{what}: Repr-Digest of {key}");
    }
}

fn gone(s: &Server, key: &str, what: &str) {
    assert_eq!(s.get(key).status, 404, "{what}: GET {key}");
    assert_eq!(s.head(key).status, 404, "{what}: HEAD {key}");
}

#[test]
fn own_delete_and_replacement_are_seen_at_once() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--mutable", "m/*"]);

    assert_eq!(s.put("w/k.bin", b"first version".to_vec()).status, 201);
    read_until_cached(&s, "w/k.bin", b"first version");
    let old_etag = s.get("w/k.bin").header("etag");
    assert_eq!(s.delete("w/k.bin").status, 204);
    gone(&s, "w/k.bin", "after DELETE");
    assert_eq!(s.put("w/k.bin", b"other version".to_vec()).status, 201);
    serves(&s, "w/k.bin", b"other version", "after DELETE and PUT");
    assert_ne!(s.get("w/k.bin").header("etag"), old_etag);

    assert_eq!(s.put("m/k.bin", b"first version".to_vec()).status, 201);
    read_until_cached(&s, "m/k.bin", b"first version");
    assert_eq!(s.put("m/k.bin", b"other version".to_vec()).status, 201);
    serves(&s, "m/k.bin", b"other version", "after a replacing PUT");

    // A conditional GET with the old ETag is not a 304 any more.
    let r = send(
        client()
            .get(s.url("m/k.bin"))
            .header("if-none-match", old_etag.unwrap()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"other version");
}

/// A file of `body` written beside `path` and renamed over it, with
/// `path`'s mtime: what rsync does (same size and mtime, new inode).
fn rename_over(path: &Path, body: &[u8]) {
    let tmp = path.with_extension("rsync-tmp");
    std::fs::write(&tmp, body).unwrap();
    touch_like(&tmp, path);
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn files_changed_under_a_read_only_node_are_never_served_stale() {
    let dir = tempdir();
    {
        let p = Server::start(dir.path(), &[]);
        for k in ["a.bin", "b.bin", "c.bin", "d/e.bin"] {
            assert_eq!(p.put(k, format!("{k}: version 1").into_bytes()).status, 201);
        }
    }
    let root = dir.path();
    let s = Server::start(root, &["--read-only"]);
    for k in ["a.bin", "b.bin", "c.bin", "d/e.bin"] {
        read_until_cached(&s, k, format!("{k}: version 1").as_bytes());
    }

    // Renamed over, same size and mtime (the xattr digest goes with the old
    // inode).
    rename_over(&root.join("a.bin"), b"a.bin: version 2");
    serves(&s, "a.bin", b"a.bin: version 2", "renamed over");

    // Rewritten in place, same size, the old mtime put back: only the ctime
    // tells.
    let b = root.join("b.bin");
    let reference = root.join("b.ref");
    std::fs::copy(&b, &reference).unwrap();
    touch_like(&reference, &b);
    std::fs::write(&b, b"b.bin: version 2").unwrap();
    touch_like(&b, &reference);
    std::fs::remove_file(&reference).unwrap();
    // Bytes only: the stored digest (and so the ETag) is trusted while size
    // and mtime match, with or without the cache; an edit in place that
    // puts the mtime back defeats it, and putfs never edits in place.
    let r = s.get("b.bin");
    assert_eq!(
        (r.status, r.body),
        (200, b"b.bin: version 2".to_vec()),
        "rewritten in place"
    );

    // Deleted on disk.
    std::fs::remove_file(root.join("c.bin")).unwrap();
    gone(&s, "c.bin", "deleted on disk");

    // A real rsync from a copy where d/e.bin has other bytes of the same
    // size and the same mtime (-I: transfer even what size and mtime call
    // unchanged, as --checksum would).
    let src = tempdir();
    std::fs::create_dir(src.path().join("d")).unwrap();
    let e = src.path().join("d/e.bin");
    std::fs::write(&e, b"d/e.bin: version 2").unwrap();
    touch_like(&e, &root.join("d/e.bin"));
    let from = format!("{}/", src.path().display());
    let to = format!("{}/", root.display());
    run_tool_ok("rsync", ["-a", "-I", from.as_str(), to.as_str()]);
    serves(&s, "d/e.bin", b"d/e.bin: version 2", "after rsync");
}

/// A file changed less than a second ago is not kept: two changes within one
/// tick of a coarse file clock could leave its id the same.
#[test]
fn a_file_just_written_is_not_kept() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("fresh.bin", b"fresh".to_vec()).status, 201);
    let before = hits(&s);
    for _ in 0..3 {
        assert_eq!(s.get("fresh.bin").body, b"fresh");
    }
    // Only a test that ran more than a second after the PUT could see a
    // hit; a slow machine may, so only a fast run asserts.
    let age = std::fs::metadata(dir.path().join("fresh.bin"))
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap_or_default();
    if age < Duration::from_millis(900) {
        assert_eq!(
            hits(&s),
            before,
            "a file written {age:?} ago was answered from memory"
        );
    }
}
