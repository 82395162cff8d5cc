//! DELETE: answers, pruning of empty directories, `--retain`.

mod common;

use common::*;

#[test]
fn delete_then_get_is_404() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("x.bin", b"x".to_vec()).status, 201);
    let r = s.delete("x.bin");
    assert_eq!(r.status, 204);
    assert_eq!(s.get("x.bin").status, 404);
    assert!(!dir.path().join("x.bin").exists());
    assert_eq!(s.delete("x.bin").status, 404, "second DELETE");
    // A deleted write-once key can be written again.
    assert_eq!(s.put("x.bin", b"new".to_vec()).status, 201);
}

#[test]
fn delete_missing_is_404() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.delete("never/was").status, 404);
    assert!(user_entries(dir.path()).is_empty());
}

#[test]
fn delete_prunes_empty_parents_but_not_the_root() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("a/b/c", b"1".to_vec()).status, 201);
    assert_eq!(s.put("keep/b/c", b"1".to_vec()).status, 201);
    assert_eq!(s.put("keep/other", b"2".to_vec()).status, 201);
    assert_eq!(s.delete("a/b/c").status, 204);
    assert!(!dir.path().join("a/b").exists(), "empty a/b left behind");
    assert!(!dir.path().join("a").exists(), "empty a left behind");
    assert!(dir.path().is_dir(), "the root itself was removed");

    // Pruning stops at the first non-empty directory.
    assert_eq!(s.delete("keep/b/c").status, 204);
    assert!(!dir.path().join("keep/b").exists());
    assert!(dir.path().join("keep/other").is_file());

    // The last object: root stays, and the server still serves it.
    assert_eq!(s.delete("keep/other").status, 204);
    assert!(dir.path().is_dir());
    assert!(
        user_entries(dir.path()).is_empty(),
        "{:?}",
        user_entries(dir.path())
    );
    assert_eq!(s.put("again", b"x".to_vec()).status, 201);
}

#[test]
fn retained_keys_cannot_be_deleted() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--retain", "keep/**"]);
    assert_eq!(s.put("keep/ledger.csv", b"1,2,3".to_vec()).status, 201);
    assert_eq!(s.put("free/tmp.csv", b"x".to_vec()).status, 201);
    let r = s.delete("keep/ledger.csv");
    assert_eq!(r.status, 403);
    assert!(dir.path().join("keep/ledger.csv").is_file());
    assert_eq!(s.get("keep/ledger.csv").body, b"1,2,3");
    assert_eq!(s.delete("free/tmp.csv").status, 204);
}

#[test]
fn delete_of_a_directory_key_does_not_remove_it() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.put("d/inner", b"x".to_vec()).status, 201);
    let r = s.delete("d");
    assert!(
        r.status == 404 || r.status == 409,
        "DELETE of a directory answered {}",
        r.status
    );
    assert!(dir.path().join("d/inner").is_file());
}
