//! Power cuts under S3's CompleteMultipartUpload: putfs runs on the
//! crash-model filesystem (`crates/crashfs`), boto3 creates a bucket,
//! uploads an object in three parts and completes it; the power is cut the
//! moment the 200 arrives. The durable image must hold the bucket and the
//! object with exactly the bytes uploaded (and its S3 ETag), like any
//! acknowledged PUT. The same run with `--fsync never` must lose it: the
//! check can see a missing fsync.

mod common;
#[path = "common/ops.rs"]
mod ops;
#[path = "common/tools.rs"]
#[allow(dead_code)]
mod tools;

use std::path::Path;

use common::*;
use crashfs::CrashFs;
use tools::{clean_command, repo, run, s};

const ACCESS_KEY: &str = "AKIAPUTFSCRASH";
const SECRET_KEY: &str = "crash-secret";

/// Creates the bucket, uploads 5 MiB + 5 MiB + 1 KiB as a multipart upload,
/// completes it, and prints the body's SHA-256 and the ETag.
const SCRIPT: &str = r#"
import hashlib, os, random, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["S3_URL"], region_name="us-east-1",
                  config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
s3.create_bucket(Bucket="crash")
rng = random.Random(11)
parts = [rng.randbytes(5 << 20), rng.randbytes(5 << 20), rng.randbytes(1024)]
u = s3.create_multipart_upload(Bucket="crash", Key="dir/whole.bin")
done = []
for i, p in enumerate(parts, 1):
    r = s3.upload_part(Bucket="crash", Key="dir/whole.bin", UploadId=u["UploadId"], PartNumber=i, Body=p)
    done.append({"PartNumber": i, "ETag": r["ETag"]})
r = s3.complete_multipart_upload(Bucket="crash", Key="dir/whole.bin", UploadId=u["UploadId"],
                                 MultipartUpload={"Parts": done})
print(hashlib.sha256(b"".join(parts)).hexdigest(), r["ETag"].strip('"'))
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run the upload on the model and cut the power right after the 200.
/// Returns what the durable image holds at the key, the body's SHA-256
/// and the ETag boto3 was given.
fn cut_after_complete(
    python: &Path,
    args: &[&str],
) -> (Option<Vec<u8>>, Option<String>, String, String) {
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let fs = CrashFs::mount(&mnt).expect("mount the crash-model filesystem");
    let root = mnt.join("root");
    let keys = tmp.path().join("keys");
    std::fs::write(&keys, format!("{ACCESS_KEY} {SECRET_KEY}\n")).unwrap();
    let mut all = vec![
        "--s3-listen",
        "127.0.0.1:0",
        "--s3-keys",
        s(&keys),
        "--heartbeat-interval",
        "0s",
    ];
    all.extend_from_slice(args);
    let mut server = Server::start(&root, &all);
    let url = s3_url(&server);
    let mut cmd = clean_command(python);
    cmd.arg("-c")
        .arg(SCRIPT)
        .env_remove("AWS_CA_BUNDLE")
        .env("S3_URL", &url)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let out = run(cmd);
    out.expect(0, "the multipart upload");
    let image = tmp.path().join("image");
    fs.cut(&image).expect("cut");
    server.kill9();
    fs.unmount().expect("unmount");
    let printed = out.out();
    let mut fields = printed.split_whitespace();
    let sha = fields.next().unwrap_or_default().to_owned();
    let etag = fields.next().unwrap_or_default().to_owned();
    let path = image.join("root/crash/dir/whole.bin");
    let attr = get_xattr(&path, "user.putfs.s3").map(|v| String::from_utf8_lossy(&v).into_owned());
    (std::fs::read(&path).ok(), attr, sha, etag)
}

#[test]
fn a_completed_multipart_upload_survives_a_power_cut() {
    if !fuse_available() {
        return;
    }
    let python = repo().join("target/pyenv/bin/python");
    if !python.is_file() {
        assert!(
            std::env::var_os("PUTFS_REQUIRE_TOOLS").is_none(),
            "no test virtualenv with boto3 (scripts/test makes it)"
        );
        eprintln!("skipped: no test virtualenv with boto3");
        return;
    }
    let (data, attr, sha, etag) = cut_after_complete(&python, &[]);
    let data = data.expect("the completed object is in the durable image");
    assert_eq!(
        hex(&sha256(&data)),
        sha,
        "the durable object has other bytes"
    );
    assert!(etag.ends_with("-3"), "a three-part ETag: {etag}");
    let attr = attr.expect("the S3 attribute is durable with the object");
    assert!(
        attr.contains(&etag),
        "the durable attribute names the ETag: {attr}"
    );

    // The control: without fsyncs the same acknowledged upload is lost.
    let (data, _, sha, _) = cut_after_complete(&python, &["--fsync", "never"]);
    assert!(
        data.is_none_or(|d| hex(&sha256(&d)) != sha),
        "--fsync never kept the object: the check cannot see a missing fsync"
    );
}
