//! Objects and listings shown in browsers: every response is `nosniff`,
//! stored documents that can run script (HTML, XHTML, SVG, XML) are
//! sandboxed, and the HTML listing has a strict policy and escapes every
//! key, however hostile.

mod common;

use common::*;

/// A key as a request path: every byte outside `A-Z a-z 0-9 - . _ ~ /`
/// percent-encoded.
fn key_url(key: &str) -> String {
    let mut s = String::from("/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn csp(r: &Resp) -> Option<String> {
    r.header("content-security-policy")
}

#[test]
fn object_responses_are_nosniff_and_script_capable_ones_sandboxed() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let cases = [
        ("page.html", true),
        ("page.htm", true),
        ("doc.xhtml", true),
        ("pic.svg", true),
        ("data.xml", true),
        ("feed.rss", true),
        ("notes.txt", false),
        ("pic.png", false),
        ("doc.pdf", false),
        ("app.js", false),
        ("no-extension", false),
    ];
    let body = b"<html><script>alert(document.domain)</script></html>".to_vec();
    for (key, sandboxed) in cases {
        assert_eq!(s.put(key, body.clone()).status, 201, "{key}");
        let full = s.get(key);
        let etag = full.header("etag").expect("ETag");
        let answers = [
            ("GET", full),
            ("HEAD", s.head(key)),
            (
                "GET Range",
                send(client().get(s.url(key)).header("Range", "bytes=0-9")),
            ),
            (
                "GET If-None-Match",
                send(client().get(s.url(key)).header("If-None-Match", &etag)),
            ),
        ];
        let statuses: Vec<u16> = answers.iter().map(|(_, r)| r.status).collect();
        assert_eq!(statuses, [200, 200, 206, 304], "{key}");
        for (what, r) in &answers {
            assert_eq!(
                r.header("x-content-type-options").as_deref(),
                Some("nosniff"),
                "{key} {what}"
            );
            if sandboxed {
                let policy = csp(r).unwrap_or_else(|| panic!("{key} {what}: no CSP"));
                assert!(
                    policy.split(';').any(|d| d.trim() == "sandbox"),
                    "{key} {what}: {policy}"
                );
                assert!(!policy.contains("allow-scripts"), "{key} {what}: {policy}");
            } else {
                assert_eq!(csp(r), None, "{key} {what}");
            }
        }
    }
}

#[test]
fn html_listing_has_a_strict_policy_and_escapes_hostile_keys() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let keys = [
        "<img src=x onerror=alert(1)>.txt",
        "\"quoted\" & 'single'.txt",
        "a&amp;b\"><script>alert(2)<",
        // A directory named like an opening script tag.
        "<script>alert(3)</script>.txt",
    ];
    for key in keys {
        let r = raw(s.addr, "PUT", &key_url(key), &[], b"x");
        assert_eq!(r.status, 201, "PUT {key:?}: {}", r.text());
    }
    for path in ["/", &key_url("<script>alert(3)</")] {
        let get = send(client().get(s.url(path)).header("Accept", "text/html"));
        let head = send(client().head(s.url(path)).header("Accept", "text/html"));
        for (what, r) in [("GET", &get), ("HEAD", &head)] {
            assert_eq!(r.status, 200, "{what} {path}");
            assert_eq!(
                r.header("x-content-type-options").as_deref(),
                Some("nosniff"),
                "{what} {path}"
            );
            let policy = csp(r).unwrap_or_else(|| panic!("{what} {path}: no CSP"));
            let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
            assert!(
                directives.contains(&"default-src 'none'"),
                "{what} {path}: {policy}"
            );
            assert!(
                !policy.contains("script-src") && !policy.contains("unsafe-eval"),
                "{what} {path}: {policy}"
            );
        }
        let html = get.text();
        for raw_markup in ["<script", "<img", "onerror=alert(1)>"] {
            assert!(
                !html.contains(raw_markup),
                "unescaped {raw_markup:?} in the listing of {path}:\n{html}"
            );
        }
        // Every href is a percent-encoded relative path, or a sort link
        // (`?sort=…&amp;order=…`, form-encoded): nothing in it can end the
        // attribute or start a scheme.
        let hrefs: Vec<&str> = html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(!hrefs.is_empty(), "{html}");
        for h in &hrefs {
            let ok = match h.strip_prefix('?') {
                Some(query) => query
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"%-._~*+=&;".contains(&b)),
                None => h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"%-._~/".contains(&b)),
            };
            assert!(ok, "href {h:?} in the listing of {path}");
        }
    }
    let root = send(client().get(s.url("/")).header("Accept", "text/html")).text();
    assert!(
        root.contains("&lt;img src=x onerror=alert(1)&gt;.txt</a>"),
        "{root}"
    );
    assert!(
        root.contains(">\"quoted\" &amp; 'single'.txt</a>"),
        "{root}"
    );
    assert!(
        root.contains("href=\"%22quoted%22%20%26%20%27single%27.txt\""),
        "{root}"
    );
    let sub = send(
        client()
            .get(s.url(&key_url("<script>alert(3)</")))
            .header("Accept", "text/html"),
    )
    .text();
    assert!(
        sub.contains("<title>Index of /&lt;script&gt;alert(3)&lt;/</title>"),
        "{sub}"
    );
}

#[test]
fn other_responses_are_nosniff_too() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let put = s.put("k.txt", b"v".to_vec());
    let answers = [
        ("PUT", put),
        ("404", s.get("missing.html")),
        ("text listing", s.get("/")),
        ("metrics", s.get("/.putfs/metrics")),
    ];
    for (what, r) in answers {
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{what}"
        );
    }
}
