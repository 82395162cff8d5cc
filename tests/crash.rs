//! kill -9 while writers are busy: every acknowledged object survives with
//! its exact bytes, nothing partial is ever visible, and temp files left by
//! the crash are removed when a new process starts.
//!
//! Bodies are self-verifying (32-byte SHA-256 of the rest, then the rest),
//! so a file that exists without an acknowledgement can still be checked for
//! completeness.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;

const WRITERS: u64 = 8;
const ACKS_BEFORE_KILL: usize = 200;

/// key -> tags of every body sent for it.
type Attempted = Arc<Mutex<HashMap<String, HashSet<[u8; 32]>>>>;

fn self_verifying_body(rng: &mut Rng, min: usize, max: usize) -> Vec<u8> {
    // Log-uniform size: many small objects, some large ones.
    let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
    let u = rng.next_u64() as f64 / u64::MAX as f64;
    let size = (lo + u * (hi - lo)).exp() as usize;
    let rest = rng.bytes(size.max(33) - 32);
    let mut body = sha256(&rest).to_vec();
    body.extend_from_slice(&rest);
    body
}

fn verifies(data: &[u8]) -> bool {
    data.len() >= 32 && sha256(&data[32..])[..] == data[..32]
}

/// The first 32 bytes of a self-verifying body: the SHA-256 of the rest,
/// so a file that verifies and carries this tag holds exactly that body.
fn tag(body: &[u8]) -> [u8; 32] {
    body[..32].try_into().unwrap()
}

/// Reads every regular file outside `.putfs/` once; returns the tag of each
/// complete one by key, and asserts none is partial or corrupt.
fn scan_objects(root: &Path) -> HashMap<String, ([u8; 32], u64)> {
    let mut complete = HashMap::new();
    let mut bad = Vec::new();
    for rel in user_entries(root) {
        let path = root.join(&rel);
        if !std::fs::symlink_metadata(&path).unwrap().is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        if verifies(&data) {
            let key = rel.to_str().unwrap().to_string();
            complete.insert(key, (tag(&data), data.len() as u64));
        } else {
            bad.push(format!("{} ({} bytes)", rel.display(), data.len()));
        }
    }
    assert!(
        bad.is_empty(),
        "partial or corrupt objects after the crash: {bad:?}"
    );
    complete
}

/// One acknowledged PUT.
#[derive(Clone)]
struct Ack {
    key: String,
    tag: [u8; 32],
    len: u64,
    repr_digest: Option<String>,
}

#[test]
fn kill9_during_writes_keeps_every_acknowledged_object() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &[]);
    let url_base = s.url("/");
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let unexpected: Arc<Mutex<Vec<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let seed = Rng::from_time().next_u64();

    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (acked, unexpected, count) = (acked.clone(), unexpected.clone(), count.clone());
            let url_base = url_base.clone();
            thread::spawn(move || {
                let c = client();
                let mut rng = Rng::new(seed ^ t.wrapping_mul(0x1234_5678_9abc));
                // Bounded: the kill comes long before this.
                for n in 0..10_000u64 {
                    let body = self_verifying_body(&mut rng, 1024, 2 * 1024 * 1024);
                    let key = format!("w{t}/d{}/o{n}.bin", n % 5);
                    let (tag, len) = (tag(&body), body.len() as u64);
                    match c.put(format!("{url_base}{key}")).body(body).send() {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let repr_digest = r
                                .headers()
                                .get("repr-digest")
                                .map(|v| v.to_str().unwrap().to_string());
                            acked.lock().unwrap().push(Ack {
                                key,
                                tag,
                                len,
                                repr_digest,
                            });
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => unexpected
                            .lock()
                            .unwrap()
                            .push(format!("PUT {key}: {}", r.status())),
                        // The server is gone (killed, or crashed: the
                        // count check below tells which).
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();

    let reached = wait_until(Duration::from_secs(240), || {
        count.load(Ordering::SeqCst) >= ACKS_BEFORE_KILL
    });
    assert!(
        reached,
        "only {} acknowledged writes before the deadline",
        count.load(Ordering::SeqCst)
    );
    s.kill9();
    for w in writers {
        w.join().unwrap();
    }
    let unexpected = unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");

    s.restart();
    assert_no_temp_files(dir.path());
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKS_BEFORE_KILL);

    let on_disk = scan_objects(dir.path());
    let missing: Vec<&str> = acked
        .iter()
        .filter(|a| on_disk.get(&a.key) != Some(&(a.tag, a.len)))
        .map(|a| a.key.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged objects lost or changed: {missing:?}"
    );

    // And the new process serves them, with the digest it acknowledged.
    for a in &acked {
        let g = s.get(&a.key);
        assert_eq!(g.status, 200, "GET {}", a.key);
        assert!(
            g.body.len() as u64 == a.len && tag(&g.body) == a.tag,
            "GET {} returned other bytes",
            a.key
        );
        if let (Some(now), Some(then)) = (g.header("repr-digest"), &a.repr_digest) {
            assert_eq!(&now, then, "Repr-Digest of {}", a.key);
        }
    }
}

#[test]
fn kill9_during_replacements_of_mutable_keys_leaves_whole_bodies() {
    let dir = tempdir();
    let mut s = Server::start(dir.path(), &["--mutable", "m/**"]);
    let url_base = s.url("/");
    let attempted: Attempted = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let seed = Rng::from_time().next_u64();

    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let (attempted, count) = (attempted.clone(), count.clone());
            let url_base = url_base.clone();
            thread::spawn(move || {
                let c = client();
                let mut rng = Rng::new(seed.wrapping_add(t));
                for n in 0..10_000u64 {
                    let key = format!("m/k{}", n % 3);
                    let body = self_verifying_body(&mut rng, 1024, 512 * 1024);
                    attempted
                        .lock()
                        .unwrap()
                        .entry(key.clone())
                        .or_default()
                        .insert(tag(&body));
                    match c.put(format!("{url_base}{key}")).body(body).send() {
                        Ok(r) if r.status().as_u16() == 201 => {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => panic!("PUT {key}: {}", r.status()),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let reached = wait_until(Duration::from_secs(240), || {
        count.load(Ordering::SeqCst) >= 100
    });
    assert!(
        reached,
        "only {} replacements acknowledged",
        count.load(Ordering::SeqCst)
    );
    s.kill9();
    for w in writers {
        w.join().unwrap();
    }
    s.restart();
    assert_no_temp_files(dir.path());
    let on_disk = scan_objects(dir.path());
    let attempted = attempted.lock().unwrap().clone();
    for (key, tags) in &attempted {
        let (tag, _) = on_disk.get(key).expect("a replaced key vanished");
        assert!(tags.contains(tag), "{key} holds bytes nobody sent");
    }
}

#[test]
fn orphaned_temp_files_are_removed_at_start() {
    let dir = tempdir();
    let root = dir.path();
    std::fs::create_dir_all(root.join("x/y")).unwrap();
    std::fs::write(root.join("x/.putfs-tmp.orphan"), b"partial").unwrap();
    std::fs::write(root.join("x/y/.putfs-tmp.abc123"), b"partial").unwrap();
    std::fs::write(root.join(".putfs-tmp.top"), b"partial").unwrap();
    std::fs::write(root.join("x/keep.txt"), b"keep me").unwrap();
    std::fs::write(root.join("x/y/putfs-tmp-lookalike"), b"not ours").unwrap();

    let s = Server::start(root, &[]);
    assert_no_temp_files(root);
    assert_eq!(std::fs::read(root.join("x/keep.txt")).unwrap(), b"keep me");
    assert!(
        root.join("x/y/putfs-tmp-lookalike").is_file(),
        "cleanup removed a user file"
    );
    assert_eq!(s.get("x/keep.txt").body, b"keep me");
}
