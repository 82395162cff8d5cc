//! A 1 GiB upload (size from PUTFS_TEST_BIG_MB, default 1024) streamed from
//! a generator, never held in memory on either side, while the server's
//! resident memory is sampled: it must stay bounded.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sha2::Digest as _;

use common::*;

const RSS_LIMIT_KIB: u64 = 100 * 1024;
const BLOCK: usize = 1024 * 1024;

/// Where the generator's bytes are hashed: coreutils' `sha256sum` (fast
/// even when this test is built without optimisation, and on the other
/// core), or in-process as a fallback.
enum Hasher {
    External(std::process::ChildStdin),
    Internal(Arc<Mutex<sha2::Sha256>>),
}

impl Hasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::External(stdin) => stdin.write_all(data).expect("feed sha256sum"),
            Hasher::Internal(h) => h.lock().unwrap().update(data),
        }
    }
}

/// Yields `remaining` bytes: a random 1 MiB block repeated, each copy
/// stamped with its index, hashed as it goes.
struct Generator {
    block: Vec<u8>,
    index: u64,
    offset: usize,
    remaining: u64,
    hasher: Hasher,
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        if self.offset == 0 {
            self.block[..8].copy_from_slice(&self.index.to_le_bytes());
        }
        let n = buf
            .len()
            .min(BLOCK - self.offset)
            .min(self.remaining as usize);
        buf[..n].copy_from_slice(&self.block[self.offset..self.offset + n]);
        self.hasher.update(&buf[..n]);
        self.offset += n;
        if self.offset == BLOCK {
            self.offset = 0;
            self.index += 1;
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            // Close sha256sum's stdin so it prints the digest.
            self.hasher = Hasher::Internal(Arc::default());
        }
        Ok(n)
    }
}

fn free_bytes(path: &std::path::Path) -> u64 {
    let c = std::ffi::CString::new(path.as_os_str().to_str().unwrap()).unwrap();
    // SAFETY: statvfs fills the zeroed struct we own.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.f_bavail as u64 * st.f_frsize as u64
    }
}

#[test]
fn big_upload_streams_in_bounded_memory() {
    let mb: u64 = std::env::var("PUTFS_TEST_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let len = mb * 1024 * 1024;
    let dir = tempdir();
    let free = free_bytes(dir.path());
    if free < len + len / 10 + 256 * 1024 * 1024 {
        eprintln!(
            "SKIP: {} has {free} bytes free, need about {len}",
            dir.path().display()
        );
        return;
    }
    let s = Server::start(dir.path(), &[]);
    let pid = s.pid();

    let done = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, max_rss) = (done.clone(), max_rss.clone());
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(kib) = proc_status_kib(pid, "VmRSS") {
                    max_rss.fetch_max(kib, Ordering::SeqCst);
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let internal = Arc::new(Mutex::new(sha2::Sha256::new()));
    let mut sha256sum = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok();
    let hasher = match sha256sum.as_mut() {
        Some(child) => Hasher::External(child.stdin.take().unwrap()),
        None => Hasher::Internal(internal.clone()),
    };
    let generator = Generator {
        block: Rng::new(42).bytes(BLOCK),
        index: 0,
        offset: 0,
        remaining: len,
        hasher,
    };
    let started = Instant::now();
    let r = send(
        client()
            .put(s.url("big/one.bin"))
            .body(reqwest::blocking::Body::sized(generator, len)),
    );
    let elapsed = started.elapsed();
    // Peak over the process's whole life, so no sample can miss it.
    let hwm = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    eprintln!(
        "uploaded {mb} MiB in {elapsed:?}; max sampled VmRSS {} KiB, VmHWM {hwm} KiB",
        max_rss.load(Ordering::SeqCst)
    );

    assert_eq!(r.status, 201, "{}", r.text());
    let digest: [u8; 32] = match sha256sum {
        Some(child) => {
            let out = child.wait_with_output().expect("sha256sum output");
            assert!(out.status.success(), "sha256sum failed");
            let hex_digest = String::from_utf8(out.stdout).unwrap();
            hex::decode(&hex_digest[..64]).unwrap().try_into().unwrap()
        }
        None => internal.lock().unwrap().clone().finalize().into(),
    };
    assert_eq!(
        r.header("repr-digest"),
        Some(format!("sha-256=:{}:", b64(&digest)))
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("big/one.bin"))
            .unwrap()
            .len(),
        len
    );
    assert!(
        max_rss.load(Ordering::SeqCst) < RSS_LIMIT_KIB,
        "server RSS reached {} KiB",
        max_rss.load(Ordering::SeqCst)
    );
    assert!(hwm < RSS_LIMIT_KIB, "server peak RSS (VmHWM) {hwm} KiB");

    // The tail reads back through a range (cheap check of the last block).
    let last_block_index = (len - 1) / BLOCK as u64;
    let tail = send(
        client()
            .get(s.url("big/one.bin"))
            .header("Range", format!("bytes={}-", len - 16)),
    );
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body.len(), 16);
    if len.is_multiple_of(BLOCK as u64) && last_block_index > 0 {
        let block = Rng::new(42).bytes(BLOCK);
        assert_eq!(tail.body, block[BLOCK - 16..]);
    }
}
