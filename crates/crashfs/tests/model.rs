//! The crash model seen through real syscalls on a real mount: each test
//! runs a small workload, cuts the power and inspects the image.
//!
//! Needs root and /dev/fuse.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crashfs::{CrashFs, CutReport};
use rustix::fs::{
    AtFlags, CWD, FileType, FlockOperation, Mode, OFlags, RenameFlags, ResolveFlags, XattrFlags,
};
use rustix::io::Errno;
use tempfile::TempDir;

/// A mounted filesystem and a place for its image.
struct Rig {
    // Dropped first: unmount before the directories go.
    fs: Option<CrashFs>,
    mnt: TempDir,
    out: TempDir,
}

impl Rig {
    fn new() -> Rig {
        let mnt = tempfile::tempdir().expect("mountpoint");
        let out = tempfile::tempdir().expect("image dir");
        let fs = CrashFs::mount(mnt.path()).expect("mount crashfs (needs root and /dev/fuse)");
        Rig {
            fs: Some(fs),
            mnt,
            out,
        }
    }

    fn fs(&self) -> &CrashFs {
        self.fs.as_ref().expect("mounted")
    }

    /// A path on the mount.
    fn p(&self, rel: &str) -> PathBuf {
        self.mnt.path().join(rel)
    }

    fn image(&self) -> PathBuf {
        self.out.path().join("image")
    }

    fn cut(&self) -> (CutReport, PathBuf) {
        let report = self.fs().cut(&self.image()).expect("cut");
        (report, self.image())
    }

    /// Unmounts and checks the mount is gone.
    fn unmount(mut self) {
        let mp = self.fs().mountpoint().to_owned();
        self.fs.take().expect("mounted").unmount().expect("unmount");
        assert!(!is_mounted(&mp), "{} still mounted", mp.display());
    }
}

fn is_mounted(mp: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let needle = format!(" {} ", mp.display());
    info.lines().any(|l| l.contains(&needle))
}

fn write_file(path: &Path, data: &[u8]) -> File {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(data).expect("write");
    f
}

fn fsync_dir(path: &Path) {
    File::open(path)
        .and_then(|d| d.sync_all())
        .unwrap_or_else(|e| panic!("fsync dir {}: {e}", path.display()));
}

fn errno<T>(r: std::io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn file_data_survives_only_up_to_its_last_fsync() {
    let rig = Rig::new();
    write_file(&rig.p("never"), b"never synced");
    write_file(&rig.p("synced"), b"synced bytes")
        .sync_all()
        .unwrap();
    let mut later = write_file(&rig.p("later"), b"kept");
    later.sync_all().unwrap();
    later.write_all(b" and lost").unwrap();
    let data_only = write_file(&rig.p("datasync"), b"via fdatasync");
    data_only.sync_data().unwrap();
    fsync_dir(rig.mnt.path());

    let stats = rig.fs().stats();
    assert!(
        stats.fsync >= 2 && stats.fdatasync >= 1 && stats.fsyncdir >= 1,
        "{stats:?}"
    );
    let (report, img) = rig.cut();
    assert_eq!(fs::read(img.join("never")).unwrap(), b"");
    assert_eq!(fs::read(img.join("synced")).unwrap(), b"synced bytes");
    assert_eq!(fs::read(img.join("later")).unwrap(), b"kept");
    assert_eq!(fs::read(img.join("datasync")).unwrap(), b"via fdatasync");
    assert_eq!(report.files, 4);
    assert_eq!(report.bytes, 12 + 4 + 13);
    drop((later, data_only));
    rig.unmount();
}

#[test]
fn entries_survive_only_once_their_directory_is_synced() {
    let rig = Rig::new();
    for d in ["x", "y"] {
        fs::create_dir(rig.p(d)).unwrap();
    }
    rig.fs().sync_all();

    // x: the file and the innermost directory are synced, no parent is.
    write_file(&rig.p("x/orphan"), b"o").sync_all().unwrap();
    fs::create_dir_all(rig.p("x/a/b")).unwrap();
    write_file(&rig.p("x/a/b/f"), b"deep").sync_all().unwrap();
    fsync_dir(&rig.p("x/a/b"));

    // y: the same, plus every directory on the way up.
    fs::create_dir_all(rig.p("y/a/b")).unwrap();
    write_file(&rig.p("y/a/b/f"), b"deep").sync_all().unwrap();
    for d in ["y/a/b", "y/a", "y"] {
        fsync_dir(&rig.p(d));
    }

    let (report, img) = rig.cut();
    let names = |d: &str| {
        let mut v: Vec<_> = fs::read_dir(img.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert!(names("x").is_empty(), "x holds {:?}", names("x"));
    assert_eq!(names("y"), ["a"]);
    assert_eq!(fs::read(img.join("y/a/b/f")).unwrap(), b"deep");
    // x/orphan, x/a, x/a/b and x/a/b/f: visible, not in the image.
    assert_eq!(report.lost_entries, 4);
    rig.unmount();
}

#[test]
fn rename_noreplace_is_atomic_and_a_rename_lives_in_two_directories() {
    let rig = Rig::new();
    fs::create_dir(rig.p("a")).unwrap();
    fs::create_dir(rig.p("b")).unwrap();
    write_file(&rig.p("a/f"), b"first");
    write_file(&rig.p("a/g"), b"second");
    rig.fs().sync_all();

    let err =
        rustix::fs::renameat_with(CWD, rig.p("a/f"), CWD, rig.p("a/g"), RenameFlags::NOREPLACE);
    assert_eq!(err, Err(Errno::EXIST));
    assert_eq!(fs::read(rig.p("a/f")).unwrap(), b"first");
    assert_eq!(fs::read(rig.p("a/g")).unwrap(), b"second");

    // Onto a free name the flag reaches the filesystem (FUSE_RENAME2).
    rustix::fs::renameat_with(CWD, rig.p("a/g"), CWD, rig.p("a/h"), RenameFlags::NOREPLACE)
        .unwrap();
    assert!(
        rig.fs().stats().rename_noreplace >= 1,
        "{:?}",
        rig.fs().stats()
    );

    // Move a/f to b/f and sync only the target directory.
    fs::rename(rig.p("a/f"), rig.p("b/f")).unwrap();
    fsync_dir(&rig.p("b"));
    assert!(!rig.p("a/f").exists());

    let (_, img) = rig.cut();
    let old = fs::metadata(img.join("a/f")).expect("old name still durable");
    let new = fs::metadata(img.join("b/f")).expect("new name durable");
    assert_eq!(old.ino(), new.ino(), "one inode under two names");
    assert_eq!(fs::read(img.join("b/f")).unwrap(), b"first");
    // a was never synced after the NOREPLACE rename either.
    assert!(img.join("a/g").exists() && !img.join("a/h").exists());
    rig.unmount();
}

#[test]
fn rename_exchange_swaps_two_names() {
    let rig = Rig::new();
    write_file(&rig.p("l"), b"left");
    fs::create_dir(rig.p("r")).unwrap();
    rustix::fs::renameat_with(CWD, rig.p("l"), CWD, rig.p("r"), RenameFlags::EXCHANGE).unwrap();
    assert!(rig.p("l").is_dir());
    assert_eq!(fs::read(rig.p("r")).unwrap(), b"left");
    assert_eq!(rig.fs().stats().rename_exchange, 1);
    rig.unmount();
}

#[test]
fn an_unlink_survives_a_cut_until_its_directory_is_synced() {
    let rig = Rig::new();
    for d in ["kept", "gone"] {
        fs::create_dir(rig.p(d)).unwrap();
        write_file(&rig.p(&format!("{d}/f")), b"data");
    }
    rig.fs().sync_all();
    fs::remove_file(rig.p("kept/f")).unwrap();
    fs::remove_file(rig.p("gone/f")).unwrap();
    fsync_dir(&rig.p("gone"));

    let (_, img) = rig.cut();
    assert_eq!(fs::read(img.join("kept/f")).unwrap(), b"data");
    assert!(!img.join("gone/f").exists());
    rig.unmount();
}

#[test]
fn a_hard_link_is_one_inode_in_the_image() {
    let rig = Rig::new();
    fs::create_dir(rig.p("d1")).unwrap();
    fs::create_dir(rig.p("d2")).unwrap();
    write_file(&rig.p("d1/f"), b"linked").sync_all().unwrap();
    rustix::fs::linkat(CWD, rig.p("d1/f"), CWD, rig.p("d2/g"), AtFlags::empty()).unwrap();
    assert_eq!(fs::metadata(rig.p("d1/f")).unwrap().nlink(), 2);
    for d in ["d1", "d2", ""] {
        fsync_dir(&rig.p(d));
    }
    assert_eq!(rig.fs().stats().link, 1);

    let (report, img) = rig.cut();
    let a = fs::metadata(img.join("d1/f")).unwrap();
    let b = fs::metadata(img.join("d2/g")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    assert_eq!(fs::read(img.join("d2/g")).unwrap(), b"linked");
    assert_eq!((report.files, report.bytes), (2, 6));
    rig.unmount();
}

#[test]
fn xattrs_survive_a_full_fsync_only() {
    let rig = Rig::new();
    let f = write_file(&rig.p("f"), b"x");
    rustix::fs::fsetxattr(&f, "user.synced", b"yes", XattrFlags::empty()).unwrap();
    f.sync_all().unwrap();
    rustix::fs::fsetxattr(&f, "user.late", b"no", XattrFlags::empty()).unwrap();
    let g = write_file(&rig.p("g"), b"data");
    rustix::fs::fsetxattr(&g, "user.datasync", b"no", XattrFlags::empty()).unwrap();
    g.sync_data().unwrap();
    fsync_dir(rig.mnt.path());

    // The size protocol and the flags, as on ext4.
    assert_eq!(rustix::fs::fgetxattr_query(&f, "user.synced"), Ok(3));
    let mut small = [0u8; 2];
    assert_eq!(
        rustix::fs::fgetxattr(&f, "user.synced", &mut small[..]),
        Err(Errno::RANGE)
    );
    assert_eq!(
        rustix::fs::fgetxattr_query(&f, "user.missing"),
        Err(Errno::NODATA)
    );
    assert_eq!(
        rustix::fs::fsetxattr(&f, "user.synced", b"x", XattrFlags::CREATE),
        Err(Errno::EXIST)
    );
    assert_eq!(
        rustix::fs::fsetxattr(&f, "user.missing", b"x", XattrFlags::REPLACE),
        Err(Errno::NODATA)
    );
    let mut list = vec![0u8; rustix::fs::flistxattr_query(&f).unwrap()];
    let n = rustix::fs::flistxattr(&f, &mut list[..]).unwrap();
    assert_eq!(&list[..n], b"user.late\0user.synced\0");
    assert!(rig.fs().stats().setxattr >= 3);

    let (_, img) = rig.cut();
    let get = |path: PathBuf, name: &str| {
        let mut buf = [0u8; 64];
        rustix::fs::getxattr(&path, name, &mut buf[..]).map(|n| buf[..n].to_vec())
    };
    assert_eq!(get(img.join("f"), "user.synced"), Ok(b"yes".to_vec()));
    assert_eq!(get(img.join("f"), "user.late"), Err(Errno::NODATA));
    assert_eq!(get(img.join("g"), "user.datasync"), Err(Errno::NODATA));
    assert_eq!(fs::read(img.join("g")).unwrap(), b"data");
    drop((f, g));
    rig.unmount();
}

#[test]
fn after_a_cut_every_request_fails_with_eio() {
    let rig = Rig::new();
    fs::create_dir(rig.p("d")).unwrap();
    let mut open = write_file(&rig.p("d/f"), b"before");
    rig.fs().sync_all();
    rig.cut();

    let eio = Some(libc_eio());
    assert_eq!(errno(fs::metadata(rig.p("d/f"))), eio, "stat");
    assert_eq!(errno(File::open(rig.p("d/f"))), eio, "open");
    assert_eq!(errno(File::create(rig.p("d/new"))), eio, "create");
    assert_eq!(errno(fs::create_dir(rig.p("e"))), eio, "mkdir");
    assert_eq!(errno(fs::read_dir(rig.p("d"))), eio, "opendir");
    assert_eq!(errno(open.write_all(b"after")), eio, "write");
    assert_eq!(errno(open.sync_all()), eio, "fsync");
    assert_eq!(errno(fs::rename(rig.p("d/f"), rig.p("d/g"))), eio, "rename");
    drop(open);
    assert!(rig.fs().stats().refused >= 8, "{:?}", rig.fs().stats());
    assert_eq!(fs::read(rig.image().join("d/f")).unwrap(), b"before");
    rig.unmount();
}

fn libc_eio() -> i32 {
    Errno::IO.raw_os_error()
}

#[test]
fn an_image_mounts_again_with_the_same_files_xattrs_and_times() {
    let rig = Rig::new();
    fs::create_dir(rig.p("dir")).unwrap();
    let f = write_file(&rig.p("dir/file"), b"contents");
    rustix::fs::fsetxattr(&f, "user.k", b"v", XattrFlags::empty()).unwrap();
    fs::set_permissions(rig.p("dir/file"), fs::Permissions::from_mode(0o640)).unwrap();
    let mtime = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 1_600_000_000,
            tv_nsec: 5,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1_700_000_000,
            tv_nsec: 123_456_789,
        },
    };
    rustix::fs::utimensat(CWD, rig.p("dir/file"), &mtime, AtFlags::empty()).unwrap();
    std::os::unix::fs::symlink("dir/file", rig.p("link")).unwrap();
    fs::hard_link(rig.p("dir/file"), rig.p("hard")).unwrap();
    rustix::fs::mknodat(
        CWD,
        rig.p("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    drop(f);
    rig.fs().sync_all();
    let first = tempfile::tempdir().unwrap();
    let img = first.path().join("image");
    let report = rig.fs().cut(&img).unwrap();
    assert_eq!((report.files, report.dirs, report.lost_entries), (2, 1, 0));
    rig.unmount();

    let mnt = tempfile::tempdir().unwrap();
    let again = CrashFs::mount_from(mnt.path(), &img).expect("mount_from");
    let p = |rel: &str| mnt.path().join(rel);
    assert_eq!(fs::read(p("dir/file")).unwrap(), b"contents");
    let md = fs::metadata(p("dir/file")).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_700_000_000, 123_456_789));
    assert_eq!((md.atime(), md.atime_nsec()), (1_600_000_000, 5));
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!(md.nlink(), 2);
    assert_eq!(fs::metadata(p("hard")).unwrap().ino(), md.ino());
    assert_eq!(fs::read_link(p("link")).unwrap(), Path::new("dir/file"));
    assert!(
        fs::symlink_metadata(p("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(p("dir/file"), "user.k", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"v");

    // Everything loaded is durable: a cut straight away loses nothing.
    let out = tempfile::tempdir().unwrap();
    let report = again.cut(&out.path().join("image")).unwrap();
    assert_eq!(
        (report.files, report.dirs, report.bytes, report.lost_entries),
        (2, 1, 8, 0)
    );
    again.unmount().unwrap();
    assert!(!is_mounted(&mnt.path().canonicalize().unwrap()));
}

#[test]
fn an_unlinked_open_file_stays_readable() {
    let rig = Rig::new();
    let mut f = write_file(&rig.p("f"), b"still here");
    fs::remove_file(rig.p("f")).unwrap();
    assert!(!rig.p("f").exists());
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    f.write_all(b", and more").unwrap();
    let mut buf = [0u8; 64];
    let n = rustix::io::pread(&f, &mut buf[..], 0).unwrap();
    assert_eq!(&buf[..n], b"still here, and more");
    let mut again = File::open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&f)
    ))
    .unwrap();
    let mut s = String::new();
    again.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here, and more");
    drop((f, again));
    rig.unmount();
}

/// Several writers create, write and sync files while the power is cut
/// under them: every file whose own fsync and directory fsync both returned
/// is whole in the image.
#[test]
fn concurrent_writers_keep_every_acknowledged_file() {
    let rig = Rig::new();
    const WRITERS: usize = 4;
    for t in 0..WRITERS {
        fs::create_dir(rig.p(&format!("t{t}"))).unwrap();
    }
    rig.fs().sync_all();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let payload = |t: usize, i: usize| {
        format!("writer {t} file {i} ")
            .repeat(100 + i % 50)
            .into_bytes()
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let dir = rig.p(&format!("t{t}"));
            let acked = acked.clone();
            thread::spawn(move || {
                for i in 0.. {
                    let name = dir.join(format!("f{i}"));
                    let step = || -> std::io::Result<()> {
                        let mut f = File::create(&name)?;
                        f.write_all(&payload(t, i))?;
                        f.sync_all()?;
                        File::open(&dir)?.sync_all()
                    };
                    match step() {
                        Ok(()) => acked.lock().unwrap().push((t, i)),
                        Err(e) => {
                            assert_eq!(
                                e.raw_os_error(),
                                Some(libc_eio()),
                                "{}: {e}",
                                name.display()
                            );
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Cut once the writers are well under way (or give up waiting).
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 50 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let (report, img) = rig.cut();
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() >= 4 * WRITERS,
        "too few files acknowledged: {}",
        acked.len()
    );
    for &(t, i) in acked.iter() {
        let path = img.join(format!("t{t}/f{i}"));
        let got = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(got == payload(t, i), "{} is not whole", path.display());
    }
    assert!(report.files as usize >= acked.len());
    let stats = rig.fs().stats();
    assert!(stats.fsync as usize >= acked.len() && stats.fsyncdir as usize >= acked.len());
    rig.unmount();
}

/// A success whose value does not matter.
fn ok<T>(_: T) -> String {
    String::new()
}

/// What putfs does to a data root, run on ext4 and on crashfs: the
/// results must match, or a crash test would test a different server.
fn behaviour(root: &Path) -> Vec<(&'static str, Result<String, Errno>)> {
    let dir = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut rec = |what: &'static str, r: Result<String, Errno>| out.push((what, r));

    rec(
        "mkdir",
        rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).map(ok),
    );
    rec(
        "mkdir exists",
        rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).map(ok),
    );
    let excl = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let f = rustix::fs::openat(&dir, "d/f", excl, Mode::from_raw_mode(0o644));
    rec(
        "create excl",
        f.as_ref().map(|_| String::new()).map_err(|e| *e),
    );
    rec(
        "create excl again",
        rustix::fs::openat(&dir, "d/f", excl, Mode::from_raw_mode(0o644)).map(ok),
    );
    if let Ok(f) = &f {
        rec(
            "write",
            rustix::io::write(f, b"hello").map(|n| n.to_string()),
        );
        rec("fsync", rustix::fs::fsync(f).map(ok));
    }
    rec("symlink", rustix::fs::symlinkat("f", &dir, "d/s").map(ok));
    let nofollow = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rec(
        "open nofollow",
        rustix::fs::openat(&dir, "d/s", nofollow, Mode::empty()).map(ok),
    );
    let beneath = |p: &str| {
        rustix::fs::openat2(
            &dir,
            p,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    };
    rec("openat2 beneath", beneath("d/f").map(ok));
    rec("openat2 escape", beneath("../x").map(ok));
    rec("openat2 absolute", beneath("/etc/passwd").map(ok));
    if let Ok(r) = beneath("d/f") {
        let mut buf = [0u8; 16];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let n = rustix::io::preadv2(&r, &mut iov, 1, rustix::io::ReadWriteFlags::empty());
        rec(
            "preadv2",
            n.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()),
        );
        let a = rustix::fs::openat(&dir, "d/f", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .unwrap();
        rec(
            "flock",
            rustix::fs::flock(&r, FlockOperation::NonBlockingLockExclusive).map(ok),
        );
        rec(
            "flock other",
            rustix::fs::flock(&a, FlockOperation::NonBlockingLockExclusive).map(ok),
        );
    }
    let noreplace = |a: &str, b: &str| {
        rustix::fs::renameat_with(&dir, a, &dir, b, RenameFlags::NOREPLACE).map(ok)
    };
    rec("noreplace onto existing", noreplace("d/s", "d/f"));
    rec("noreplace free", noreplace("d/s", "d/s2"));
    rec(
        "link",
        rustix::fs::linkat(&dir, "d/f", &dir, "d/f2", AtFlags::empty()).map(ok),
    );
    rec(
        "link exists",
        rustix::fs::linkat(&dir, "d/f", &dir, "d/f2", AtFlags::empty()).map(ok),
    );
    rec(
        "link dir",
        rustix::fs::linkat(&dir, "d", &dir, "d3", AtFlags::empty()).map(ok),
    );
    let dfd = rustix::fs::openat(
        &dir,
        "d",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    if let Ok(d) = &dfd {
        rec("fsync dir", rustix::fs::fsync(d).map(ok));
        rec(
            "setxattr dir",
            rustix::fs::fsetxattr(d, "user.a", b"1", XattrFlags::CREATE).map(ok),
        );
        rec(
            "getxattr dir",
            rustix::fs::fgetxattr_query(d, "user.a").map(|n| n.to_string()),
        );
    }
    rec(
        "rmdir nonempty",
        rustix::fs::unlinkat(&dir, "d", AtFlags::REMOVEDIR).map(ok),
    );
    rec(
        "unlink dir",
        rustix::fs::unlinkat(&dir, "d", AtFlags::empty()).map(ok),
    );
    rec(
        "rmdir file",
        rustix::fs::unlinkat(&dir, "d/f", AtFlags::REMOVEDIR).map(ok),
    );
    rec(
        "open dir for write",
        rustix::fs::openat(&dir, "d", OFlags::WRONLY, Mode::empty()).map(ok),
    );
    rec(
        "mkdir e",
        rustix::fs::mkdirat(&dir, "e", Mode::from_raw_mode(0o755)).map(ok),
    );
    rec(
        "rename dir over file",
        rustix::fs::renameat(&dir, "e", &dir, "d/f").map(ok),
    );
    rec(
        "rename file over dir",
        rustix::fs::renameat(&dir, "d/f", &dir, "e").map(ok),
    );
    rec(
        "rename dir into itself",
        rustix::fs::renameat(&dir, "d", &dir, "d/sub").map(ok),
    );
    rec(
        "unlink missing",
        rustix::fs::unlinkat(&dir, "nope", AtFlags::empty()).map(ok),
    );
    rec(
        "stat below file",
        rustix::fs::statat(&dir, "d/f/x", AtFlags::empty()).map(ok),
    );
    rec(
        "unlink",
        rustix::fs::unlinkat(&dir, "d/f2", AtFlags::empty()).map(ok),
    );
    rec(
        "nlink after unlink",
        rustix::fs::statat(&dir, "d/f", AtFlags::empty()).map(|s| s.st_nlink.to_string()),
    );
    rec(
        "mkdir e2",
        rustix::fs::mkdirat(&dir, "e2", Mode::from_raw_mode(0o755)).map(ok),
    );
    rec(
        "rename over empty dir",
        rustix::fs::renameat(&dir, "e", &dir, "e2").map(ok),
    );
    rec(
        "rmdir",
        rustix::fs::unlinkat(&dir, "e2", AtFlags::REMOVEDIR).map(ok),
    );
    rec(
        "statvfs",
        rustix::fs::fstatvfs(&dir).map(|v| (v.f_bavail > 0).to_string()),
    );
    out
}

#[test]
fn syscalls_putfs_uses_answer_as_on_ext4() {
    let ext4 = tempfile::tempdir().unwrap();
    let expected = behaviour(ext4.path());
    let rig = Rig::new();
    let got = behaviour(rig.mnt.path());
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e, g, "crashfs differs from the local filesystem");
    }
    assert_eq!(expected.len(), got.len());
    rig.unmount();
}

#[test]
fn a_busy_mount_is_detached_on_unmount() {
    let mnt = tempfile::tempdir().unwrap();
    let fs = CrashFs::mount(mnt.path()).unwrap();
    let mp = fs.mountpoint().to_owned();
    let mut open = write_file(&mp.join("f"), b"x");
    let cwd_holder = File::open(&mp).unwrap();
    fs.unmount().expect("a busy mount still unmounts (lazily)");
    assert!(!is_mounted(&mp));
    // The connection was aborted: the old descriptors no longer work.
    assert!(open.write_all(b"y").is_err());
    drop((open, cwd_holder));
}

#[test]
fn the_handle_can_move_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CrashFs>();
}

#[test]
fn dropping_the_handle_unmounts() {
    let mnt = tempfile::tempdir().unwrap();
    let mp = {
        let fs = CrashFs::mount(mnt.path()).unwrap();
        fs::create_dir(mnt.path().join("d")).unwrap();
        fs.mountpoint().to_owned()
    };
    assert!(!is_mounted(&mp));
    assert!(!mnt.path().join("d").exists());
}

#[test]
fn a_large_directory_lists_every_name_once() {
    let rig = Rig::new();
    let names: Vec<String> = (0..1500)
        .map(|i| format!("{i:04}-{}", "n".repeat(60)))
        .collect();
    for n in &names {
        File::create(rig.p(n)).unwrap();
    }
    let mut listed: Vec<String> = fs::read_dir(rig.mnt.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, names);
    rig.unmount();
}
