//! Listings: upstream's `QUERY` grammar and `GET /prefix/` in text, JSON
//! and HTML; temp files and `.putfs/` never listed; `--max-list-keys`
//! aborts instead of truncating.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

const TEXT: &str = "text/plain";

/// Objects:
///   top.txt, "a b.txt", sub/one.txt, sub/deeper/two.json, skip/x.txt
/// plus, placed on disk: temp files, `.putfs/` content, and a name with a
/// newline (upstream skips those).
fn fixture(dir: &Path) -> Server {
    let s = Server::start(dir, &[]);
    for (k, v) in [
        ("top.txt", "t"),
        ("a%20b.txt", "ab"),
        ("sub/one.txt", "one"),
        ("sub/deeper/two.json", "{\"two\":2}"),
        ("skip/x.txt", "x"),
    ] {
        assert_eq!(s.put(k, v.as_bytes().to_vec()).status, 201, "PUT {k}");
    }
    std::fs::write(dir.join(".putfs-tmp.zzz"), b"partial").unwrap();
    std::fs::write(dir.join("sub/.putfs-tmp.zzz"), b"partial").unwrap();
    std::fs::create_dir_all(dir.join(".putfs/inner")).unwrap();
    std::fs::write(dir.join(".putfs/inner/state"), b"internal").unwrap();
    std::fs::write(dir.join("bad\nname"), b"newline").unwrap();
    s
}

fn all_keys() -> Vec<String> {
    sorted(&[
        "top.txt",
        "a b.txt",
        "sub/one.txt",
        "sub/deeper/two.json",
        "skip/x.txt",
    ])
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn assert_no_internal_names(text: &str) {
    assert!(
        !text.contains(".putfs"),
        "listing shows putfs internals:\n{text}"
    );
    assert!(
        !text.contains("bad"),
        "listing shows a name with a newline:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// QUERY
// ---------------------------------------------------------------------------

#[test]
fn query_without_body_lists_the_whole_subtree() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = s.query("/", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/octet-stream"),
        "content-type {:?}",
        r.header("content-type")
    );
    assert!(
        r.text().ends_with('\n'),
        "every line is \\n-terminated: {:?}",
        r.text()
    );
    assert_eq!(r.lines_sorted(), all_keys());
    assert_no_internal_names(&r.text());

    let r = s.query("/sub/", None);
    assert_eq!(
        r.lines_sorted(),
        sorted(&["one.txt", "deeper/two.json"]),
        "relative to the prefix"
    );
    assert_no_internal_names(&r.text());
}

#[test]
fn query_depth_and_dirs() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let cases: &[(&str, &[&str])] = &[
        ("1", &["top.txt", "a b.txt"]),
        ("1 dirs", &["top.txt", "a b.txt", "sub/", "skip/"]),
        ("2", &["top.txt", "a b.txt", "sub/one.txt", "skip/x.txt"]),
        (
            "2 dirs",
            &[
                "top.txt",
                "a b.txt",
                "sub/one.txt",
                "sub/deeper/",
                "skip/x.txt",
            ],
        ),
        (
            "3",
            &[
                "top.txt",
                "a b.txt",
                "sub/one.txt",
                "sub/deeper/two.json",
                "skip/x.txt",
            ],
        ),
    ];
    for (body, want) in cases {
        let r = s.query("/", Some((TEXT, body)));
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        assert_eq!(r.lines_sorted(), sorted(want), "QUERY / {body:?}");
        assert_no_internal_names(&r.text());
    }
    let r = s.query("/sub/", Some((TEXT, "1 dirs")));
    assert_eq!(r.lines_sorted(), sorted(&["one.txt", "deeper/"]));
    // Media type parameters are allowed.
    let r = s.query("/", Some(("text/plain; charset=utf-8", "1")));
    assert_eq!(r.status, 200);
    assert_eq!(r.lines_sorted(), sorted(&["top.txt", "a b.txt"]));
}

#[test]
fn query_stat_lines() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = s.query("/sub/", Some((TEXT, "1 stat")));
    assert_eq!(r.status, 200);
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let parts: Vec<&str> = lines[0].splitn(3, ' ').collect();
    assert_eq!(parts.len(), 3, "stat line {:?}", lines[0]);
    assert_eq!(parts[2], "one.txt");
    assert_eq!(parts[0], "3", "size");
    let mtime: i128 = parts[1].parse().expect("mtime_ns is an integer");
    assert_eq!(mtime, mtime_ns(&dir.path().join("sub/one.txt")), "mtime_ns");

    // Keys containing spaces stay whole after the two fields.
    let r = s.query("/", Some((TEXT, "1 stat")));
    assert!(
        r.text()
            .lines()
            .any(|l| l.splitn(3, ' ').nth(2) == Some("a b.txt")),
        "{}",
        r.text()
    );
    // stat with dirs.
    let r = s.query("/", Some((TEXT, "1 dirs stat")));
    assert_eq!(r.status, 200);
    assert!(
        r.text().lines().any(|l| l.ends_with(" sub/")),
        "{}",
        r.text()
    );
}

#[test]
fn query_request_errors() {
    let dir = tempdir();
    let s = fixture(dir.path());
    // A body without Content-Type.
    assert_eq!(s.query("/", Some(("", "1"))).status, 415);
    assert_eq!(s.query("/", Some(("application/json", "1"))).status, 415);
    for bad in ["abc", "1 dirz", "1 2", "1.5", "1 stat extra"] {
        assert_eq!(
            s.query("/", Some((TEXT, bad))).status,
            400,
            "grammar {bad:?}"
        );
    }
    let long = format!("1{}", " ".repeat(64)); // 65 bytes
    assert_eq!(
        s.query("/", Some((TEXT, &long))).status,
        400,
        "body over 64 bytes"
    );
    let r = s.query("/top.txt", None);
    assert_eq!(r.status, 405);
    let allow = r.header("allow").expect("Allow on 405");
    assert_eq!(allow_set(&allow), set_of(&["GET", "HEAD", "PUT", "DELETE"]));
}

#[test]
fn query_of_a_missing_prefix_is_empty() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = s.query("/nope/", None);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{:?}", r.text());
}

// ---------------------------------------------------------------------------
// GET listings
// ---------------------------------------------------------------------------

#[test]
fn get_listing_text_and_parameters() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.lines_sorted(), all_keys());
    assert_no_internal_names(&r.text());

    let cases: &[(&str, &[&str])] = &[
        ("/?depth=1", &["top.txt", "a b.txt"]),
        ("/?glob=*.txt", &["top.txt", "a b.txt"]),
        (
            "/?glob=**/*.txt",
            &["top.txt", "a b.txt", "sub/one.txt", "skip/x.txt"],
        ),
        ("/?glob=sub/**", &["sub/one.txt", "sub/deeper/two.json"]),
        (
            "/?exclude_prefix=skip/",
            &["top.txt", "a b.txt", "sub/one.txt", "sub/deeper/two.json"],
        ),
        ("/sub/?depth=1", &["one.txt"]),
    ];
    for (path, want) in cases {
        let r = s.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        assert_eq!(r.lines_sorted(), sorted(want), "GET {path}");
        assert_no_internal_names(&r.text());
    }
}

#[test]
fn get_listing_json() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = send(
        client()
            .get(s.url("/"))
            .header("Accept", "application/json"),
    );
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{:?}",
        r.header("content-type")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
    let arr = v.as_array().expect("a JSON array");
    let mut files = Vec::new();
    for item in arr {
        let key = item["key"].as_str().expect("key is a string");
        let is_dir = item["dir"].as_bool().expect("dir is a bool");
        assert!(item.get("size").is_some(), "size field in {item}");
        assert!(item.get("mtime_ns").is_some(), "mtime_ns field in {item}");
        if !is_dir {
            let size = item["size"].as_u64().expect("size is a number");
            let on_disk = std::fs::metadata(dir.path().join(key)).unwrap().len();
            assert_eq!(size, on_disk, "size of {key}");
            let m = item["mtime_ns"].as_i64().expect("mtime_ns is a number");
            assert_eq!(
                m as i128,
                mtime_ns(&dir.path().join(key)),
                "mtime_ns of {key}"
            );
            files.push(key.to_string());
        }
    }
    files.sort();
    assert_eq!(files, all_keys());
    assert_no_internal_names(&r.text());
}

#[test]
fn get_listing_html() {
    let dir = tempdir();
    let s = fixture(dir.path());
    let r = send(client().get(s.url("/")).header("Accept", "text/html"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        r.header("content-type")
    );
    let html = r.text();
    let hrefs: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    for want in ["top.txt", "a%20b.txt", "sub/", "skip/"] {
        assert!(
            hrefs
                .iter()
                .any(|h| h == want || h.ends_with(&format!("/{want}"))),
            "no <a href> for {want}; hrefs: {hrefs:?}"
        );
    }
    assert!(
        !hrefs.iter().any(|h| h.contains(' ')),
        "hrefs must be percent-encoded: {hrefs:?}"
    );
    // depth 1 by default: the deeper file is not linked directly.
    assert!(!hrefs.iter().any(|h| h.ends_with("one.txt")), "{hrefs:?}");
    assert_no_internal_names(&html);
}

#[test]
fn get_listing_html_escapes_names() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    // A name that would break out of the attribute or inject markup.
    let r = raw(s.addr, "PUT", "/%22%3E%3Cscript%3Ex.txt", &[], b"x");
    assert_eq!(r.status, 201);
    let r = send(client().get(s.url("/")).header("Accept", "text/html"));
    assert_eq!(r.status, 200);
    assert!(
        !r.text().contains("<script>"),
        "unescaped name in HTML:\n{}",
        r.text()
    );
}

#[test]
fn get_listing_of_a_missing_prefix_is_404() {
    let dir = tempdir();
    let s = fixture(dir.path());
    assert_eq!(s.get("/nope/").status, 404);
    // A prefix that is a file is not a directory either.
    assert_eq!(s.get("/top.txt/").status, 404);
}

#[test]
fn empty_root_lists_empty() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "{:?}", r.text());
    assert_eq!(s.query("/", None).body, b"");
}

/// Reads a listing over a raw socket; true if it ended cleanly with a 200.
/// A connection closed before any answer is broken, not clean.
fn clean_200(s: &Server, method: &str, target: &str) -> (bool, String) {
    let mut stream = connect(s.addr);
    stream
        .write_all(request_head(method, target, &[]).as_bytes())
        .unwrap();
    let data = read_to_eof(&mut stream);
    match parse_response(&data, false) {
        None => (false, format!("no parseable answer ({} bytes)", data.len())),
        Some(r) => (
            r.status == 200 && r.complete,
            format!(
                "status {} complete {} body {:?}",
                r.status,
                r.complete,
                r.text()
            ),
        ),
    }
}

#[test]
fn max_list_keys_aborts_instead_of_truncating() {
    let dir = tempdir();
    for i in 0..10 {
        std::fs::write(dir.path().join(format!("obj{i}")), b"x").unwrap();
    }
    let s = Server::start(dir.path(), &["--max-list-keys", "5"]);
    let (clean, what) = clean_200(&s, "QUERY", "/");
    assert!(!clean, "QUERY over --max-list-keys ended cleanly: {what}");
    let (clean, what) = clean_200(&s, "GET", "/");
    assert!(
        !clean,
        "GET listing over --max-list-keys ended cleanly: {what}"
    );
    // reqwest sees an error or a non-200 too.
    let res = client().get(s.url("/")).send();
    if let Ok(resp) = res {
        let status = resp.status().as_u16();
        assert!(
            status != 200 || resp.bytes().is_err(),
            "reqwest read a clean 200"
        );
    }
    // Under the cap it is fine.
    let (clean, what) = clean_200(&s, "GET", "/?depth=1&glob=obj1*");
    assert!(clean, "{what}");
}
