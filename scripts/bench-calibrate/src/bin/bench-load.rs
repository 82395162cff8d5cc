//! bench-load URL CONNS THREADS SECONDS METHOD [HEADER...]: a closed-loop
//! HTTP/1.1 load generator for the requests wrk cannot measure: wrk's parser
//! does not know it sent HEAD, so it waits for the Content-Length bytes a
//! HEAD answer never has and stalls. CONNS keep-alive connections on a tokio
//! runtime of THREADS workers each send METHOD URL (with the given
//! `Name: value` headers), read the answer (a body only when it has one:
//! by Content-Length or chunked) and send the next, for SECONDS. Prints the
//! line wrk's reporter prints in scripts/bench:
//! `BENCH requests duration_us p50_us p99_us status_errors socket_errors`.

use std::time::{Duration, Instant};

use putfs_bench_calibrate::read_answer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Tally {
    lat: Vec<u32>,
    status_err: u64,
    sock_err: u64,
}

async fn connection(addr: String, request: Vec<u8>, head: bool, end: Instant) -> Tally {
    let mut t = Tally {
        lat: Vec::new(),
        status_err: 0,
        sock_err: 0,
    };
    while Instant::now() < end {
        let mut s = match TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(_) => {
                t.sock_err += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = s.set_nodelay(true);
        let mut buf = Vec::with_capacity(16384);
        while Instant::now() < end {
            let t0 = Instant::now();
            let r = match s.write_all(&request).await {
                Ok(()) => read_answer(&mut s, &mut buf, head).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(status) => {
                    t.lat
                        .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    if status >= 400 {
                        t.status_err += 1;
                    }
                }
                Err(_) => {
                    t.sock_err += 1;
                    break;
                }
            }
        }
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: bench-load URL CONNS THREADS SECONDS METHOD [HEADER...]");
        std::process::exit(2);
    }
    let url = args[1].strip_prefix("http://").expect("an http:// URL");
    let (addr, path) = match url.find('/') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, "/"),
    };
    let conns: usize = args[2].parse().expect("CONNS");
    let threads: usize = args[3].parse().expect("THREADS");
    let secs: f64 = args[4].parse().expect("SECONDS");
    let method = &args[5];
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for h in &args[6..] {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let head = method.eq_ignore_ascii_case("HEAD");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let tallies: Vec<Tally> = rt.block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                tokio::spawn(connection(
                    addr.to_string(),
                    request.clone().into_bytes(),
                    head,
                    end,
                ))
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let elapsed = start.elapsed();
    let mut lat: Vec<u32> = Vec::new();
    let (mut serr, mut sockerr) = (0, 0);
    for t in tallies {
        lat.extend(t.lat);
        serr += t.status_err;
        sockerr += t.sock_err;
    }
    lat.sort_unstable();
    let pct = |p: f64| putfs_bench_calibrate::percentile(&lat, p);
    println!(
        "BENCH {} {} {} {} {} {}",
        lat.len(),
        elapsed.as_micros(),
        pct(0.50),
        pct(0.99),
        serr,
        sockerr
    );
}
