//! Directories in a browser: `/albums` leads to `/albums/`, the HTML listing
//! has breadcrumbs, human sizes, local ISO-8601 dates and sort links, the
//! JSON listing is negotiated with q-values and sorted the same way, and
//! errors explain themselves to a person.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;
use sha2::Digest as _;

/// What Firefox sends for a page.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A POSIX TZ string: local time is UTC+05:30 all year, so the test does
/// not depend on the machine's zone or on tzdata.
const TZ_PLUS_0530: &str = "IST-5:30";

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

fn browse(s: &Server, method: reqwest::Method, path: &str) -> Resp {
    send(
        client()
            .request(method, s.url(path))
            .header("Accept", BROWSER),
    )
}

fn page(s: &Server, path: &str) -> String {
    let r = browse(s, reqwest::Method::GET, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "GET {path}: {:?}",
        r.header("content-type")
    );
    r.text()
}

/// Every `href` of a page, in document order, as written (still
/// HTML-escaped).
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The links to entries of the listing (not breadcrumbs, the parent or
/// sort links), in the order the page shows them.
fn entry_links(html: &str) -> Vec<String> {
    let body = html
        .split("<tbody>")
        .nth(1)
        .unwrap_or_else(|| panic!("no <tbody> in\n{html}"));
    hrefs(body)
        .into_iter()
        .filter(|h| !h.starts_with('?') && !h.starts_with('.'))
        .collect()
}

fn vary_has_accept(r: &Resp) -> bool {
    r.headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("accept"))
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

// ---------------------------------------------------------------------------
// 1. `/albums` → `/albums/`
// ---------------------------------------------------------------------------

#[test]
fn a_directory_without_its_slash_sends_a_browser_to_its_listing() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("albums/2024/a.jpg", b"jpg".to_vec()).status, 201);
    let cases = [
        ("/albums", "/albums/"),
        ("/albums/2024", "/albums/2024/"),
        (
            "/albums?sort=size&order=desc",
            "/albums/?sort=size&order=desc",
        ),
    ];
    for (path, want) in cases {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let r = browse(&s, method.clone(), path);
            assert_eq!(r.status, 301, "{method} {path}: {}", r.text());
            assert_eq!(
                r.header("location").as_deref(),
                Some(want),
                "{method} {path}"
            );
            assert!(vary_has_accept(&r), "{method} {path}: {:?}", r.headers);
            assert_eq!(
                r.header("x-content-type-options").as_deref(),
                Some("nosniff")
            );
        }
        // The Location is the listing.
        let html = page(&s, want);
        assert!(html.contains("Index of /"), "{html}");
    }
}

#[test]
fn redirect_locations_are_encoded_paths_on_this_server() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let hostile = "my albums/ünï?#%x";
    let r = raw(
        s.addr,
        "PUT",
        &key_url(&format!("{hostile}/f.txt")),
        &[],
        b"x",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Names a browser would read as another host if they came out raw.
    for name in ["\\evil.com", "evil.com", "@evil.com"] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("f"), b"x").unwrap();
    }
    let cases = [
        (key_url(hostile), format!("{}/", key_url(hostile))),
        // `%2F` is a `/` in the key: the Location spells it canonically.
        (
            key_url(hostile).replacen("/my%20albums/", "/my%20albums%2F", 1),
            format!("{}/", key_url(hostile)),
        ),
        ("/%5Cevil.com".to_string(), "/%5Cevil.com/".to_string()),
        ("/%40evil.com".to_string(), "/%40evil.com/".to_string()),
        (
            format!("{}?a=1&b=%2F", key_url(hostile)),
            format!("{}/?a=1&b=%2F", key_url(hostile)),
        ),
    ];
    for (target, want) in &cases {
        let r = raw(s.addr, "GET", target, &[("Accept", BROWSER)], b"");
        assert_eq!(r.status, 301, "GET {target}: {}", r.text());
        let location = r.header("location").expect("Location");
        assert_eq!(&location, want, "GET {target}");
        assert!(
            location.starts_with('/') && !location.starts_with("//"),
            "{location}"
        );
        let path = location.split('?').next().unwrap();
        assert!(
            path.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"%-._~/".contains(&b)),
            "unencoded byte in {location:?}"
        );
        // The browser lands on the listing of the very directory.
        let landed = raw(s.addr, "GET", &location, &[("Accept", BROWSER)], b"");
        assert_eq!(landed.status, 200, "GET {location}: {}", landed.text());
    }
    // A path that would need an empty segment is refused, never redirected.
    for target in ["//evil.com", "/%2Fevil.com", "///evil.com"] {
        let r = raw(s.addr, "GET", target, &[("Accept", BROWSER)], b"");
        assert!(
            !(300..400).contains(&r.status) && r.header("location").is_none(),
            "GET {target}: {} {:?}",
            r.status,
            r.header("location")
        );
    }
}

#[test]
fn only_a_directory_on_disk_is_redirected_and_only_for_get_and_head() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("albums/a.jpg", b"jpg".to_vec()).status, 201);
    let outside = tempdir();
    std::fs::write(outside.path().join("f"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    for path in ["/missing", "/albums/a.jpg/x", "/escape", "/albums/missing"] {
        let r = browse(&s, reqwest::Method::GET, path);
        assert!(
            !(300..400).contains(&r.status) && r.header("location").is_none(),
            "GET {path}: {} {:?}",
            r.status,
            r.header("location")
        );
    }
    assert_eq!(
        browse(&s, reqwest::Method::GET, "/albums/a.jpg").status,
        200
    );
    // A write to a directory's key keeps its error.
    let put = send(
        client()
            .put(s.url("/albums"))
            .header("Accept", BROWSER)
            .body("x"),
    );
    assert_eq!(put.status, 409, "{}", put.text());
    assert!(put.header("location").is_none());
    let del = send(client().delete(s.url("/albums")).header("Accept", BROWSER));
    assert!(
        !(300..400).contains(&del.status) && del.header("location").is_none(),
        "DELETE: {}",
        del.status
    );
    // Programs keep the 404 upstream's client relies on (it tells a
    // directory from an object by it), told where the listing is.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = client().get(s.url("/albums"));
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let r = send(req);
        assert_eq!(r.status, 404, "Accept {accept:?}");
        assert!(r.header("location").is_none());
        assert!(
            r.text().contains("/albums/"),
            "Accept {accept:?}: {}",
            r.text()
        );
    }
}

// ---------------------------------------------------------------------------
// 2. The HTML listing
// ---------------------------------------------------------------------------

#[test]
fn listing_page_has_breadcrumbs_and_a_parent_link_below_the_root() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(
        raw(s.addr, "PUT", &key_url("a/b c/<d>/f.txt"), &[], b"x").status,
        201
    );
    let html = page(&s, &key_url("a/b c/<d>/"));
    let h1 = html
        .split("<h1>")
        .nth(1)
        .and_then(|r| r.split("</h1>").next())
        .unwrap_or_else(|| panic!("no <h1> in\n{html}"));
    // Each segment links to its own listing (relative, so a proxy that
    // mounts putfs under a path keeps working).
    for crumb in [
        "<a href=\"../../../\">/</a>",
        "<a href=\"../../\">a</a>",
        "<a href=\"../\">b c</a>",
        "<a href=\"./\">&lt;d&gt;</a>",
    ] {
        assert!(h1.contains(crumb), "no {crumb} in {h1}");
    }
    let body = html.split("<tbody>").nth(1).unwrap();
    assert!(
        hrefs(body).iter().any(|h| h == "../"),
        "no parent link: {html}"
    );
    let root = page(&s, "/");
    assert!(
        !hrefs(&root).iter().any(|h| h.starts_with("..")),
        "the root has no parent: {root}"
    );
}

#[test]
fn listing_page_shows_human_sizes_and_local_iso_dates() {
    let dir = tempdir();
    let s = Server::start_with_env(dir.path(), &[], &[("TZ", TZ_PLUS_0530)]);
    assert_eq!(s.put("small.txt", vec![b'x'; 100]).status, 201);
    assert_eq!(s.put("mid.bin", vec![b'x'; 1536]).status, 201);
    assert_eq!(s.put("big.bin", vec![b'x'; 3 * 1024 * 1024]).status, 201);
    assert_eq!(s.put("sub/f", b"x".to_vec()).status, 201);
    // 2024-01-02T03:04:05Z is 08:34:05 at +05:30.
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_164_645);
    set_mtime(&dir.path().join("mid.bin"), t);
    let html = page(&s, "/");
    let row = |name: &str| -> String {
        html.split("<tr>")
            .find(|r| r.contains(&format!("href=\"{name}\"")))
            .unwrap_or_else(|| panic!("no row for {name} in\n{html}"))
            .to_string()
    };
    let mid = row("mid.bin");
    assert!(mid.contains("1.5 KiB"), "{mid}");
    assert!(mid.contains("title=\"1536 bytes\""), "{mid}");
    assert!(mid.contains("2024-01-02T08:34:05+05:30"), "{mid}");
    let big = row("big.bin");
    assert!(big.contains("3.0 MiB"), "{big}");
    assert!(big.contains("title=\"3145728 bytes\""), "{big}");
    assert!(row("small.txt").contains("100 B"), "{}", row("small.txt"));
    // Raw byte counts and HTTP dates are gone from the visible text.
    assert!(!html.contains("GMT"), "{html}");
    // The page says which zone its times are in.
    let outside_rows: String =
        html.split("<table").next().unwrap().to_string() + html.rsplit("</table>").next().unwrap();
    assert!(outside_rows.contains("+05:30"), "{html}");
}

#[test]
fn listing_page_sorts_by_name_size_and_date_with_directories_first() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (key, size, age_hours) in [("b.txt", 300, 1), ("a.txt", 10, 0), ("c.txt", 2000, 2)] {
        assert_eq!(s.put(key, vec![b'x'; size]).status, 201);
        set_mtime(
            &dir.path().join(key),
            base - Duration::from_secs(3600 * age_hours),
        );
    }
    assert_eq!(s.put("zdir/x", b"x".to_vec()).status, 201);
    assert_eq!(s.put("adir/x", b"x".to_vec()).status, 201);
    let cases: &[(&str, &[&str])] = &[
        ("/", &["adir/", "zdir/", "a.txt", "b.txt", "c.txt"]),
        (
            "/?sort=name&order=desc",
            &["zdir/", "adir/", "c.txt", "b.txt", "a.txt"],
        ),
        ("/?sort=size", &["a.txt", "b.txt", "c.txt"]),
        ("/?sort=size&order=desc", &["c.txt", "b.txt", "a.txt"]),
        ("/?sort=date", &["c.txt", "b.txt", "a.txt"]),
        ("/?sort=date&order=desc", &["a.txt", "b.txt", "c.txt"]),
    ];
    for (path, want) in cases {
        let links = entry_links(&page(&s, path));
        let (dirs, files): (Vec<_>, Vec<_>) = links.iter().partition(|l| l.ends_with('/'));
        assert_eq!(
            links[..dirs.len()],
            dirs.iter().map(|d| d.to_string()).collect::<Vec<_>>()[..],
            "{path}: directories first: {links:?}"
        );
        if want.iter().any(|w| w.ends_with('/')) {
            assert_eq!(&links, want, "{path}");
        } else {
            assert_eq!(&files, want, "{path}");
        }
    }
    // The column headings are the sort links; the current column's link
    // reverses it; other parameters are kept.
    let html = page(&s, "/?depth=1&sort=size");
    let links = hrefs(&html);
    for want in [
        "?depth=1&amp;sort=name&amp;order=asc",
        "?depth=1&amp;sort=size&amp;order=desc",
        "?depth=1&amp;sort=date&amp;order=asc",
    ] {
        assert!(links.iter().any(|h| h == want), "no {want} in {links:?}");
    }
    let bad = browse(&s, reqwest::Method::GET, "/?sort=colour");
    assert_eq!(bad.status, 400, "{}", bad.text());
}

#[test]
fn listing_page_keeps_a_strict_policy_with_its_style() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("a.txt", b"x".to_vec()).status, 201);
    let r = browse(&s, reqwest::Method::GET, "/");
    let html = r.text();
    let policy = r.header("content-security-policy").expect("CSP");
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for d in [
        "default-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "sandbox",
    ] {
        assert!(directives.contains(&d), "{d} missing: {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains(" style="), "inline style attribute: {html}");
    // A `<style>` element is allowed by its hash only.
    if let Some(style) = html.split("<style>").nth(1) {
        let css = style.split("</style>").next().unwrap();
        let hash = b64(&sha2::Sha256::digest(css.as_bytes()));
        assert!(
            directives.contains(&format!("style-src 'sha256-{hash}'").as_str()),
            "{policy}"
        );
    }
}

#[test]
fn a_directory_too_large_to_sort_is_listed_whole_and_says_so() {
    let dir = tempdir();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    // One more than the sort cap (10,000 entries).
    for i in 0..10_001 {
        std::fs::write(big.join(format!("f{i:05}")), b"").unwrap();
    }
    let s = Server::start(dir.path(), &[]);
    let html = page(&s, "/big/");
    assert_eq!(entry_links(&html).len(), 10_001);
    assert!(html.contains("not sorted"), "no note about the order");
    let small = page(&s, "/");
    assert!(!small.contains("not sorted"), "{small}");
}

// ---------------------------------------------------------------------------
// 3. Content negotiation and the JSON listing
// ---------------------------------------------------------------------------

fn listing_with(s: &Server, path: &str, accept: Option<&str>) -> Resp {
    let mut req = client().get(s.url(path));
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    send(req)
}

fn content_type(r: &Resp) -> String {
    r.header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn listings_are_negotiated_by_quality() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("a.txt", b"x".to_vec()).status, 201);
    let cases = [
        (None, "text/plain"),
        (Some("*/*"), "text/plain"),
        (
            Some("text/html;q=0.5, application/json"),
            "application/json",
        ),
        (Some("application/json;q=0.9, text/plain"), "text/plain"),
        (Some("text/*;q=0.2, text/html"), "text/html"),
        (Some("application/json, text/html;q=0"), "application/json"),
        (Some(BROWSER), "text/html"),
        (Some("image/png"), "text/plain"),
    ];
    for (accept, want) in cases {
        let r = listing_with(&s, "/", accept);
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(content_type(&r), want, "Accept {accept:?}");
    }
    let head = send(
        client()
            .head(s.url("/"))
            .header("Accept", "application/json"),
    );
    assert_eq!(content_type(&head), "application/json");
    // What curl gets is unchanged: one key per line.
    assert_eq!(listing_with(&s, "/", Some("*/*")).text(), "a.txt\n");
}

#[test]
fn text_listings_keep_their_order_unless_asked_to_sort() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    for (key, size) in [("b", 300), ("a", 10), ("c", 2000)] {
        assert_eq!(s.put(key, vec![b'x'; size]).status, 201);
    }
    let r = listing_with(&s, "/?sort=size&order=desc", None);
    assert_eq!(content_type(&r), "text/plain");
    assert_eq!(r.text(), "c\nb\na\n");
    let text = listing_with(&s, "/?sort=name&stat", None).text();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn listing_responses_vary_by_accept() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("a.txt", b"x".to_vec()).status, 201);
    for accept in [None, Some("*/*"), Some("application/json"), Some(BROWSER)] {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let mut req = client().request(method.clone(), s.url("/"));
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            let r = send(req);
            assert_eq!(r.status, 200);
            assert!(
                vary_has_accept(&r),
                "{method} Accept {accept:?}: {:?}",
                r.headers
            );
        }
    }
}

#[test]
fn json_listing_has_names_types_sizes_and_utc_times_sorted_like_the_page() {
    let dir = tempdir();
    let s = Server::start_with_env(dir.path(), &[], &[("TZ", TZ_PLUS_0530)]);
    assert_eq!(s.put("b.txt", vec![b'x'; 300]).status, 201);
    assert_eq!(s.put("a b.txt", vec![b'x'; 10]).status, 201);
    assert_eq!(s.put("c.txt", vec![b'x'; 2000]).status, 201);
    assert_eq!(s.put("sub/x", b"x".to_vec()).status, 201);
    let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_704_164_645_123_456_789);
    set_mtime(&dir.path().join("b.txt"), t);
    let r = listing_with(&s, "/?depth=1&dirs", Some("application/json"));
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    let items = v.as_array().expect("an array");
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sub", "a b.txt", "b.txt", "c.txt"]);
    let b = &items[2];
    assert_eq!(b["dir"], false);
    assert_eq!(b["size"], 300);
    assert_eq!(b["mtime"], "2024-01-02T03:04:05.123456789Z");
    assert_eq!(b["key"], "b.txt", "the existing fields stay");
    assert_eq!(b["mtime_ns"].as_i64(), Some(1_704_164_645_123_456_789));
    assert_eq!(items[0]["dir"], true);
    assert_eq!(items[0]["key"], "sub/");
    for item in items {
        let mtime = item["mtime"].as_str().expect("mtime is a string");
        assert!(mtime.ends_with('Z'), "{mtime}");
    }
    let r = listing_with(
        &s,
        "/?depth=1&sort=size&order=desc",
        Some("application/json"),
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c.txt", "b.txt", "a b.txt"]);
}

// ---------------------------------------------------------------------------
// 4. Error pages
// ---------------------------------------------------------------------------

fn assert_strict_html(r: &Resp, what: &str) {
    assert_eq!(content_type(r), "text/html", "{what}");
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    let policy = r.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.split(';').any(|d| d.trim() == "default-src 'none'"),
        "{what}: {policy}"
    );
    assert!(!policy.contains("unsafe"), "{what}: {policy}");
    assert!(!r.text().contains("<script"), "{what}");
    assert!(vary_has_accept(r), "{what}: {:?}", r.headers);
}

#[test]
fn errors_explain_themselves_to_a_browser() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--retain", "kept/**"]);
    assert_eq!(s.put("k.txt", b"v1".to_vec()).status, 201);
    assert_eq!(s.put("kept/x", b"v".to_vec()).status, 201);
    let missing = browse(&s, reqwest::Method::GET, &key_url("no <such>.txt"));
    assert_eq!(missing.status, 404);
    assert_strict_html(&missing, "404");
    let text = missing.text();
    assert!(
        text.contains("No object or directory at /no &lt;such&gt;.txt."),
        "{text}"
    );
    assert!(!text.contains("<such>"), "{text}");
    let missing_dir = browse(&s, reqwest::Method::GET, "/nope/");
    assert_eq!(missing_dir.status, 404);
    assert_strict_html(&missing_dir, "404 listing");
    assert!(
        missing_dir.text().contains("/nope/"),
        "{}",
        missing_dir.text()
    );

    let conflict = send(
        client()
            .put(s.url("/k.txt"))
            .header("Accept", BROWSER)
            .body("v2"),
    );
    assert_eq!(conflict.status, 409);
    assert_strict_html(&conflict, "409");
    assert!(conflict.text().contains("/k.txt"), "{}", conflict.text());

    let retained = send(client().delete(s.url("/kept/x")).header("Accept", BROWSER));
    assert_eq!(retained.status, 403);
    assert_strict_html(&retained, "403");

    let bad = raw(s.addr, "GET", "/a/../b", &[("Accept", BROWSER)], b"");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("'..'"), "{}", bad.text());
    assert!(
        bad.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        bad.header("content-type")
    );

    let not_allowed = send(client().put(s.url("/")).header("Accept", BROWSER).body("x"));
    assert_eq!(not_allowed.status, 405);
    assert_strict_html(&not_allowed, "405");
    assert!(not_allowed.header("allow").is_some());

    // HEAD: the same status and headers, no body.
    let head = browse(&s, reqwest::Method::HEAD, "/missing");
    assert_eq!(head.status, 404);
    assert!(head.body.is_empty());
}

#[test]
fn errors_stay_plain_text_for_programs() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("k.txt", b"v1".to_vec()).status, 201);
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = client().get(s.url("/missing.txt"));
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let r = send(req);
        assert_eq!(r.status, 404);
        assert_eq!(content_type(&r), "text/plain", "Accept {accept:?}");
        assert!(
            r.text().contains("/missing.txt"),
            "says which key: {}",
            r.text()
        );
        assert_eq!(r.text().lines().count(), 1, "one line: {:?}", r.text());
    }
    let conflict = s.put("k.txt", b"v2".to_vec());
    assert_eq!(conflict.status, 409);
    assert_eq!(content_type(&conflict), "text/plain");
    let bad = raw(s.addr, "GET", "/a/../b", &[], b"");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.text(), "key contains a '.' or '..' segment\n");
}
