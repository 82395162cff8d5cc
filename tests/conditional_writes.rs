//! `If-Match`, `If-None-Match` and `If-Unmodified-Since` on PUT and DELETE:
//! evaluated against the object's current ETag (RFC 9110 §13.1) and acted on
//! atomically with the publish or unlink, so racing compare-and-swaps have
//! exactly one winner.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;

fn put_h(server: &Server, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Resp {
    let mut req = client().put(server.url(path)).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

fn delete_h(server: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = client().delete(server.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

fn etag(r: &Resp) -> String {
    r.header("etag").expect("an ETag")
}

fn mutable_server(dir: &tempfile::TempDir) -> Server {
    Server::start(dir.path(), &["--mutable", "m/**"])
}

#[test]
fn put_with_a_wrong_if_match_is_412_and_changes_nothing() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    let v1 = s.put("m/doc", b"one".to_vec());
    assert_eq!(v1.status, 201);
    let r = put_h(&s, "m/doc", b"two", &[("If-Match", "\"not-the-etag\"")]);
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(s.get("m/doc").body, b"one");
    // A weak tag never matches If-Match (strong comparison).
    let weak = format!("W/{}", etag(&v1));
    assert_eq!(
        put_h(&s, "m/doc", b"two", &[("If-Match", &weak)]).status,
        412
    );
    assert_eq!(s.get("m/doc").body, b"one");
    assert_no_temp_files(dir.path());
}

#[test]
fn put_with_the_current_etag_replaces() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    let v1 = s.put("m/doc", b"one".to_vec());
    let r = put_h(&s, "m/doc", b"two", &[("If-Match", &etag(&v1))]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.get("m/doc").body, b"two");
    // The old ETag no longer matches.
    assert_eq!(
        put_h(&s, "m/doc", b"three", &[("If-Match", &etag(&v1))]).status,
        412
    );
    assert_eq!(s.get("m/doc").body, b"two");
    // A list with the current tag in it matches.
    let list = format!("\"x\", {}", etag(&r));
    assert_eq!(
        put_h(&s, "m/doc", b"four", &[("If-Match", &list)]).status,
        201
    );
}

#[test]
fn if_match_on_a_missing_key_is_412_and_creates_nothing() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    for tag in ["*", "\"abc\""] {
        let r = put_h(&s, "m/new/doc", b"x", &[("If-Match", tag)]);
        assert_eq!(r.status, 412, "If-Match: {tag}: {}", r.text());
        assert_eq!(s.get("m/new/doc").status, 404);
    }
    assert!(
        user_entries(dir.path()).is_empty(),
        "{:?}",
        user_entries(dir.path())
    );
}

#[test]
fn if_none_match_with_the_current_etag_is_412() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    let v1 = s.put("m/doc", b"one".to_vec());
    let r = put_h(&s, "m/doc", b"two", &[("If-None-Match", &etag(&v1))]);
    assert_eq!(r.status, 412);
    assert_eq!(s.get("m/doc").body, b"one");
    let r = put_h(&s, "m/doc", b"two", &[("If-None-Match", "\"other\"")]);
    assert_eq!(r.status, 201);
    assert_eq!(s.get("m/doc").body, b"two");
}

#[test]
fn if_unmodified_since_in_the_past_is_412() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    s.put("m/doc", b"one".to_vec());
    let past = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        put_h(&s, "m/doc", b"two", &[("If-Unmodified-Since", past)]).status,
        412
    );
    assert_eq!(
        delete_h(&s, "m/doc", &[("If-Unmodified-Since", past)]).status,
        412
    );
    assert_eq!(s.get("m/doc").body, b"one");
}

#[test]
fn if_match_on_a_write_once_key_follows_the_policy() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let v1 = s.put("k", b"one".to_vec());
    let tag = etag(&v1);
    assert_eq!(put_h(&s, "k", b"one", &[("If-Match", &tag)]).status, 204);
    assert_eq!(put_h(&s, "k", b"two", &[("If-Match", &tag)]).status, 409);
    assert_eq!(put_h(&s, "k", b"one", &[("If-Match", "\"x\"")]).status, 412);
    assert_eq!(s.get("k").body, b"one");
}

#[test]
fn delete_with_a_wrong_if_match_is_412_and_keeps_the_object() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let v1 = s.put("a/k", b"one".to_vec());
    let r = delete_h(&s, "a/k", &[("If-Match", "\"not-the-etag\"")]);
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(s.get("a/k").body, b"one");
    assert_eq!(
        delete_h(&s, "a/k", &[("If-None-Match", &etag(&v1))]).status,
        412
    );
    assert_eq!(s.get("a/k").body, b"one");
    assert_eq!(delete_h(&s, "a/k", &[("If-Match", &etag(&v1))]).status, 204);
    assert_eq!(s.get("a/k").status, 404);
    // Gone: without its conditions this DELETE would be a 404, and RFC 9110
    // §13.2.1 says conditions are then ignored.
    assert_eq!(delete_h(&s, "a/k", &[("If-Match", "*")]).status, 404);
}

/// Many clients read the same ETag and race to replace the object with it:
/// a check-then-act server lets several through; compare-and-swap lets one.
#[test]
fn racing_compare_and_swaps_have_exactly_one_winner() {
    let dir = tempdir();
    let s = Arc::new(mutable_server(&dir));
    const RACERS: usize = 12;
    for round in 0..6 {
        // Bodies past the small-body path too: the check then happens after
        // the body has streamed in, just before the publish.
        let size = if round % 2 == 0 { 100 } else { 300 * 1024 };
        let base = s.put("m/counter", vec![b'0'; size]);
        assert_eq!(base.status, 201);
        let tag = etag(&base);
        let barrier = Arc::new(Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|i| {
                let (s, barrier, tag) = (s.clone(), barrier.clone(), tag.clone());
                thread::spawn(move || {
                    let body = vec![b'a' + i as u8; size];
                    barrier.wait();
                    (
                        i,
                        put_h(&s, "m/counter", &body, &[("If-Match", &tag)]).status,
                    )
                })
            })
            .collect();
        let results: Vec<(usize, u16)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<usize> = results
            .iter()
            .filter(|(_, st)| *st == 201)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results.iter().all(|(_, st)| *st == 201 || *st == 412),
            "round {round}: {results:?}"
        );
        let stored = s.get("m/counter").body;
        assert_eq!(
            stored,
            vec![b'a' + winners[0] as u8; size],
            "the winner's bytes"
        );
    }
    assert_no_temp_files(dir.path());
}

/// Conditional DELETEs racing a conditional replace of the same version:
/// either the replace wins (and every delete is 412) or one delete wins
/// (and the replace is 412, leaving nothing).
#[test]
fn a_conditional_delete_and_replace_never_both_win() {
    let dir = tempdir();
    let s = Arc::new(mutable_server(&dir));
    for round in 0..10 {
        let tag = etag(&s.put("m/x", format!("v{round}").into_bytes()));
        let barrier = Arc::new(Barrier::new(4));
        let mut handles = Vec::new();
        for i in 0..4 {
            let (s, barrier, tag) = (s.clone(), barrier.clone(), tag.clone());
            handles.push(thread::spawn(move || {
                barrier.wait();
                if i == 0 {
                    (
                        "put",
                        put_h(&s, "m/x", b"new", &[("If-Match", &tag)]).status,
                    )
                } else {
                    ("delete", delete_h(&s, "m/x", &[("If-Match", &tag)]).status)
                }
            }));
        }
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results
            .iter()
            .filter(|(_, st)| *st == 201 || *st == 204)
            .count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        let put_won = results.contains(&("put", 201));
        let now = s.get("m/x");
        if put_won {
            assert_eq!(now.body, b"new", "round {round}");
        } else {
            assert_eq!(now.status, 404, "round {round}");
        }
    }
}

#[test]
fn delete_with_if_none_match_star_keeps_an_existing_object() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    s.put("k", b"x".to_vec());
    assert_eq!(delete_h(&s, "k", &[("If-None-Match", "*")]).status, 412);
    assert_eq!(s.get("k").body, b"x");
}

#[test]
fn a_conditional_delete_of_a_missing_key_is_404() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    // The directory stays (a sibling lives there): only the key is missing.
    s.put("a/sibling", b"x".to_vec());
    for (h, v) in [("If-Match", "*"), ("If-Match", "\"abc\"")] {
        assert_eq!(delete_h(&s, "a/missing", &[(h, v)]).status, 404, "{h}: {v}");
    }
}

#[test]
fn malformed_conditions_on_writes_are_400() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    s.put("m/doc", b"one".to_vec());
    for (h, v) in [
        ("If-Match", "not-a-tag"),
        ("If-None-Match", "*, \"x\""),
        ("If-Match", "\"a\", b"),
    ] {
        assert_eq!(
            put_h(&s, "m/doc", b"two", &[(h, v)]).status,
            400,
            "PUT {h}: {v}"
        );
        assert_eq!(
            delete_h(&s, "m/doc", &[(h, v)]).status,
            400,
            "DELETE {h}: {v}"
        );
    }
    assert_eq!(s.get("m/doc").body, b"one");
}

/// rsync -a, zfs recv and touch can give an object any mtime; one outside
/// what an HTTP date can say must not take the server (or the key's lock)
/// down.
#[test]
fn an_object_with_an_mtime_before_1970_is_served_and_conditions_work() {
    let dir = tempdir();
    let s = mutable_server(&dir);
    s.put("m/old", b"one".to_vec());
    let st = std::process::Command::new("touch")
        .args(["-d", "1960-01-01"])
        .arg(dir.path().join("m/old"))
        .status()
        .unwrap();
    assert!(st.success());
    let g = s.get("m/old");
    assert_eq!(g.status, 200);
    assert_eq!(
        g.header("last-modified").as_deref(),
        Some("Thu, 01 Jan 1970 00:00:00 GMT")
    );
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    assert_eq!(
        put_h(&s, "m/old", b"two", &[("If-Unmodified-Since", date)]).status,
        201
    );
    assert_eq!(
        delete_h(&s, "m/old", &[("If-Unmodified-Since", date)]).status,
        412
    );
    // The key still takes writes.
    assert_eq!(s.put("m/old", b"three".to_vec()).status, 201);
    assert_eq!(s.delete("m/old").status, 204);
}
