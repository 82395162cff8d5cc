//! What a writable server accepts as its data root: one writer per root (a
//! lock held for the life of the process), a new root created and marked,
//! and an existing directory without putfs's marker refused (the empty
//! mountpoint of a dataset that is not mounted, above all).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Run `putfs serve` expecting it to refuse: its exit code and stderr.
fn refused(root: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_putfs"))
        .arg("serve")
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("PUTFS_INIT")
        .env_remove("PUTFS_READ_ONLY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn putfs");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(!stdout.contains("listening"), "it served: {stdout}");
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("putfs serve did not refuse {} in time", root.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_writable_server_on_a_root_refuses_to_start() {
    let dir = tempdir();
    let first = Server::start(dir.path(), &[]);
    assert_eq!(first.put("k", b"x".to_vec()).status, 201);
    let (code, err) = refused(dir.path(), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("already serving"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    // Read-only servers take no lock and are unaffected.
    let replica = Server::start(dir.path(), &["--read-only"]);
    assert_eq!(replica.get("k").body, b"x");
    // The first server still serves.
    assert_eq!(first.put("k2", b"y".to_vec()).status, 201);
}

#[test]
fn init_in_the_environment_does_not_stop_a_replica() {
    let dir = tempdir();
    for v in ["false", "true"] {
        let r = Server::start_with_env(dir.path(), &["--read-only"], &[("PUTFS_INIT", v)]);
        assert_eq!(r.get("/.putfs/live").status, 200);
    }
    assert!(
        !dir.path().join(".putfs").exists(),
        "a replica marked its root"
    );
}

#[test]
fn the_lock_goes_with_the_process() {
    let dir = tempdir();
    let mut first = Server::start(dir.path(), &[]);
    first.kill9();
    let second = Server::start(dir.path(), &[]);
    assert_eq!(second.put("k", b"x".to_vec()).status, 201);
}

#[test]
fn an_existing_directory_without_the_marker_is_refused() {
    let dir = tempdir();
    // What a bare mountpoint looks like, or a directory of unrelated files.
    std::fs::write(dir.path().join("unrelated"), "x").unwrap();
    let (code, err) = refused(dir.path(), &[]);
    assert_ne!(code, 0);
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("not a putfs data root"), "{err}");
    assert!(err.contains("mount"), "{err}");
    assert!(err.contains("--init"), "{err}");
    assert!(!dir.path().join(".putfs").exists(), "nothing was created");
    let empty = tempdir();
    let (code, _) = refused(empty.path(), &[]);
    assert_ne!(code, 0);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    // --init makes it a root; from then on it is accepted as it is.
    let s = Server::start(dir.path(), &["--init"]);
    assert_eq!(s.put("k", b"x".to_vec()).status, 201);
    drop(s);
    assert!(dir.path().join(".putfs").is_dir());
    let s = Server::start(dir.path(), &["--fsync", "always"]);
    assert_eq!(s.get("k").body, b"x");
}

#[test]
fn a_missing_root_is_created_and_marked() {
    let dir = tempdir();
    let root = dir.path().join("new/nested/root");
    let s = Server::start(&root, &[]);
    assert_eq!(s.put("k", b"x".to_vec()).status, 201);
    assert!(root.join(".putfs").is_dir());
}

#[test]
fn files_and_missing_read_only_roots_are_named() {
    let dir = tempdir();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, err) = refused(&file, &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("a-file") && err.contains("not a directory"),
        "{err}"
    );
    let missing = dir.path().join("missing");
    let (code, err) = refused(&missing, &["--read-only"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("missing") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!missing.exists(), "a read-only server created its root");
}

/// The failover trap itself: a data root on its own filesystem, unmounted,
/// leaves the bare mountpoint behind. A writable server must not take it.
#[test]
fn the_bare_mountpoint_of_an_unmounted_filesystem_is_refused() {
    if !is_root() {
        assert!(
            std::env::var_os("PUTFS_REQUIRE_TOOLS").is_none(),
            "this test needs root to mount a tmpfs"
        );
        eprintln!("skipped: needs root to mount a tmpfs");
        return;
    }
    let dir = tempdir();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&mnt));
    let guard = Unmount(mnt.clone());
    let s = Server::start(&mnt, &["--init"]);
    assert_eq!(s.put("k", b"on the filesystem".to_vec()).status, 201);
    // Unmounted under the running server (lazily: it holds the mount busy):
    // it must not write into the bare directory either.
    run(Command::new("umount").arg("-l").arg(&mnt));
    let stopped = wait_until(Duration::from_secs(10), || {
        s.put("k2", b"beside it".to_vec()).status == 500
    });
    assert!(stopped, "kept serving writes after its root was unmounted");
    // Log lines reach stderr through a queue: poll, do not assume.
    let logged = wait_until(Duration::from_secs(10), || {
        s.logs().contains("the data root changed")
    });
    assert!(logged, "{}", s.logs());
    assert_eq!(s.get("/.putfs/ready").status, 503);
    drop(s);
    drop(guard);
    let (code, err) = refused(&mnt, &[]);
    assert_ne!(code, 0, "served the bare mountpoint");
    assert!(err.contains("mount it first"), "{err}");
    assert_eq!(
        std::fs::read_dir(&mnt).unwrap().count(),
        0,
        "wrote beside it"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &mut Command) {
    let st = cmd.status().expect("run");
    assert!(st.success(), "{cmd:?}: {st}");
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let st = Command::new("umount").arg(&self.0).status();
        if !matches!(st, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}
