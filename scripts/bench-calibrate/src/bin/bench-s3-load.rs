//! bench-s3-load: the closed-loop HTTP/1.1 load generator of bench-load, for
//! S3 requests signed the way the SDKs sign them, and for the same requests
//! unsigned (the plain API, nginx), so both sides pay for one client.
//!
//!   bench-s3-load get URL PATHS_FILE SEED CONNS THREADS SECONDS [--each] [--sign ACCESS:SECRET[:REGION]]
//!   bench-s3-load put URL CONNS THREADS SECONDS [--sign ACCESS:SECRET[:REGION]]
//!
//! `get`: every request GETs URL + a path picked at random from PATHS_FILE
//! (one `/bucket/key` path a line; connection i draws from a generator
//! seeded with SEED * 1000 + i, so every server sees the same sequence).
//! With `--each`, every path once instead, in the file's order (connection
//! i takes lines i, i + CONNS, ...), then it stops: a warm-up pass.
//! `put`: every request PUTs 1 KiB to a key no request used before,
//! URL/c<conn>/<n / 1000>/<n>.bin, so each creates an object; 200 and 201
//! are success. In both, an answer >= 400 is a status error; bodies are read
//! by Content-Length (or chunked).
//!
//! `--sign` signs each request with AWS SigV4 in headers (aws-sigv4, with the
//! settings the S3 SDKs use: Authorization, x-amz-date and
//! x-amz-content-sha256, the SHA-256 of the body), inside the timed loop:
//! signing is what a real client pays per request. REGION defaults to
//! us-east-1; the secret cannot hold a `:`.
//!
//! CONNS keep-alive connections on a tokio runtime of THREADS workers, for
//! SECONDS. Prints the line wrk's reporter prints in scripts/bench:
//! `BENCH requests duration_us p50_us p99_us status_errors socket_errors`.

use std::process::exit;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use putfs_bench_calibrate::read_answer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const USAGE: &str = "\
usage: bench-s3-load get URL PATHS_FILE SEED CONNS THREADS SECONDS [--each] [--sign ACCESS:SECRET[:REGION]]
       bench-s3-load put URL CONNS THREADS SECONDS [--sign ACCESS:SECRET[:REGION]]
  get: GET URL + a random line of PATHS_FILE (paths like /bucket/key), seeded per connection
  --each: get every line once, in order, then stop (within SECONDS)
  put: PUT 1 KiB to URL/c<conn>/<n/1000>/<n>.bin, a new key every request
  --sign: AWS SigV4 in headers, as the S3 SDKs sign (region default us-east-1)
  prints: BENCH requests duration_us p50_us p99_us status_errors socket_errors";

/// A request that takes longer counts as a socket error (and the connection
/// is opened anew), as wrk's --timeout 10s does in scripts/bench.
const TIMEOUT: Duration = Duration::from_secs(10);

fn usage_exit(why: &str) -> ! {
    eprintln!("bench-s3-load: {why}\n{USAGE}");
    exit(2);
}

struct Signer {
    identity: Identity,
    region: String,
}

impl Signer {
    fn parse(spec: &str) -> Result<Signer, String> {
        let (access, rest) = spec
            .split_once(':')
            .ok_or("--sign wants ACCESS:SECRET[:REGION]")?;
        let (secret, region) = match rest.split_once(':') {
            Some((s, r)) => (s, r),
            None => (rest, "us-east-1"),
        };
        if access.is_empty() || secret.is_empty() || region.is_empty() {
            return Err("--sign wants ACCESS:SECRET[:REGION], none of them empty".into());
        }
        let creds = Credentials::new(access, secret, None, None, "bench-s3-load");
        Ok(Signer {
            identity: creds.into(),
            region: region.to_string(),
        })
    }

    /// The signature headers (`Name: value\r\n` lines) for `method` on
    /// `host` + `path` with `extra` headers (signed too) and `body`.
    fn headers(
        &self,
        method: &str,
        host: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Result<String, String> {
        // What the S3 SDKs set: the path is signed as sent (no second
        // percent-encoding, no normalisation) and x-amz-content-sha256 is
        // both sent and signed.
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let uri = format!("http://{host}{path}");
        let headers = std::iter::once(("host", host)).chain(extra.iter().copied());
        let signable = SignableRequest::new(method, uri, headers, SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut out = String::with_capacity(512);
        for (name, value) in instructions.headers() {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        Ok(out)
    }
}

enum Mode {
    Get {
        paths: Arc<Vec<String>>,
        seed: u64,
        /// Every path once, in order, rather than at random.
        each: bool,
    },
    Put,
}

struct Job {
    mode: Mode,
    /// host:port, the Host header and where to connect.
    host: String,
    /// The URL's path, without a trailing `/`: put before every GET path,
    /// the key prefix of every PUT.
    base: String,
    signer: Option<Arc<Signer>>,
    conns: usize,
}

struct Tally {
    lat: Vec<u32>,
    status_err: u64,
    sock_err: u64,
}

/// SplitMix64: a small, deterministic generator (the same sequence for
/// every server given the same seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PUT_BODY: &[u8; 1024] = &{
    let mut b = [0u8; 1024];
    let digits = b"0123456789abcdef";
    let mut i = 0;
    while i < b.len() {
        b[i] = digits[i % 16];
        i += 1;
    }
    b
};

/// The next request's bytes for connection `conn`, its `n`th (from 1);
/// `None` once an `--each` connection has had all its paths.
fn next_request(job: &Job, conn: usize, n: u64, rng: &mut Rng) -> Result<Option<Vec<u8>>, String> {
    let host = &job.host;
    let (method, path, body): (&str, String, &[u8]) = match &job.mode {
        Mode::Get { paths, each, .. } => {
            let i = if *each {
                let i = (n as usize - 1)
                    .saturating_mul(job.conns)
                    .saturating_add(conn);
                if i >= paths.len() {
                    return Ok(None);
                }
                i
            } else {
                rng.below(paths.len())
            };
            ("GET", format!("{}{}", job.base, paths[i]), &[])
        }
        Mode::Put => (
            "PUT",
            format!("{}/c{conn}/{}/{n}.bin", job.base, n / 1000),
            PUT_BODY,
        ),
    };
    let len = body.len().to_string();
    let extra: Vec<(&str, &str)> = if body.is_empty() {
        Vec::new()
    } else {
        vec![("content-length", len.as_str())]
    };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in &extra {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    if let Some(signer) = &job.signer {
        req.push_str(&signer.headers(method, host, &path, &extra, body)?);
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    Ok(Some(bytes))
}

async fn connection(job: Arc<Job>, conn: usize, end: Instant) -> Result<Tally, String> {
    let mut t = Tally {
        lat: Vec::new(),
        status_err: 0,
        sock_err: 0,
    };
    let seed = match &job.mode {
        Mode::Get { seed, .. } => seed.wrapping_mul(1000).wrapping_add(conn as u64),
        Mode::Put => 0,
    };
    let mut rng = Rng(seed);
    let mut n: u64 = 0;
    let mut done = false;
    while !done && Instant::now() < end {
        let mut s = match TcpStream::connect(&job.host).await {
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
            n += 1;
            // Building (and signing) the request is inside the timed span:
            // a client pays it for every request.
            let t0 = Instant::now();
            let Some(request) = next_request(&job, conn, n, &mut rng)? else {
                done = true;
                break;
            };
            let r = tokio::time::timeout(TIMEOUT, async {
                s.write_all(&request).await?;
                read_answer(&mut s, &mut buf, false).await
            })
            .await;
            match r {
                Ok(Ok(status)) => {
                    t.lat
                        .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    if status >= 400 {
                        t.status_err += 1;
                    }
                }
                Ok(Err(_)) | Err(_) => {
                    t.sock_err += 1;
                    break;
                }
            }
        }
    }
    Ok(t)
}

fn parse_num<T: std::str::FromStr>(what: &str, v: &str) -> T {
    v.parse()
        .unwrap_or_else(|_| usage_exit(&format!("{what}: not a number: {v:?}")))
}

fn main() {
    let mut positional: Vec<String> = Vec::new();
    let mut signer = None;
    let mut each = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            "--sign" => {
                let spec = args
                    .next()
                    .unwrap_or_else(|| usage_exit("--sign needs ACCESS:SECRET[:REGION]"));
                signer = Some(Arc::new(
                    Signer::parse(&spec).unwrap_or_else(|e| usage_exit(&e)),
                ));
            }
            _ if a.starts_with("--sign=") => {
                let spec = &a["--sign=".len()..];
                signer = Some(Arc::new(
                    Signer::parse(spec).unwrap_or_else(|e| usage_exit(&e)),
                ));
            }
            "--each" => each = true,
            _ if a.starts_with("--") => usage_exit(&format!("unknown option {a}")),
            _ => positional.push(a),
        }
    }
    let Some(mode) = positional.first().cloned() else {
        usage_exit("no mode (get or put)")
    };
    let (url, rest, mode) = match (mode.as_str(), &positional[1..]) {
        ("get", [url, paths_file, seed, rest @ ..]) if rest.len() == 3 => {
            let text = std::fs::read_to_string(paths_file)
                .unwrap_or_else(|e| usage_exit(&format!("{paths_file}: {e}")));
            let paths: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            if paths.is_empty() {
                usage_exit(&format!("{paths_file}: no paths in it"));
            }
            if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
                usage_exit(&format!("{paths_file}: {p:?} does not start with /"));
            }
            let seed: u64 = parse_num("SEED", seed);
            let mode = Mode::Get {
                paths: Arc::new(paths),
                seed,
                each,
            };
            (url, rest, mode)
        }
        ("put", [url, rest @ ..]) if rest.len() == 3 && !each => (url, rest, Mode::Put),
        ("put", _) if each => usage_exit("--each is for get"),
        ("get" | "put", _) => usage_exit(&format!("wrong number of arguments for {mode}")),
        _ => usage_exit(&format!("unknown mode {mode:?} (get or put)")),
    };
    let Some(after) = url.strip_prefix("http://") else {
        usage_exit(&format!("URL must start with http://: {url:?}"))
    };
    let (host, base) = match after.find('/') {
        Some(i) => (&after[..i], after[i..].trim_end_matches('/')),
        None => (after, ""),
    };
    if host.is_empty() {
        usage_exit(&format!("URL has no host: {url:?}"));
    }
    let conns: usize = parse_num("CONNS", &rest[0]);
    let threads: usize = parse_num("THREADS", &rest[1]);
    let secs: f64 = parse_num("SECONDS", &rest[2]);
    if conns == 0 || threads == 0 || !(secs > 0.0 && secs.is_finite()) {
        usage_exit("CONNS, THREADS and SECONDS must be positive");
    }
    let job = Arc::new(Job {
        mode,
        host: host.to_string(),
        base: base.to_string(),
        signer,
        conns,
    });
    // A request that cannot be signed is a mistake in the arguments, not a
    // server's: find it before the load starts.
    if let Err(e) = next_request(&job, 0, 1, &mut Rng(0)) {
        eprintln!("bench-s3-load: cannot build a request: {e}");
        exit(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-s3-load: tokio runtime: {e}");
            exit(1);
        }
    };
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let results: Vec<Result<Tally, String>> = rt.block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|conn| tokio::spawn(connection(job.clone(), conn, end)))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
        }
        out
    });
    let elapsed = start.elapsed();
    let mut lat: Vec<u32> = Vec::new();
    let (mut serr, mut sockerr) = (0, 0);
    for r in results {
        match r {
            Ok(t) => {
                lat.extend(t.lat);
                serr += t.status_err;
                sockerr += t.sock_err;
            }
            Err(e) => {
                eprintln!("bench-s3-load: {e}");
                exit(1);
            }
        }
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
