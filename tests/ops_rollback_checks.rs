//! `putfs ops rollback`'s checks, each on its own, on real zfs-fuse: the
//! old primary A is a dataset `POOL/putfs` (each test its own pool on a
//! file vdev) mounted at its mountpoint and served by putfs, snapshotted
//! as `@s1`; the new primary B is a plain directory holding a copy of
//! `@s1` (taken from a clone of it), served by putfs. `putfs ops` runs
//! with a thin `zfs` first on PATH that hands everything to the real zfs
//! and, for `zfs rollback`, first notes whether putfs's writer's lock on
//! A is held (`flock -n`) and by whom. ops_zfs.rs and ops_plans_zfs.rs
//! run the whole runbook.
//!
//! - the deletes A acknowledged after the snapshot: rollback refuses until
//!   a delete run to the transfer's destination covers them, or they are
//!   dropped on purpose (`--keep-deleted`); either way the list is saved
//!   first, and `apply-deletes` applies it later;
//! - the writer's lock is held from the last check through `zfs rollback`
//!   (by the rollback itself), and each override says what it overrides;
//! - the plan names the transfer it relies on;
//! - a rerun after later snapshots, with nothing of the gap left, is not
//!   blamed on writes.
//!
//! zfs-fuse is one machine-wide daemon: the tests share one lab (started
//! by the first, torn down by an `atexit` handler when the test process
//! exits) and take turns, each on its own pool, destroyed when it ends.
//! Without zfs-fuse each test prints `SKIP:` and passes, unless
//! `PUTFS_REQUIRE_ZFS=1`.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use common::*;
use ops::*;

/// Deleted on A after the snapshot, acknowledged.
const GONE: [&str; 2] = ["gone/one.bin", "gone/deep/two.bin"];
const SNAP: &str = "s1";

/// The zfs-fuse lab all tests of this process share, one at a time.
static ZFS: Mutex<Option<ZfsLab>> = Mutex::new(None);
static TEAR_DOWN_AT_EXIT: Once = Once::new();

/// Destroys what is left of the shared lab and stops the daemon it
/// started; runs when the test process exits.
extern "C" fn tear_down_zfs() {
    let lab = ZFS.lock().unwrap_or_else(PoisonError::into_inner).take();
    // A panic must not unwind out of an `extern "C"` function.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(lab)));
}

/// This test's turn on the shared lab (started if need be); `None` after
/// printing `SKIP:` when zfs-fuse cannot run here.
fn zfs_turn(test: &str) -> Option<MutexGuard<'static, Option<ZfsLab>>> {
    if let Some(why) = zfs_unavailable() {
        if std::env::var("PUTFS_REQUIRE_ZFS").as_deref() == Ok("1") {
            panic!("PUTFS_REQUIRE_ZFS=1 but ZFS tests cannot run: {why}");
        }
        println!("SKIP: {test}: {why}");
        return None;
    }
    // A test that failed while it held the lab leaves it poisoned; its own
    // pool is gone (Lab's drop) and the lab is as good as before.
    let mut turn = ZFS.lock().unwrap_or_else(PoisonError::into_inner);
    if turn.is_none() {
        TEAR_DOWN_AT_EXIT.call_once(|| {
            // SAFETY: registers a plain function that takes no arguments.
            assert_eq!(unsafe { libc::atexit(tear_down_zfs) }, 0, "atexit");
        });
        *turn = Some(ZfsLab::start());
    }
    Some(turn)
}

/// What the `zfs` first on PATH writes for each `zfs rollback`, before
/// running it.
const ZFS_WRAPPER: &str = r#"#!/usr/bin/env bash
# The real zfs; for `zfs rollback`, first appends to LOG (tab-separated):
# rollback, its target, lock=held|free|error:CODE (putfs's writer's lock on
# ROOT, tried with flock -n), the lock file's first line (who holds it),
# and the pid of the process that ran this zfs.
if [[ ${1-} == rollback ]]; then
  lock=@ROOT@/.putfs/lock
  flock -n -E 75 -x "$lock" true 2>/dev/null
  rc=$?
  case $rc in 0) st=free ;; 75) st=held ;; *) st="error:$rc" ;; esac
  holder=$(head -n 1 "$lock" 2>/dev/null)
  printf 'rollback\t%s\tlock=%s\tholder=%s\tcaller=%s\n' "${!#}" "$st" "$holder" "$PPID" >>@LOG@
fi
exec @REAL@ "$@"
"#;

/// One `zfs rollback` as the wrapper saw it.
#[derive(Debug)]
struct SeenRollback {
    target: String,
    /// "held", "free" or "error:CODE".
    lock: String,
    /// The lock file's first line: `PID [WHAT]`.
    holder: String,
    /// The pid of the process that ran `zfs rollback`.
    caller: String,
}

struct Lab {
    pool: String,
    ds: String,
    /// A's data root: where `ds` is mounted.
    root: PathBuf,
    /// A's objects when `@s1` was taken (key → sha256).
    at_snap: BTreeMap<String, String>,
    bin: PathBuf,
    log: PathBuf,
    /// The new primary B (a copy of `@s1`) and its putfs.
    b_root: PathBuf,
    b: Option<Server>,
    dir: tempfile::TempDir,
    /// Released last, after drop() destroyed the pool.
    zfs: MutexGuard<'static, Option<ZfsLab>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.b.take());
        if let Some(lab) = self.zfs.as_mut() {
            lab.destroy_pool(&self.pool);
        }
    }
}

impl Lab {
    /// A (dataset `rb-TAG-PID/putfs`) wrote objects, was snapshotted (`s1`,
    /// which B holds), then wrote a gap and deleted `GONE`; A's putfs is
    /// gone, B's serves. `None` when the test is skipped.
    fn new(tag: &str) -> Option<Lab> {
        let mut turn = zfs_turn(&format!("ops_rollback_checks ({tag})"))?;
        let pool = format!("rb-{tag}-{}", std::process::id());
        let ds = format!("{pool}/putfs");
        let zfs = turn.as_mut().unwrap();
        zfs.create_pool(&pool);
        zfs.zfs_ok(["create", &ds]);
        let root = zfs.ensure_mounted(&ds);
        let dir = tempdir();
        let bin = dir.path().join("bin");
        let log = dir.path().join("zfs.log");
        std::fs::create_dir_all(&bin).unwrap();
        let quote = |p: &Path| format!("'{}'", p.display());
        let script = ZFS_WRAPPER
            .replace("@ROOT@", &quote(&root))
            .replace("@LOG@", &quote(&log))
            .replace("@REAL@", &quote(&require_tool("zfs")));
        require_tool("flock");
        std::fs::write(bin.join("zfs"), script).unwrap();
        std::fs::set_permissions(
            bin.join("zfs"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // Built before anything else can fail, so that its drop destroys
        // the pool whatever happens next.
        let mut lab = Lab {
            pool,
            ds,
            b_root: dir.path().join("b"),
            root,
            at_snap: BTreeMap::new(),
            bin,
            log,
            b: None,
            dir,
            zfs: turn,
        };
        lab.write_the_story();
        Some(lab)
    }

    fn write_the_story(&mut self) {
        let mut a = Server::start(&self.root, &["--heartbeat-interval", "0s"]);
        let mut rng = Rng::from_time();
        let put = |s: &Server, key: &str, body: Vec<u8>| {
            let r = s.put(&key_url(key), body);
            assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
        };
        for key in ["keep/k1.bin", "keep/k2.bin"].iter().chain(GONE.iter()) {
            put(&a, key, rng.bytes(900));
        }
        // As zrepl takes it: while A's putfs runs.
        self.zfs().zfs_ok(["snapshot", &self.snap(SNAP)]);
        self.at_snap = object_tree(&self.root);
        self.b_root_from_snapshot();
        for i in 0..3 {
            put(&a, &format!("gap/g{i}.bin"), rng.bytes(2000));
        }
        for key in GONE {
            assert_eq!(a.delete(&key_url(key)).status, 204, "DELETE {key} on A");
        }
        a.kill9();
        self.b = Some(Server::start(&self.b_root, &["--heartbeat-interval", "0s"]));
        assert_eq!(object_tree(&self.b_root), self.at_snap, "B holds @{SNAP}");
    }

    /// B's directory: a copy of `@s1`, read from a clone of it.
    fn b_root_from_snapshot(&self) {
        let zfs = self.zfs();
        let seed = format!("{}/seed", self.pool);
        let mp = self.dir.path().join("seed");
        zfs.zfs_ok([
            "clone",
            "-o",
            "readonly=on",
            "-o",
            &format!("mountpoint={}", mp.display()),
            &self.snap(SNAP),
            &seed,
        ]);
        let mounted = zfs.ensure_mounted(&seed);
        cp_a(&mounted, &self.b_root);
        // zfs-fuse calls a clone just read from busy for a moment.
        let mut last = None;
        let gone = wait_until(Duration::from_secs(30), || {
            let out = zfs.zfs(["destroy", &seed]);
            let done = out.code == Some(0);
            if !done {
                assert!(out.err().contains("busy"), "{}", out.describe());
                std::thread::sleep(Duration::from_millis(200));
            }
            last = Some(out);
            done
        });
        assert!(gone, "{}", last.map(|o| o.describe()).unwrap_or_default());
    }

    fn zfs(&self) -> &ZfsLab {
        self.zfs.as_ref().expect("the lab runs")
    }

    fn snap(&self, name: &str) -> String {
        format!("{}@{name}", self.ds)
    }

    fn b_url(&self) -> String {
        format!("http://{}", self.b.as_ref().expect("B serves").addr)
    }

    /// `putfs ops CMD --dataset DS …` with the wrapper first on PATH.
    fn ops(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![cmd, "--dataset", self.ds.as_str()];
        args.extend_from_slice(extra);
        putfs_ops_with_path_first(&self.bin, args)
    }

    fn transfer(&self, extra: &[&str]) -> Output {
        let to = self.b_url();
        let mut args = vec!["--snapshot", SNAP, "--to", to.as_str()];
        args.extend_from_slice(extra);
        self.ops("transfer-gap", &args)
    }

    fn rollback(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--snapshot", SNAP];
        args.extend_from_slice(extra);
        self.ops("rollback", &args)
    }

    /// Every `zfs rollback` `putfs ops` ran, as the wrapper saw it.
    fn rollbacks(&self) -> Vec<SeenRollback> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let field = |i: usize, name: &str| {
                    f.get(i)
                        .and_then(|v| v.strip_prefix(name))
                        .unwrap_or_else(|| panic!("no {name} in the wrapper's line {l:?}"))
                        .to_owned()
                };
                SeenRollback {
                    target: field(1, ""),
                    lock: field(2, "lock="),
                    holder: field(3, "holder="),
                    caller: field(4, "caller="),
                }
            })
            .collect()
    }

    fn state(&self) -> serde_json::Value {
        // The default: beside the data root.
        let path = self.root.parent().unwrap().join(".putfs.putfs-ops.json");
        serde_json::from_slice(&std::fs::read(path).expect("state file")).expect("state JSON")
    }

    fn on_b(&self, key: &str) -> bool {
        self.b_root.join(key).exists()
    }

    /// A as it is now (objects, key → sha256).
    fn a_tree(&self) -> BTreeMap<String, String> {
        object_tree(&self.root)
    }

    /// Nothing of A changed: the gap is there, `GONE` is not, and so are
    /// its snapshots.
    #[track_caller]
    fn assert_a_untouched(&self, snapshots: &[&str], what: &str) {
        let tree = self.a_tree();
        assert!(
            (0..3).all(|i| tree.contains_key(&format!("gap/g{i}.bin")))
                && GONE.iter().all(|k| !tree.contains_key(*k)),
            "{what}: A's gap changed: {tree:?}"
        );
        assert_eq!(self.zfs().snapshots(&self.ds), snapshots, "{what}");
    }

    /// A is back at `@s1`: the gap gone, `GONE` back.
    #[track_caller]
    fn assert_a_rolled_back(&self, what: &str) {
        assert_eq!(self.a_tree(), self.at_snap, "{what}: A is not at @{SNAP}");
    }
}

fn gone() -> BTreeSet<String> {
    GONE.iter().map(|k| k.to_string()).collect()
}

/// The keys of the newest saved list of deletes in the state file.
fn saved_deletes(state: &serde_json::Value) -> BTreeSet<String> {
    let last = state["saved_deletes"]
        .as_array()
        .and_then(|a| a.last())
        .unwrap_or_else(|| panic!("no saved_deletes in the state file: {state:#}"));
    last["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no objects in {last}"))
        .iter()
        .map(|o| o["key"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn rollback_refuses_until_the_deletes_are_applied() {
    let Some(lab) = Lab::new("deletes") else {
        return;
    };
    lab.transfer(&[])
        .expect(0, "transfer-gap, deletes not applied");

    let refused = lab.rollback(&["--yes"]);
    refused.expect(3, "rollback with acknowledged deletes not applied at B");
    let err = refused.err();
    for key in GONE {
        assert!(
            err.contains(key),
            "the refusal names {key}\n{}",
            refused.describe()
        );
    }
    assert!(
        err.contains("--apply-deletes") && err.contains("--keep-deleted"),
        "the refusal gives both ways on\n{}",
        refused.describe()
    );
    assert!(lab.rollbacks().is_empty(), "rolled back anyway");
    lab.assert_a_untouched(&[SNAP], "a refused rollback");

    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    assert!(GONE.iter().all(|k| !lab.on_b(k)));
    let done = lab.rollback(&["--yes"]);
    done.expect(0, "rollback once the deletes are applied");
    assert_eq!(lab.rollbacks().len(), 1, "{}", done.describe());
    lab.assert_a_rolled_back("rollback");
    // The list outlives the rollback, which find-gap can no longer see.
    assert_eq!(saved_deletes(&lab.state()), gone());
}

#[test]
fn keep_deleted_goes_ahead_and_the_saved_list_applies_later() {
    let Some(lab) = Lab::new("keep") else {
        return;
    };
    lab.transfer(&[]).expect(0, "transfer-gap");
    let out = lab.rollback(&["--keep-deleted", "--yes"]);
    out.expect(0, "rollback --keep-deleted");
    assert_eq!(lab.rollbacks().len(), 1);
    lab.assert_a_rolled_back("rollback --keep-deleted");
    assert!(GONE.iter().all(|k| lab.on_b(k)), "nothing deleted at B");
    assert_eq!(saved_deletes(&lab.state()), gone());

    // After the rollback find-gap sees no delete; the saved list still does.
    let to = lab.b_url();
    let applied = lab.ops("apply-deletes", &["--snapshot", SNAP, "--to", &to, "--yes"]);
    applied.expect(0, "apply-deletes from the saved list");
    for key in GONE {
        assert!(!lab.on_b(key), "{key} still at B\n{}", applied.describe());
    }
    let runs = lab.state()["deletes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = runs.last().expect("the run is recorded");
    assert_eq!(last["destination"], to.as_str());
}

#[test]
fn rollback_holds_the_writer_lock_and_each_override_overrides_one_thing() {
    let Some(lab) = Lab::new("lock") else {
        return;
    };
    // A writable putfs on A by mistake, and no transfer yet.
    let a = Server::start(&lab.root, &["--heartbeat-interval", "0s"]);
    let pid = format!("pid {}", a.pid());
    let served = lab.rollback(&["--yes"]);
    served.expect(3, "rollback while A's putfs serves writable");
    assert!(served.err().contains(&pid), "{}", served.describe());
    // Overriding the writer check does not skip the transfer check...
    let no_transfer = lab.rollback(&["--ignore-writer", "--yes"]);
    no_transfer.expect(3, "--ignore-writer without a verified transfer");
    assert!(
        no_transfer.err().contains("transfer-gap"),
        "{}",
        no_transfer.describe()
    );
    // ...and discarding the gap does not skip the writer check.
    let writer = lab.rollback(&["--discard-gap", "--keep-deleted", "--yes"]);
    writer.expect(3, "--discard-gap while a writable putfs serves A");
    assert!(writer.err().contains(&pid), "{}", writer.describe());
    assert!(lab.rollbacks().is_empty());
    lab.assert_a_untouched(&[SNAP], "refused rollbacks");
    drop(a);

    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    let done = lab.rollback(&["--yes"]);
    done.expect(0, "rollback");
    lab.assert_a_rolled_back("rollback");
    let seen = lab.rollbacks();
    assert_eq!(seen.len(), 1, "{seen:?}\n{}", done.describe());
    let r = &seen[0];
    assert_eq!(r.target, lab.snap(SNAP), "{seen:?}");
    assert_eq!(
        r.lock, "held",
        "no putfs may start writing while zfs rollback runs: {r:?}"
    );
    // Held by the rollback itself, not by something that happened to run.
    assert_eq!(
        r.holder,
        format!("{} putfs ops rollback", r.caller),
        "the lock's holder is the process that ran zfs rollback: {r:?}"
    );
}

#[test]
fn the_plan_names_the_transfer_it_relies_on() {
    let Some(lab) = Lab::new("plan") else {
        return;
    };
    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    let st = lab.state();
    let at = st["transfers"].as_array().unwrap().last().unwrap()["at"]
        .as_str()
        .unwrap()
        .to_string();
    let dry = lab.rollback(&["--dry-run"]);
    dry.expect(0, "rollback --dry-run");
    let shown = dry.err();
    assert!(
        shown.contains(&lab.b_url()) && shown.contains(&at),
        "the plan names the transfer's destination and time ({}, {at})\n{}",
        lab.b_url(),
        dry.describe()
    );
    let json = lab.rollback(&["--dry-run", "--json"]);
    json.expect(0, "rollback --dry-run --json");
    let plan: serde_json::Value = serde_json::from_str(json.out().trim()).unwrap();
    assert_eq!(
        plan["plan"]["transfer"]["destination"],
        lab.b_url().as_str()
    );
    assert_eq!(plan["plan"]["transfer"]["at"], at.as_str());
    assert!(lab.rollbacks().is_empty(), "a dry run rolled back");
    lab.assert_a_untouched(&[SNAP], "dry runs");
}

#[test]
fn a_rerun_after_later_snapshots_is_not_blamed_on_writes() {
    let Some(lab) = Lab::new("rerun") else {
        return;
    };
    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    lab.rollback(&["--yes"]).expect(0, "rollback");
    lab.assert_a_rolled_back("rollback");
    // zrepl started again on A and took a snapshot; nothing was written.
    lab.zfs().zfs_ok(["snapshot", &lab.snap("later")]);
    let again = lab.rollback(&["--dry-run"]);
    again.expect(0, "a rerun with nothing of the gap left");
    let err = again.err();
    assert!(
        !err.contains("transfer it again") && !err.contains("written"),
        "the rerun blames writes\n{}",
        again.describe()
    );
    // The plan's line, not the `+ zfs …` lines that name the snapshot too.
    assert!(
        err.lines()
            .any(|l| l.contains("1 later snapshot(s)") && l.trim_end().ends_with(": later")),
        "the plan shows that @later goes\n{}",
        again.describe()
    );
    assert_eq!(lab.rollbacks().len(), 1, "the dry run rolled back");
    assert_eq!(lab.zfs().snapshots(&lab.ds), [SNAP, "later"]);
}
