//! A model of a data root for the find-gap property tests.
//!
//! Random histories (create, delete, rename a file or a directory over
//! another, re-create, replace in place or through a temp file as putfs
//! does, file replaced by a directory, mtimes set back into the past) are
//! applied to a real directory and tracked the way ZFS sees them: every
//! file and directory is an object with a number and a generation, and a
//! change counter standing in for its ctime.
//!
//! From two states of the model, [`zfs_diff_output`] writes what OpenZFS's
//! `zfs diff -H -F` prints (libzfs_diff.c: objects in number order; a number
//! whose generation changed is `-` then `+`; the same object under another
//! path is `R`; an untouched object is not listed, even inside a renamed
//! directory). That checks the zfs-diff classification where `zfs diff`
//! does not exist (zfs-fuse), with the line orders object-number reuse
//! produces.
//!
//! The oracle, [`expected_gap`], knows nothing of either: it reads both
//! trees byte for byte and compares them.
//!
//! Included with `#[path = "common/gap_model.rs"] mod gap_model;` next to
//! `mod common;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::common::Rng;

/// Names in every directory: few, so renames land on existing names; one
/// with a space and one non-ASCII, which `zfs diff` escapes.
const NAMES: &[&str] = &["a", "b", "c", "s p", "ü"];
/// Deepest directory that gets children.
const MAX_DEPTH: usize = 3;
const ROOT: u64 = 0;

/// How objects get their numbers.
pub enum Numbering {
    /// Allocated here: a new number, or (half the time) a freed one, as ZFS
    /// reuses object numbers; reuse is what puts a re-created path's `+`
    /// line before its `-` line.
    Simulated { next: u64, freed: Vec<u64> },
    /// The inode number the filesystem gave (on ZFS, the object number).
    Inode,
}

impl Numbering {
    pub fn simulated() -> Numbering {
        Numbering::Simulated {
            next: 2,
            freed: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct Obj {
    num: u64,
    /// Generation of the parent directory.
    parent: u64,
    name: String,
    dir: bool,
    ctime: u64,
}

/// One object as `zfs diff` sees it in one state of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjState {
    pub generation: u64,
    pub dir: bool,
    /// Relative to the root; empty for the root itself.
    pub path: String,
    pub ctime: u64,
}

/// Object number → state.
pub type Side = BTreeMap<u64, ObjState>;

pub struct Model {
    root: PathBuf,
    /// By generation (unique for the model's life); 0 is the root.
    objs: BTreeMap<u64, Obj>,
    next_gen: u64,
    clock: u64,
    numbering: Numbering,
    /// Change counters of the objects at the last snapshot.
    at_snapshot: BTreeMap<u64, u64>,
    /// What was done, for failure messages.
    pub log: Vec<String>,
}

impl Model {
    /// A model of the existing, empty directory `root`.
    pub fn new(root: &Path, numbering: Numbering) -> Model {
        let num = match numbering {
            Numbering::Simulated { .. } => 1,
            Numbering::Inode => fs::metadata(root).unwrap().ino(),
        };
        let root_obj = Obj {
            num,
            parent: ROOT,
            name: String::new(),
            dir: true,
            ctime: 0,
        };
        Model {
            root: root.to_owned(),
            objs: BTreeMap::from([(ROOT, root_obj)]),
            next_gen: 1,
            clock: 0,
            numbering,
            at_snapshot: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// `n` creations (files, and some directories to put them in).
    pub fn populate(&mut self, rng: &mut Rng, n: usize) {
        for _ in 0..n {
            let _ = if rng.range(0, 3) == 0 {
                self.mkdir(rng)
            } else {
                self.create_file(rng)
            };
        }
    }

    /// The snapshot is taken now: returns the tree as `zfs diff` sees it.
    pub fn snapshot_taken(&mut self, name: &str) -> Side {
        self.at_snapshot = self.objs.iter().map(|(g, o)| (*g, o.ctime)).collect();
        self.log.push(format!("-- snapshot {name} --"));
        self.side()
    }

    /// One random operation that applies to the current tree.
    pub fn random_op(&mut self, rng: &mut Rng) {
        for _ in 0..100 {
            let applied = match rng.range(0, 12) {
                0 | 1 => self.create_file(rng),
                2 => self.delete_file(rng),
                3 | 4 => self.rename_file(rng),
                5 => self.rename_dir(rng),
                6 => self.mkdir(rng),
                7 => self.remove_dir(rng),
                8 | 9 => self.recreate(rng),
                10 => self.replace_in_place(rng),
                11 => self.replace_via_temp(rng),
                12 => match rng.range(0, 2) {
                    0 => self.touch_past(rng),
                    1 => self.file_to_dir(rng),
                    _ => self.leftover(rng),
                },
                _ => unreachable!(),
            };
            if applied {
                return;
            }
        }
    }

    /// Every object, by number, as it is now (`zfs diff`'s view).
    pub fn side(&self) -> Side {
        self.objs
            .iter()
            .map(|(&generation, o)| {
                let state = ObjState {
                    generation,
                    dir: o.dir,
                    path: self.path(generation),
                    ctime: o.ctime,
                };
                (o.num, state)
            })
            .collect()
    }

    /// Panics unless the disk holds exactly the model's entries.
    pub fn check_disk(&self) {
        fn rec(base: &Path, dir: &Path, out: &mut BTreeSet<(String, bool)>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let is_dir = e.file_type().unwrap().is_dir();
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_owned();
                out.insert((rel, is_dir));
                if is_dir {
                    rec(base, &p, out);
                }
            }
        }
        let mut disk = BTreeSet::new();
        rec(&self.root, &self.root, &mut disk);
        let model: BTreeSet<(String, bool)> = self
            .objs
            .iter()
            .filter(|(g, _)| **g != ROOT)
            .map(|(g, o)| (self.path(*g), o.dir))
            .collect();
        assert_eq!(
            disk,
            model,
            "the model lost track of the disk\n{}",
            self.log.join("\n")
        );
    }

    // ---- queries -----------------------------------------------------------

    fn path(&self, generation: u64) -> String {
        let mut parts = Vec::new();
        let mut g = generation;
        while g != ROOT {
            let o = &self.objs[&g];
            parts.push(o.name.as_str());
            g = o.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn abs(&self, generation: u64) -> PathBuf {
        self.root.join(self.path(generation))
    }

    fn depth(&self, generation: u64) -> usize {
        let mut d = 0;
        let mut g = generation;
        while g != ROOT {
            g = self.objs[&g].parent;
            d += 1;
        }
        d
    }

    /// Levels below a directory (0 for an empty one).
    fn height(&self, generation: u64) -> usize {
        self.children(generation)
            .into_iter()
            .map(|c| 1 + self.height(c))
            .max()
            .unwrap_or(0)
    }

    fn children(&self, dir: u64) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(g, o)| **g != ROOT && o.parent == dir)
            .map(|(g, _)| *g)
            .collect()
    }

    fn child(&self, dir: u64, name: &str) -> Option<u64> {
        self.objs
            .iter()
            .find(|(g, o)| **g != ROOT && o.parent == dir && o.name == name)
            .map(|(g, _)| *g)
    }

    fn is_ancestor(&self, anc: u64, mut g: u64) -> bool {
        loop {
            if g == anc {
                return true;
            }
            if g == ROOT {
                return false;
            }
            g = self.objs[&g].parent;
        }
    }

    /// Files that are objects (not leftovers).
    fn files(&self) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(_, o)| !o.dir && !o.name.starts_with(".putfs"))
            .map(|(g, _)| *g)
            .collect()
    }

    fn dirs(&self) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(_, o)| o.dir)
            .map(|(g, _)| *g)
            .collect()
    }

    fn pick(rng: &mut Rng, from: &[u64]) -> Option<u64> {
        (!from.is_empty()).then(|| from[rng.range(0, from.len() as u64 - 1) as usize])
    }

    fn pick_name(rng: &mut Rng) -> &'static str {
        NAMES[rng.range(0, NAMES.len() as u64 - 1) as usize]
    }

    /// A directory that may get children, and a name not used in it.
    fn free_slot(&self, rng: &mut Rng) -> Option<(u64, String)> {
        let dirs: Vec<u64> = self
            .dirs()
            .into_iter()
            .filter(|d| self.depth(*d) < MAX_DEPTH)
            .collect();
        let dir = Self::pick(rng, &dirs)?;
        let name = Self::pick_name(rng);
        self.child(dir, name)
            .is_none()
            .then(|| (dir, name.to_owned()))
    }

    // ---- bookkeeping -------------------------------------------------------

    fn tick(&mut self, generation: u64) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(o) = self.objs.get_mut(&generation) {
            o.ctime = clock;
        }
    }

    /// Records an object just created on disk.
    fn add(&mut self, rng: &mut Rng, parent: u64, name: &str, dir: bool) -> u64 {
        let generation = self.next_gen;
        self.next_gen += 1;
        let num = match &mut self.numbering {
            Numbering::Simulated { next, freed } => {
                if !freed.is_empty() && rng.range(0, 1) == 0 {
                    let i = rng.range(0, freed.len() as u64 - 1) as usize;
                    freed.swap_remove(i)
                } else {
                    *next += 1;
                    *next
                }
            }
            Numbering::Inode => {
                let p = self.root.join(self.path(parent)).join(name);
                fs::symlink_metadata(&p).unwrap().ino()
            }
        };
        self.clock += 1;
        let obj = Obj {
            num,
            parent,
            name: name.to_owned(),
            dir,
            ctime: self.clock,
        };
        self.objs.insert(generation, obj);
        self.tick(parent);
        generation
    }

    /// Forgets an object (and what it holds) removed from disk.
    fn forget(&mut self, generation: u64) {
        for c in self.children(generation) {
            self.forget(c);
        }
        if let Some(o) = self.objs.remove(&generation) {
            if let Numbering::Simulated { freed, .. } = &mut self.numbering {
                freed.push(o.num);
            }
            self.tick(o.parent);
        }
    }

    fn write_new(&mut self, rng: &mut Rng, parent: u64, name: &str, data: &[u8]) -> u64 {
        let p = self.abs(parent).join(name);
        fs::write(&p, data).unwrap();
        self.add(rng, parent, name, false)
    }

    // ---- operations --------------------------------------------------------

    fn create_file(&mut self, rng: &mut Rng) -> bool {
        let Some((dir, name)) = self.free_slot(rng) else {
            return false;
        };
        let data = content(rng);
        let g = self.write_new(rng, dir, &name, &data);
        self.log
            .push(format!("create {} ({} bytes)", self.path(g), data.len()));
        true
    }

    fn mkdir(&mut self, rng: &mut Rng) -> bool {
        let Some((dir, name)) = self.free_slot(rng) else {
            return false;
        };
        fs::create_dir(self.abs(dir).join(&name)).unwrap();
        let g = self.add(rng, dir, &name, true);
        self.log.push(format!("mkdir {}", self.path(g)));
        true
    }

    fn delete_file(&mut self, rng: &mut Rng) -> bool {
        let Some(f) = Self::pick(rng, &self.files()) else {
            return false;
        };
        self.log.push(format!("delete {}", self.path(f)));
        fs::remove_file(self.abs(f)).unwrap();
        self.forget(f);
        true
    }

    fn remove_dir(&mut self, rng: &mut Rng) -> bool {
        let dirs: Vec<u64> = self.dirs().into_iter().filter(|d| *d != ROOT).collect();
        let Some(d) = Self::pick(rng, &dirs) else {
            return false;
        };
        self.log.push(format!("rm -r {}", self.path(d)));
        fs::remove_dir_all(self.abs(d)).unwrap();
        self.forget(d);
        true
    }

    /// Moves `g` to `dir/name`, replacing `replaced` (already checked to be
    /// replaceable).
    fn move_to(&mut self, g: u64, dir: u64, name: &str, replaced: Option<u64>) {
        let from = self.abs(g);
        let to = self.abs(dir).join(name);
        self.log.push(format!(
            "rename {} -> {}{}",
            self.path(g),
            to.strip_prefix(&self.root).unwrap().display(),
            if replaced.is_some() { " (over)" } else { "" }
        ));
        fs::rename(&from, &to).unwrap();
        if let Some(r) = replaced {
            self.forget(r);
        }
        let old_parent = self.objs[&g].parent;
        if let Some(o) = self.objs.get_mut(&g) {
            o.parent = dir;
            o.name = name.to_owned();
        }
        self.tick(g);
        self.tick(old_parent);
        self.tick(dir);
    }

    fn rename_file(&mut self, rng: &mut Rng) -> bool {
        let Some(f) = Self::pick(rng, &self.files()) else {
            return false;
        };
        let dirs: Vec<u64> = self
            .dirs()
            .into_iter()
            .filter(|d| self.depth(*d) < MAX_DEPTH)
            .collect();
        let Some(dir) = Self::pick(rng, &dirs) else {
            return false;
        };
        let name = Self::pick_name(rng);
        let replaced = match self.child(dir, name) {
            None => None,
            Some(t) if t != f && !self.objs[&t].dir => Some(t),
            Some(_) => return false,
        };
        self.move_to(f, dir, name, replaced);
        true
    }

    fn rename_dir(&mut self, rng: &mut Rng) -> bool {
        let dirs: Vec<u64> = self.dirs().into_iter().filter(|d| *d != ROOT).collect();
        let Some(d) = Self::pick(rng, &dirs) else {
            return false;
        };
        let Some(dest) = Self::pick(rng, &self.dirs()) else {
            return false;
        };
        if self.is_ancestor(d, dest) || self.depth(dest) + 1 + self.height(d) > MAX_DEPTH + 1 {
            return false;
        }
        let name = Self::pick_name(rng);
        // rename(2) replaces an empty directory, nothing else.
        let replaced = match self.child(dest, name) {
            None => None,
            Some(t) if t != d && self.objs[&t].dir && self.children(t).is_empty() => Some(t),
            Some(_) => return false,
        };
        self.move_to(d, dest, name, replaced);
        true
    }

    /// Delete a file and create one under its name: same bytes, same size
    /// with other bytes, or anything, and perhaps the old mtime.
    fn recreate(&mut self, rng: &mut Rng) -> bool {
        let Some(f) = Self::pick(rng, &self.files()) else {
            return false;
        };
        let path = self.abs(f);
        let old = fs::read(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let (parent, name) = (self.objs[&f].parent, self.objs[&f].name.clone());
        fs::remove_file(&path).unwrap();
        self.forget(f);
        let data = variant(rng, &old);
        self.write_new(rng, parent, &name, &data);
        let back = rng.range(0, 1) == 0;
        if back {
            set_mtime(&path, mtime);
        }
        self.log.push(format!(
            "re-create {} ({}{})",
            self.path(self.child(parent, &name).unwrap()),
            same_or_not(&old, &data),
            if back { ", old mtime" } else { "" }
        ));
        true
    }

    /// Rewrite a file's bytes in place (same object), perhaps setting its
    /// mtime back to what it was.
    ///
    /// Half the time the file of the snapshot changed last before it: on a
    /// filesystem with whole-second timestamps, a rewrite in the second of
    /// the last change keeps ctime.
    fn replace_in_place(&mut self, rng: &mut Rng) -> bool {
        let files = self.files();
        let latest = files
            .iter()
            .copied()
            .filter(|f| self.at_snapshot.get(f) == Some(&self.objs[f].ctime))
            .max_by_key(|f| self.objs[f].ctime);
        let pick = if rng.range(0, 1) == 0 {
            latest
        } else {
            Self::pick(rng, &files)
        };
        let Some(f) = pick else {
            return false;
        };
        let path = self.abs(f);
        let old = fs::read(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let data = if rng.range(0, 1) == 0 {
            same_size_other_bytes(&old)
        } else {
            variant(rng, &old)
        };
        fs::write(&path, &data).unwrap();
        set_mtime(&path, mtime);
        self.tick(f);
        self.log.push(format!(
            "rewrite {} in place ({}, old mtime)",
            self.path(f),
            same_or_not(&old, &data)
        ));
        true
    }

    /// What putfs does: write a temp file beside the key, rename it over.
    fn replace_via_temp(&mut self, rng: &mut Rng) -> bool {
        let Some(f) = Self::pick(rng, &self.files()) else {
            return false;
        };
        let path = self.abs(f);
        let old = fs::read(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let (parent, name) = (self.objs[&f].parent, self.objs[&f].name.clone());
        let tmp_name = format!(".putfs-tmp.{}", self.next_gen);
        let data = variant(rng, &old);
        let tmp = self.write_new(rng, parent, &tmp_name, &data);
        set_mtime(&self.abs(tmp), mtime);
        self.move_to(tmp, parent, &name, Some(f));
        self.log.push(format!(
            "  (replaced via temp: {})",
            same_or_not(&old, &data)
        ));
        true
    }

    fn touch_past(&mut self, rng: &mut Rng) -> bool {
        let Some(f) = Self::pick(rng, &self.files()) else {
            return false;
        };
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200 + rng.range(0, 1000));
        set_mtime(&self.abs(f), when);
        self.tick(f);
        self.log.push(format!("touch {} into 2001", self.path(f)));
        true
    }

    fn file_to_dir(&mut self, rng: &mut Rng) -> bool {
        let files: Vec<u64> = self
            .files()
            .into_iter()
            .filter(|f| self.depth(*f) <= MAX_DEPTH)
            .collect();
        let Some(f) = Self::pick(rng, &files) else {
            return false;
        };
        let path = self.abs(f);
        let (parent, name) = (self.objs[&f].parent, self.objs[&f].name.clone());
        self.log
            .push(format!("replace file {} by a directory", self.path(f)));
        fs::remove_file(&path).unwrap();
        self.forget(f);
        fs::create_dir(&path).unwrap();
        let d = self.add(rng, parent, &name, true);
        let inner = Self::pick_name(rng);
        let data = content(rng);
        self.write_new(rng, d, inner, &data);
        true
    }

    /// A temp file a crash left behind: never an object.
    fn leftover(&mut self, rng: &mut Rng) -> bool {
        let Some(dir) = Self::pick(rng, &self.dirs()) else {
            return false;
        };
        let name = format!(".putfs-tmp.crash.{}", self.next_gen);
        self.write_new(rng, dir, &name, b"partial");
        self.log.push(format!("leftover {}", self.path(dir)));
        true
    }
}

/// Short contents over a two-letter alphabet: equal sizes and equal bytes
/// happen often, which is where comparisons go wrong.
fn content(rng: &mut Rng) -> Vec<u8> {
    const SIZES: &[usize] = &[0, 1, 2, 5, 16, 300];
    let len = SIZES[rng.range(0, SIZES.len() as u64 - 1) as usize];
    (0..len).map(|_| b"xy"[rng.range(0, 1) as usize]).collect()
}

/// New contents for a key: the same bytes, the same size with one byte
/// changed, or anything.
fn variant(rng: &mut Rng, old: &[u8]) -> Vec<u8> {
    match rng.range(0, 2) {
        0 => old.to_vec(),
        1 if !old.is_empty() => {
            let mut v = old.to_vec();
            let i = rng.range(0, v.len() as u64 - 1) as usize;
            v[i] = if v[i] == b'x' { b'y' } else { b'x' };
            v
        }
        _ => content(rng),
    }
}

/// The first byte flipped (empty stays empty).
fn same_size_other_bytes(old: &[u8]) -> Vec<u8> {
    let mut v = old.to_vec();
    if let Some(b) = v.first_mut() {
        *b = if *b == b'x' { b'y' } else { b'x' };
    }
    v
}

fn same_or_not(old: &[u8], new: &[u8]) -> &'static str {
    if old == new {
        "same bytes"
    } else if old.len() == new.len() {
        "same size, other bytes"
    } else {
        "other size"
    }
}

fn set_mtime(path: &Path, when: SystemTime) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(when).unwrap();
}

// ---------------------------------------------------------------------------
// `zfs diff -H -F`, as OpenZFS prints it
// ---------------------------------------------------------------------------

/// The output of `zfs diff -H -F DS@from DS` for a dataset mounted at
/// `mountpoint` that went from state `from` to state `to`.
pub fn zfs_diff_output(mountpoint: &str, from: &Side, to: &Side) -> String {
    let nums: BTreeSet<u64> = from.keys().chain(to.keys()).copied().collect();
    let mut out = String::new();
    let mut line = |change: &str, o: &ObjState, new: Option<&ObjState>| {
        let kind = if o.dir { '/' } else { 'F' };
        out.push_str(&format!(
            "{change}\t{kind}\t{}",
            full_path(mountpoint, &o.path)
        ));
        if let Some(n) = new {
            out.push_str(&format!("\t{}", full_path(mountpoint, &n.path)));
        }
        out.push('\n');
    };
    for n in nums {
        match (from.get(&n), to.get(&n)) {
            (None, None) => {}
            (None, Some(t)) => line("+", t, None),
            (Some(f), None) => line("-", f, None),
            (Some(f), Some(t)) if f.generation != t.generation || f.dir != t.dir => {
                line("-", f, None);
                line("+", t, None);
            }
            (Some(f), Some(t)) if f.ctime == t.ctime => {}
            (Some(f), Some(t)) if f.path == t.path => line("M", t, None),
            (Some(f), Some(t)) => line("R", f, Some(t)),
        }
    }
    out
}

/// The mountpoint and the path, every byte outside `!`..`~` (and `\`)
/// written as `\` and four octal digits.
fn full_path(mountpoint: &str, rel: &str) -> String {
    let mut s = String::from(mountpoint);
    let rel = if rel.is_empty() {
        String::new()
    } else {
        format!("/{rel}")
    };
    for b in rel.bytes() {
        if b > b' ' && b != b'\\' && b < 0x7f {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:04o}"));
        }
    }
    s
}

// ---------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------

/// Every object file under `root` with its bytes: regular files only,
/// symlinks not followed, putfs's own names (`.putfs…`) and `.zfs` left out.
pub fn tree_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn rec(root: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.starts_with(".putfs") || name == ".zfs" {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let t = e.file_type().unwrap();
            if t.is_dir() {
                rec(root, &key, out);
            } else if t.is_file() {
                out.insert(key.clone(), fs::read(root.join(&key)).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    rec(root, "", &mut out);
    out
}

/// What find-gap must say, as (kind, key): on the live tree only = gap, in
/// the snapshot only = deleted, on both with other bytes = conflict.
pub fn expected_gap(
    snap: &BTreeMap<String, Vec<u8>>,
    live: &BTreeMap<String, Vec<u8>>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (k, v) in live {
        match snap.get(k) {
            None => out.insert(("gap".to_owned(), k.clone())),
            Some(s) if s != v => out.insert(("conflict".to_owned(), k.clone())),
            Some(_) => false,
        };
    }
    for k in snap.keys().filter(|k| !live.contains_key(*k)) {
        out.insert(("deleted".to_owned(), k.clone()));
    }
    out
}

/// Panics, with everything needed to reproduce it, unless `got` is
/// `expected`.
#[track_caller]
pub fn assert_same_gap(
    what: &str,
    expected: &BTreeSet<(String, String)>,
    got: &BTreeSet<(String, String)>,
    context: &str,
) {
    if expected == got {
        return;
    }
    let missing: Vec<_> = expected.difference(got).collect();
    let extra: Vec<_> = got.difference(expected).collect();
    panic!(
        "{what}: find-gap disagrees with the tree comparison\n\
         missing (the oracle has them): {missing:?}\n\
         extra or wrong (the oracle does not): {extra:?}\n{context}"
    );
}
