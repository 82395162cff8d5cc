//! Signed forwarding: a primary and its replicas share
//! `--forward-secret-file`; a replica signs every write it forwards, and the
//! primary refuses a signed write whose signature is wrong, stale or
//! replayed, or whose body is not the one signed.
//!
//! Requests crafted here sign the canonical string with `hmac` directly, as
//! the README documents it, so the tests hold the server to that format.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use hmac::{KeyInit, Mac};

const SECRET: &str = "dGhlIHNlY3JldCB0aGUgbm9kZXMgb2YgdGhpcyB0ZXN0IHNoYXJl";
const OTHER_SECRET: &str = "YW5vdGhlciBzZWNyZXQsIGp1c3QgYXMgbG9uZyBhcyB0aGUgZmlyc3Q";
const HEADER: &str = "PutFS-Forwarded-Signature";
const REJECTED: &str = "putfs_forward_signature_rejected_total";

/// A secret file as an operator writes it: a trailing newline, mode 600.
fn secret_file(dir: &Path, secret: &str) -> PathBuf {
    let p = dir.join(format!("forward-{}.secret", &secret[..8]));
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

struct Nodes {
    primary: Server,
    replica: Server,
    _dirs: [tempfile::TempDir; 3],
}

/// A primary with `SECRET` (and `primary_args`) and a forwarding replica
/// with `replica_secret` (none: no secret at all) and `replica_args`.
fn nodes(primary_args: &[&str], replica_secret: Option<&str>, replica_args: &[&str]) -> Nodes {
    let (secrets, p, r) = (tempdir(), tempdir(), tempdir());
    let primary_secret = secret_file(secrets.path(), SECRET);
    let mut args = vec!["--forward-secret-file", primary_secret.to_str().unwrap()];
    args.extend_from_slice(primary_args);
    let primary = Server::start(p.path(), &args);
    let target = format!("http://{}", primary.addr);
    let replica_secret = replica_secret.map(|s| secret_file(secrets.path(), s));
    let mut args = vec!["--read-only", "--forward-writes-to", &target];
    if let Some(s) = &replica_secret {
        args.extend(["--forward-secret-file", s.to_str().unwrap()]);
    }
    args.extend_from_slice(replica_args);
    let replica = Server::start(r.path(), &args);
    Nodes {
        primary,
        replica,
        _dirs: [secrets, p, r],
    }
}

fn primary_alone() -> (Server, [tempfile::TempDir; 2]) {
    let (secrets, p) = (tempdir(), tempdir());
    let secret = secret_file(secrets.path(), SECRET);
    let primary = Server::start(
        p.path(),
        &["--forward-secret-file", secret.to_str().unwrap()],
    );
    (primary, [secrets, p])
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The header value a replica holding `secret` would send.
fn signature(secret: &str, method: &str, path: &str, t: i64, nonce: u8, sha: &[u8; 32]) -> String {
    let nonce = b64(&[nonce; 16]);
    let canonical = format!(
        "putfs-forward-v1\n{method}\n{path}\n{t}\n{nonce}\n{}",
        hex::encode(sha)
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    let sig = b64(&mac.finalize().into_bytes());
    format!("t={t}, n=:{nonce}:, sig=:{sig}:")
}

/// A PUT as a replica forwards it: `body`, with `Repr-Digest` of `digest_of`
/// and `sig` (omitted when `None`).
fn put(server: &Server, path: &str, body: &[u8], digest_of: &[u8], sig: Option<&str>) -> Resp {
    let mut req = client()
        .put(server.url(path))
        .header("Repr-Digest", repr_digest_sha256(digest_of))
        .body(body.to_vec());
    if let Some(s) = sig {
        req = req.header(HEADER, s);
    }
    send(req)
}

fn delete(server: &Server, path: &str, sig: &str) -> Resp {
    send(client().delete(server.url(path)).header(HEADER, sig))
}

fn rejected(server: &Server, reason: &str) -> f64 {
    let m = server.get("/.putfs/metrics").text();
    metric_value(&m, REJECTED, &[("reason", reason)])
}

fn empty_sha256() -> [u8; 32] {
    sha256(b"")
}

#[test]
fn writes_through_a_replica_with_the_secret_land_on_the_primary() {
    let n = nodes(&[], Some(SECRET), &[]);
    let on_primary = |k: &str| std::fs::read(n.primary.root().join(k)).ok();

    // No digest from the client: the replica spools the body to sign it.
    // Past 64 KiB, so the primary streams it too.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let r = n.replica.put("signed/spooled.bin", big.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(on_primary("signed/spooled.bin"), Some(big.clone()));
    assert_eq!(r.header("repr-digest"), Some(repr_digest_sha256(&big)));
    // Chunked, no Content-Length.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(b"chunked".to_vec()));
    let r = send(client().put(n.replica.url("signed/chunked.txt")).body(body));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        on_primary("signed/chunked.txt").as_deref(),
        Some(&b"chunked"[..])
    );
    // With the client's digest the body streams through, signed by it.
    let r = put(
        &n.replica,
        "signed/streamed.txt",
        b"streamed",
        b"streamed",
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        on_primary("signed/streamed.txt").as_deref(),
        Some(&b"streamed"[..])
    );
    // The primary's answers come back: identical bytes again are a 204.
    assert_eq!(n.replica.put("signed/spooled.bin", big).status, 204);
    // A key whose path needs percent-encoding.
    let r = n.replica.put("signed/a%20b%25.txt", b"odd".to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(n.primary.root().join("signed/a b%.txt").exists());

    let r = n.replica.delete("signed/streamed.txt");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(on_primary("signed/streamed.txt"), None);
    assert!(
        !n.replica.root().join("signed").exists(),
        "the replica wrote"
    );

    // A client writing to the primary directly needs no signature.
    assert_eq!(
        n.primary.put("signed/direct.txt", b"d".to_vec()).status,
        201
    );

    let m = n.primary.get("/.putfs/metrics").text();
    assert!(has_metric(&m, REJECTED));
    assert_eq!(metric_value(&m, REJECTED, &[]), 0.0, "{m}");
    for server in [&n.primary, &n.replica] {
        assert!(!server.logs().contains(SECRET), "the secret was logged");
    }
    assert!(!n.replica.logs().contains("unauthenticated"));
}

#[test]
fn a_replica_with_another_secret_is_refused() {
    let n = nodes(&[], Some(OTHER_SECRET), &[]);
    let r = n.replica.put("wrong/a.txt", b"a".to_vec());
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("signature"), "{}", r.text());
    assert!(!n.primary.root().join("wrong").exists());

    assert_eq!(n.primary.put("wrong/kept.txt", b"k".to_vec()).status, 201);
    let r = n.replica.delete("wrong/kept.txt");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(n.primary.root().join("wrong/kept.txt").exists());
    assert_eq!(rejected(&n.primary, "invalid"), 2.0);
}

#[test]
fn a_missing_or_malformed_signature_is_refused() {
    let (primary, _dirs) = primary_alone();
    let sig = signature(SECRET, "PUT", "/m/a.txt", unix_now(), 1, &sha256(b"a"));
    let without_sig = sig.split(", sig=").next().unwrap().to_owned();
    for bad in [without_sig.as_str(), "", "t=1, n=:AAAA:, sig=:AAAA:"] {
        let r = put(&primary, "m/a.txt", b"a", b"a", Some(bad));
        assert_eq!(r.status, 403, "{bad:?}: {}", r.text());
    }
    // A signed PUT must name the digest it signs.
    let r = send(
        client()
            .put(primary.url("m/a.txt"))
            .header(HEADER, &sig)
            .body(b"a".to_vec()),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!primary.root().join("m").exists());
    assert_eq!(rejected(&primary, "malformed"), 4.0);
    // The same signature, well formed, is accepted (what was crafted above
    // is right but for the part removed).
    assert_eq!(put(&primary, "m/a.txt", b"a", b"a", Some(&sig)).status, 201);
}

#[test]
fn a_replica_without_a_secret_warns_that_forwarding_is_unauthenticated() {
    let n = nodes(&[], None, &[]);
    // Logs reach stderr through a background writer: poll for the line.
    assert!(
        wait_until(Duration::from_secs(10), || n
            .replica
            .logs()
            .contains("unauthenticated")),
        "{}",
        n.replica.logs()
    );
    // Its writes reach the primary as a client's own.
    assert_eq!(n.replica.put("plain/a.txt", b"a".to_vec()).status, 201);
}

#[test]
fn a_stale_signature_is_refused() {
    let (primary, _dirs) = primary_alone();
    let sha = sha256(b"late");
    for (t, nonce) in [(unix_now() - 120, 1), (unix_now() + 120, 2)] {
        let sig = signature(SECRET, "PUT", "/stale/a.txt", t, nonce, &sha);
        let r = put(&primary, "stale/a.txt", b"late", b"late", Some(&sig));
        assert_eq!(r.status, 403, "t={t}: {}", r.text());
        assert!(r.text().contains("clocks"), "{}", r.text());
    }
    assert!(!primary.root().join("stale").exists());
    assert_eq!(rejected(&primary, "stale"), 2.0);
    // Signed now, the same request is accepted.
    let sig = signature(SECRET, "PUT", "/stale/a.txt", unix_now(), 3, &sha);
    let r = put(&primary, "stale/a.txt", b"late", b"late", Some(&sig));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn a_replayed_signature_is_refused() {
    let (primary, _dirs) = primary_alone();
    assert_eq!(primary.put("replay/a.txt", b"v1".to_vec()).status, 201);
    let sig = signature(
        SECRET,
        "DELETE",
        "/replay/a.txt",
        unix_now(),
        1,
        &empty_sha256(),
    );
    let r = delete(&primary, "replay/a.txt", &sig);
    assert_eq!(r.status, 204, "{}", r.text());
    // The key is written again; the captured DELETE, sent once more, must
    // not remove it.
    assert_eq!(primary.put("replay/a.txt", b"v2".to_vec()).status, 201);
    let r = delete(&primary, "replay/a.txt", &sig);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        std::fs::read(primary.root().join("replay/a.txt")).unwrap(),
        b"v2"
    );
    assert_eq!(rejected(&primary, "replayed"), 1.0);
    // The same DELETE signed with another nonce is a new request.
    let sig = signature(
        SECRET,
        "DELETE",
        "/replay/a.txt",
        unix_now(),
        2,
        &empty_sha256(),
    );
    assert_eq!(delete(&primary, "replay/a.txt", &sig).status, 204);
}

#[test]
fn a_body_swapped_after_signing_is_refused_before_publishing() {
    let (primary, _dirs) = primary_alone();
    let sig = signature(
        SECRET,
        "PUT",
        "/swap/a.txt",
        unix_now(),
        1,
        &sha256(b"signed"),
    );
    // The signed digest with another body: the digest check fails (422, as
    // for any body that does not match its digest) and nothing is written.
    let r = put(&primary, "swap/a.txt", b"swapped", b"signed", Some(&sig));
    assert_eq!(r.status, 422, "{}", r.text());
    // The digest swapped along with the body: the signature fails. (A
    // fresh nonce: the signature above was used, and would be a replay.)
    let sig = signature(
        SECRET,
        "PUT",
        "/swap/a.txt",
        unix_now(),
        2,
        &sha256(b"signed"),
    );
    let r = put(&primary, "swap/a.txt", b"swapped", b"swapped", Some(&sig));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!primary.root().join("swap/a.txt").exists());
    assert_no_temp_files(primary.root());
    assert_eq!(rejected(&primary, "invalid"), 1.0);
    // Over 64 KiB the body is streamed: the same holds.
    let big = vec![b's'; 100_000];
    let mut swapped = big.clone();
    swapped[99_999] = b'x';
    let sig = signature(SECRET, "PUT", "/swap/big.bin", unix_now(), 3, &sha256(&big));
    let r = put(&primary, "swap/big.bin", &swapped, &big, Some(&sig));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(!primary.root().join("swap/big.bin").exists());
    assert_no_temp_files(primary.root());
}

#[test]
fn the_secret_file_must_be_private_and_long_enough() {
    let dir = tempdir();
    let root = tempdir();
    let public = dir.path().join("public.secret");
    std::fs::write(&public, SECRET).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    let short = dir.path().join("short.secret");
    std::fs::write(&short, "too short\n").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let missing = dir.path().join("missing.secret");
    for (path, says) in [
        (&public, "chmod 600"),
        (&short, "fewer than the 32"),
        (&missing, "cannot be read"),
    ] {
        let p = path.to_str().unwrap();
        for extra in [
            &[][..],
            &["--read-only", "--forward-writes-to", "http://127.0.0.1:9"],
        ] {
            let mut args = vec!["--forward-secret-file", p];
            args.extend_from_slice(extra);
            let err = match Server::try_start(root.path(), &args) {
                Ok(_) => panic!("started with {p}"),
                Err(e) => e,
            };
            assert!(err.contains(says) && err.contains(p), "{says:?}:\n{err}");
            assert!(!err.contains(SECRET), "the secret was printed");
        }
    }
}

#[test]
fn the_primary_write_token_still_applies_to_forwarded_writes() {
    let n = nodes(&["--write-token", "tok"], Some(SECRET), &[]);
    let r = n.replica.put("tok/a.txt", b"a".to_vec());
    assert_eq!(r.status, 401, "{}", r.text());
    let with = |token: &str| {
        send(
            client()
                .put(n.replica.url("tok/a.txt"))
                .bearer_auth(token)
                .body(b"a".to_vec()),
        )
    };
    assert_eq!(with("wrong").status, 401);
    assert!(!n.primary.root().join("tok").exists());
    let r = with("tok");
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(client().delete(n.replica.url("tok/a.txt")));
    assert_eq!(r.status, 401, "{}", r.text());
    let r = send(
        client()
            .delete(n.replica.url("tok/a.txt"))
            .bearer_auth("tok"),
    );
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn a_signing_replica_spools_a_bounded_body() {
    let n = nodes(&[], Some(SECRET), &["--max-forward-spool-bytes", "1000"]);
    let body = vec![b'b'; 2000];
    let r = n.replica.put("spool/a.bin", body.clone());
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("Repr-Digest"), "{}", r.text());
    // Without a Content-Length, the bound is found while spooling.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(body.clone()));
    let r = send(client().put(n.replica.url("spool/a.bin")).body(chunked));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(!n.primary.root().join("spool").exists());
    // With the client's digest nothing is spooled.
    let r = put(&n.replica, "spool/a.bin", &body, &body, None);
    assert_eq!(r.status, 201, "{}", r.text());
}
