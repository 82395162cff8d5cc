//! Bounds on what clients can make putfs hold: connections, requests in
//! flight, uploads, blocking threads, and the open files all of these need.
//!
//! Every bound is explicit so that overload is answered (`503` with
//! `Retry-After`) instead of growing memory, threads or descriptors until
//! something fails less clearly (`EMFILE` on an fsync path, a runtime with
//! every blocking thread stuck behind slow uploaders). At start-up the soft
//! `RLIMIT_NOFILE` is raised to the hard limit and the configured bounds are
//! checked against it: a server that could run out of descriptors at full
//! load refuses to start and says which numbers to change.

use std::time::Duration;

/// Bounds on connections, requests and threads, from the command line.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_requests: usize,
    pub max_uploads: usize,
    pub blocking_threads: usize,
    pub idle_timeout: Duration,
}

/// Connections accepted beyond `--max-connections` only to be answered
/// `503`; past these, new connections wait in the kernel's listen backlog.
pub const OVERFLOW_CONNECTIONS: usize = 32;

/// `/.putfs/` requests (ready, metrics, heartbeat) in flight at once. They
/// are not counted in `--max-requests`, so health checks and scrapes are
/// still answered when the server is saturated, but they are bounded too.
pub const INTERNAL_REQUESTS: usize = 16;

/// Blocking threads beyond `--max-requests`: the `/.putfs/` endpoints and
/// background work (orphan cleanup, heartbeat writer, replication watch).
/// With these, a request never waits for a blocking thread held by another.
pub const BLOCKING_RESERVE: usize = INTERNAL_REQUESTS + 16;

/// Descriptors held whatever the load: listener, runtime, stdio, the data
/// root, the writer's lock, file watchers, the forwarder's client.
const FD_RESERVE: u64 = 64;

/// Descriptors an internal request may hold (ready opens the root).
const FDS_PER_INTERNAL: u64 = 4;

/// Descriptors an upload holds beyond any request's: its temp file and the
/// directory it is published in.
const FDS_PER_UPLOAD: u64 = 2;

/// Check the bounds against each other (not yet against the system).
pub fn check(l: &Limits) -> Result<(), String> {
    for (flag, v) in [
        ("--max-connections", l.max_connections),
        ("--max-requests", l.max_requests),
        ("--max-uploads", l.max_uploads),
    ] {
        if v == 0 {
            return Err(format!("{flag} must be at least 1"));
        }
    }
    if l.idle_timeout.is_zero() {
        return Err("--idle-timeout must be more than 0s".into());
    }
    let needed = l.max_requests.saturating_add(BLOCKING_RESERVE);
    if l.blocking_threads < needed {
        return Err(format!(
            "--blocking-threads {} is too few for --max-requests {}: every request in flight \
             may hold a blocking thread (an upload holds one for its whole body), and \
             {BLOCKING_RESERVE} more are kept for /.putfs/ and background work; use \
             --blocking-threads {needed} or more, or lower --max-requests",
            l.blocking_threads, l.max_requests
        ));
    }
    Ok(())
}

/// The most descriptors the configured bounds let clients make putfs hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    pub connections: u64,
    pub per_request: u64,
    pub requests: u64,
    pub uploads: u64,
    pub fixed: u64,
}

impl FdBudget {
    /// Worst cases: a listing holds one directory per level (at most
    /// `--max-depth`) plus its prefix's; an upload holds the parents of the
    /// directories it created (at most `--max-depth`) besides its own two.
    pub fn new(l: &Limits, max_depth: usize) -> FdBudget {
        let n = |v: usize| v as u64;
        let per_request = n(max_depth) + 2;
        FdBudget {
            connections: n(l.max_connections).saturating_add(n(OVERFLOW_CONNECTIONS)),
            per_request,
            requests: n(l.max_requests).saturating_mul(per_request),
            uploads: n(l.max_uploads).saturating_mul(FDS_PER_UPLOAD),
            fixed: FD_RESERVE + n(INTERNAL_REQUESTS) * FDS_PER_INTERNAL,
        }
    }

    pub fn total(&self) -> u64 {
        self.connections
            .saturating_add(self.requests)
            .saturating_add(self.uploads)
            .saturating_add(self.fixed)
    }

    /// `Err` with the whole computation when `open_files` is too few.
    pub fn fits(&self, l: &Limits, max_depth: usize, open_files: u64) -> Result<(), String> {
        if self.total() <= open_files {
            return Ok(());
        }
        Err(format!(
            "the configured limits need up to {total} open files but this process may open \
             {open_files} (RLIMIT_NOFILE's hard limit): {conns} for --max-connections {mc} \
             (+{OVERFLOW_CONNECTIONS} answered 503), {reqs} for --max-requests {mr} \
             x {per} (--max-depth {max_depth} + 2), {ups} for --max-uploads {mu} \
             x {FDS_PER_UPLOAD}, {fixed} reserved. Lower --max-connections, --max-requests, \
             --max-uploads or --max-depth, or raise the hard limit (ulimit -Hn, systemd \
             LimitNOFILE=)",
            total = self.total(),
            conns = self.connections,
            mc = l.max_connections,
            reqs = self.requests,
            mr = l.max_requests,
            per = self.per_request,
            ups = self.uploads,
            mu = l.max_uploads,
            fixed = self.fixed,
        ))
    }
}

/// Raise the soft `RLIMIT_NOFILE` as far as the hard limit allows and
/// return the limit now in force. The soft limit's usual 1024 exists for
/// programs that use `select(2)`; putfs does not.
pub fn raise_open_files() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let Some(current) = lim.current else {
        return u64::MAX;
    };
    // An unlimited hard limit still stops at the kernel's fs.nr_open.
    let target = lim.maximum.unwrap_or_else(nr_open);
    if target <= current {
        return current;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: lim.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(e) => {
            tracing::warn!(error = %e, current, target, "cannot raise the open-file limit");
            current
        }
    }
}

fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(conns: usize, reqs: usize, ups: usize, threads: usize) -> Limits {
        Limits {
            max_connections: conns,
            max_requests: reqs,
            max_uploads: ups,
            blocking_threads: threads,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn defaults_are_consistent_and_need_about_ten_thousand_files() {
        let l = limits(1024, 256, 64, 512);
        check(&l).unwrap();
        let b = FdBudget::new(&l, 32);
        assert_eq!(b.per_request, 34);
        assert_eq!(b.total(), 1024 + 32 + 256 * 34 + 64 * 2 + 64 + 16 * 4);
        assert!(b.fits(&l, 32, 20_000).is_ok());
    }

    #[test]
    fn too_few_files_names_the_numbers_and_flags() {
        let l = limits(1024, 256, 64, 512);
        let b = FdBudget::new(&l, 32);
        let msg = b.fits(&l, 32, 4096).unwrap_err();
        for part in [
            &b.total().to_string(),
            "4096",
            "--max-connections 1024",
            "--max-requests 256",
            "--max-uploads 64",
            "--max-depth 32",
            "RLIMIT_NOFILE",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        assert!(b.fits(&l, 32, b.total()).is_ok());
        assert!(b.fits(&l, 32, b.total() - 1).is_err());
    }

    #[test]
    fn blocking_threads_must_cover_requests_and_the_reserve() {
        assert!(check(&limits(10, 100, 10, 100 + BLOCKING_RESERVE)).is_ok());
        let msg = check(&limits(10, 100, 10, 100 + BLOCKING_RESERVE - 1)).unwrap_err();
        assert!(msg.contains("--blocking-threads") && msg.contains("--max-requests 100"));
        assert!(check(&limits(0, 1, 1, 512)).is_err());
        assert!(check(&limits(1, 0, 1, 512)).is_err());
        assert!(check(&limits(1, 1, 0, 512)).is_err());
        let mut l = limits(1, 1, 1, 512);
        l.idle_timeout = Duration::ZERO;
        assert!(check(&l).is_err());
    }

    #[test]
    fn huge_limits_saturate_instead_of_overflowing() {
        let l = limits(usize::MAX, usize::MAX, usize::MAX, usize::MAX);
        assert_eq!(FdBudget::new(&l, 32).total(), u64::MAX);
    }
}
