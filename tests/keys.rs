//! Hostile keys, sent over raw sockets so no client library normalises the
//! path first: encodings that must map to plain file names, and every kind
//! of key the README says is refused with 400 before any filesystem access.
//! Symlinks that leave the data root.

mod common;

use std::os::unix::fs::symlink;

use common::*;

fn raw_put(s: &Server, target: &str, body: &[u8]) -> RawResponse {
    raw(s.addr, "PUT", target, &[], body)
}

fn raw_get(s: &Server, target: &str) -> RawResponse {
    raw(s.addr, "GET", target, &[], b"")
}

#[test]
fn encoded_names_map_to_plain_file_names() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let cases: &[(&str, &str)] = &[
        ("/a%20b", "a b"),
        ("/%25", "%"),
        ("/100%25%20sure.txt", "100% sure.txt"),
        ("/%C3%A9t%C3%A9.txt", "été.txt"),
        ("/dir%20x/%E2%9C%93%20ok", "dir x/✓ ok"),
        ("/plus+sign", "plus+sign"),
        ("/semi;colon", "semi;colon"),
        ("/q%3Fmark", "q?mark"),
        ("/hash%23tag", "hash#tag"),
    ];
    for (i, (target, file)) in cases.iter().enumerate() {
        let body = format!("body {i}");
        let r = raw_put(&s, target, body.as_bytes());
        assert_eq!(r.status, 201, "PUT {target}: {}", r.text());
        let on_disk = std::fs::read(dir.path().join(file))
            .unwrap_or_else(|e| panic!("PUT {target} should create file {file:?}: {e}"));
        assert_eq!(on_disk, body.as_bytes());
        let g = raw_get(&s, target);
        assert_eq!(g.status, 200, "GET {target}");
        assert_eq!(g.body, body.as_bytes(), "GET {target}");
    }
}

#[test]
fn encoded_slash_is_a_separator() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let r = raw_put(&s, "/a%2Fb", b"slash");
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(dir.path().join("a").is_dir());
    assert_eq!(std::fs::read(dir.path().join("a/b")).unwrap(), b"slash");
    assert_eq!(raw_get(&s, "/a/b").body, b"slash");
    assert_eq!(raw_get(&s, "/a%2fb").body, b"slash");
    // Same key: the write-once policy sees it.
    assert_eq!(raw_put(&s, "/a/b", b"other").status, 409);
}

/// Targets that must be refused with 400 for every method.
const REFUSED: &[&str] = &[
    // dot segments, plain and encoded
    "/..",
    "/../x",
    "/a/../b",
    "/a/..",
    "/%2e%2e/x",
    "/a/%2E%2E/b",
    "/a/.%2e/b",
    "/a/..%2Fb",
    "/.",
    "/./x",
    "/a/./b",
    "/a/.",
    "/%2e/x",
    // empty segments
    "/a//b",
    "//a",
    "/a%2F%2Fb",
    // control characters
    "/a%0Ab",
    "/a%0D%0Ab",
    "/%00",
    "/a%00b",
    "/a%01b",
    "/a%09b",
    "/a%1Fb",
    "/a%7Fb",
    "/a%C2%85b",
    // putfs's own names
    "/.putfs-tmp.x",
    "/a/.putfs-tmp.x",
    "/a/.putfs-tmp",
    "/a/.putfs/x",
    "/a/.putfsfoo",
    "/%2Eputfs-tmp.x",
    // invalid UTF-8
    "/%FF",
    "/a%C3",
    "/%C0%AF",
    "/%ED%A0%80",
];

#[test]
fn refused_keys_are_400_for_put() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let mut wrong = Vec::new();
    for target in REFUSED {
        let r = raw_put(&s, target, b"evil");
        if r.status != 400 {
            wrong.push(format!("PUT {target} -> {}", r.status));
        } else if r.text().trim().is_empty() {
            wrong.push(format!("PUT {target} -> 400 without a reason in the body"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with 400:\n{}",
        wrong.join("\n")
    );
    assert!(
        user_entries(dir.path()).is_empty(),
        "refused keys wrote: {:?}",
        user_entries(dir.path())
    );
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn refused_keys_are_400_for_get_head_delete() {
    let dir = tempdir();
    // Something for a traversal to find if the checks were missing.
    std::fs::write(dir.path().join("x"), b"x").unwrap();
    std::fs::write(dir.path().join("b"), b"b").unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/b"), b"ab").unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut wrong = Vec::new();
    for target in REFUSED {
        for method in ["GET", "HEAD", "DELETE"] {
            let r = raw(s.addr, method, target, &[], b"");
            if r.status != 400 {
                wrong.push(format!("{method} {target} -> {}", r.status));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with 400:\n{}",
        wrong.join("\n")
    );
    for f in ["x", "b", "a/b"] {
        assert!(dir.path().join(f).is_file(), "{f} was deleted");
    }
}

#[test]
fn segment_count_limit() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let key32 = vec!["s"; 32].join("/");
    let key33 = vec!["s"; 33].join("/");
    assert_eq!(
        raw_put(&s, &format!("/{key32}"), b"ok").status,
        201,
        "32 segments"
    );
    let r = raw_put(&s, &format!("/{key33}x"), b"no");
    assert_eq!(r.status, 400, "33 segments");

    let dir2 = tempdir();
    let s2 = Server::start(dir2.path(), &["--max-depth", "3"]);
    assert_eq!(raw_put(&s2, "/a/b/c", b"ok").status, 201);
    assert_eq!(raw_put(&s2, "/a/b/c2/d", b"no").status, 400);
    assert_eq!(raw_get(&s2, "/a/b/c2/d").status, 400);
}

#[test]
fn segment_and_key_length_limits() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let seg255 = "n".repeat(255);
    let seg256 = "n".repeat(256);
    assert_eq!(
        raw_put(&s, &format!("/d/{seg255}"), b"ok").status,
        201,
        "255-byte segment"
    );
    assert_eq!(
        raw_put(&s, &format!("/d/{seg256}"), b"no").status,
        400,
        "256-byte segment"
    );
    // 255 bytes of UTF-8 'é' (2 bytes each) = 127 chars + 1 byte: count bytes.
    let e128 = "%C3%A9".repeat(128); // 256 bytes decoded
    assert_eq!(
        raw_put(&s, &format!("/d/{e128}"), b"no").status,
        400,
        "256-byte UTF-8 segment"
    );

    // Default --max-key-bytes 1024.
    let seg = "k".repeat(250);
    let ok = [seg.as_str(); 4].join("/"); // 1003 bytes
    let too_long = [seg.as_str(); 5].join("/"); // 1254 bytes
    assert_eq!(
        raw_put(&s, &format!("/{ok}"), b"ok").status,
        201,
        "1003-byte key"
    );
    assert_eq!(
        raw_put(&s, &format!("/{too_long}"), b"no").status,
        400,
        "1254-byte key"
    );

    let dir2 = tempdir();
    let s2 = Server::start(dir2.path(), &["--max-key-bytes", "16"]);
    assert_eq!(
        raw_put(&s2, "/abcdefgh/ijklmno", b"ok").status,
        201,
        "16-byte key"
    );
    assert_eq!(
        raw_put(&s2, "/abcdefgh/ijklmnop", b"no").status,
        400,
        "17-byte key"
    );
}

#[test]
fn symlink_leaving_the_root_is_refused() {
    let dir = tempdir();
    let outside = tempdir();
    std::fs::write(outside.path().join("secret.txt"), b"top secret").unwrap();
    symlink(outside.path(), dir.path().join("link")).unwrap();
    symlink(outside.path().join("secret.txt"), dir.path().join("flink")).unwrap();
    symlink("..", dir.path().join("up")).unwrap();
    let s = Server::start(dir.path(), &[]);

    let outside_name = outside
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let g = raw_get(&s, "/link/secret.txt");
    assert_eq!(g.status, 400, "GET through a symlink to outside");
    assert!(!g.text().contains("top secret"));
    let g = raw_get(&s, "/flink");
    assert_eq!(g.status, 400, "GET of a symlink to a file outside");
    assert!(!g.text().contains("top secret"));
    let g = raw_get(&s, &format!("/up/{outside_name}/secret.txt"));
    assert_eq!(g.status, 400, "GET through a relative symlink to ..");
    assert!(!g.text().contains("top secret"));

    let p = raw_put(&s, "/link/new.txt", b"escape");
    assert_eq!(p.status, 400, "PUT through a symlink to outside");
    let p = raw_put(&s, "/link/sub/new.txt", b"escape");
    assert_eq!(p.status, 400, "PUT through a symlink to outside, new dir");
    let p = raw_put(&s, &format!("/up/{outside_name}/new2.txt"), b"escape");
    assert_eq!(p.status, 400, "PUT through a relative symlink to ..");

    let d = raw(s.addr, "DELETE", "/link/secret.txt", &[], b"");
    assert_eq!(d.status, 400, "DELETE through a symlink to outside");

    // Nothing changed outside.
    let mut outside_entries = walk(outside.path());
    outside_entries.sort();
    assert_eq!(
        outside_entries,
        vec![std::path::PathBuf::from("secret.txt")]
    );
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).unwrap(),
        b"top secret"
    );

    // No listing reveals what is outside.
    let l = s.get("/");
    assert!(
        !l.text().contains("secret.txt"),
        "listing followed an escaping symlink:\n{}",
        l.text()
    );
    let q = s.query("/", None);
    assert!(
        !q.text().contains("secret.txt"),
        "QUERY followed an escaping symlink:\n{}",
        q.text()
    );
}

#[test]
fn symlink_within_the_root_works_for_get() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("real/f.txt", b"inside".to_vec()).status, 201);
    symlink("real", dir.path().join("alias")).unwrap();
    let g = raw_get(&s, "/alias/f.txt");
    assert_eq!(g.status, 200, "{}", g.text());
    assert_eq!(g.body, b"inside");
}
