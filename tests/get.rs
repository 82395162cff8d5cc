//! GET and HEAD of objects: headers, ranges and conditional requests.

mod common;

use std::io::Write;

use common::*;

const TEN: &[u8] = b"0123456789";

fn get_h(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().get(s.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

fn head_h(s: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().head(s.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

/// A server with `notes.txt` = "0123456789"; returns (server, etag, last-modified).
fn with_object(dir: &tempfile::TempDir) -> (Server, String, String) {
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("notes.txt", TEN.to_vec()).status, 201);
    let g = s.get("notes.txt");
    let etag = g.header("etag").expect("ETag");
    let lm = g.header("last-modified").expect("Last-Modified");
    (s, etag, lm)
}

#[test]
fn get_sends_the_documented_headers() {
    let dir = tempdir();
    let (s, etag, lm) = with_object(&dir);
    let g = s.get("notes.txt");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, TEN);
    assert_eq!(g.header("content-length").as_deref(), Some("10"));
    assert_eq!(g.header("accept-ranges").as_deref(), Some("bytes"));
    assert!(
        g.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "content-type {:?}",
        g.header("content-type")
    );
    assert!(etag_derives_from(&etag, &sha256(TEN)), "ETag {etag}");
    assert_eq!(g.header("repr-digest"), Some(repr_digest_sha256(TEN)));
    let mtime = std::fs::metadata(dir.path().join("notes.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        lm,
        httpdate::fmt_http_date(mtime),
        "Last-Modified is the file's mtime"
    );
}

#[test]
fn content_type_follows_the_extension() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let cases = [
        ("a.txt", "text/plain"),
        ("b.json", "application/json"),
        ("c.zzunknownzz", "application/octet-stream"),
        ("noext", "application/octet-stream"),
        ("dir/d.JSON", "application/json"),
    ];
    for (key, want) in cases {
        assert_eq!(s.put(key, b"{}".to_vec()).status, 201);
        let ct = s.get(key).header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with(want),
            "{key}: content-type {ct:?}, want {want}"
        );
        let ct = s.head(key).header("content-type").unwrap_or_default();
        assert!(ct.starts_with(want), "HEAD {key}: content-type {ct:?}");
    }
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let dir = tempdir();
    let (s, _, _) = with_object(&dir);
    let g = s.get("notes.txt");
    let h = s.head("notes.txt");
    assert_eq!(h.status, 200);
    for name in [
        "content-length",
        "etag",
        "last-modified",
        "content-type",
        "accept-ranges",
        "repr-digest",
    ] {
        assert_eq!(h.header(name), g.header(name), "HEAD vs GET header {name}");
    }
    // On the wire: nothing after the head.
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head("HEAD", "/notes.txt", &[]).as_bytes())
        .unwrap();
    let data = read_to_eof(&mut stream);
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HEAD response head");
    assert_eq!(data.len(), end + 4, "HEAD response carried a body");
}

#[test]
fn missing_key_and_directory_key_are_404() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("dir/inner.txt", b"x".to_vec()).status, 201);
    assert_eq!(s.get("missing").status, 404);
    assert_eq!(s.head("missing").status, 404);
    assert_eq!(s.get("dir").status, 404, "a directory is not an object");
    assert_eq!(s.head("dir").status, 404);
    assert_eq!(s.get("dir/inner.txt/below").status, 404);
}

#[test]
fn file_placed_on_disk_is_served() {
    // Another tool (rsync, ls-level copy) put it there: no xattr.
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("ext")).unwrap();
    std::fs::write(dir.path().join("ext/file.txt"), TEN).unwrap();
    let s = Server::start(dir.path(), &[]);
    let g = s.get("ext/file.txt");
    assert_eq!(g.status, 200);
    assert_eq!(g.body, TEN);
    let etag = g.header("etag").expect("ETag for a file without xattr");
    assert!(!etag.starts_with("W/"), "weak ETag {etag}");
    assert_eq!(
        s.get("ext/file.txt").header("etag"),
        Some(etag.clone()),
        "ETag not stable"
    );
    assert_eq!(
        get_h(&s, "ext/file.txt", &[("If-None-Match", &etag)]).status,
        304
    );
    // A PUT of identical bytes recognises it.
    assert_eq!(s.put("ext/file.txt", TEN.to_vec()).status, 204);
    assert_eq!(s.put("ext/file.txt", b"9876543210".to_vec()).status, 409);
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

#[test]
fn single_ranges() {
    let dir = tempdir();
    let (s, _, _) = with_object(&dir);
    let cases = [
        ("bytes=0-3", "0123", "bytes 0-3/10"),
        ("bytes=-2", "89", "bytes 8-9/10"),
        ("bytes=5-", "56789", "bytes 5-9/10"),
        ("bytes=8-100", "89", "bytes 8-9/10"),
        ("bytes=9-9", "9", "bytes 9-9/10"),
    ];
    for (range, body, content_range) in cases {
        let r = get_h(&s, "notes.txt", &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.text(), body, "{range}");
        assert_eq!(
            r.header("content-range").as_deref(),
            Some(content_range),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string()),
            "{range}"
        );
    }
}

#[test]
fn unsatisfiable_range_is_416() {
    let dir = tempdir();
    let (s, _, _) = with_object(&dir);
    for range in ["bytes=100-", "bytes=10-20"] {
        let r = get_h(&s, "notes.txt", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(
            r.header("content-range").as_deref(),
            Some("bytes */10"),
            "{range}"
        );
    }
    assert_eq!(s.put("empty", Vec::new()).status, 201);
    let r = get_h(&s, "empty", &[("Range", "bytes=0-0")]);
    assert_eq!(r.status, 416, "any range of an empty object");
}

#[test]
fn several_ranges_or_other_units_get_the_whole_object() {
    let dir = tempdir();
    let (s, _, _) = with_object(&dir);
    for range in ["bytes=0-1,5-6", "lines=0-3"] {
        let r = get_h(&s, "notes.txt", &[("Range", range)]);
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, TEN, "{range}");
    }
}

// ---------------------------------------------------------------------------
// Conditional requests (RFC 9110 section 13)
// ---------------------------------------------------------------------------

#[test]
fn if_none_match() {
    let dir = tempdir();
    let (s, etag, _) = with_object(&dir);
    let r = get_h(&s, "notes.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.clone()), "304 carries the ETag");
    // In a list, and weak comparison (W/ prefix) also matches for GET.
    let list = format!("\"nope\", {etag}");
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-None-Match", &list)]).status,
        304
    );
    let weak = format!("W/{etag}");
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-None-Match", &weak)]).status,
        304
    );
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-None-Match", "*")]).status,
        304
    );
    assert_eq!(
        head_h(&s, "notes.txt", &[("If-None-Match", &etag)]).status,
        304
    );
    let other = get_h(&s, "notes.txt", &[("If-None-Match", "\"something-else\"")]);
    assert_eq!(other.status, 200);
    assert_eq!(other.body, TEN);
}

#[test]
fn if_match() {
    let dir = tempdir();
    let (s, etag, _) = with_object(&dir);
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-Match", "\"wrong\"")]).status,
        412
    );
    assert_eq!(get_h(&s, "notes.txt", &[("If-Match", &etag)]).status, 200);
    assert_eq!(get_h(&s, "notes.txt", &[("If-Match", "*")]).status, 200);
    // If-Match uses strong comparison: a weak tag never matches.
    let weak = format!("W/{etag}");
    assert_eq!(get_h(&s, "notes.txt", &[("If-Match", &weak)]).status, 412);
}

#[test]
fn if_modified_since_and_if_unmodified_since() {
    let dir = tempdir();
    let (s, etag, lm) = with_object(&dir);
    let r = get_h(&s, "notes.txt", &[("If-Modified-Since", &lm)]);
    assert_eq!(r.status, 304, "If-Modified-Since = Last-Modified");
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-Modified-Since", past)]).status,
        200
    );

    assert_eq!(
        get_h(&s, "notes.txt", &[("If-Unmodified-Since", past)]).status,
        412
    );
    assert_eq!(
        get_h(&s, "notes.txt", &[("If-Unmodified-Since", &lm)]).status,
        200
    );

    // If-None-Match wins over If-Modified-Since.
    let r = get_h(
        &s,
        "notes.txt",
        &[("If-None-Match", "\"other\""), ("If-Modified-Since", &lm)],
    );
    assert_eq!(
        r.status, 200,
        "If-Modified-Since must be ignored when If-None-Match is present"
    );
    // If-Match wins over If-Unmodified-Since.
    let r = get_h(
        &s,
        "notes.txt",
        &[("If-Match", &etag), ("If-Unmodified-Since", past)],
    );
    assert_eq!(
        r.status, 200,
        "If-Unmodified-Since must be ignored when If-Match is present"
    );
}

#[test]
fn if_range() {
    let dir = tempdir();
    let (s, etag, _) = with_object(&dir);
    let r = get_h(
        &s,
        "notes.txt",
        &[("Range", "bytes=0-3"), ("If-Range", &etag)],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "0123");
    let r = get_h(
        &s,
        "notes.txt",
        &[("Range", "bytes=0-3"), ("If-Range", "\"stale-tag\"")],
    );
    assert_eq!(r.status, 200, "If-Range mismatch serves the whole object");
    assert_eq!(r.body, TEN);
}

#[test]
fn a_fifo_in_the_tree_is_not_an_object_and_does_not_hang_the_server() {
    let dir = tempdir();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let s = Server::start(dir.path(), &[]);
    for _ in 0..4 {
        assert_eq!(s.get("pipe").status, 404);
    }
    assert_eq!(s.put("after", b"ok".to_vec()).status, 201);
    assert_eq!(s.get("after").body, b"ok");
}
