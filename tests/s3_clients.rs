//! The S3 listener driven by real clients: boto3 (tests/s3/boto3_checks.py:
//! SDK default checksums, presigned URLs, a 50 MiB multipart upload,
//! listings, copies, integrity errors), the aws cli (s3 and s3api),
//! rclone's s3 backend (copy, sync, check), restic (init, backup, restore,
//! check) and s3cmd. Every test starts its own server with `--s3-listen`
//! on port 0 and reads the address from its output; what the clients
//! write is checked as plain files and over the plain API.

mod common;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/tools.rs"]
#[allow(dead_code)]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ops::Output;
use tools::{clean_command, need, repo, run, s};

const ACCESS_KEY: &str = "AKIAPUTFSTEST";
const SECRET_KEY: &str = "putfs-test-secret/with+symbols";

/// A server with the S3 listener, and the listener's URL.
struct S3 {
    server: Server,
    url: String,
    _keys: tempfile::TempDir,
}

fn start(root: &Path) -> S3 {
    let keys = tempdir();
    let file = keys.path().join("keys");
    std::fs::write(&file, format!("# test key\n{ACCESS_KEY} {SECRET_KEY}\n")).unwrap();
    let server = Server::start(root, &["--s3-listen", "127.0.0.1:0", "--s3-keys", s(&file)]);
    let url = s3_url(&server);
    S3 {
        server,
        url,
        _keys: keys,
    }
}

/// A client from the test virtualenv (scripts/test installs it).
fn pyenv_tool(name: &str, test: &str) -> Option<PathBuf> {
    let p = repo().join("target/pyenv/bin").join(name);
    if p.is_file() {
        return Some(p);
    }
    need(name, test)
}

fn with_keys(mut cmd: Command) -> Command {
    // Plain http on loopback: no CA bundle (rclone refuses one for http).
    cmd.env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd
}

#[track_caller]
fn ok(out: Output, what: &str) -> Output {
    out.expect(0, what);
    out
}

/// A small tree: nested directories, a space, unicode, an empty file and
/// one of 12 MiB (multipart for the aws cli and rclone).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(42);
    let files = vec![
        ("a.txt".to_string(), b"alpha".to_vec()),
        ("sub/b.bin".to_string(), rng.bytes(70_000)),
        ("sub/deeper/c d.txt".to_string(), b"with a space".to_vec()),
        ("sub/ünï.txt".to_string(), b"unicode".to_vec()),
        ("empty".to_string(), Vec::new()),
        ("big.bin".to_string(), rng.bytes(12 * 1024 * 1024)),
    ];
    for (name, data) in &files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    files
}

#[test]
fn boto3_checks_pass() {
    const T: &str = "boto3_checks_pass";
    let Some(python) = pyenv_tool("python", T) else {
        return;
    };
    let dir = tempdir();
    let s3 = start(dir.path());
    let mut cmd = with_keys(clean_command(python));
    cmd.arg(repo().join("tests/s3/boto3_checks.py"))
        .env("S3_URL", &s3.url)
        .env("PLAIN_URL", s3.server.url("").trim_end_matches('/'))
        .env("ROOT", dir.path());
    let out = ok(run(cmd), "boto3 checks");
    assert!(
        out.out().contains("all boto3 checks passed"),
        "{}",
        out.describe()
    );
}

#[test]
fn aws_cli_copies_syncs_lists_and_removes() {
    const T: &str = "aws_cli_copies_syncs_lists_and_removes";
    let Some(aws) = pyenv_tool("aws", T) else {
        return;
    };
    let dir = tempdir();
    let s3 = start(dir.path());
    let work = tempdir();
    let src = work.path().join("src");
    let files = tree(&src);
    let aws_cmd = |args: &[&str]| {
        let mut c = with_keys(clean_command(&aws));
        c.arg("--endpoint-url").arg(&s3.url).args(args);
        c
    };
    ok(run(aws_cmd(&["s3", "mb", "s3://awscli"])), "mb");
    ok(
        run(aws_cmd(&[
            "s3",
            "cp",
            s(&src.join("big.bin")),
            "s3://awscli/one/big.bin",
        ])),
        "cp up",
    );
    assert_eq!(
        std::fs::read(dir.path().join("awscli/one/big.bin")).unwrap(),
        std::fs::read(src.join("big.bin")).unwrap(),
        "a multipart cp is the plain file"
    );
    ok(
        run(aws_cmd(&["s3", "sync", s(&src), "s3://awscli/tree"])),
        "sync up",
    );
    for (name, data) in &files {
        let r = s3.server.get(&format!("awscli/tree/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert!(r.body == *data, "{name}: other bytes");
    }
    let again = ok(
        run(aws_cmd(&["s3", "sync", s(&src), "s3://awscli/tree"])),
        "sync again",
    );
    assert!(
        again.out().trim().is_empty(),
        "a second sync uploads nothing:\n{}",
        again.describe()
    );
    let ls = ok(
        run(aws_cmd(&["s3", "ls", "--recursive", "s3://awscli/tree/"])),
        "ls",
    );
    for (name, _) in &files {
        assert!(
            ls.out().contains(&format!("tree/{name}")),
            "{name} not listed:\n{}",
            ls.describe()
        );
    }
    let back = work.path().join("back");
    ok(
        run(aws_cmd(&["s3", "sync", "s3://awscli/tree", s(&back)])),
        "sync down",
    );
    for (name, data) in &files {
        assert!(
            std::fs::read(back.join(name)).unwrap() == *data,
            "{name} back"
        );
    }
    let head = ok(
        run(aws_cmd(&[
            "s3api",
            "head-object",
            "--bucket",
            "awscli",
            "--key",
            "tree/a.txt",
        ])),
        "head-object",
    );
    let md5 = hex_md5(b"alpha");
    assert!(
        head.out().contains(&md5),
        "ETag is the MD5:\n{}",
        head.describe()
    );
    let refused = run(aws_cmd(&["s3", "rb", "s3://awscli"]));
    assert_ne!(
        refused.code,
        Some(0),
        "rb of a non-empty bucket:\n{}",
        refused.describe()
    );
    assert!(
        refused.combined().contains("BucketNotEmpty"),
        "{}",
        refused.describe()
    );
    ok(
        run(aws_cmd(&["s3", "rm", "--recursive", "s3://awscli/"])),
        "rm --recursive",
    );
    ok(run(aws_cmd(&["s3", "rb", "s3://awscli"])), "rb");
    assert!(
        !dir.path().join("awscli").exists(),
        "the bucket's directory is gone"
    );
}

fn hex_md5(data: &[u8]) -> String {
    md5(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rclone_copies_syncs_and_checks() {
    const T: &str = "rclone_copies_syncs_and_checks";
    let Some(rclone) = need("rclone", T) else {
        return;
    };
    let dir = tempdir();
    let s3 = start(dir.path());
    std::fs::create_dir(dir.path().join("rclone")).unwrap();
    let work = tempdir();
    let src = work.path().join("src");
    let files = tree(&src);
    let rc = |args: &[&str]| {
        let mut c = with_keys(clean_command(&rclone));
        c.env("RCLONE_CONFIG", "/dev/null")
            .env("RCLONE_CONFIG_P_TYPE", "s3")
            .env("RCLONE_CONFIG_P_PROVIDER", "Other")
            .env("RCLONE_CONFIG_P_ENDPOINT", &s3.url)
            .env("RCLONE_CONFIG_P_ACCESS_KEY_ID", ACCESS_KEY)
            .env("RCLONE_CONFIG_P_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("RCLONE_CONFIG_P_REGION", "us-east-1")
            .env("RCLONE_CONFIG_P_FORCE_PATH_STYLE", "true")
            .arg("--retries=1")
            .arg("--low-level-retries=1")
            .args(args);
        c
    };
    ok(run(rc(&["copy", s(&src), "p:rclone/tree"])), "copy");
    for (name, data) in &files {
        assert!(
            std::fs::read(dir.path().join("rclone/tree").join(name)).unwrap() == *data,
            "{name}"
        );
    }
    ok(run(rc(&["check", s(&src), "p:rclone/tree"])), "check");
    std::fs::write(src.join("new.txt"), b"added").unwrap();
    std::fs::remove_file(src.join("a.txt")).unwrap();
    ok(run(rc(&["sync", s(&src), "p:rclone/tree"])), "sync");
    assert!(
        dir.path().join("rclone/tree/new.txt").is_file(),
        "sync added new.txt"
    );
    assert!(
        !dir.path().join("rclone/tree/a.txt").exists(),
        "sync deleted a.txt"
    );
    ok(
        run(rc(&["check", s(&src), "p:rclone/tree"])),
        "check after sync",
    );
}

#[test]
fn restic_backs_up_restores_and_checks() {
    const T: &str = "restic_backs_up_restores_and_checks";
    let Some(restic) = need("restic", T) else {
        return;
    };
    let dir = tempdir();
    let s3 = start(dir.path());
    std::fs::create_dir(dir.path().join("restic")).unwrap();
    let work = tempdir();
    let src = work.path().join("src");
    let files = tree(&src);
    let repo_url = format!("s3:{}/restic/repo", s3.url);
    let restic_cmd = |args: &[&str]| {
        let mut c = with_keys(clean_command(&restic));
        c.env("RESTIC_PASSWORD", "putfs test")
            .env("RESTIC_CACHE_DIR", work.path().join("cache"))
            .arg("-r")
            .arg(&repo_url)
            .args(args);
        c
    };
    ok(run(restic_cmd(&["init"])), "init");
    ok(run(restic_cmd(&["backup", s(&src)])), "backup");
    let target = work.path().join("restored");
    ok(
        run(restic_cmd(&["restore", "latest", "--target", s(&target)])),
        "restore",
    );
    for (name, data) in &files {
        let restored = target.join(src.strip_prefix("/").unwrap()).join(name);
        assert!(
            std::fs::read(&restored).unwrap() == *data,
            "{name} restored"
        );
    }
    ok(run(restic_cmd(&["check", "--read-data"])), "check");
    assert!(
        dir.path().join("restic/repo/config").is_file(),
        "the repository is plain files"
    );
}

#[test]
fn s3cmd_puts_gets_lists_and_deletes() {
    const T: &str = "s3cmd_puts_gets_lists_and_deletes";
    let Some(s3cmd) = pyenv_tool("s3cmd", T) else {
        return;
    };
    let dir = tempdir();
    let s3 = start(dir.path());
    let host = s3.url.trim_start_matches("http://").to_owned();
    let work = tempdir();
    let file = work.path().join("f.bin");
    let data = Rng::new(7).bytes(100_000);
    std::fs::write(&file, &data).unwrap();
    let cmd = |args: &[&str]| {
        let mut c = clean_command(&s3cmd);
        c.arg("--config=/dev/null")
            .arg(format!("--access_key={ACCESS_KEY}"))
            .arg(format!("--secret_key={SECRET_KEY}"))
            .arg(format!("--host={host}"))
            .arg(format!("--host-bucket={host}"))
            .arg("--no-ssl")
            .arg("--region=us-east-1")
            .args(args);
        c
    };
    ok(run(cmd(&["mb", "s3://s3cmd"])), "mb");
    ok(run(cmd(&["put", s(&file), "s3://s3cmd/dir/f.bin"])), "put");
    assert!(std::fs::read(dir.path().join("s3cmd/dir/f.bin")).unwrap() == data);
    let ls = ok(run(cmd(&["ls", "--recursive", "s3://s3cmd"])), "ls");
    assert!(
        ls.out().contains("s3://s3cmd/dir/f.bin"),
        "{}",
        ls.describe()
    );
    let back = work.path().join("back.bin");
    ok(run(cmd(&["get", "s3://s3cmd/dir/f.bin", s(&back)])), "get");
    assert!(std::fs::read(&back).unwrap() == data);
    ok(run(cmd(&["del", "s3://s3cmd/dir/f.bin"])), "del");
    assert!(!dir.path().join("s3cmd/dir/f.bin").exists());
}
