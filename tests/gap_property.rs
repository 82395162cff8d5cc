//! find-gap against a tree-compare oracle on random histories, on plain
//! directories: a tree, a copy of it as the snapshot, then random creates,
//! deletes, renames (files and directories, over existing names),
//! re-creates and replacements (same bytes, same size with other bytes,
//! mtime set back), and find-gap must list exactly what a byte-for-byte
//! comparison of the two trees finds.
//!
//! Two ways in: `putfs ops find-gap --snapshot-dir` (the walk), and the
//! zfs-diff classification fed with the `zfs diff -H -F` output OpenZFS
//! prints for the same history (written by the model in
//! `common/gap_model.rs`, object numbers reused as ZFS reuses them, hard
//! links and files on the delete queue included), walking where it says
//! `zfs diff` cannot be trusted, as find-gap does. Keys `zfs diff` cannot
//! see at all (a file whose recorded parent no longer holds it) are only
//! required to be right where reported; the walk must find them.
//!
//! The seeds are fixed (`GAP_PROPERTY_SEEDS=FROM..TO` runs others, e.g. one
//! that failed).

mod common;
#[path = "common/gap_model.rs"]
mod gap_model;
#[path = "common/ops.rs"]
mod ops;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use common::*;
use gap_model::*;
use ops::*;

/// Where the emulated `zfs diff` says the dataset is mounted.
const MOUNTPOINT: &str = "/tank/putfs";

fn seeds(default: Range<u64>) -> Range<u64> {
    let Ok(s) = std::env::var("GAP_PROPERTY_SEEDS") else {
        return default;
    };
    let (a, b) = s
        .split_once("..")
        .unwrap_or_else(|| panic!("GAP_PROPERTY_SEEDS={s:?}: expected FROM..TO"));
    a.parse().unwrap()..b.parse().unwrap()
}

/// One random history: the snapshot copy, the live tree after it, and
/// both states as ZFS objects.
struct History {
    _dir: tempfile::TempDir,
    seed: u64,
    live: PathBuf,
    snap: PathBuf,
    from: Side,
    to: Side,
    log: Vec<String>,
}

impl History {
    fn new(seed: u64) -> History {
        let dir = tempdir();
        let live = dir.path().join("live");
        let snap = dir.path().join("snap");
        std::fs::create_dir_all(live.join(".putfs")).unwrap();
        let mut rng = Rng::new(seed);
        let mut m = Model::new(&live, Numbering::simulated());
        let n = rng.range(2, 14) as usize;
        m.populate(&mut rng, n);
        cp_a(&live, &snap);
        let from = m.snapshot_taken("(copy)");
        for _ in 0..rng.range(1, 24) {
            m.random_op(&mut rng);
        }
        m.check_disk();
        History {
            _dir: dir,
            seed,
            to: m.side(),
            from,
            live,
            snap,
            log: m.log,
        }
    }

    fn expected(&self) -> BTreeSet<(String, String)> {
        expected_gap(&tree_files(&self.snap), &tree_files(&self.live))
    }

    fn context(&self, extra: &str) -> String {
        format!(
            "seed {} (rerun: GAP_PROPERTY_SEEDS={}..{})\nhistory:\n  {}\n{extra}",
            self.seed,
            self.seed,
            self.seed + 1,
            self.log.join("\n  ")
        )
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn snapshot_dir_find_gap_matches_a_tree_compare() {
    let started = std::time::Instant::now();
    let range = seeds(0..150);
    for seed in range.clone() {
        let h = History::new(seed);
        let out = putfs_ops([
            "find-gap",
            "--root",
            s(&h.live),
            "--snapshot-dir",
            s(&h.snap),
            "--json",
            // Random histories may delete all of a small tree.
            "--accept-mass-delete",
        ]);
        out.expect(0, "find-gap --snapshot-dir");
        let got: BTreeSet<(String, String)> = parse_gap_json(&out)
            .entries
            .into_iter()
            .map(|e| (e.change, e.key))
            .collect();
        assert_same_gap(
            "find-gap --snapshot-dir",
            &h.expected(),
            &got,
            &h.context(&out.describe()),
        );
    }
    eprintln!("{} histories in {:?}", range.count(), started.elapsed());
}

/// The zfs-diff classification of `diff` (a `zfs diff -H -F` output), or
/// the walk where it says so; and whether it walked.
fn classify_diff(diff: &str, live: &Path, snap: &Path) -> (BTreeSet<(String, String)>, bool) {
    use putfs_ops::gap::zfs_diff::{self, Classified};
    use putfs_ops::gap::{Summary, WalkOptions, walk};
    let lines = zfs_diff::parse(diff).unwrap_or_else(|e| panic!("{e}\n{diff}"));
    let mut summary = Summary::default();
    let opts = WalkOptions::default();
    let classified = zfs_diff::classify(
        &lines,
        Path::new(MOUNTPOINT),
        live,
        snap,
        opts,
        &mut summary,
    )
    .unwrap_or_else(|e| panic!("classify: {e}\n{diff}"));
    let (changes, walked) = match classified {
        Classified::Changes { changes, .. } => (changes, false),
        Classified::NeedsWalk(_) => {
            let mut changes = Vec::new();
            walk::compare(
                live,
                snap,
                opts,
                &mut |c| {
                    changes.push(c);
                    Ok(())
                },
                &mut summary,
            )
            .unwrap();
            (changes, true)
        }
    };
    let set = changes
        .into_iter()
        .map(|c| {
            let kind = serde_json::to_value(c.change).unwrap();
            (kind.as_str().unwrap().to_owned(), c.key)
        })
        .collect();
    (set, walked)
}

#[test]
fn zfs_diff_classification_matches_a_tree_compare() {
    let started = std::time::Instant::now();
    let range = seeds(0..400);
    let (mut walked, mut blinded, mut queued) = (0u64, 0u64, 0u64);
    for seed in range.clone() {
        let h = History::new(seed);
        let diff = zfs_diff_output(MOUNTPOINT, &h.from, &h.to);
        let (got, walk) = classify_diff(&diff, &h.live, &h.snap);
        walked += u64::from(walk);
        queued += u64::from(diff.contains("(on_delete_queue)"));
        let blind = blind_keys(&h.from, &h.to);
        blinded += u64::from(!blind.is_empty());
        assert_gap_but_blind(
            "zfs diff classification",
            &h.expected(),
            &got,
            &blind,
            &h.context(&format!("zfs diff -H -F:\n{diff}")),
        );
    }
    eprintln!(
        "{} histories in {:?}; {walked} walked (hard links), {blinded} with keys zfs diff \
         cannot see, {queued} with files on the delete queue",
        range.count(),
        started.elapsed()
    );
}
