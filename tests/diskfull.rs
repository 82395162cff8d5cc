//! A full data root: the PUT is 507, nothing of it is left, and the node
//! keeps working for objects that fit. Needs root (mount -t tmpfs); skips
//! with a message where mounting is not permitted.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// A tmpfs mounted on a fresh tempdir; unmounted on drop, even on panic.
struct Tmpfs {
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempdir();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                mountpoint: dir.path().to_path_buf(),
                _dir: dir,
            }),
            Ok(o) => {
                eprintln!(
                    "SKIP: cannot mount tmpfs ({}): {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mountpoint)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it: detach so the tempdir can go.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

/// Everything left under the root may only be `.putfs/` and, inside it,
/// putfs's own files (heartbeat, writer's lock), never a temp file.
fn leftovers(root: &Path) -> Vec<PathBuf> {
    walk(root)
        .into_iter()
        .filter(|p| {
            let temp = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".putfs-tmp."));
            !p.starts_with(".putfs") || temp
        })
        .collect()
}

#[test]
fn full_disk_is_507_and_leaves_nothing() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    // The server must die before the tmpfs is unmounted: declared after.
    let s = Server::start(fs.path(), &[]);

    let len = 4 * 1024 * 1024;
    let head = request_head(
        "PUT",
        "/big/object.bin",
        &[("Content-Length", &len.to_string())],
    );
    let r = raw_upload_concurrent(s.addr, head, move |w| {
        let chunk = vec![0xA5u8; 64 * 1024];
        for _ in 0..len / chunk.len() {
            if w.write_all(&chunk).is_err() {
                break; // the server answered and closed
            }
        }
    });
    assert_eq!(r.status, 507, "{}", r.text());

    let clean = wait_until(Duration::from_secs(10), || leftovers(fs.path()).is_empty());
    assert!(clean, "a failed PUT left: {:?}", leftovers(fs.path()));
    assert_eq!(s.get("big/object.bin").status, 404);

    // The space came back: a small object fits.
    let r = s.put("small/ok.txt", b"fits".to_vec());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.get("small/ok.txt").body, b"fits");
}

#[test]
fn full_disk_with_chunked_upload_is_507() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let s = Server::start(fs.path(), &[]);
    let head = request_head("PUT", "/chunked.bin", &[("Transfer-Encoding", "chunked")]);
    let r = raw_upload_concurrent(s.addr, head, |w| {
        let chunk = vec![0x5Au8; 64 * 1024];
        let frame_head = format!("{:x}\r\n", chunk.len());
        for _ in 0..64 {
            if w.write_all(frame_head.as_bytes()).is_err()
                || w.write_all(&chunk).is_err()
                || w.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
    });
    assert_eq!(r.status, 507, "{}", r.text());
    let clean = wait_until(Duration::from_secs(10), || leftovers(fs.path()).is_empty());
    assert!(clean, "a failed PUT left: {:?}", leftovers(fs.path()));
}
