//! A model of a data root for the find-gap property tests.
//!
//! Random histories (create, delete, rename a file or a directory over
//! another, re-create, replace in place or through a temp file as putfs
//! does, file replaced by a directory, mtimes set back into the past, hard
//! links, a file unlinked while a reader holds it open) are applied to a
//! real directory and tracked the way ZFS sees them: every file and
//! directory is an object with a number, a generation, its links (names),
//! the parent directory ZFS records for it, and a change counter standing
//! in for its ctime.
//!
//! From two states of the model, [`zfs_diff_output`] writes what OpenZFS's
//! `zfs diff -H -F` prints (lib/libzfs/libzfs_diff.c,
//! `write_inuse_diffs_one`): objects in number order; a number whose
//! generation changed is `-` then `+`; the same object under another path
//! is `R`; a change of a file's link count is `M` with `(+N)`/`(-N)` and
//! one name only; an untouched object is not listed, even inside a renamed
//! directory. ZFS finds an object's path from the parent directory it
//! records (set where the object was created, linked or renamed to last,
//! never on unlink) and a name there that points at it: a hard-linked file
//! shows one of its names, and one whose recorded parent no longer holds it
//! has no path at all, which `zfs diff` treats as "not there" on that side.
//! A file unlinked but still open is on the delete queue:
//! `MOUNTPOINT(on_delete_queue)`. That checks the zfs-diff classification
//! where `zfs diff` does not exist (zfs-fuse), with the line orders
//! object-number reuse produces.
//!
//! The oracle, [`expected_gap`], knows nothing of either: it reads both
//! trees byte for byte and compares them. [`blind_keys`] names the keys
//! `zfs diff` cannot see (every name of an object ZFS has no path for),
//! where only the walk is exact.
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
/// putfs's own folder at the root: there before the model starts, never
/// touched by it.
const RESERVED: &str = ".putfs";

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
    dir: bool,
    /// (parent directory's generation, name): one for a directory, one or
    /// more for a file (hard links), none for a file unlinked while open.
    links: Vec<(u64, String)>,
    /// The parent ZFS records (SA parent): the directory of the last
    /// create, link or rename; an unlink leaves it as it was.
    zparent: u64,
    ctime: u64,
}

/// The path `zfs diff` finds for an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZName {
    /// Relative to the root; empty for the root itself.
    Path(String),
    /// Unlinked, still open: `(on_delete_queue)`.
    OnDeleteQueue,
    /// Its recorded parent holds no name for it: no path (ENOENT).
    Unknown,
}

/// One object as `zfs diff` sees it in one state of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjState {
    pub generation: u64,
    pub dir: bool,
    pub name: ZName,
    /// Every path it has (a file's hard links), relative to the root.
    pub paths: Vec<String>,
    /// Link count (0 on the delete queue; directories 1 here: `zfs diff`
    /// ignores theirs).
    pub links: i64,
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
    /// Files unlinked while open: the handle keeps the object (and, on a
    /// real filesystem, its number) alive until the next snapshot.
    open: BTreeMap<u64, fs::File>,
    /// Change counters of the objects at the last snapshot.
    at_snapshot: BTreeMap<u64, u64>,
    /// What was done, for failure messages.
    pub log: Vec<String>,
}

impl Model {
    /// A model of the existing directory `root`, empty but for putfs's own
    /// `.putfs/` folder.
    pub fn new(root: &Path, numbering: Numbering) -> Model {
        let num = match numbering {
            Numbering::Simulated { .. } => 1,
            Numbering::Inode => fs::metadata(root).unwrap().ino(),
        };
        let root_obj = Obj {
            num,
            dir: true,
            links: Vec::new(),
            zparent: ROOT,
            ctime: 0,
        };
        Model {
            root: root.to_owned(),
            objs: BTreeMap::from([(ROOT, root_obj)]),
            next_gen: 1,
            clock: 0,
            numbering,
            open: BTreeMap::new(),
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
    /// Files unlinked while open are in it (on the delete queue), and are
    /// closed right after, so they are gone from the live tree.
    pub fn snapshot_taken(&mut self, name: &str) -> Side {
        self.at_snapshot = self.objs.iter().map(|(g, o)| (*g, o.ctime)).collect();
        self.log.push(format!("-- snapshot {name} --"));
        let side = self.side();
        let open: Vec<u64> = self.open.keys().copied().collect();
        for g in open {
            self.open.remove(&g);
            self.free(g);
        }
        side
    }

    /// One random operation that applies to the current tree.
    pub fn random_op(&mut self, rng: &mut Rng) {
        for _ in 0..100 {
            let applied = match rng.range(0, 14) {
                0 | 1 => self.create_file(rng),
                2 => self.delete_name(rng),
                3 | 4 => self.rename_file(rng),
                5 => self.rename_dir(rng),
                6 => self.mkdir(rng),
                7 => self.remove_dir(rng),
                8 | 9 => self.recreate(rng),
                10 => self.replace_in_place(rng),
                11 => self.replace_via_temp(rng),
                12 => self.link(rng),
                13 => match rng.range(0, 2) {
                    0 => self.touch_past(rng),
                    1 => self.file_to_dir(rng),
                    _ => self.leftover(rng),
                },
                14 => self.unlink_open(rng),
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
                    name: self.zname(generation),
                    paths: self.paths(generation),
                    links: if o.dir { 1 } else { o.links.len() as i64 },
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
                let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_owned();
                if rel == RESERVED {
                    continue;
                }
                let is_dir = e.file_type().unwrap().is_dir();
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
            .flat_map(|(g, o)| self.paths(*g).into_iter().map(move |p| (p, o.dir)))
            .collect();
        assert_eq!(
            disk,
            model,
            "the model lost track of the disk\n{}",
            self.log.join("\n")
        );
    }

    // ---- queries -----------------------------------------------------------

    /// A directory's path (empty for the root).
    fn dir_path(&self, dir: u64) -> String {
        let mut parts = Vec::new();
        let mut g = dir;
        while g != ROOT {
            let (parent, name) = &self.objs[&g].links[0];
            parts.push(name.as_str());
            g = *parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn join(&self, dir: u64, name: &str) -> String {
        let d = self.dir_path(dir);
        if d.is_empty() {
            name.to_owned()
        } else {
            format!("{d}/{name}")
        }
    }

    /// Every path of an object, sorted.
    fn paths(&self, generation: u64) -> Vec<String> {
        if generation == ROOT {
            return Vec::new();
        }
        let mut v: Vec<String> = self.objs[&generation]
            .links
            .iter()
            .map(|(d, n)| self.join(*d, n))
            .collect();
        v.sort();
        v
    }

    /// One path of an object, for the log.
    fn path(&self, generation: u64) -> String {
        self.paths(generation)
            .into_iter()
            .next()
            .unwrap_or_else(|| "(unlinked)".to_owned())
    }

    /// The path ZFS finds: its recorded parent's path and a name there
    /// that points at it (the first, as a ZAP search would find one).
    fn zname(&self, generation: u64) -> ZName {
        if generation == ROOT {
            return ZName::Path(String::new());
        }
        let o = &self.objs[&generation];
        if o.links.is_empty() {
            return ZName::OnDeleteQueue;
        }
        o.links
            .iter()
            .filter(|(d, _)| *d == o.zparent)
            .map(|(_, n)| n)
            .min()
            .map_or(ZName::Unknown, |n| ZName::Path(self.join(o.zparent, n)))
    }

    fn depth(&self, dir: u64) -> usize {
        let mut d = 0;
        let mut g = dir;
        while g != ROOT {
            g = self.objs[&g].links[0].0;
            d += 1;
        }
        d
    }

    /// Levels below a directory (0 for an empty one).
    fn height(&self, dir: u64) -> usize {
        self.subdirs(dir)
            .into_iter()
            .map(|c| 1 + self.height(c))
            .max()
            .unwrap_or(usize::from(self.has_files(dir)))
    }

    fn subdirs(&self, dir: u64) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(g, o)| **g != ROOT && o.dir && o.links[0].0 == dir)
            .map(|(g, _)| *g)
            .collect()
    }

    fn has_files(&self, dir: u64) -> bool {
        self.objs
            .values()
            .any(|o| !o.dir && o.links.iter().any(|(d, _)| *d == dir))
    }

    fn is_empty_dir(&self, dir: u64) -> bool {
        self.subdirs(dir).is_empty() && !self.has_files(dir)
    }

    /// The object named `name` in `dir`.
    fn child(&self, dir: u64, name: &str) -> Option<u64> {
        self.objs
            .iter()
            .find(|(g, o)| **g != ROOT && o.links.iter().any(|(d, n)| *d == dir && n == name))
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
            g = self.objs[&g].links[0].0;
        }
    }

    fn is_object(o: &Obj) -> bool {
        !o.dir && !o.links.is_empty() && !o.links[0].1.starts_with(".putfs")
    }

    /// Files that are objects (linked, not leftovers).
    fn files(&self) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(_, o)| Self::is_object(o))
            .map(|(g, _)| *g)
            .collect()
    }

    /// Every name of every object file: (generation, directory, name).
    fn names(&self) -> Vec<(u64, u64, String)> {
        self.objs
            .iter()
            .filter(|(_, o)| Self::is_object(o))
            .flat_map(|(g, o)| o.links.iter().map(move |(d, n)| (*g, *d, n.clone())))
            .collect()
    }

    fn dirs(&self) -> Vec<u64> {
        self.objs
            .iter()
            .filter(|(_, o)| o.dir)
            .map(|(g, _)| *g)
            .collect()
    }

    fn pick<T: Clone>(rng: &mut Rng, from: &[T]) -> Option<T> {
        (!from.is_empty()).then(|| from[rng.range(0, from.len() as u64 - 1) as usize].clone())
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
                let p = self.root.join(self.join(parent, name));
                fs::symlink_metadata(&p).unwrap().ino()
            }
        };
        self.clock += 1;
        let obj = Obj {
            num,
            dir,
            links: vec![(parent, name.to_owned())],
            zparent: parent,
            ctime: self.clock,
        };
        self.objs.insert(generation, obj);
        self.tick(parent);
        generation
    }

    /// Frees an object's number (it is gone from ZFS).
    fn free(&mut self, generation: u64) {
        if let Some(o) = self.objs.remove(&generation)
            && let Numbering::Simulated { freed, .. } = &mut self.numbering
        {
            freed.push(o.num);
        }
    }

    /// The name `dir/name` of file `g` was removed on disk: the object
    /// loses that link, and goes when it was the last (unless `keep_open`:
    /// then it waits on the delete queue).
    fn unlinked(&mut self, g: u64, dir: u64, name: &str, keep_open: bool) {
        if let Some(o) = self.objs.get_mut(&g) {
            o.links.retain(|(d, n)| !(*d == dir && n == name));
        }
        self.tick(dir);
        self.tick(g);
        if self.objs[&g].links.is_empty() && !keep_open {
            self.free(g);
        }
    }

    /// Forgets a directory removed from disk with everything under it;
    /// files with names elsewhere stay, with those names only.
    fn forget_dir(&mut self, dir: u64) {
        for sub in self.subdirs(dir) {
            self.forget_dir(sub);
        }
        for (g, n) in self.names_in(dir) {
            self.unlinked(g, dir, &n, false);
        }
        let parent = self.objs[&dir].links[0].0;
        self.free(dir);
        self.tick(parent);
    }

    /// Every file name in `dir`: (generation, name), leftovers included.
    fn names_in(&self, dir: u64) -> Vec<(u64, String)> {
        self.objs
            .iter()
            .filter(|(_, o)| !o.dir)
            .flat_map(|(g, o)| {
                o.links
                    .iter()
                    .filter(move |(d, _)| *d == dir)
                    .map(move |(_, n)| (*g, n.clone()))
            })
            .collect()
    }

    fn write_new(&mut self, rng: &mut Rng, parent: u64, name: &str, data: &[u8]) -> u64 {
        let p = self.root.join(self.join(parent, name));
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
        fs::create_dir(self.root.join(self.join(dir, &name))).unwrap();
        let g = self.add(rng, dir, &name, true);
        self.log.push(format!("mkdir {}", self.dir_path(g)));
        true
    }

    /// Remove one name of a file (the file goes with its last name).
    fn delete_name(&mut self, rng: &mut Rng) -> bool {
        let Some((g, dir, name)) = Self::pick(rng, &self.names()) else {
            return false;
        };
        let path = self.join(dir, &name);
        let others = self.objs[&g].links.len() - 1;
        self.log.push(if others > 0 {
            format!("delete {path} ({others} other link(s) stay)")
        } else {
            format!("delete {path}")
        });
        fs::remove_file(self.root.join(&path)).unwrap();
        self.unlinked(g, dir, &name, false);
        true
    }

    /// Unlink the only name of a file that a reader holds open: the object
    /// stays on ZFS's delete queue until it is closed (at the next
    /// snapshot).
    fn unlink_open(&mut self, rng: &mut Rng) -> bool {
        let single: Vec<(u64, u64, String)> = self
            .names()
            .into_iter()
            .filter(|(g, _, _)| self.objs[g].links.len() == 1)
            .collect();
        let Some((g, dir, name)) = Self::pick(rng, &single) else {
            return false;
        };
        let path = self.join(dir, &name);
        let file = fs::File::open(self.root.join(&path)).unwrap();
        fs::remove_file(self.root.join(&path)).unwrap();
        self.open.insert(g, file);
        self.unlinked(g, dir, &name, true);
        self.log.push(format!("delete {path} while it is open"));
        true
    }

    fn remove_dir(&mut self, rng: &mut Rng) -> bool {
        let dirs: Vec<u64> = self.dirs().into_iter().filter(|d| *d != ROOT).collect();
        let Some(d) = Self::pick(rng, &dirs) else {
            return false;
        };
        self.log.push(format!("rm -r {}", self.dir_path(d)));
        fs::remove_dir_all(self.root.join(self.dir_path(d))).unwrap();
        self.forget_dir(d);
        true
    }

    /// A hard link to a file under a free name.
    fn link(&mut self, rng: &mut Rng) -> bool {
        let Some((g, dir, name)) = Self::pick(rng, &self.names()) else {
            return false;
        };
        let Some((to_dir, to_name)) = self.free_slot(rng) else {
            return false;
        };
        let (from, to) = (self.join(dir, &name), self.join(to_dir, &to_name));
        fs::hard_link(self.root.join(&from), self.root.join(&to)).unwrap();
        if let Some(o) = self.objs.get_mut(&g) {
            o.links.push((to_dir, to_name));
            o.zparent = to_dir;
        }
        self.tick(g);
        self.tick(to_dir);
        self.log.push(format!("ln {from} {to}"));
        true
    }

    /// Moves the name `dir/name` of `g` to `to_dir/to_name`, replacing the
    /// file `replaced` there (already checked to be replaceable).
    #[allow(clippy::too_many_arguments)]
    fn move_name(
        &mut self,
        g: u64,
        dir: u64,
        name: &str,
        to_dir: u64,
        to_name: &str,
        replaced: Option<u64>,
    ) {
        let (from, to) = (self.join(dir, name), self.join(to_dir, to_name));
        self.log.push(format!(
            "rename {from} -> {to}{}",
            if replaced.is_some() { " (over)" } else { "" }
        ));
        fs::rename(self.root.join(&from), self.root.join(&to)).unwrap();
        if let Some(r) = replaced {
            self.unlinked(r, to_dir, to_name, false);
        }
        if let Some(o) = self.objs.get_mut(&g) {
            for l in o.links.iter_mut() {
                if l.0 == dir && l.1 == name {
                    *l = (to_dir, to_name.to_owned());
                }
            }
            o.zparent = to_dir;
        }
        self.tick(g);
        self.tick(dir);
        self.tick(to_dir);
    }

    fn rename_file(&mut self, rng: &mut Rng) -> bool {
        let Some((g, dir, name)) = Self::pick(rng, &self.names()) else {
            return false;
        };
        let dirs: Vec<u64> = self
            .dirs()
            .into_iter()
            .filter(|d| self.depth(*d) < MAX_DEPTH)
            .collect();
        let Some(to_dir) = Self::pick(rng, &dirs) else {
            return false;
        };
        let to_name = Self::pick_name(rng);
        // rename(2) between two names of one file does nothing: not modelled.
        let replaced = match self.child(to_dir, to_name) {
            None => None,
            Some(t) if t != g && !self.objs[&t].dir => Some(t),
            Some(_) => return false,
        };
        self.move_name(g, dir, &name, to_dir, to_name, replaced);
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
            Some(t) if t != d && self.objs[&t].dir && self.is_empty_dir(t) => Some(t),
            Some(_) => return false,
        };
        let old_parent = self.objs[&d].links[0].0;
        let (from, to) = (self.dir_path(d), self.join(dest, name));
        self.log.push(format!(
            "rename {from} -> {to}{}",
            if replaced.is_some() { " (over)" } else { "" }
        ));
        fs::rename(self.root.join(&from), self.root.join(&to)).unwrap();
        if let Some(r) = replaced {
            self.forget_dir(r);
        }
        if let Some(o) = self.objs.get_mut(&d) {
            o.links[0] = (dest, name.to_owned());
            o.zparent = dest;
        }
        self.tick(d);
        self.tick(old_parent);
        self.tick(dest);
        true
    }

    /// Delete a name and create a file under it: same bytes, same size
    /// with other bytes, or anything, and perhaps the old mtime.
    fn recreate(&mut self, rng: &mut Rng) -> bool {
        let Some((g, dir, name)) = Self::pick(rng, &self.names()) else {
            return false;
        };
        let path = self.root.join(self.join(dir, &name));
        let old = fs::read(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::remove_file(&path).unwrap();
        self.unlinked(g, dir, &name, false);
        let data = variant(rng, &old);
        self.write_new(rng, dir, &name, &data);
        let back = rng.range(0, 1) == 0;
        if back {
            set_mtime(&path, mtime);
        }
        self.log.push(format!(
            "re-create {} ({}{})",
            self.join(dir, &name),
            same_or_not(&old, &data),
            if back { ", old mtime" } else { "" }
        ));
        true
    }

    /// Rewrite a file's bytes in place (same object, every name sees it),
    /// perhaps setting its mtime back to what it was.
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
        let path = self.root.join(self.path(f));
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
        let Some((g, dir, name)) = Self::pick(rng, &self.names()) else {
            return false;
        };
        let path = self.root.join(self.join(dir, &name));
        let old = fs::read(&path).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let tmp_name = format!(".putfs-tmp.{}", self.next_gen);
        let data = variant(rng, &old);
        let tmp = self.write_new(rng, dir, &tmp_name, &data);
        set_mtime(&self.root.join(self.join(dir, &tmp_name)), mtime);
        self.move_name(tmp, dir, &tmp_name, dir, &name, Some(g));
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
        set_mtime(&self.root.join(self.path(f)), when);
        self.tick(f);
        self.log.push(format!("touch {} into 2001", self.path(f)));
        true
    }

    fn file_to_dir(&mut self, rng: &mut Rng) -> bool {
        let names: Vec<(u64, u64, String)> = self
            .names()
            .into_iter()
            .filter(|(_, d, _)| self.depth(*d) < MAX_DEPTH)
            .collect();
        let Some((g, dir, name)) = Self::pick(rng, &names) else {
            return false;
        };
        let path = self.root.join(self.join(dir, &name));
        self.log.push(format!(
            "replace file {} by a directory",
            self.join(dir, &name)
        ));
        fs::remove_file(&path).unwrap();
        self.unlinked(g, dir, &name, false);
        fs::create_dir(&path).unwrap();
        let d = self.add(rng, dir, &name, true);
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
        self.log.push(format!("leftover {}", self.dir_path(dir)));
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
/// `mountpoint` (as the mount table has it) that went from state `from` to
/// state `to`: `write_inuse_diffs_one` of libzfs_diff.c, object by object.
pub fn zfs_diff_output(mountpoint: &str, from: &Side, to: &Side) -> String {
    let nums: BTreeSet<u64> = from.keys().chain(to.keys()).copied().collect();
    let mut out = String::new();
    let mut line = |change: &str, o: &ObjState, name: &ZName, tail: Option<String>| {
        let kind = if o.dir { '/' } else { 'F' };
        out.push_str(&format!(
            "{change}\t{kind}\t{}",
            print_name(mountpoint, name)
        ));
        if let Some(t) = tail {
            out.push_str(&format!("\t{t}"));
        }
        out.push('\n');
    };
    for n in nums {
        let (f, t) = (from.get(&n), to.get(&n));
        // No object, or no path for it: "not there" on that side. The
        // stats of an object without a path are still read.
        let f_err = f.is_none_or(|o| o.name == ZName::Unknown);
        let t_err = t.is_none_or(|o| o.name == ZName::Unknown);
        if f_err && t_err {
            continue;
        }
        let links = |o: Option<&ObjState>| o.map_or(0, |o| o.links);
        let is_dir = |o: Option<&ObjState>| o.is_some_and(|o| o.dir);
        let change = if is_dir(f) || is_dir(t) || links(f) == 0 || links(t) == 0 {
            0
        } else {
            links(t) - links(f)
        };
        let delta = |c: i64| Some(format!("({c:+})"));
        match (f, t) {
            (_, Some(t)) if f_err => {
                if change != 0 {
                    line("M", t, &t.name, delta(change));
                } else {
                    line("+", t, &t.name, None);
                }
            }
            (Some(f), _) if t_err => {
                if change != 0 {
                    line("M", f, &f.name, delta(change));
                } else {
                    line("-", f, &f.name, None);
                }
            }
            // The same object, its ctime unchanged: no line.
            (Some(f), Some(t))
                if f.generation == t.generation && f.dir == t.dir && f.ctime == t.ctime => {}
            (Some(f), Some(t)) if f.generation == t.generation && f.dir == t.dir => {
                if change != 0 {
                    let name = if change > 0 { &f.name } else { &t.name };
                    line("M", t, name, delta(change));
                } else if f.name == t.name {
                    line("M", t, &f.name, None);
                } else {
                    let new = print_name(mountpoint, &t.name);
                    line("R", t, &f.name, Some(new));
                }
            }
            (Some(f), Some(t)) => {
                line("-", f, &f.name, None);
                line("+", t, &t.name, None);
            }
            _ => unreachable!("an object on neither side"),
        }
    }
    out
}

/// The mountpoint and the object's path as `print_cmn` writes them, every
/// byte outside `!`..`~` (and `\\`) as `\\` and four octal digits.
fn print_name(mountpoint: &str, name: &ZName) -> String {
    let file = match name {
        ZName::Path(rel) if rel.is_empty() => String::new(),
        ZName::Path(rel) => format!("/{rel}"),
        ZName::OnDeleteQueue => "(on_delete_queue)".to_owned(),
        ZName::Unknown => unreachable!("no line names an object without a path"),
    };
    // libzfs drops a lone `/` (a dataset mounted at the root).
    let mountpoint = if mountpoint == "/" { "" } else { mountpoint };
    let mut s = String::new();
    for b in mountpoint.bytes().chain(file.bytes()) {
        if b > b' ' && b != b'\\' && b < 0x7f {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:04o}"));
        }
    }
    s
}

/// The keys `zfs diff` may not show: every path, on either side, of an
/// object ZFS finds no path for on one side or both. Only the walk is
/// exact there; find-gap from `zfs diff` must still be right about every
/// key it reports.
pub fn blind_keys(from: &Side, to: &Side) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (n, o) in from.iter().chain(to.iter()) {
        let unknown = [from.get(n), to.get(n)]
            .into_iter()
            .flatten()
            .any(|s| s.name == ZName::Unknown);
        if unknown && !o.dir {
            out.extend(o.paths.iter().cloned());
        }
    }
    out
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

/// As [`assert_same_gap`], where `zfs diff` cannot see the keys in
/// `blind`: every entry of `got` must be right, and every entry missing
/// from it must be about a blind key.
#[track_caller]
pub fn assert_gap_but_blind(
    what: &str,
    expected: &BTreeSet<(String, String)>,
    got: &BTreeSet<(String, String)>,
    blind: &BTreeSet<String>,
    context: &str,
) {
    let missing: Vec<_> = expected
        .difference(got)
        .filter(|(_, k)| !blind.contains(k))
        .collect();
    let extra: Vec<_> = got.difference(expected).collect();
    if missing.is_empty() && extra.is_empty() {
        return;
    }
    panic!(
        "{what}: find-gap disagrees with the tree comparison\n\
         missing (the oracle has them): {missing:?}\n\
         extra or wrong (the oracle does not): {extra:?}\n\
         (keys zfs diff cannot see, not required: {blind:?})\n{context}"
    );
}
