//! PUT: write-once policies, mutable keys, preconditions, digests,
//! content-addressed keys, ETag/Repr-Digest, and keys that collide with
//! directories or files.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

fn put_h(server: &Server, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    let mut req = client().put(server.url(path)).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

/// After a refused PUT nothing may be visible: no object, no temp file, and
/// no directory the PUT created.
fn assert_nothing_published(server: &Server, key: &str) {
    assert_eq!(server.get(key).status, 404, "GET {key} after a refused PUT");
    assert_no_temp_files(server.root());
    let left = wait_until(Duration::from_secs(10), || {
        user_entries(server.root()).is_empty()
    });
    assert!(
        left,
        "refused PUT left entries: {:?}",
        user_entries(server.root())
    );
}

#[test]
fn new_key_is_201_and_get_returns_the_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = s.put("albums/2024/photo.jpg", b"jpeg bytes".to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::read(dir.path().join("albums/2024/photo.jpg")).unwrap(),
        b"jpeg bytes"
    );
    let g = s.get("albums/2024/photo.jpg");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, b"jpeg bytes");
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn empty_body_is_a_valid_object() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("empty", Vec::new()).status, 201);
    let g = s.get("empty");
    assert_eq!(g.status, 200);
    assert!(g.body.is_empty());
    assert_eq!(g.header("content-length").as_deref(), Some("0"));
    assert_eq!(s.put("empty", Vec::new()).status, 204);
}

#[test]
fn chunked_upload_without_content_length_is_stored() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let body = Rng::new(7).bytes(300_000);
    // A reader without a known size makes reqwest send chunked encoding.
    let reader = std::io::Cursor::new(body.clone());
    let r = send(
        client()
            .put(s.url("chunked.bin"))
            .body(reqwest::blocking::Body::new(reader)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.get("chunked.bin").body, body);
}

#[test]
fn identical_reput_is_204() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("k.bin", b"same".to_vec()).status, 201);
    let r = s.put("k.bin", b"same".to_vec());
    assert_eq!(r.status, 204);
    assert_eq!(r.header("repr-digest"), Some(repr_digest_sha256(b"same")));
    assert!(
        r.header("etag").is_some(),
        "204 for identical bytes carries ETag"
    );
}

#[test]
fn different_bytes_is_409_and_original_kept() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("k.bin", b"first".to_vec()).status, 201);
    // Same length, different bytes: only the hash can tell.
    assert_eq!(s.put("k.bin", b"other".to_vec()).status, 409);
    // Different length.
    assert_eq!(s.put("k.bin", b"longer body".to_vec()).status, 409);
    assert_eq!(s.get("k.bin").body, b"first");
    assert_no_temp_files(dir.path());
}

#[test]
fn strict_policy_refuses_even_identical_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--on-existing", "strict"]);
    assert_eq!(s.put("k", b"x".to_vec()).status, 201);
    assert_eq!(s.put("k", b"x".to_vec()).status, 409);
    assert_eq!(s.put("k", b"y".to_vec()).status, 409);
    assert_eq!(s.get("k").body, b"x");
}

#[test]
fn lenient_policy_answers_204_and_keeps_original() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--on-existing", "lenient"]);
    assert_eq!(s.put("k", b"original".to_vec()).status, 201);
    assert_eq!(s.put("k", b"different bytes".to_vec()).status, 204);
    assert_eq!(s.get("k").body, b"original");
}

#[test]
fn lenient_policy_decides_without_reading_the_body() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--on-existing", "lenient"]);
    assert_eq!(s.put("k", b"original".to_vec()).status, 201);
    let status = status_before_body(&s, "/k", 1_000_000, &[]);
    assert_eq!(status, 204);
}

#[test]
fn mutable_glob_replaces_the_object() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--mutable", "tmp/**"]);
    assert_eq!(s.put("tmp/a/state.json", b"{\"v\":1}".to_vec()).status, 201);
    let r = s.put("tmp/a/state.json", b"{\"v\":2, \"longer\":true}".to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        s.get("tmp/a/state.json").body,
        b"{\"v\":2, \"longer\":true}"
    );
    assert_eq!(
        r.header("repr-digest"),
        Some(repr_digest_sha256(b"{\"v\":2, \"longer\":true}"))
    );
    // Keys outside the glob stay write-once.
    assert_eq!(s.put("other", b"1".to_vec()).status, 201);
    assert_eq!(s.put("other", b"2".to_vec()).status, 409);
    assert_no_temp_files(dir.path());
}

#[test]
fn if_none_match_star() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = put_h(&s, "k", b"v", &[("If-None-Match", "*")]);
    assert_eq!(r.status, 201, "new key with If-None-Match: *");
    // Even identical bytes: the key exists.
    let r = put_h(&s, "k", b"v", &[("If-None-Match", "*")]);
    assert_eq!(r.status, 412);
    let r = put_h(&s, "k", b"w", &[("If-None-Match", "*")]);
    assert_eq!(r.status, 412);
    assert_eq!(s.get("k").body, b"v");
}

// ---------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------

const BODY: &[u8] = b"the quick brown fox jumps over the lazy dog\n";
const OTHER: &[u8] = b"a completely different body";

fn digest_cases() -> Vec<(&'static str, String, String)> {
    vec![
        (
            "Content-Digest",
            format!("sha-256=:{}:", b64(&sha256(BODY))),
            format!("sha-256=:{}:", b64(&sha256(OTHER))),
        ),
        (
            "Repr-Digest",
            format!("sha-512=:{}:", b64(&sha512(BODY))),
            format!("sha-512=:{}:", b64(&sha512(OTHER))),
        ),
        ("Content-MD5", b64(&md5(BODY)), b64(&md5(OTHER))),
        (
            "x-amz-checksum-sha256",
            b64(&sha256(BODY)),
            b64(&sha256(OTHER)),
        ),
    ]
}

#[test]
fn correct_digest_headers_are_accepted() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    for (i, (name, good, _)) in digest_cases().into_iter().enumerate() {
        let key = format!("d{i}/obj");
        let r = put_h(&s, &key, BODY, &[(name, &good)]);
        assert_eq!(r.status, 201, "{name}: {good}: {}", r.text());
        assert_eq!(s.get(&key).body, BODY);
    }
    // Content-Digest and Repr-Digest may list several algorithms.
    let both = format!(
        "sha-256=:{}:, sha-512=:{}:",
        b64(&sha256(BODY)),
        b64(&sha512(BODY))
    );
    assert_eq!(
        put_h(&s, "multi", BODY, &[("Content-Digest", &both)]).status,
        201
    );
}

#[test]
fn wrong_digest_is_422_and_nothing_is_published() {
    for (name, _, bad) in digest_cases() {
        let dir = tempdir();
        let s = Server::start(dir.path(), &[]);
        let r = put_h(&s, "newdir/sub/obj", BODY, &[(name, &bad)]);
        assert_eq!(r.status, 422, "{name}: {bad}");
        assert_nothing_published(&s, "newdir/sub/obj");
    }
}

#[test]
fn wrong_digest_on_a_large_body_is_422() {
    // Big enough that the body is streamed through several writes before the
    // mismatch is known.
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let body = Rng::new(3).bytes(5 * 1024 * 1024);
    let bad = format!("sha-256=:{}:", b64(&sha256(b"not it")));
    let r = put_h(&s, "big/obj", &body, &[("Content-Digest", &bad)]);
    assert_eq!(r.status, 422);
    assert_nothing_published(&s, "big/obj");
}

#[test]
fn malformed_digest_headers_are_400() {
    // (header, value, accepted statuses): a value of the wrong length is
    // malformed too, though a server may call it a mismatch (422).
    let cases: &[(&str, &str, &[u16])] = &[
        ("Content-Digest", "sha-256=not-a-byte-sequence", &[400]),
        ("Content-Digest", "sha-256=:!!!not base64!!!:", &[400]),
        ("Content-Digest", "sha-256=:AAAA:", &[400, 422]),
        ("Repr-Digest", "sha-512=:%%%:", &[400]),
        ("Content-MD5", "!!!", &[400]),
        ("Content-MD5", "AAAA", &[400, 422]),
        ("x-amz-checksum-sha256", "###", &[400]),
        ("x-amz-checksum-sha256", "AAAA", &[400, 422]),
    ];
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    for (name, value, expected) in cases {
        let r = put_h(&s, "m/obj", BODY, &[(name, value)]);
        assert!(
            expected.contains(&r.status),
            "{name}: {value}: got {} want {expected:?}",
            r.status
        );
        assert_eq!(s.get("m/obj").status, 404);
    }
    assert_no_temp_files(dir.path());
}

/// Sends a PUT head with `Expect: 100-continue` and a Content-Length but no
/// body; returns the status of the first response head. A server that
/// decides before reading answers with the final status; one that wants the
/// body answers 100 (or nothing).
fn status_before_body(s: &Server, target: &str, len: usize, headers: &[(&str, &str)]) -> u16 {
    let len = len.to_string();
    let mut all = vec![("Content-Length", len.as_str()), ("Expect", "100-continue")];
    all.extend_from_slice(headers);
    let mut stream = connect(s.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(request_head("PUT", target, &all).as_bytes())
        .unwrap();
    let (status, _) = read_head(&mut stream)
        .expect("no answer without the body: the server waited for the body to decide");
    status
}

#[test]
fn existing_key_with_digest_is_decided_before_the_body() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("k.bin", BODY.to_vec()).status, 201);

    let same = format!("sha-256=:{}:", b64(&sha256(BODY)));
    let status = status_before_body(&s, "/k.bin", BODY.len(), &[("Content-Digest", &same)]);
    assert_eq!(
        status, 204,
        "identical digest must answer 204 without the body (100 = asked for it)"
    );

    let other = format!(
        "sha-256=:{}:",
        b64(&sha256(b"something else entirely!!!!!!!!!!!!!!!!!!!"))
    );
    let status = status_before_body(&s, "/k.bin", BODY.len(), &[("Content-Digest", &other)]);
    assert_eq!(
        status, 409,
        "different digest must answer 409 without the body"
    );

    assert_eq!(s.get("k.bin").body, BODY);
}

#[test]
fn existing_key_with_a_different_length_is_409_before_the_body() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("k.bin", BODY.to_vec()).status, 201);
    // Large and small announced lengths: neither needs the body to know.
    for len in [50_000_000, BODY.len() + 1] {
        let status = status_before_body(&s, "/k.bin", len, &[]);
        assert_eq!(
            status, 409,
            "Content-Length {len} differs from the stored size: must answer 409 without \
             the body (100 = asked for it)"
        );
    }
    assert_eq!(s.get("k.bin").body, BODY);
}

#[test]
fn checksum_paths_verify_content_addressed_keys() {
    let dir = tempdir();
    let s = Server::start(
        dir.path(),
        &["--checksum-paths", "^cas/(?P<sha256>[0-9a-f]{64})$"],
    );
    let good = format!("cas/{}", hex::encode(sha256(BODY)));
    let r = s.put(&good, BODY.to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.get(&good).body, BODY);

    let bad = format!("cas/{}", hex::encode(sha256(OTHER)));
    let r = s.put(&bad, BODY.to_vec());
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(s.get(&bad).status, 404);
    assert_no_temp_files(dir.path());

    // A key outside the pattern is an ordinary key.
    assert_eq!(s.put("cas/not-a-digest", OTHER.to_vec()).status, 201);
    // Content-addressed keys are write-once.
    assert_eq!(s.put(&good, BODY.to_vec()).status, 204);
}

// ---------------------------------------------------------------------------
// ETag and Repr-Digest
// ---------------------------------------------------------------------------

#[test]
fn put_answers_etag_and_repr_digest_of_the_body() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let body = Rng::new(11).bytes(70_000);
    let r = s.put("e/obj.bin", body.clone());
    assert_eq!(r.status, 201);
    let etag = r.header("etag").expect("201 carries ETag");
    assert!(
        etag_derives_from(&etag, &sha256(&body)),
        "ETag {etag} is not a strong tag derived from sha256 {}",
        hex::encode(sha256(&body))
    );
    assert_eq!(r.header("repr-digest"), Some(repr_digest_sha256(&body)));

    let other = s.put("e/other.bin", b"other".to_vec());
    assert_ne!(
        other.header("etag"),
        Some(etag.clone()),
        "different bytes, same ETag"
    );
}

#[test]
fn get_and_head_etag_equal_the_put_etag() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = s.put("obj.txt", b"hello etag".to_vec());
    let etag = r.header("etag").expect("ETag on PUT");
    let g = s.get("obj.txt");
    assert_eq!(g.header("etag"), Some(etag.clone()));
    assert_eq!(
        g.header("repr-digest"),
        Some(repr_digest_sha256(b"hello etag"))
    );
    assert_eq!(s.head("obj.txt").header("etag"), Some(etag.clone()));
    // And after a restart (the digest lives with the file, not in memory).
    let mut s = s;
    s.restart();
    assert_eq!(s.get("obj.txt").header("etag"), Some(etag));
}

#[test]
fn stored_digest_travels_with_xattrs_to_another_node() {
    let src = tempdir();
    if !xattrs_supported(src.path()) {
        eprintln!(
            "SKIP: {} does not support user.* xattrs",
            src.path().display()
        );
        return;
    }
    let a = Server::start(src.path(), &[]);
    let body = Rng::new(5).bytes(12_345);
    let r = a.put("photos/x.bin", body.clone());
    assert_eq!(r.status, 201);
    let etag = r.header("etag").unwrap();
    let stored = src.path().join("photos/x.bin");
    assert!(
        get_xattr(&stored, "user.putfs.sha256").is_some(),
        "the digest is kept in user.putfs.sha256"
    );

    // Copy with xattrs (cp -a), served by a second node.
    let dst = tempdir();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(src.path().join("photos"))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(get_xattr(&dst.path().join("photos/x.bin"), "user.putfs.sha256").is_some());
    let b = Server::start(dst.path(), &[]);
    let g = b.get("photos/x.bin");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, body);
    assert_eq!(
        g.header("etag"),
        Some(etag.clone()),
        "same bytes, same ETag on every node"
    );
    assert_eq!(g.header("repr-digest"), Some(repr_digest_sha256(&body)));

    // Copies without xattrs (size and mtime kept, as rsync -a does) agree
    // with each other.
    let c1 = tempdir();
    let c2 = tempdir();
    for c in [&c1, &c2] {
        let st = std::process::Command::new("cp")
            .args(["-r", "--preserve=mode,timestamps"])
            .arg(src.path().join("photos"))
            .arg(c.path())
            .status()
            .unwrap();
        assert!(st.success());
        assert!(get_xattr(&c.path().join("photos/x.bin"), "user.putfs.sha256").is_none());
    }
    let s1 = Server::start(c1.path(), &[]);
    let s2 = Server::start(c2.path(), &[]);
    let e1 = s1
        .get("photos/x.bin")
        .header("etag")
        .expect("ETag without xattr");
    let e2 = s2
        .get("photos/x.bin")
        .header("etag")
        .expect("ETag without xattr");
    assert_eq!(e1, e2, "size+mtime ETag differs between identical copies");
}

#[test]
fn file_changed_on_disk_is_never_served_with_a_stale_digest() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = s.put("doc.txt", b"version one".to_vec());
    let old_etag = r.header("etag").unwrap();
    let old_digest = r.header("repr-digest").unwrap();

    // Another tool rewrites it in place with the same size (the xattr, if
    // any, stays and now describes old bytes).
    let path = dir.path().join("doc.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, b"version two").unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(mtime + Duration::from_secs(5)).unwrap();
    drop(f);

    let g = s.get("doc.txt");
    assert_eq!(g.body, b"version two");
    assert_ne!(
        g.header("etag"),
        Some(old_etag),
        "stale ETag after an on-disk change"
    );
    if let Some(d) = g.header("repr-digest") {
        assert_ne!(d, old_digest, "stale Repr-Digest");
        assert_eq!(d, repr_digest_sha256(b"version two"));
    }
}

// ---------------------------------------------------------------------------
// Keys colliding with files and directories
// ---------------------------------------------------------------------------

#[test]
fn parent_segment_that_is_a_file_is_400() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("f.txt", b"file".to_vec()).status, 201);
    assert_eq!(s.put("f.txt/child", b"x".to_vec()).status, 400);
    assert_eq!(s.put("f.txt/deeper/child", b"x".to_vec()).status, 400);
    assert_eq!(s.get("f.txt/child").status, 404);
    assert!(dir.path().join("f.txt").is_file());
    assert_eq!(user_entries(dir.path()).len(), 1);
}

#[test]
fn key_that_is_a_directory_is_409() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("a/b", b"x".to_vec()).status, 201);
    let r = s.put("a", b"y".to_vec());
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(dir.path().join("a").is_dir());
    assert_eq!(s.get("a/b").body, b"x");
    assert_no_temp_files(dir.path());
}

#[test]
fn put_and_delete_on_a_listing_key_are_405() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("dir/x", b"x".to_vec()).status, 201);
    for path in ["dir/", "/", "new/"] {
        let r = s.put(path, b"y".to_vec());
        assert_eq!(r.status, 405, "PUT {path}");
        let allow = r.header("allow").expect("405 carries Allow");
        assert_eq!(
            allow_set(&allow),
            set_of(&["GET", "HEAD", "QUERY"]),
            "PUT {path}"
        );
        let d = s.delete(path);
        assert_eq!(d.status, 405, "DELETE {path}");
        assert!(d.header("allow").is_some());
    }
    assert_eq!(s.get("dir/x").body, b"x");
    assert!(!dir.path().join("new").exists());
}

#[test]
fn failed_replace_of_a_mutable_key_keeps_the_old_bytes() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--mutable", "tmp/**"]);
    assert_eq!(s.put("tmp/state", b"old".to_vec()).status, 201);
    let bad = format!("sha-256=:{}:", b64(&sha256(b"not it")));
    let r = put_h(&s, "tmp/state", b"new", &[("Content-Digest", &bad)]);
    assert_eq!(r.status, 422);
    assert_eq!(s.get("tmp/state").body, b"old");
    assert_no_temp_files(dir.path());
}

#[test]
fn failed_put_removes_only_the_directories_it_created() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("d/x", b"x".to_vec()).status, 201);
    let bad = format!("sha-256=:{}:", b64(&sha256(b"not it")));
    for key in ["d/new/deeper/y", "d/z"] {
        let r = put_h(&s, key, b"payload", &[("Content-Digest", &bad)]);
        assert_eq!(r.status, 422, "{key}");
    }
    assert_no_temp_files(dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || !dir
            .path()
            .join("d/new")
            .exists()),
        "directory created by the failed PUT left behind"
    );
    assert!(
        dir.path().join("d/x").is_file(),
        "a pre-existing object was touched"
    );
    assert_eq!(s.get("d/x").body, b"x");
}

#[test]
fn fsync_never_still_stores_objects() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--fsync", "never"]);
    assert_eq!(s.put("fast/obj", b"quick".to_vec()).status, 201);
    assert_eq!(s.get("fast/obj").body, b"quick");
    assert_eq!(s.put("fast/obj", b"other".to_vec()).status, 409);
}

/// The server's own files refusing it is the host's misconfiguration, not
/// the client's: a 500 and a log line that says what to check, never a 403.
#[test]
fn a_permission_error_on_the_servers_own_files_is_a_500_with_a_log_line() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("locked/seed", b"x".to_vec()).status, 201);
    let locked = dir.path().join("locked");
    // Root ignores modes; an immutable directory refuses even root.
    let as_root = unsafe { libc::geteuid() } == 0;
    let lock = |on: bool| {
        if as_root {
            let flag = if on { "+i" } else { "-i" };
            let st = std::process::Command::new("chattr")
                .arg(flag)
                .arg(&locked)
                .status()
                .expect("chattr");
            assert!(st.success(), "chattr {flag}");
        } else {
            use std::os::unix::fs::PermissionsExt;
            let mode = if on { 0o555 } else { 0o755 };
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    lock(true);
    let put = s.put("locked/new", b"y".to_vec());
    let del = s.delete("locked/seed");
    lock(false);
    assert_eq!(put.status, 500, "PUT: {}", put.text());
    assert_eq!(del.status, 500, "DELETE: {}", del.text());
    assert!(
        put.text().contains("refused putfs access"),
        "{}",
        put.text()
    );
    let logged = wait_until(Duration::from_secs(10), || {
        let logs = s.logs();
        logs.contains("request failed")
            && logs.contains("/locked/new")
            && logs.contains("check the owner and mode")
    });
    assert!(logged, "no clear log line: {}", s.logs());
}
