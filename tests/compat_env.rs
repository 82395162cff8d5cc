//! Every flag reads an environment variable, and upstream PutFS's WORM
//! variables keep upstream's meaning.

mod common;

use common::*;

fn start_env(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    Server::start_with_env(dir.path(), &[], env)
}

#[test]
fn flag_environment_variables() {
    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_ON_EXISTING", "strict")]);
    assert_eq!(s.put("k", b"x".to_vec()).status, 201);
    assert_eq!(
        s.put("k", b"x".to_vec()).status,
        409,
        "PUTFS_ON_EXISTING=strict"
    );

    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_READ_ONLY", "true")]);
    assert_eq!(
        s.put("k", b"x".to_vec()).status,
        403,
        "PUTFS_READ_ONLY=true"
    );

    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_MUTABLE_GLOBS", "tmp/**,scratch/*")]);
    assert_eq!(s.put("scratch/a", b"1".to_vec()).status, 201);
    assert_eq!(
        s.put("scratch/a", b"2".to_vec()).status,
        201,
        "PUTFS_MUTABLE_GLOBS second glob"
    );
    assert_eq!(s.get("scratch/a").body, b"2");

    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_RETAIN_GLOBS", "keep/**")]);
    assert_eq!(s.put("keep/a", b"1".to_vec()).status, 201);
    assert_eq!(s.delete("keep/a").status, 403, "PUTFS_RETAIN_GLOBS");

    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_WRITE_TOKEN", "tok")]);
    assert_eq!(s.put("k", b"x".to_vec()).status, 401, "PUTFS_WRITE_TOKEN");

    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_MAX_PATH_DEPTH", "2")]);
    assert_eq!(s.put("a/b", b"x".to_vec()).status, 201);
    assert_eq!(
        s.put("a/b2/c", b"x".to_vec()).status,
        400,
        "PUTFS_MAX_PATH_DEPTH=2"
    );

    let d = tempdir();
    let s = start_env(
        &d,
        &[("PUTFS_CHECKSUM_PATHS", "^cas/(?P<sha256>[0-9a-f]{64})$")],
    );
    let wrong = format!("cas/{}", hex::encode(sha256(b"other")));
    assert_eq!(
        s.put(&wrong, b"body".to_vec()).status,
        422,
        "PUTFS_CHECKSUM_PATHS"
    );
}

#[test]
fn upstream_worm_globs_make_only_matching_keys_write_once() {
    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_WORM_GLOBS", "worm/**")]);
    assert_eq!(s.put("worm/a", b"1".to_vec()).status, 201);
    let r = s.put("worm/a", b"2".to_vec());
    assert!(
        r.status == 204 || r.status == 409,
        "WORM key re-PUT answered {}",
        r.status
    );
    assert_eq!(s.get("worm/a").body, b"1", "a WORM key was replaced");
    assert_eq!(
        s.delete("worm/a").status,
        403,
        "WORM keys cannot be deleted upstream"
    );

    assert_eq!(s.put("free/a", b"1".to_vec()).status, 201);
    assert_eq!(
        s.put("free/a", b"2".to_vec()).status,
        201,
        "non-WORM keys are mutable"
    );
    assert_eq!(s.get("free/a").body, b"2");
    assert_eq!(s.delete("free/a").status, 204);
}

#[test]
fn upstream_worm_paths_regex_and_strict() {
    let d = tempdir();
    let s = start_env(
        &d,
        &[
            ("PUTFS_WORM_PATHS", "^ledger/"),
            ("PUTFS_WORM_STRICT", "true"),
        ],
    );
    assert_eq!(s.put("ledger/2024.csv", b"1".to_vec()).status, 201);
    assert_eq!(
        s.put("ledger/2024.csv", b"1".to_vec()).status,
        409,
        "strict: always 409"
    );
    assert_eq!(s.put("notes/x", b"1".to_vec()).status, 201);
    assert_eq!(
        s.put("notes/x", b"2".to_vec()).status,
        201,
        "outside the regex: mutable"
    );
}

#[test]
fn upstream_worm_allow_delete() {
    let d = tempdir();
    let s = start_env(
        &d,
        &[
            ("PUTFS_WORM_GLOBS", "worm/**"),
            ("PUTFS_WORM_ALLOW_DELETE", "true"),
        ],
    );
    assert_eq!(s.put("worm/a", b"1".to_vec()).status, 201);
    assert_eq!(
        s.delete("worm/a").status,
        204,
        "PUTFS_WORM_ALLOW_DELETE=true"
    );

    // In the default mode, =false protects every key.
    let d = tempdir();
    let s = start_env(&d, &[("PUTFS_WORM_ALLOW_DELETE", "false")]);
    assert_eq!(s.put("any/key", b"1".to_vec()).status, 201);
    assert_eq!(
        s.delete("any/key").status,
        403,
        "PUTFS_WORM_ALLOW_DELETE=false"
    );
    assert!(d.path().join("any/key").is_file());
}
