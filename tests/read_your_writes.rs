//! Read-your-writes through the shipped balancers: a primary and two
//! read-only replicas fed continuously by the shipped rsync script, behind
//! real nginx (nginx/putfs-cluster.conf) and real HAProxy
//! (haproxy/putfs.cfg). A client that sends back the position of its last
//! write (`PutFS-Min-Position`) never reads around it, although most reads
//! land on replicas that are still catching up:
//! - 1,000 PUT-then-GET pairs per balancer: every GET returns the bytes;
//! - 100 DELETE-then-GET: no GET returns the deleted object;
//! - 100 PUT-then-list: every listing names the new key.
//!
//! Without a position, reads still retry on 404 as before, and a deleted
//! object is gone from every node after one replication run.

#[path = "common/balancers.rs"]
mod balancers;
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use balancers::*;
use common::*;

const POSITION: &str = "putfs-position";
const MIN_POSITION: &str = "putfs-min-position";

fn mkdir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn replica(dir: &Path, name: &str) -> Server {
    let root = mkdir(dir.join(name));
    mkdir(root.join(".putfs"));
    Server::start(&root, &["--read-only"])
}

/// The position a write was acknowledged at.
fn position_of(resp: &reqwest::blocking::Response, what: &str) -> String {
    resp.headers()
        .get(POSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no {POSITION} header"))
        .to_string()
}

/// A write through the balancer, answered `want`; its position.
fn write_through(req: reqwest::blocking::RequestBuilder, want: u16, what: &str) -> String {
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("{what} through the balancer: {e}"));
    assert_eq!(resp.status().as_u16(), want, "{what}");
    position_of(&resp, what)
}

/// The shipped script, run for each replica in a loop until `stop`.
struct Replication {
    stop: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replication {
    fn start(primary: &Path, replicas: &[&Path]) -> Replication {
        let stop = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let (source, dests): (PathBuf, Vec<PathBuf>) = (
            primary.to_owned(),
            replicas.iter().map(|r| r.to_path_buf()).collect(),
        );
        let (s, n) = (stop.clone(), runs.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for d in &dests {
                    replicate(&source, d);
                }
                n.fetch_add(1, Ordering::SeqCst);
            }
        });
        Replication {
            stop,
            runs,
            thread: Some(thread),
        }
    }

    /// Wait for `n` more complete rounds over every replica.
    fn rounds(&self, n: usize) {
        let target = self.runs.load(Ordering::SeqCst) + n + 1;
        assert!(
            wait_until(Duration::from_secs(60), || self.runs.load(Ordering::SeqCst)
                >= target),
            "replication made no progress"
        );
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_client_with_its_position_never_reads_around_its_writes() {
    if !tools_present(
        "a_client_with_its_position_never_reads_around_its_writes",
        &["nginx", "haproxy", "rsync"],
    ) {
        return;
    }
    let dir = tempdir();
    let p = Server::start(
        &mkdir(dir.path().join("primary")),
        &["--heartbeat-interval", "1s"],
    );
    assert_eq!(p.put("seed/a.txt", b"seed".to_vec()).status, 201);
    let r1 = replica(dir.path(), "replica-1");
    let r2 = replica(dir.path(), "replica-2");
    let subs = vec![
        ("putfs-primary:8000", p.addr.to_string()),
        ("putfs-replica-1:8000", r1.addr.to_string()),
        ("putfs-replica-2:8000", r2.addr.to_string()),
    ];
    let replication = Replication::start(p.root(), &[r1.root(), r2.root()]);
    replication.rounds(1);
    let haproxy = Haproxy::start(dir.path(), "putfs.cfg", &subs);
    let nginx = Nginx::start(dir.path(), "putfs-cluster.conf", &subs);
    let client = lb_client();
    let behind_before = behind_refusals(&[&r1, &r2]);

    for lb in [&haproxy, &nginx] {
        let name = lb.name().to_string();
        let mut misses = Vec::new();
        for i in 0..1000 {
            let key = format!("ryw/{name}/put-get/{}/{i}", i % 10);
            let body = format!("{name} object {i}");
            let req = client.put(lb.url(&format!("/{key}"))).body(body.clone());
            let pos = write_through(req, 201, &format!("{name}: PUT {key}"));
            let (status, got) = read_at(&client, lb.url(&format!("/{key}")), &pos);
            if status != 200 || got != body {
                misses.push(format!("{key}: {status} {got:?}"));
            }
        }
        assert!(
            misses.is_empty(),
            "{name}: {} of 1000 PUT-then-GET missed: {:?}",
            misses.len(),
            &misses[..misses.len().min(5)]
        );

        let mut stale = Vec::new();
        for i in 0..100 {
            let key = format!("ryw/{name}/delete-get/{i}");
            assert_eq!(p.put(&key, format!("doomed {i}")).status, 201);
            if i % 5 == 0 {
                // Some of them on the replicas before the DELETE.
                replication.rounds(0);
            }
            let req = client.delete(lb.url(&format!("/{key}")));
            let pos = write_through(req, 204, &format!("{name}: DELETE {key}"));
            let (status, _) = read_at(&client, lb.url(&format!("/{key}")), &pos);
            if status != 404 {
                stale.push(format!("{key}: {status}"));
            }
        }
        assert!(
            stale.is_empty(),
            "{name}: {} of 100 DELETE-then-GET stale: {stale:?}",
            stale.len()
        );

        let mut unlisted = Vec::new();
        for i in 0..100 {
            let dir_key = format!("ryw/{name}/put-list/{}", i % 7);
            let key = format!("{dir_key}/item-{i}");
            let req = client
                .put(lb.url(&format!("/{key}")))
                .body(b"listed".to_vec());
            let pos = write_through(req, 201, &format!("{name}: PUT {key}"));
            let (status, text) = read_at(&client, lb.url(&format!("/{dir_key}/")), &pos);
            if status != 200 || !text.lines().any(|l| l == format!("item-{i}")) {
                unlisted.push(format!("{dir_key}/: {status}"));
            }
        }
        assert!(
            unlisted.is_empty(),
            "{name}: {} of 100 PUT-then-list without the key: {:?}",
            unlisted.len(),
            &unlisted[..unlisted.len().min(5)]
        );
    }
    // The replicas were behind for some of those reads and refused them:
    // the balancers retried elsewhere (without positions, these would have
    // been misses or stale answers).
    assert!(
        behind_refusals(&[&r1, &r2]) > behind_before,
        "no read ever met a replica behind its position: the test proves nothing"
    );
}

/// Reads the replicas refused because they were behind the read's position.
fn behind_refusals(nodes: &[&Server]) -> f64 {
    nodes
        .iter()
        .map(|n| {
            metric_value(
                &n.get("/.putfs/metrics").text(),
                "putfs_reads_behind_total",
                &[],
            )
        })
        .sum()
}

#[test]
fn without_a_position_reads_retry_and_deletes_reach_every_node_in_one_run() {
    if !tools_present(
        "without_a_position_reads_retry_and_deletes_reach_every_node_in_one_run",
        &["nginx", "rsync"],
    ) {
        return;
    }
    let dir = tempdir();
    let p = Server::start(&mkdir(dir.path().join("primary")), &[]);
    let r1 = replica(dir.path(), "replica-1");
    let r2 = replica(dir.path(), "replica-2");
    for k in 0..10 {
        assert_eq!(p.put(&format!("old/{k}"), format!("old {k}")).status, 201);
    }
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
    }
    let subs = vec![
        ("putfs-primary:8000", p.addr.to_string()),
        ("putfs-replica-1:8000", r1.addr.to_string()),
        ("putfs-replica-2:8000", r2.addr.to_string()),
    ];
    let nginx = Nginx::start(dir.path(), "putfs-cluster.conf", &subs);
    let client = lb_client();
    // A fresh key only the primary has: found through the retry on 404.
    assert_eq!(p.put("fresh/new.txt", b"new".to_vec()).status, 201);
    for _ in 0..10 {
        let r = client.get(nginx.url("/fresh/new.txt")).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.text().unwrap(), "new");
    }
    // Deleted on the primary: gone from every node after one run.
    for k in 0..5 {
        assert_eq!(p.delete(&format!("old/{k}")).status, 204);
    }
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
    }
    for node in [&p, &r1, &r2] {
        for k in 0..10 {
            let want = if k < 5 { 404 } else { 200 };
            assert_eq!(
                node.get(&format!("old/{k}")).status,
                want,
                "old/{k} on {}",
                node.addr
            );
        }
    }
}

/// A GET through a balancer that needs `pos`: its status and body.
fn read_at(client: &reqwest::blocking::Client, url: String, pos: &str) -> (u16, String) {
    let r = client
        .get(&url)
        .header(MIN_POSITION, pos)
        .header("Accept", "text/plain")
        .send()
        .unwrap_or_else(|e| panic!("GET {url} through the balancer: {e}"));
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}
