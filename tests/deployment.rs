//! The deployment kit, end to end: the shipped nginx and HAProxy configs run
//! for real (addresses substituted, nothing else) in front of a putfs primary
//! and read-only replicas kept in sync by the shipped `scripts/replicate-rsync`.
//!
//! Each test builds its own cluster on loopback (own roots, ports, processes),
//! so they run in parallel. Without nginx, haproxy or rsync a test prints
//! `SKIP:` and passes, unless `PUTFS_REQUIRE_TOOLS=1`.

#[path = "common/balancers.rs"]
mod balancers;
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use balancers::*;
use common::*;

const ALL_TOOLS: &[&str] = &["nginx", "haproxy", "rsync"];

fn mkdir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn primary(dir: &Path) -> Server {
    Server::start(&mkdir(dir.join("primary")), &["--heartbeat-interval", "1s"])
}

fn replica(dir: &Path, name: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--read-only"];
    args.extend_from_slice(extra);
    // A replica's data root, marked once at install: the replication
    // script refuses a destination without `.putfs/`.
    let root = mkdir(dir.join(name));
    mkdir(root.join(".putfs"));
    Server::start(&root, &args)
}

fn status(server: &Server, path: &str) -> u16 {
    server.get(path).status
}

/// `putfs_replication_lag_seconds` of a read-only node; `None` while it has
/// no sample (no heartbeat replicated yet).
fn lag_seconds(server: &Server) -> Option<f64> {
    let text = server.get("/.putfs/metrics").text();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with("putfs_replication_lag_seconds")
                && matches!(
                    l.as_bytes().get("putfs_replication_lag_seconds".len()),
                    Some(b' ') | Some(b'{')
                )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// GETs answered 404 by a node so far (a replica's 404s are the reads the
/// balancer had to retry elsewhere).
fn get_404s(server: &Server) -> f64 {
    metric_value(
        &server.get("/.putfs/metrics").text(),
        "putfs_http_requests_total",
        &[("method", "GET"), ("status", "404")],
    )
}

#[track_caller]
fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, cond),
        "timed out after {timeout:?}: {what}"
    );
}

fn cluster_subs(p: &Server, r1: &Server, r2: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("putfs-primary:8000", p.addr.to_string()),
        ("putfs-replica-1:8000", r1.addr.to_string()),
        ("putfs-replica-2:8000", r2.addr.to_string()),
    ]
}

fn http_status(resp: reqwest::Result<reqwest::blocking::Response>) -> u16 {
    resp.expect("request through the balancer")
        .status()
        .as_u16()
}

// ---------------------------------------------------------------------------

#[test]
fn shipped_configs_pass_nginx_t_and_haproxy_c() {
    if !tools_present("shipped_configs_pass_nginx_t_and_haproxy_c", ALL_TOOLS) {
        return;
    }
    let dir = tempdir();
    let a = |port: u16| format!("127.0.0.1:{port}");
    // Nothing needs to listen there: the checks only resolve the addresses.
    let cluster = vec![
        ("putfs-primary:8000", a(1)),
        ("putfs-replica-1:8000", a(2)),
        ("putfs-replica-2:8000", a(3)),
    ];
    Nginx::render(dir.path(), "putfs-cluster.conf", &cluster, free_port());
    Nginx::render(
        dir.path(),
        "putfs-single.conf",
        &[("127.0.0.1:8000", a(1))],
        free_port(),
    );
    Haproxy::render(dir.path(), "putfs.cfg", &cluster, free_port());
    let map = dir.path().join("shards.map");
    std::fs::write(&map, shipped("haproxy/shards.map")).unwrap();
    Haproxy::render(
        dir.path(),
        "putfs-sharded.cfg",
        &[
            ("putfs-a-primary:8000", a(1)),
            ("putfs-a-replica:8000", a(2)),
            ("putfs-b-primary:8000", a(3)),
            ("putfs-b-replica:8000", a(4)),
            ("/etc/haproxy/shards.map", map.display().to_string()),
        ],
        free_port(),
    );
}

/// Writes through either balancer land on the primary only; reads of an
/// object only the primary has yet, and of a listing only it has, never see
/// the replicas' 404s; a key no node has is a 404.
#[test]
fn writes_reach_the_primary_and_reads_never_see_replication_lag() {
    if !tools_present(
        "writes_reach_the_primary_and_reads_never_see_replication_lag",
        ALL_TOOLS,
    ) {
        return;
    }
    let dir = tempdir();
    let p = primary(dir.path());
    assert_eq!(p.put("seed/a.txt", b"seed".to_vec()).status, 201);
    let r1 = replica(dir.path(), "replica-1", &["--max-lag", "3s"]);
    let r2 = replica(dir.path(), "replica-2", &[]);
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
        wait_for(
            "replica ready after replication",
            Duration::from_secs(10),
            || status(r, "/.putfs/ready") == 200,
        );
    }
    let subs = cluster_subs(&p, &r1, &r2);
    let haproxy = Haproxy::start(dir.path(), "putfs.cfg", &subs);
    let nginx = Nginx::start(dir.path(), "putfs-cluster.conf", &subs);
    let client = lb_client();
    let mut rng = Rng::from_time();

    for lb in [&haproxy, &nginx] {
        let name = lb.name().to_string();
        // Keep replica-1 (--max-lag 3s) in rotation for this round.
        replicate(p.root(), r1.root());

        let key = format!("fresh/{name}/object.bin");
        let body = rng.bytes(64 * 1024);
        let put = client
            .put(lb.url(&format!("/{key}")))
            .body(body.clone())
            .send();
        assert_eq!(http_status(put), 201, "{name}: PUT through the balancer");
        assert_eq!(
            std::fs::read(p.root().join(&key)).ok().as_deref(),
            Some(&body[..]),
            "{name}: the PUT did not land on the primary"
        );
        for r in [&r1, &r2] {
            assert!(
                !r.root().join(&key).exists(),
                "{name}: the PUT landed on a replica ({})",
                r.root().display()
            );
        }

        let misses_before = get_404s(&r1) + get_404s(&r2);
        let url = lb.url(&format!("/{key}"));
        let expected = body.clone();
        let tally = load(
            400,
            16,
            move |c, _| c.get(&url),
            move |_, b| b == &expected[..],
        );
        assert_eq!(
            tally,
            all_ok(400),
            "{name}: GET of an object only the primary has yet"
        );
        assert!(
            get_404s(&r1) + get_404s(&r2) > misses_before,
            "{name}: no read went to a replica, so the 404 retry was never exercised"
        );

        let url = lb.url(&format!("/{key}"));
        let tally = load(100, 8, move |c, _| c.head(&url), |_, _| true);
        assert_eq!(tally, all_ok(100), "{name}: HEAD of the fresh object");

        // A listing of a prefix only the primary has: replicas answer 404.
        let url = lb.url(&format!("/fresh/{name}/"));
        let tally = load(
            100,
            8,
            move |c, _| c.get(&url),
            |_, b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .any(|l| l == "object.bin")
            },
        );
        assert_eq!(tally, all_ok(100), "{name}: GET listing of a fresh prefix");
        let q = client
            .request(query_method(), lb.url("/seed/"))
            .header("Content-Type", "text/plain")
            .body("1")
            .send()
            .expect("QUERY through the balancer");
        assert_eq!(q.status().as_u16(), 200, "{name}: QUERY listing");
        assert_eq!(q.text().unwrap().trim(), "a.txt", "{name}: QUERY listing");

        let url = lb.url("/no/such/key");
        let tally = load(50, 8, move |c, _| c.get(&url), |_, _| true);
        assert_eq!(
            tally,
            std::collections::BTreeMap::from([("404".to_string(), 50)]),
            "{name}: GET of a key no node has"
        );

        let del = client.delete(lb.url(&format!("/{key}"))).send();
        assert_eq!(http_status(del), 204, "{name}: DELETE through the balancer");
        assert!(
            !p.root().join(&key).exists(),
            "{name}: DELETE missed the primary"
        );
        assert_eq!(
            http_status(client.get(lb.url(&format!("/{key}"))).send()),
            404,
            "{name}: GET after DELETE"
        );
    }

    // Straight to a replica: refused, nothing written anywhere.
    let r = r1.put("direct/x.txt", b"x".to_vec());
    assert_eq!(r.status, 403, "PUT straight to a replica");
    assert!(!r1.root().join("direct/x.txt").exists());
    assert!(!p.root().join("direct/x.txt").exists());
    assert_eq!(
        r1.delete("seed/a.txt").status,
        403,
        "DELETE straight to a replica"
    );
    assert!(r1.root().join("seed/a.txt").exists());

    // A replica started with --forward-writes-to passes writes on.
    let primary_url = format!("http://{}", p.addr);
    let fwd = replica(
        dir.path(),
        "replica-forwarding",
        &["--forward-writes-to", &primary_url],
    );
    let r = fwd.put("forwarded/y.txt", b"forwarded".to_vec());
    assert_eq!(r.status, 201, "PUT to a forwarding replica: {}", r.text());
    assert_eq!(
        std::fs::read(p.root().join("forwarded/y.txt"))
            .ok()
            .as_deref(),
        Some(&b"forwarded"[..]),
        "the forwarded PUT did not land on the primary"
    );
    assert!(!fwd.root().join("forwarded/y.txt").exists());
}

/// The primary dies (SIGKILL): reads of replicated objects keep working
/// through both balancers, before and after HAProxy's health checks notice,
/// and even once every replica is past --max-lag; writes fail fast with 5xx.
#[test]
fn primary_loss_keeps_reads_and_fails_writes_cleanly() {
    if !tools_present(
        "primary_loss_keeps_reads_and_fails_writes_cleanly",
        ALL_TOOLS,
    ) {
        return;
    }
    let dir = tempdir();
    let mut p = primary(dir.path());
    const N: usize = 20;
    let bodies: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("object {i} ").repeat(100 + i).into_bytes())
        .collect();
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(p.put(&format!("keep/obj-{i}"), b.clone()).status, 201);
    }
    let r1 = replica(dir.path(), "replica-1", &["--max-lag", "3s"]);
    let r2 = replica(dir.path(), "replica-2", &["--max-lag", "3s"]);
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
        wait_for(
            "replica ready after replication",
            Duration::from_secs(10),
            || status(r, "/.putfs/ready") == 200,
        );
    }
    let subs = cluster_subs(&p, &r1, &r2);
    let haproxy = Haproxy::start(dir.path(), "putfs.cfg", &subs);
    let nginx = Nginx::start(dir.path(), "putfs-cluster.conf", &subs);
    let bodies = std::sync::Arc::new(bodies);

    let read_all = |lb: &balancers::Daemon, what: &str| {
        let base = lb.url("/keep/obj-");
        let b = bodies.clone();
        let tally = load(
            300,
            16,
            move |c, i| c.get(format!("{base}{}", i % N)),
            move |i, got| got == &b[i % N][..],
        );
        assert_eq!(tally, all_ok(300), "{}: reads {what}", lb.name());
    };
    for lb in [&haproxy, &nginx] {
        read_all(lb, "with every node up");
    }

    // Fresh replicas (lag well under --max-lag), so right after the kill
    // the replicas are in rotation and only the primary is gone.
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
    }
    p.kill9();
    // At once, before HAProxy's checks (1 s apart, 2 failures) mark the
    // primary down: refused connections are retried on the replicas.
    for lb in [&haproxy, &nginx] {
        read_all(lb, "right after the primary died");
    }
    let client = lb_client();
    for lb in [&haproxy, &nginx] {
        for i in 0..3 {
            let started = Instant::now();
            let r = client
                .put(lb.url(&format!("/after-kill/{i}")))
                .body(b"lost".to_vec())
                .send()
                .unwrap_or_else(|e| panic!("{}: PUT with the primary dead: {e}", lb.name()));
            let s = r.status().as_u16();
            assert!(
                (500..600).contains(&s),
                "{}: PUT with the primary dead answered {s}",
                lb.name()
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{}: PUT with the primary dead took {:?}",
                lb.name(),
                started.elapsed()
            );
        }
    }
    for r in [&r1, &r2] {
        assert!(
            !r.root().join("after-kill").exists(),
            "a write reached a replica"
        );
    }

    // No heartbeat arrives any more: both replicas pass --max-lag and fail
    // readiness, HAProxy takes them out of rotation, and its last-resort
    // server serves them anyway (stale reads beat no reads).
    wait_for(
        "both replicas report not ready (lag > 3 s)",
        Duration::from_secs(15),
        || status(&r1, "/.putfs/ready") == 503 && status(&r2, "/.putfs/ready") == 503,
    );
    wait_for(
        "HAProxy marks the replica pool down",
        Duration::from_secs(15),
        || haproxy.logs().contains("putfs_readers/replicas is DOWN"),
    );
    for lb in [&haproxy, &nginx] {
        read_all(lb, "with the primary dead and every replica stale");
    }
    assert!(
        haproxy.logs().contains("putfs_readers/replicas-stale "),
        "HAProxy never used its last-resort server:\n{}",
        haproxy.logs()
    );
}

/// The replica's lag metric rises while replication is stopped, readiness
/// fails past --max-lag, and one run of the rsync script brings both back.
#[test]
fn replica_lag_and_readiness_follow_replication() {
    if !tools_present("replica_lag_and_readiness_follow_replication", &["rsync"]) {
        return;
    }
    let dir = tempdir();
    let p = primary(dir.path());
    let r = replica(dir.path(), "replica", &["--max-lag", "3s"]);
    assert_eq!(p.put("a/first.txt", b"first".to_vec()).status, 201);
    replicate(p.root(), r.root());
    wait_for(
        "lag below 2 s after replication",
        Duration::from_secs(10),
        || lag_seconds(&r).is_some_and(|l| l < 2.0),
    );
    assert_eq!(
        status(&r, "/.putfs/ready"),
        200,
        "replica ready after replication"
    );
    assert_eq!(r.get("a/first.txt").text(), "first");

    // Replication stopped; the primary keeps writing heartbeats and objects.
    assert_eq!(p.put("a/second.txt", b"second".to_vec()).status, 201);
    wait_for("lag rises above 2 s", Duration::from_secs(10), || {
        lag_seconds(&r).is_some_and(|l| l > 2.0)
    });
    assert_eq!(
        status(&r, "/.putfs/ready"),
        200,
        "ready while the lag is under --max-lag"
    );
    wait_for(
        "readiness fails past --max-lag",
        Duration::from_secs(10),
        || status(&r, "/.putfs/ready") == 503,
    );
    let lag = lag_seconds(&r).expect("lag metric");
    assert!(
        lag > 3.0,
        "not ready with a lag of {lag} s, under --max-lag 3s"
    );
    assert_eq!(r.get("a/second.txt").status, 404);

    replicate(p.root(), r.root());
    wait_for("lag back below 2 s", Duration::from_secs(10), || {
        lag_seconds(&r).is_some_and(|l| l < 2.0)
    });
    wait_for("ready again", Duration::from_secs(10), || {
        status(&r, "/.putfs/ready") == 200
    });
    assert_eq!(r.get("a/second.txt").text(), "second");
}

/// The sharded HAProxy config sends each dataset (first path segment) to its
/// own primary/replica group, for reads and writes.
#[test]
fn sharded_haproxy_routes_each_dataset_to_its_group() {
    if !tools_present(
        "sharded_haproxy_routes_each_dataset_to_its_group",
        &["haproxy"],
    ) {
        return;
    }
    let dir = tempdir();
    let a = Server::start(&mkdir(dir.path().join("a-primary")), &[]);
    let a_r = replica(dir.path(), "a-replica", &[]);
    let b = Server::start(&mkdir(dir.path().join("b-primary")), &[]);
    let b_r = replica(dir.path(), "b-replica", &[]);
    let map = dir.path().join("shards.map");
    std::fs::write(&map, shipped("haproxy/shards.map")).unwrap();
    let lb = Haproxy::start(
        dir.path(),
        "putfs-sharded.cfg",
        &[
            ("putfs-a-primary:8000", a.addr.to_string()),
            ("putfs-a-replica:8000", a_r.addr.to_string()),
            ("putfs-b-primary:8000", b.addr.to_string()),
            ("putfs-b-replica:8000", b_r.addr.to_string()),
            ("/etc/haproxy/shards.map", map.display().to_string()),
        ],
    );
    let client = lb_client();
    let all = [&a, &a_r, &b, &b_r];
    for (path, key, body, home) in [
        ("/shard-a/x", "shard-a/x", "in a", &a),
        ("/shard-b/x", "shard-b/x", "in b", &b),
        // Percent-decoded before the split, as putfs decodes keys.
        ("/shard-b%2Fencoded", "shard-b/encoded", "in b too", &b),
    ] {
        let put = client.put(lb.url(path)).body(body).send();
        assert_eq!(http_status(put), 201, "PUT {path}");
        for node in all {
            let has = node.root().join(key).exists();
            assert_eq!(
                has,
                std::ptr::eq(node, home),
                "PUT {path}: landed on {} = {has}",
                node.root().display()
            );
        }
        // The group's replica has nothing: every read is a retried 404.
        let url = lb.url(path);
        let want = body.as_bytes().to_vec();
        let tally = load(100, 8, move |c, _| c.get(&url), move |_, b| b == &want[..]);
        assert_eq!(tally, all_ok(100), "GET {path}");
    }
    let listing = client.get(lb.url("/shard-b/")).send().unwrap();
    assert_eq!(listing.status().as_u16(), 200);
    let mut keys: Vec<String> = listing.text().unwrap().lines().map(String::from).collect();
    keys.sort();
    assert_eq!(keys, ["encoded", "x"], "listing of shard-b");

    // A dataset no group serves: refused at the balancer, written nowhere.
    let put = client.put(lb.url("/shard-c/x")).body("lost").send();
    assert_eq!(http_status(put), 404, "PUT to an unmapped dataset");
    for node in all {
        assert!(!node.root().join("shard-c").exists());
    }
    assert_eq!(
        http_status(client.get(lb.url("/shard-a/missing")).send()),
        404
    );
}

/// nginx in front of one putfs streams a multi-megabyte upload (chunked, of
/// unknown length) and the download back.
#[test]
fn single_node_nginx_streams_objects_both_ways() {
    if !tools_present("single_node_nginx_streams_objects_both_ways", &["nginx"]) {
        return;
    }
    let dir = tempdir();
    let s = Server::start(&mkdir(dir.path().join("root")), &[]);
    let lb = Nginx::start(
        dir.path(),
        "putfs-single.conf",
        &[("127.0.0.1:8000", s.addr.to_string())],
    );
    let client = lb_client();
    let data = Rng::from_time().bytes(12 << 20);
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(data.clone()));
    let put = client.put(lb.url("/big/blob.bin")).body(body).send();
    assert_eq!(http_status(put), 201, "streamed PUT through nginx");
    assert_eq!(
        sha256(&std::fs::read(s.root().join("big/blob.bin")).unwrap()),
        sha256(&data)
    );
    let got = client.get(lb.url("/big/blob.bin")).send().unwrap();
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        sha256(&got.bytes().unwrap()),
        sha256(&data),
        "GET through nginx"
    );
    let q = client
        .request(query_method(), lb.url("/big/"))
        .send()
        .unwrap();
    assert_eq!(q.status().as_u16(), 200);
    assert_eq!(q.text().unwrap().trim(), "blob.bin", "QUERY through nginx");
    assert_eq!(
        http_status(client.delete(lb.url("/big/blob.bin")).send()),
        204
    );
    assert!(!s.root().join("big/blob.bin").exists());
}

/// A node that is down or restarting never turns an answer another node
/// can give into a 502: with a replica down, a missing key is 404 and a
/// present one 200 through both balancers; while the primary and the
/// replicas restart (SIGKILL, then the same port again) under readers,
/// every read through nginx is answered as a healthy cluster answers it.
#[test]
fn a_node_down_or_restarting_never_turns_an_answer_into_a_502() {
    if !tools_present(
        "a_node_down_or_restarting_never_turns_an_answer_into_a_502",
        ALL_TOOLS,
    ) {
        return;
    }
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let dir = tempdir();
    let mut p = primary(dir.path());
    const N: usize = 20;
    for i in 0..N {
        assert_eq!(
            p.put(&format!("keep/obj-{i}"), format!("object {i}"))
                .status,
            201
        );
    }
    let mut r1 = replica(dir.path(), "replica-1", &[]);
    let mut r2 = replica(dir.path(), "replica-2", &[]);
    for r in [&r1, &r2] {
        replicate(p.root(), r.root());
    }
    let subs = cluster_subs(&p, &r1, &r2);
    let haproxy = Haproxy::start(dir.path(), "putfs.cfg", &subs);
    let nginx = Nginx::start(dir.path(), "putfs-cluster.conf", &subs);

    // One read: a present key must come back whole, a missing one as 404.
    let read = |client: &reqwest::blocking::Client, base: &str, i: usize| -> String {
        let (path, want) = if i.is_multiple_of(2) {
            let k = (i / 2) % N;
            (format!("keep/obj-{k}"), Some(format!("object {k}")))
        } else {
            (format!("nowhere/missing-{i}"), None)
        };
        match client.get(format!("{base}/{path}")).send() {
            Err(e) => format!("error: {e}"),
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().unwrap_or_default();
                match (&want, status) {
                    (Some(w), 200) if &body == w => "ok".into(),
                    (None, 404) => "ok".into(),
                    (w, s) => format!(
                        "{s} for {} key",
                        if w.is_some() {
                            "a present"
                        } else {
                            "a missing"
                        }
                    ),
                }
            }
        }
    };

    r2.kill9();
    for lb in [&haproxy, &nginx] {
        let client = lb_client();
        let base = lb.url("");
        let base = base.trim_end_matches('/');
        let mut tally = BTreeMap::<String, usize>::new();
        for i in 0..200 {
            *tally.entry(read(&client, base, i)).or_default() += 1;
        }
        assert_eq!(
            tally,
            BTreeMap::from([("ok".to_string(), 200)]),
            "{}: reads with replica-2 down",
            lb.name()
        );
    }

    // Readers through both balancers while each node is killed and restarted
    // in turn. Like an operator's rolling restart, the next node goes down
    // only once HAProxy's health checks have every node back (nginx has no
    // health checks to wait for).
    r2.restart_on_same_port();
    Haproxy::wait_all_up(dir.path(), &haproxy);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = [&haproxy, &nginx]
        .iter()
        .flat_map(|lb| {
            let base = lb.url("").trim_end_matches('/').to_string();
            let name = lb.name().to_string();
            (0..2).map(move |t| (base.clone(), name.clone(), t))
        })
        .map(|(base, name, t)| {
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || {
                let client = lb_client();
                let mut tally = BTreeMap::<String, usize>::new();
                let mut i = t;
                while !stop.load(Ordering::SeqCst) {
                    *tally.entry(read(&client, &base, i)).or_default() += 1;
                    count.fetch_add(1, Ordering::SeqCst);
                    i += 2;
                }
                (name, tally)
            })
        })
        .collect();
    let reads_past = |n: usize| {
        let target = count.load(Ordering::SeqCst) + n;
        wait_for("readers make progress", Duration::from_secs(30), || {
            count.load(Ordering::SeqCst) >= target
        });
    };
    reads_past(100);
    for round in 0..2 {
        for node in [&mut p, &mut r1, &mut r2] {
            // Round 0: killed and at once restarted on its port, before
            // HAProxy's checks notice (its idle connections to the node are
            // dead). Round 1: killed, down until HAProxy's checks take it
            // out of rotation, then restarted and back.
            if round == 1 {
                node.kill9();
                reads_past(50);
                Haproxy::wait_servers(dir.path(), &haproxy, "a server DOWN", |servers| {
                    servers.iter().any(|(_, st)| st == "DOWN")
                });
                reads_past(50);
            }
            node.restart_on_same_port();
            reads_past(50);
            Haproxy::wait_all_up(dir.path(), &haproxy);
        }
        eprintln!("restart round {round} done");
    }
    stop.store(true, Ordering::SeqCst);
    for h in readers {
        let (name, tally) = h.join().expect("reader");
        let lb_logs = if name == haproxy.name() {
            haproxy.logs()
        } else {
            nginx.logs()
        };
        assert_eq!(
            tally.keys().collect::<Vec<_>>(),
            ["ok"],
            "{name}: reads while nodes restarted: {tally:?}\n{}",
            lb_logs
                .lines()
                .filter(|l| !l.contains(" 200 ") && !l.contains(" 404 "))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
