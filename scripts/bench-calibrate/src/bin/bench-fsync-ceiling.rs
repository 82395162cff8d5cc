//! bench-fsync-ceiling DIR THREADS SECONDS: how many new files per second
//! this file system makes durable when every file pays its own fsyncs, the
//! ceiling a durable PUT without group commit would have.
//!
//! Each of THREADS threads, in its own directory DIR/tN, loops for SECONDS:
//! write a new 1 KiB file under a temp name, fsync it, rename it to its
//! final name, fsync the directory. Prints one line
//! `CEILING files seconds p50_us p99_us` (latency of one whole file).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is open and ours.
    let rc = unsafe { libc::fsync(fd) };
    let err = std::io::Error::last_os_error();
    // SAFETY: as above.
    unsafe { libc::close(fd) };
    if rc < 0 { Err(err) } else { Ok(()) }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench-fsync-ceiling DIR THREADS SECONDS");
        std::process::exit(2);
    }
    let root = Path::new(&args[1]).to_path_buf();
    let threads: usize = args[2].parse().expect("THREADS");
    let secs: f64 = args[3].parse().expect("SECONDS");
    let body = [b'c'; 1024];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dir = root.join(format!("t{t}"));
            std::thread::spawn(move || {
                fs::create_dir_all(&dir).expect("mkdir");
                let mut lat = Vec::new();
                let mut n = 0u64;
                while Instant::now() < end {
                    let t0 = Instant::now();
                    let tmp = dir.join(format!(".tmp-{n}"));
                    let mut f = File::create_new(&tmp).expect("create");
                    f.write_all(&body).expect("write");
                    f.sync_all().expect("fsync file");
                    drop(f);
                    fs::rename(&tmp, dir.join(format!("{n}.bin"))).expect("rename");
                    fsync_dir(&dir).expect("fsync dir");
                    lat.push(t0.elapsed().as_micros() as u64);
                    n += 1;
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| putfs_bench_calibrate::percentile(&lat, p);
    println!(
        "CEILING {} {:.3} {} {}",
        lat.len(),
        elapsed,
        pct(0.50),
        pct(0.99)
    );
}
