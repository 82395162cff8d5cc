//! Power cuts, not kills: putfs runs on the crash-model filesystem
//! (`crates/crashfs`), which keeps apart what processes see and what would
//! survive a power cut under POSIX's strictest reading (file data only up
//! to its last fsync, a directory entry only once its directory has been
//! fsynced since). Writers PUT new keys in new nested directories, replace
//! mutable keys, re-PUT identical bytes and DELETE while the power is cut
//! at a random moment; putfs then starts on the durable image alone, and
//! every acknowledged change must be there: each 201/204 object with its
//! exact bytes and stored digest, each 204 DELETE gone, nothing partial or
//! temporary visible, and listings naming exactly the objects on disk.
//!
//! The checker is shown to see: the same runs with `--fsync never`, with
//! directory fsyncs switched off, and with the fsyncs of new directories'
//! parents switched off (fault switches of test builds, `PUTFS_FAULT`)
//! must each lose acknowledged objects.
//!
//! Seeds are fixed; the interleaving of the writers is not, so each seed
//! cuts at a different point of a different interleaving every run.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::*;
use crashfs::CrashFs;

const WRITERS: u64 = 6;
/// Keys replaced by each writer (`m/w<n>/k<j>`).
const MUTABLE_KEYS: u64 = 3;
const MUTABLE_GLOB: &str = "m/**";

// ---------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------

/// A body whose first 32 bytes are the SHA-256 of the rest, so a file found
/// on disk can be checked for completeness without knowing who wrote it.
fn body(rng: &mut Rng) -> Vec<u8> {
    // Mostly small (the one-call path), some past 64 KiB (the streamed one).
    let size = match rng.range(0, 9) {
        0 => rng.range(64 * 1024, 300 * 1024),
        _ => rng.range(40, 6000),
    } as usize;
    let rest = rng.bytes(size - 32);
    let mut b = sha256(&rest).to_vec();
    b.extend_from_slice(&rest);
    b
}

fn complete(data: &[u8]) -> bool {
    data.len() >= 32 && sha256(&data[32..])[..] == data[..32]
}

/// What one writer did to the keys it alone touches.
#[derive(Default)]
struct Journal {
    /// Every body ever sent for a key, by SHA-256 of the whole body, in order.
    sent: HashMap<String, Vec<[u8; 32]>>,
    /// Keys whose last acknowledged change must be visible: the body and the
    /// ETag the acknowledgement carried, or `None` for an acknowledged DELETE.
    must: HashMap<String, Option<([u8; 32], String)>>,
    /// Mutable keys: index into `sent` of the last acknowledged version.
    last_acked_version: HashMap<String, usize>,
    /// Keys with a change sent whose fate is unknown (no answer, or an error
    /// after the cut), and whether it was a DELETE: either outcome is right.
    in_doubt: HashMap<String, Doubt>,
    acks: usize,
    unexpected: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doubt {
    Put,
    Delete,
}

struct Run<'a> {
    base: String,
    stop: &'a AtomicBool,
    /// Set just before the power is cut: only from then on may the server
    /// fail (a 5xx before it is a bug the checker must report).
    cutting: &'a AtomicBool,
    acks: &'a AtomicUsize,
}

/// Writer `w` of server process number `life`. All writers create and
/// delete keys in the same few directories (so a DELETE's pruning races
/// other PUTs' creations), replace mutable keys of their own, re-PUT their
/// own objects, and, paired with writer `w ^ 1`, PUT the same "twin" keys
/// with the same bytes: one of the two gets 201, the other 204, often for an
/// object the first has published but not yet made durable. A later
/// process's writers work in the same directories on keys of their own.
fn writer(run: &Run, w: u64, life: u64, seed: u64) -> Journal {
    let c = client();
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(w + 100 * life));
    let pair = w / 2;
    let mut twins = Rng::new(seed.wrapping_mul(0x51_7CC1).wrapping_add(pair + 100 * life));
    let mut twin = 0u64;
    let mut j = Journal::default();
    // Keys created and not deleted, with their bytes (to send them again).
    let mut live: Vec<(String, Vec<u8>)> = Vec::new();
    let mut n = 0u64;
    while !run.stop.load(Ordering::SeqCst) {
        n += 1;
        let roll = rng.range(0, 99);
        let (status, want): (_, &[u16]) = if roll < 40 || live.is_empty() {
            // A new key, often in a new (or just pruned) directory.
            let key = format!(
                "s/d{}/e{}/w{w}L{life}k{n}",
                rng.range(0, 5),
                rng.range(0, 2)
            );
            let b = body(&mut rng);
            let status = put(&c, run, &key, &b, &mut j);
            if status == Some(201) {
                live.push((key, b));
            }
            (status, &[201])
        } else if roll < 55 {
            twin += 1;
            let key = format!("t/p{pair}/d{}/L{life}k{twin}", twin % 4);
            let b = body(&mut twins);
            (put(&c, run, &key, &b, &mut j), &[201, 204])
        } else if roll < 68 {
            let key = format!("m/w{w}/L{life}k{}", rng.range(0, MUTABLE_KEYS - 1));
            let b = body(&mut rng);
            (put(&c, run, &key, &b, &mut j), &[201])
        } else if roll < 80 {
            // The same bytes again: 204, which promises what a 201 does.
            let (key, b) = &live[rng.range(0, live.len() as u64 - 1) as usize];
            (put(&c, run, key, b, &mut j), &[204])
        } else {
            let i = rng.range(0, live.len() as u64 - 1) as usize;
            let (key, _) = live.swap_remove(i);
            (delete(&c, run, &key, &mut j), &[204])
        };
        match status {
            // No answer: the cut or the kill came. Nothing is assumed.
            None => {}
            Some(s) if want.contains(&s) => {}
            Some(s) if s >= 500 && run.cutting.load(Ordering::SeqCst) => {}
            Some(s) => j.unexpected.push(format!("status {s}, expected {want:?}")),
        }
    }
    j
}

fn put(
    c: &reqwest::blocking::Client,
    run: &Run,
    key: &str,
    b: &[u8],
    j: &mut Journal,
) -> Option<u16> {
    let digest = sha256(b);
    let versions = j.sent.entry(key.to_owned()).or_default();
    if versions.last() != Some(&digest) {
        versions.push(digest);
    }
    let version = versions.len() - 1;
    j.in_doubt.insert(key.to_owned(), Doubt::Put);
    let r = c
        .put(format!("{}{key}", run.base))
        .body(b.to_vec())
        .send()
        .ok()?;
    let status = r.status().as_u16();
    if matches!(status, 201 | 204) {
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        j.in_doubt.remove(key);
        j.must.insert(key.to_owned(), Some((digest, etag)));
        if key.starts_with("m/") {
            j.last_acked_version.insert(key.to_owned(), version);
        }
        j.acks += 1;
        run.acks.fetch_add(1, Ordering::SeqCst);
    }
    Some(status)
}

fn delete(c: &reqwest::blocking::Client, run: &Run, key: &str, j: &mut Journal) -> Option<u16> {
    j.in_doubt.insert(key.to_owned(), Doubt::Delete);
    let r = c.delete(format!("{}{key}", run.base)).send().ok()?;
    let status = r.status().as_u16();
    if status == 204 {
        j.in_doubt.remove(key);
        j.must.insert(key.to_owned(), None);
        j.acks += 1;
        run.acks.fetch_add(1, Ordering::SeqCst);
    }
    Some(status)
}

// ---------------------------------------------------------------------------
// One power cut
// ---------------------------------------------------------------------------

struct Scenario {
    seed: u64,
    /// Extra `putfs serve` flags.
    args: &'static [&'static str],
    /// `PUTFS_FAULT` of the server under test.
    fault: Option<&'static str>,
    /// Kill the server (a process crash, not a power cut) after this many
    /// acknowledgements and go on with a new process on the same mount.
    kill_after: Option<usize>,
}

/// What the durable image holds against what was acknowledged.
#[derive(Debug, Default)]
struct Verdict {
    acks: usize,
    lost: Vec<String>,
    resurrected: Vec<String>,
    wrong: Vec<String>,
}

impl Verdict {
    fn clean(&self) -> bool {
        self.lost.is_empty() && self.resurrected.is_empty() && self.wrong.is_empty()
    }
}

fn run_scenario(sc: &Scenario) -> Verdict {
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    let image = tmp.path().join("image");
    std::fs::create_dir(&mnt).unwrap();
    let fs = CrashFs::mount(&mnt).expect("mount the crash-model filesystem");
    // The root does not exist yet: putfs creates and marks it, durably.
    let root = mnt.join("root");

    let mut rng = Rng::new(sc.seed);
    let cut_after = rng.range(40, 160) as usize;
    let mut args: Vec<&str> = vec!["--mutable", MUTABLE_GLOB, "--heartbeat-interval", "0s"];
    args.extend_from_slice(sc.args);
    let env: Vec<(&str, &str)> = sc.fault.iter().map(|f| ("PUTFS_FAULT", *f)).collect();
    let mut server = Server::start_with_env(&root, &args, &env);

    let stop = AtomicBool::new(false);
    let cutting = AtomicBool::new(false);
    let acks = AtomicUsize::new(0);
    let journals: Vec<Journal> = thread::scope(|scope| {
        let mut base = server.url("/");
        let mut handles = Vec::new();
        let spawn_writers = |base: &str, life: u64, handles: &mut Vec<_>| {
            for w in 0..WRITERS {
                let run = Run {
                    base: base.to_owned(),
                    stop: &stop,
                    cutting: &cutting,
                    acks: &acks,
                };
                let seed = sc.seed;
                handles.push(scope.spawn(move || writer(&run, w, life, seed)));
            }
        };
        spawn_writers(&base, 0, &mut handles);
        if let Some(k) = sc.kill_after {
            let reached = wait_until(Duration::from_secs(120), || {
                acks.load(Ordering::SeqCst) >= k
            });
            assert!(
                reached,
                "only {} acks before the kill",
                acks.load(Ordering::SeqCst)
            );
            // A process crash: the page cache keeps everything, but the new
            // process knows nothing of what the old one left unsynced.
            stop.store(true, Ordering::SeqCst);
            server.kill9();
            let mut first: Vec<Journal> = handles.drain(..).map(|h| h.join().unwrap()).collect();
            stop.store(false, Ordering::SeqCst);
            server.restart();
            base = server.url("/");
            spawn_writers(&base, 1, &mut handles);
            let more = cut_after + acks.load(Ordering::SeqCst);
            let reached = wait_until(Duration::from_secs(120), || {
                acks.load(Ordering::SeqCst) >= more
            });
            assert!(
                reached,
                "only {} acks before the cut",
                acks.load(Ordering::SeqCst)
            );
            cutting.store(true, Ordering::SeqCst);
            fs.cut(&image).expect("cut");
            stop.store(true, Ordering::SeqCst);
            first.extend(handles.drain(..).map(|h| h.join().unwrap()));
            return first;
        }
        let reached = wait_until(Duration::from_secs(120), || {
            acks.load(Ordering::SeqCst) >= cut_after
        });
        assert!(
            reached,
            "only {} acks before the cut",
            acks.load(Ordering::SeqCst)
        );
        cutting.store(true, Ordering::SeqCst);
        fs.cut(&image).expect("cut");
        stop.store(true, Ordering::SeqCst);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let logs = server.logs();
    server.kill9();
    let stats = fs.stats();
    fs.unmount().expect("unmount");

    let unexpected: Vec<&String> = journals.iter().flat_map(|j| &j.unexpected).collect();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("ERROR"))
        .take(20)
        .collect();
    assert!(
        unexpected.is_empty(),
        "seed {}: unexpected answers: {unexpected:?}\nserver errors:\n{}",
        sc.seed,
        errors.join("\n")
    );
    if sc.fault.is_none() && !sc.args.contains(&"never") {
        assert!(
            stats.fsync > 0 && stats.fsyncdir > 0,
            "no fsyncs reached the model: {stats:?}"
        );
    }
    let v = verify(&image.join("root"), &journals);
    eprintln!(
        "seed {} {:?} fault {:?}: cut after {} acks; {} lost, {} resurrected, {} wrong; model saw {} fsyncs, {} directory fsyncs, {} renames, {} links",
        sc.seed,
        sc.args,
        sc.fault,
        v.acks,
        v.lost.len(),
        v.resurrected.len(),
        v.wrong.len(),
        stats.fsync,
        stats.fsyncdir,
        stats.rename,
        stats.link
    );
    v
}

/// Start putfs on the durable image alone and hold it to every
/// acknowledgement.
fn verify(root: &Path, journals: &[Journal]) -> Verdict {
    let mut v = Verdict {
        acks: journals.iter().map(|j| j.acks).sum(),
        ..Verdict::default()
    };
    // The root is durable before the first answer, so it is there whenever
    // anything was acknowledged.
    // Its marker too: without it the restart below would be refused (the
    // harness adds --init only to directories without it, so check first).
    if !root.join(".putfs").is_dir() {
        v.lost
            .push(format!("the data root or its marker ({} acks)", v.acks));
        return v;
    }
    let s = Server::start(
        root,
        &["--mutable", MUTABLE_GLOB, "--heartbeat-interval", "0s"],
    );
    // Temp files of the cut uploads are removed at start-up.
    let clean = wait_until(Duration::from_secs(30), || temp_files(root).is_empty());
    if !clean {
        v.wrong
            .push(format!("temp files left: {:?}", temp_files(root)));
    }

    let on_disk = files(root);
    for j in journals {
        for (key, must) in &j.must {
            let doubt = j.in_doubt.get(key).copied();
            let g = s.get(key);
            match must {
                Some(_) if g.status == 404 && doubt == Some(Doubt::Delete) => {}
                Some(_) if g.status != 200 => v.lost.push(format!("{key}: {}", g.status)),
                Some((digest, etag)) => {
                    let got = sha256(&g.body);
                    if key.starts_with("m/") {
                        // A newer version may have been in flight.
                        let from = j.last_acked_version[key];
                        if !j.sent[key][from..].contains(&got) {
                            v.lost.push(format!("{key}: holds an older version"));
                        }
                    } else if got != *digest {
                        v.wrong.push(format!("{key}: other bytes"));
                    }
                    if got == *digest && g.header("etag").as_deref() != Some(etag.as_str()) {
                        let now = g.header("etag");
                        v.wrong
                            .push(format!("{key}: ETag {now:?}, acknowledged {etag}"));
                    }
                    if g.header("repr-digest") != Some(repr_digest_sha256(&g.body)) {
                        let now = g.header("repr-digest");
                        v.wrong.push(format!("{key}: stored digest lost ({now:?})"));
                    }
                }
                None if g.status != 404 => v.resurrected.push(key.clone()),
                None => {}
            }
        }
    }
    // Everything on disk is whole and was sent for its key.
    let sent: HashMap<&str, &Vec<[u8; 32]>> = journals
        .iter()
        .flat_map(|j| j.sent.iter().map(|(k, d)| (k.as_str(), d)))
        .collect();
    for (key, data) in &on_disk {
        if !complete(data) {
            v.wrong
                .push(format!("{key}: partial ({} bytes)", data.len()));
        } else if !sent
            .get(key.as_str())
            .is_some_and(|d| d.contains(&sha256(data)))
        {
            v.wrong.push(format!("{key}: bytes nobody sent"));
        }
    }
    // The listing names exactly the objects on disk.
    let listed: BTreeSet<String> = s.get("/").lines_sorted().into_iter().collect();
    let disk: BTreeSet<String> = on_disk.keys().cloned().collect();
    if listed != disk {
        v.wrong.push(format!(
            "listing differs from disk: only listed {:?}, only on disk {:?}",
            listed.difference(&disk).collect::<Vec<_>>(),
            disk.difference(&listed).collect::<Vec<_>>()
        ));
    }
    v
}

/// Every regular file under `root` outside `.putfs/`, by key.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    user_entries(root)
        .into_iter()
        .filter(|rel: &PathBuf| root.join(rel).is_file())
        .map(|rel| {
            let data = std::fs::read(root.join(&rel)).unwrap();
            (rel.to_str().unwrap().to_owned(), data)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn scenario(seed: u64) -> Scenario {
    Scenario {
        seed,
        args: &[],
        fault: None,
        kill_after: None,
    }
}

#[test]
fn power_cuts_lose_nothing_acknowledged() {
    if !fuse_available() {
        return;
    }
    for seed in 1..=6 {
        let v = run_scenario(&scenario(seed));
        assert!(v.acks >= 40, "seed {seed}: {v:?}");
        assert!(v.clean(), "seed {seed}: {v:#?}");
    }
}

/// A process crash between the power cuts: a new process finds directories
/// the old one made and never fsynced, and must not take them for durable.
#[test]
fn power_cut_after_a_process_crash_loses_nothing_acknowledged() {
    if !fuse_available() {
        return;
    }
    for seed in 11..=14 {
        let v = run_scenario(&Scenario {
            kill_after: Some(30),
            ..scenario(seed)
        });
        assert!(v.clean(), "seed {seed}: {v:#?}");
    }
}

/// The same power cut with a deterministic setup: directories left unsynced
/// by an earlier process, then one PUT into them.
#[test]
fn directories_an_earlier_process_left_unsynced_are_made_durable() {
    if !fuse_available() {
        return;
    }
    for fault in [None, Some("skip-parent-fsync")] {
        let tmp = tempdir();
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let fs = CrashFs::mount(&mnt).unwrap();
        let root = mnt.join("root");
        let mut s = Server::start(&root, &[]);
        s.kill9();
        // What a process killed between mkdir and fsync leaves behind.
        std::fs::create_dir_all(root.join("old/a/b")).unwrap();
        let env: Vec<(&str, &str)> = fault.iter().map(|f| ("PUTFS_FAULT", *f)).collect();
        let s = Server::start_with_env(&root, &[], &env);
        assert_eq!(s.put("old/a/b/k", b"payload".to_vec()).status, 201);
        let image = tmp.path().join("image");
        fs.cut(&image).unwrap();
        drop(s);
        fs.unmount().unwrap();
        let survived = std::fs::read(image.join("root/old/a/b/k")).ok();
        match fault {
            None => assert_eq!(survived.as_deref(), Some(&b"payload"[..])),
            Some(f) => assert_eq!(survived, None, "the checker cannot see {f}"),
        }
    }
}

/// A 204 for identical bytes promises what a 201 does, even when the object
/// it found is not durable yet (published by a PUT still on its way to its
/// fsyncs, or left by a process that died before them).
#[test]
fn a_204_makes_the_object_it_found_durable() {
    if !fuse_available() {
        return;
    }
    for fault in [None, Some("skip-204-durable")] {
        let tmp = tempdir();
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let fs = CrashFs::mount(&mnt).unwrap();
        let root = mnt.join("root");
        let mut s = Server::start(&root, &[]);
        s.kill9();
        // Published, never fsynced: neither the bytes nor the names.
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        std::fs::write(root.join("x/y/k"), b"payload").unwrap();
        let env: Vec<(&str, &str)> = fault.iter().map(|f| ("PUTFS_FAULT", *f)).collect();
        let s = Server::start_with_env(&root, &[], &env);
        assert_eq!(s.put("x/y/k", b"payload".to_vec()).status, 204);
        let image = tmp.path().join("image");
        fs.cut(&image).unwrap();
        drop(s);
        fs.unmount().unwrap();
        let survived = std::fs::read(image.join("root/x/y/k")).ok();
        match fault {
            None => assert_eq!(survived.as_deref(), Some(&b"payload"[..])),
            Some(f) => assert_ne!(survived.as_deref(), Some(&b"payload"[..]), "cannot see {f}"),
        }
    }
}

/// The checker sees: each fault loses acknowledged objects. (A 204 that does
/// not make the object it found durable is lost only when the cut falls in
/// the microseconds between another PUT's rename and its fsyncs, which
/// random cuts rarely hit: `a_204_makes_the_object_it_found_durable` shows
/// that fault deterministically.)
#[test]
fn the_checker_catches_missing_fsyncs() {
    if !fuse_available() {
        return;
    }
    let controls: [(&str, &[&str], Option<&str>); 3] = [
        ("--fsync never", &["--fsync", "never"], None),
        ("no directory fsync", &[], Some("skip-dir-fsync")),
        (
            "no fsync of new directories' parents",
            &[],
            Some("skip-parent-fsync"),
        ),
    ];
    for (name, args, fault) in controls {
        let caught = (21..=22).any(|seed| {
            let v = run_scenario(&Scenario {
                seed,
                args,
                fault,
                kill_after: None,
            });
            !v.lost.is_empty()
        });
        assert!(caught, "{name}: no acknowledged object was lost");
    }
}

/// Before trusting a crash result: putfs on the model answers a scripted
/// session exactly as it does on the real filesystem under the tests (a
/// call the model lacked would show here as a different status).
#[test]
fn putfs_on_the_model_answers_as_on_a_real_filesystem() {
    if !fuse_available() {
        return;
    }
    let real = tempdir();
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let fs = CrashFs::mount(&mnt).unwrap();
    let args = ["--mutable", MUTABLE_GLOB, "--heartbeat-interval", "0s"];
    let on_disk = session(&Server::start(&real.path().join("root"), &args));
    let on_model = session(&Server::start(&mnt.join("root"), &args));
    fs.unmount().unwrap();
    assert_eq!(on_disk.len(), on_model.len());
    for (d, m) in on_disk.iter().zip(&on_model) {
        assert_eq!(d, m, "the model answered differently");
    }
}

/// Method, path, body, headers.
type Step = (
    &'static str,
    &'static str,
    Vec<u8>,
    Vec<(&'static str, &'static str)>,
);

/// Each step's request and what came back (status, body digest, ETag,
/// Repr-Digest, Content-Range).
fn session(s: &Server) -> Vec<String> {
    let c = client();
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let steps: Vec<Step> = vec![
        ("PUT", "a/b/c.txt", b"hello".to_vec(), vec![]),
        ("PUT", "a/b/c.txt", b"hello".to_vec(), vec![]),
        ("PUT", "a/b/c.txt", b"other".to_vec(), vec![]),
        (
            "PUT",
            "a/b/c.txt",
            b"x".to_vec(),
            vec![("If-None-Match", "*")],
        ),
        ("GET", "a/b/c.txt", vec![], vec![]),
        ("HEAD", "a/b/c.txt", vec![], vec![]),
        ("GET", "a/b/c.txt", vec![], vec![("Range", "bytes=1-2")]),
        ("PUT", "big/one.bin", big.clone(), vec![]),
        ("PUT", "big/one.bin", big.clone(), vec![]),
        ("GET", "big/one.bin", vec![], vec![]),
        ("PUT", "m/x", b"v1".to_vec(), vec![]),
        ("PUT", "m/x", b"v2".to_vec(), vec![]),
        (
            "PUT",
            "m/x",
            b"v3".to_vec(),
            vec![("If-Match", "\"stale\"")],
        ),
        ("GET", "m/x", vec![], vec![]),
        (
            "PUT",
            "d.txt",
            b"abc".to_vec(),
            vec![("Content-Digest", "sha-256=:AAAA:")],
        ),
        ("GET", "", vec![], vec![]),
        (
            "QUERY",
            "a/",
            b"1 dirs".to_vec(),
            vec![("Content-Type", "text/plain")],
        ),
        ("DELETE", "a/b/c.txt", vec![], vec![]),
        ("GET", "a/b/c.txt", vec![], vec![]),
        ("GET", "a/", vec![], vec![]),
        ("DELETE", "a/b/c.txt", vec![], vec![]),
        ("PUT", "a/", b"x".to_vec(), vec![]),
        ("PUT", "big/one.bin/under", b"x".to_vec(), vec![]),
        ("PUT", "big", b"x".to_vec(), vec![]),
    ];
    steps
        .into_iter()
        .map(|(method, path, body, headers)| {
            let mut req = c.request(method.parse().unwrap(), s.url(path)).body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let r = send(req);
            let mut body = r.body.clone();
            if path.ends_with('/') || path.is_empty() {
                // Listings are in the filesystem's order.
                let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
                lines.sort();
                body = lines.join(&b'\n');
            }
            format!(
                "{method} /{path}: {} body {} etag {:?} repr-digest {:?} range {:?}",
                r.status,
                hex::encode(&sha256(&body)[..8]),
                r.header("etag"),
                r.header("repr-digest"),
                r.header("content-range"),
            )
        })
        .collect()
}
