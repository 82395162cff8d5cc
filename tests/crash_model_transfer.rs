//! `putfs ops transfer-gap` with its target on the crash-model filesystem
//! (`crates/crashfs`): the power is cut the moment transfer-gap has
//! reported and recorded the transfer as verified, and every gap object
//! must be in the durable image with its exact bytes (and, for rsync -X,
//! its stored digest): the old primary's rollback destroys its own copies
//! on the strength of that record.
//!
//! Two targets: a putfs node (the HTTP transfer; the node fsyncs what it
//! acknowledges) and a plain data root (the rsync transfer; transfer-gap
//! fsyncs every file and every directory on their paths itself, since a
//! `syncfs` does not reach a FUSE filesystem and promises nothing on the
//! model).
//!
//! The checker is shown to see: the node with its directory fsyncs switched
//! off, transfer-gap with its fsync step switched off (`PUTFS_FAULT`, test
//! builds only), and a plain `rsync -aX --fsync` (which fsyncs files but no
//! directory) each lose gap objects.
//!
//! One gap object is already on the target, identical but never fsynced
//! (as a replica fed by a replicator that does not fsync holds it): it must
//! be made durable too, not merely counted as "already there".

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use crashfs::CrashFs;
use ops::*;

/// Already on the target (not durable) before the transfer.
const PRESENT: &str = "new/d1/present.bin";

/// The old primary A (a plain directory served by putfs), its snapshot
/// (a copy) and the gap written after it.
struct OldPrimary {
    dir: tempfile::TempDir,
    root: PathBuf,
    snap: PathBuf,
    _server: Server,
    gap: BTreeMap<String, Vec<u8>>,
}

impl OldPrimary {
    fn new(seed: u64) -> OldPrimary {
        require_tool("rsync");
        let dir = tempdir();
        let root = dir.path().join("a");
        let snap = dir.path().join("snapshot");
        let server = Server::start(&root, &["--heartbeat-interval", "0s"]);
        let mut rng = Rng::new(seed);
        for i in 0..3 {
            let r = server.put(&format!("/old/o{i}.bin"), rng.bytes(2000));
            assert_eq!(r.status, 201);
        }
        cp_a(&root, &snap);
        let mut gap = BTreeMap::new();
        let mut keys: Vec<String> = (0..10)
            .map(|i| format!("new/d{}/e{}/k{i}.bin", i % 3, i % 2))
            .collect();
        keys.extend([
            PRESENT.to_string(),
            "old/late.bin".to_string(),
            "top level.txt".to_string(),
            "new/ünï/big.bin".to_string(),
        ]);
        for key in keys {
            let len = if key.ends_with("big.bin") {
                300 * 1024
            } else {
                rng.range(1, 9000) as usize
            };
            let body = rng.bytes(len);
            let r = server.put(&key_url(&key), body.clone());
            assert_eq!(r.status, 201, "PUT {key} on A");
            gap.insert(key, body);
        }
        OldPrimary {
            dir,
            root,
            snap,
            _server: server,
            gap,
        }
    }

    /// `putfs ops transfer-gap … --to TO` with `PUTFS_FAULT=fault`.
    fn transfer(&self, to: &str, fault: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_putfs"));
        cmd.args(["ops", "transfer-gap", "--snapshot-dir"])
            .arg(&self.snap)
            .arg("--root")
            .arg(&self.root)
            .args(["--to", to]);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PUTFS_") {
                cmd.env_remove(key);
            }
        }
        if let Some(f) = fault {
            cmd.env("PUTFS_FAULT", f);
        }
        cmd.env("PATH", tool_path_env());
        run_cmd(cmd, None, CMD_TIMEOUT)
    }

    /// The newest transfer in the state file must be verified.
    #[track_caller]
    fn assert_recorded_verified(&self, out: &Output) {
        let path = self.dir.path().join(".a.putfs-ops.json");
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("state file")).unwrap();
        let last = state["transfers"]
            .as_array()
            .and_then(|t| t.last())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            last["verified"],
            serde_json::Value::Bool(true),
            "transfer not recorded as verified: {state}\n{}",
            out.describe()
        );
    }

    /// Copies `PRESENT` into the target root with `cp -a` (bytes, mtime and
    /// stored digest, as a replicator would), never fsynced.
    fn plant_unsynced_copy(&self, target_root: &Path) {
        let path = target_root.join(PRESENT);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        cp_a(&self.root.join(PRESENT), &path);
    }

    /// Gap objects missing or wrong in `image` (a data root), with the
    /// stored digest checked too when `digests`.
    fn losses(&self, image: &Path, digests: bool) -> Vec<String> {
        let mut lost = Vec::new();
        for (key, body) in &self.gap {
            let path = image.join(key);
            match std::fs::read(&path) {
                Err(e) => lost.push(format!("{key}: {e}")),
                Ok(data) if data != *body => lost.push(format!(
                    "{key}: {} bytes, not the {} sent",
                    data.len(),
                    body.len()
                )),
                Ok(_) if !digests => {}
                Ok(_) => {
                    let want = format!("v1 {} ", sha_hex(body));
                    let got = get_xattr(&path, "user.putfs.sha256")
                        .map(|v| String::from_utf8_lossy(&v).into_owned());
                    if !got.as_deref().is_some_and(|g| g.starts_with(&want)) {
                        lost.push(format!("{key}: stored digest {got:?}"));
                    }
                }
            }
        }
        lost
    }
}

/// A crash-model mount in a temp dir, and where its image goes.
struct Model {
    // Unmounted (dropped) before its directory is removed.
    fs: CrashFs,
    tmp: tempfile::TempDir,
}

impl Model {
    fn mount() -> Model {
        Model::mount_typed("crashfs")
    }

    /// The model, reported by the kernel as `fuse.<subtype>`.
    fn mount_typed(subtype: &str) -> Model {
        let tmp = tempdir();
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let fs = CrashFs::mount_typed(&mnt, subtype).expect("mount the crash-model filesystem");
        Model { fs, tmp }
    }

    fn mnt(&self) -> PathBuf {
        self.tmp.path().join("mnt")
    }

    /// Cut the power: the durable image's root.
    fn cut(&self) -> PathBuf {
        let image = self.tmp.path().join("image");
        self.fs.cut(&image).expect("cut");
        eprintln!("model saw {:?}", self.fs.stats());
        image
    }

    /// Unmount; the temp dir (with the image) lives on.
    fn unmount(self) -> tempfile::TempDir {
        self.fs.unmount().expect("unmount");
        self.tmp
    }
}

// ---------------------------------------------------------------------------
// HTTP: the target is a putfs node on the model
// ---------------------------------------------------------------------------

/// Transfer to a node on the model (with `node_fault`), cut, return what
/// the image lacks.
fn http_run(node_fault: Option<&str>) -> Vec<String> {
    let a = OldPrimary::new(7);
    let model = Model::mount();
    let b_root = model.mnt().join("b");
    let env: Vec<(&str, &str)> = node_fault.iter().map(|f| ("PUTFS_FAULT", *f)).collect();
    let mut b = Server::start_with_env(&b_root, &["--heartbeat-interval", "0s"], &env);
    a.plant_unsynced_copy(&b_root);
    let out = a.transfer(&format!("http://{}", b.addr), None);
    out.expect(0, "transfer-gap to the node on the model");
    a.assert_recorded_verified(&out);
    let image = model.cut();
    b.kill9();
    let _tmp = model.unmount();
    let lost = a.losses(&image.join("b"), false);
    if lost.is_empty() {
        // The node restarted on the image serves every gap object with the
        // digest it stored.
        let b = Server::start(&image.join("b"), &["--read-only"]);
        for (key, body) in &a.gap {
            let r = b.get(&key_url(key));
            assert_eq!(r.status, 200, "{key} on the restarted node");
            assert_eq!(
                r.header("repr-digest"),
                Some(repr_digest_sha256(body)),
                "{key}: stored digest"
            );
        }
    }
    lost
}

#[test]
fn http_transfer_is_durable_when_it_is_recorded() {
    if !fuse_available() {
        return;
    }
    let lost = http_run(None);
    assert!(lost.is_empty(), "gap objects lost on the node: {lost:#?}");
}

#[test]
fn the_checker_sees_a_node_that_does_not_fsync_directories() {
    if !fuse_available() {
        return;
    }
    let lost = http_run(Some("skip-dir-fsync"));
    assert!(
        !lost.is_empty(),
        "a node without directory fsyncs lost nothing: the checker cannot see"
    );
}

// ---------------------------------------------------------------------------
// rsync: the target is a plain data root on the model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RsyncRun {
    /// `putfs ops transfer-gap --to DIR`.
    TransferGap,
    /// The same with its fsync step switched off.
    WithoutFsyncStep,
    /// `rsync -aX --fsync --files-from` straight into the root.
    PlainRsync,
}

fn rsync_run(how: RsyncRun) -> Vec<String> {
    let a = OldPrimary::new(11);
    let model = Model::mount();
    let dest = model.mnt().join("b");
    std::fs::create_dir_all(dest.join(".putfs")).unwrap();
    model.fs.sync_all();
    a.plant_unsynced_copy(&dest);
    let to = dest.to_str().unwrap();
    match how {
        RsyncRun::TransferGap | RsyncRun::WithoutFsyncStep => {
            let fault = (how == RsyncRun::WithoutFsyncStep).then_some("skip-transfer-fsync");
            let out = a.transfer(to, fault);
            out.expect(0, "transfer-gap to a directory on the model");
            a.assert_recorded_verified(&out);
        }
        RsyncRun::PlainRsync => {
            let list = a.dir.path().join("gap.list");
            let keys: Vec<&str> = a.gap.keys().map(String::as_str).collect();
            std::fs::write(&list, keys.join("\n") + "\n").unwrap();
            run_tool_ok(
                "rsync",
                [
                    "-aX".to_string(),
                    "--fsync".to_string(),
                    format!("--files-from={}", list.display()),
                    format!("{}/", a.root.display()),
                    format!("{to}/"),
                ],
            );
        }
    }
    let image = model.cut();
    let _tmp = model.unmount();
    a.losses(&image.join("b"), true)
}

#[test]
fn rsync_transfer_is_durable_when_it_is_recorded() {
    if !fuse_available() {
        return;
    }
    let lost = rsync_run(RsyncRun::TransferGap);
    assert!(lost.is_empty(), "gap objects lost at the target: {lost:#?}");
}

#[test]
fn the_checker_sees_a_transfer_without_its_fsync_step() {
    if !fuse_available() {
        return;
    }
    let lost = rsync_run(RsyncRun::WithoutFsyncStep);
    assert!(
        !lost.is_empty(),
        "transfer-gap without its fsync step lost nothing: the checker cannot see"
    );
    let lost = rsync_run(RsyncRun::PlainRsync);
    assert!(
        !lost.is_empty(),
        "rsync --fsync alone (no directory fsync) lost nothing: the checker cannot see"
    );
    eprintln!("rsync --fsync alone loses: {lost:#?}");
}

/// A directory destination on a network or user-space remote filesystem
/// (here the model, reported as `fuse.sshfs`): its flock does not exclude
/// B's own putfs and its fsync promises little, so transfer-gap refuses
/// it, naming B's HTTP address as the way, before copying anything. The
/// model itself (`fuse.crashfs`) is accepted by the tests above.
#[test]
fn a_destination_on_a_remote_filesystem_is_refused() {
    if !fuse_available() {
        return;
    }
    let a = OldPrimary::new(13);
    let model = Model::mount_typed("sshfs");
    let dest = model.mnt().join("b");
    std::fs::create_dir_all(dest.join(".putfs")).unwrap();
    let out = a.transfer(dest.to_str().unwrap(), None);
    out.expect(3, "transfer-gap into a directory on fuse.sshfs");
    assert!(
        out.err().contains("sshfs") && out.err().contains("http://"),
        "the refusal names the filesystem and the way through B's HTTP address\n{}",
        out.describe()
    );
    let copied: Vec<&String> = a.gap.keys().filter(|k| dest.join(k).exists()).collect();
    assert!(copied.is_empty(), "copied before refusing: {copied:?}");
    assert!(
        !a.dir.path().join(".a.putfs-ops.json").exists(),
        "a transfer was recorded"
    );
    drop(model.unmount());
}
