//! `putfs ops rollback`'s checks, each on its own and fast, on a plain
//! directory standing in for a dataset: a stand-in `zfs` (written by the
//! test, first on PATH) reports the directory as the dataset's mountpoint,
//! keeps "snapshots" as copies, and "rolls back" by restoring a copy,
//! noting whether putfs's writer's lock was held while it did. The real
//! thing runs on zfs-fuse in ops_zfs.rs and ops_plans_zfs.rs.
//!
//! - the deletes A acknowledged after the snapshot: rollback refuses until
//!   a delete run to the transfer's destination covers them, or they are
//!   dropped on purpose (`--keep-deleted`); either way the list is saved
//!   first, and `apply-deletes` applies it later;
//! - the writer's lock is held from the last check through `zfs rollback`,
//!   and each override says what it overrides;
//! - the plan names the transfer it relies on;
//! - a rerun after later snapshots, with nothing of the gap left, is not
//!   blamed on writes.

mod common;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use ops::*;

/// Deleted on A after the snapshot, acknowledged.
const GONE: [&str; 2] = ["gone/one.bin", "gone/deep/two.bin"];
const DS: &str = "fakepool/putfs";
const SNAP: &str = "s1";

/// A stand-in for `zfs`, answering what `putfs ops` asks about one
/// dataset whose mountpoint is ROOT; snapshots are copies under SNAPS
/// (their order in SNAPS/order), `rollback` restores one and appends
/// "rollback DS@S lock=held|free" to LOG.
const FAKE_ZFS: &str = r#"#!/usr/bin/env bash
set -u
DS=@DS@ ROOT=@ROOT@ SNAPS=@SNAPS@ LOG=@LOG@
order() { cat "$SNAPS/order" 2>/dev/null || true; }
cmd=$1; shift
# The first word that is neither an option nor an option's value.
props='' names=() opts=()
while (($#)); do
  case $1 in
    -o) opts+=("$2"); shift ;;
    -t | -d | -s) shift ;;
    -*) ;;
    *) if [[ -z $props && $cmd == get ]]; then props=$1; else names+=("$1"); fi ;;
  esac
  shift
done
case $cmd in
  get)
    case $props in
      type)
        n=${names[0]}
        if [[ $n == "$DS" ]]; then echo filesystem
        elif [[ $n == "$DS@"* ]] && order | grep -qxF "${n#"$DS@"}"; then echo snapshot
        else echo "cannot open '$n': dataset does not exist" >&2; exit 1; fi ;;
      mounted,mountpoint,readonly)
        printf 'mounted\tyes\t-\nmountpoint\t%s\tlocal\nreadonly\toff\tdefault\n' "$ROOT" ;;
      mountpoint) echo "$ROOT" ;;
      creation,guid,createtxg)
        printf '%s\tcreation\t1\n%s\tguid\t1\n' "$DS" "$DS"
        i=0
        while read -r s; do
          i=$((i + 1))
          printf '%s@%s\tcreation\t%d\n%s@%s\tguid\t%d\n%s@%s\tcreatetxg\t%d\n' \
            "$DS" "$s" $((1000 + i)) "$DS" "$s" $((5000 + i)) "$DS" "$s" $((10 + i))
        done < <(order) ;;
      userrefs) for n in "${names[@]}"; do printf '%s\t0\n' "$n"; done ;;
      origin) echo - ;;
      *) echo "fake zfs: get $props is not faked" >&2; exit 1 ;;
    esac ;;
  diff) echo "unrecognized command 'diff'" >&2; exit 2 ;;
  list) [[ " ${names[*]} " == *" fakepool "* ]] && echo "$DS"; exit 0 ;;
  clone)
    mp=''
    for o in "${opts[@]}"; do [[ $o == mountpoint=* ]] && mp=${o#mountpoint=}; done
    snap=${names[0]#"$DS@"}
    cp -a "$SNAPS/$snap/." "$mp/" ;;
  destroy | set | release | hold) ;;
  snapshot)
    snap=${names[0]#"$DS@"}
    cp -a "$ROOT" "$SNAPS/$snap"
    echo "$snap" >>"$SNAPS/order" ;;
  rollback)
    snap=${names[0]#"$DS@"}
    if flock -n -x "$ROOT/.putfs/lock" true 2>/dev/null; then st=free; else st=held; fi
    echo "rollback ${names[0]} lock=$st" >>"$LOG"
    find "$ROOT" -mindepth 1 -maxdepth 1 ! -name .putfs -exec rm -rf {} +
    (cd "$SNAPS/$snap" && find . -mindepth 1 -maxdepth 1 ! -name .putfs -exec cp -a {} "$ROOT/" \;)
    keep=$(order | awk -v s="$snap" '{ print } $0 == s { exit }')
    for s in $(order); do grep -qxF "$s" <<<"$keep" || rm -rf "${SNAPS:?}/$s"; done
    echo "$keep" >"$SNAPS/order" ;;
  *) echo "fake zfs: $cmd is not faked" >&2; exit 1 ;;
esac
"#;

struct Lab {
    dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    log: PathBuf,
    /// The new primary B (a copy of the snapshot) and its putfs.
    b_root: PathBuf,
    b: Server,
}

impl Lab {
    /// A wrote objects, was snapshotted (`s1`, which B holds), then wrote
    /// a gap and deleted `GONE`; A's putfs is gone, B's serves.
    fn new() -> Lab {
        let dir = tempdir();
        let root = dir.path().join("a");
        let snaps = dir.path().join("snaps");
        let bin = dir.path().join("bin");
        let log = dir.path().join("zfs.log");
        std::fs::create_dir_all(&snaps).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let quote = |p: &Path| format!("'{}'", p.display());
        let script = FAKE_ZFS
            .replace("@DS@", DS)
            .replace("@ROOT@", &quote(&root))
            .replace("@SNAPS@", &quote(&snaps))
            .replace("@LOG@", &quote(&log));
        std::fs::write(bin.join("zfs"), script).unwrap();
        std::fs::set_permissions(
            bin.join("zfs"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();

        let mut a = Server::start(&root, &["--heartbeat-interval", "0s"]);
        let mut rng = Rng::from_time();
        let put = |s: &Server, key: &str, body: Vec<u8>| {
            let r = s.put(&key_url(key), body);
            assert_eq!(r.status, 201, "PUT {key}: {}", r.text());
        };
        for key in ["keep/k1.bin", "keep/k2.bin"].iter().chain(GONE.iter()) {
            put(&a, key, rng.bytes(900));
        }
        let lab_zfs = |args: &[&str]| {
            let out = run_cmd(
                {
                    let mut c = std::process::Command::new(bin.join("zfs"));
                    c.args(args);
                    c
                },
                None,
                CMD_TIMEOUT,
            );
            out.expect(0, "fake zfs");
        };
        lab_zfs(&["snapshot", &format!("{DS}@{SNAP}")]);
        let b_root = dir.path().join("b");
        cp_a(&snaps.join(SNAP), &b_root);
        for i in 0..3 {
            put(&a, &format!("gap/g{i}.bin"), rng.bytes(2000));
        }
        for key in GONE {
            assert_eq!(a.delete(&key_url(key)).status, 204, "DELETE {key} on A");
        }
        a.kill9();
        let b = Server::start(&b_root, &["--heartbeat-interval", "0s"]);
        Lab {
            dir,
            root,
            bin,
            log,
            b_root,
            b,
        }
    }

    fn b_url(&self) -> String {
        format!("http://{}", self.b.addr)
    }

    /// `putfs ops CMD --dataset DS …` with the stand-in zfs.
    fn ops(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![cmd, "--dataset", DS];
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

    /// The stand-in's rollbacks: "rollback DS@S lock=…" lines.
    fn rollbacks(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn state(&self) -> serde_json::Value {
        let path = self.dir.path().join(".a.putfs-ops.json");
        serde_json::from_slice(&std::fs::read(path).expect("state file")).expect("state JSON")
    }

    fn on_b(&self, key: &str) -> bool {
        self.b_root.join(key).exists()
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
    let lab = Lab::new();
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

    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    assert!(GONE.iter().all(|k| !lab.on_b(k)));
    let done = lab.rollback(&["--yes"]);
    done.expect(0, "rollback once the deletes are applied");
    assert_eq!(lab.rollbacks().len(), 1, "{}", done.describe());
    // The list outlives the rollback, which find-gap can no longer see.
    assert_eq!(saved_deletes(&lab.state()), gone());
}

#[test]
fn keep_deleted_goes_ahead_and_the_saved_list_applies_later() {
    let lab = Lab::new();
    lab.transfer(&[]).expect(0, "transfer-gap");
    let out = lab.rollback(&["--keep-deleted", "--yes"]);
    out.expect(0, "rollback --keep-deleted");
    assert_eq!(lab.rollbacks().len(), 1);
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
    let lab = Lab::new();
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
    drop(a);

    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    lab.rollback(&["--yes"]).expect(0, "rollback");
    assert_eq!(
        lab.rollbacks(),
        [format!("rollback {DS}@{SNAP} lock=held")],
        "no putfs may start writing while zfs rollback runs"
    );
}

#[test]
fn the_plan_names_the_transfer_it_relies_on() {
    let lab = Lab::new();
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
}

#[test]
fn a_rerun_after_later_snapshots_is_not_blamed_on_writes() {
    let lab = Lab::new();
    lab.transfer(&["--apply-deletes", "--yes"])
        .expect(0, "transfer-gap --apply-deletes");
    lab.rollback(&["--yes"]).expect(0, "rollback");
    // zrepl started again on A and took a snapshot; nothing was written.
    let snap = run_cmd(
        {
            let mut c = std::process::Command::new(lab.bin.join("zfs"));
            c.args(["snapshot", &format!("{DS}@later")]);
            c
        },
        None,
        CMD_TIMEOUT,
    );
    snap.expect(0, "fake zfs snapshot");
    let again = lab.rollback(&["--dry-run"]);
    again.expect(0, "a rerun with nothing of the gap left");
    assert!(
        !again.err().contains("written to since"),
        "{}",
        again.describe()
    );
    assert!(again.err().contains("later"), "{}", again.describe());
}
