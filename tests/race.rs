//! Racing PUTs of one key: the publish step itself must refuse to replace,
//! so exactly one writer wins and the stored bytes are the winner's.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;

const WRITERS: usize = 16;

/// Starts `WRITERS` PUTs of `key` at once (each on its own connection);
/// returns the statuses in writer order.
fn race(server: &Server, key: &str, bodies: Vec<Vec<u8>>) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    let url = server.url(key);
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let barrier = barrier.clone();
            let url = url.clone();
            thread::spawn(move || {
                let c = client();
                barrier.wait();
                send(c.put(&url).body(body)).status
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn bodies(distinct: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(99);
    let shared = rng.bytes(256 * 1024);
    (0..WRITERS)
        .map(|_| {
            if distinct {
                rng.bytes(256 * 1024)
            } else {
                shared.clone()
            }
        })
        .collect()
}

#[test]
fn racing_different_bodies_one_201_rest_409() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let bodies = bodies(true);
    let statuses = race(&s, "race/key.bin", bodies.clone());
    let created: Vec<usize> = (0..WRITERS).filter(|&i| statuses[i] == 201).collect();
    assert_eq!(created.len(), 1, "statuses: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|&&c| c == 409).count(),
        WRITERS - 1,
        "statuses: {statuses:?}"
    );
    let stored = std::fs::read(dir.path().join("race/key.bin")).unwrap();
    assert!(
        stored == bodies[created[0]],
        "stored bytes are not the winner's body"
    );
    assert_eq!(s.get("race/key.bin").body, bodies[created[0]]);
    assert_no_temp_files(dir.path());
}

#[test]
fn racing_identical_bodies_one_201_rest_204() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    let bodies = bodies(false);
    let statuses = race(&s, "race/same.bin", bodies.clone());
    assert_eq!(
        statuses.iter().filter(|&&c| c == 201).count(),
        1,
        "statuses: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 204).count(),
        WRITERS - 1,
        "statuses: {statuses:?}"
    );
    assert!(std::fs::read(dir.path().join("race/same.bin")).unwrap() == bodies[0]);
    assert_no_temp_files(dir.path());
}

#[test]
fn racing_writers_of_a_mutable_key_leave_one_whole_body() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &["--mutable", "m/**"]);
    let bodies = bodies(true);
    let statuses = race(&s, "m/key.bin", bodies.clone());
    assert!(statuses.iter().all(|&c| c == 201), "statuses: {statuses:?}");
    let stored = std::fs::read(dir.path().join("m/key.bin")).unwrap();
    assert!(
        bodies.contains(&stored),
        "stored bytes are not any single writer's body (torn write)"
    );
    assert_no_temp_files(dir.path());
}

#[test]
fn put_into_a_directory_being_pruned_by_delete_succeeds() {
    // DELETE of the last object prunes empty parents while another request
    // writes into the same directory: the PUT must still land (no 404/5xx
    // from a directory vanishing under it).
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    for i in 0..40 {
        assert_eq!(s.put(&format!("p/q/r/old{i}"), b"old".to_vec()).status, 201);
        let barrier = Arc::new(Barrier::new(2));
        let (b1, b2) = (barrier.clone(), barrier);
        let del_url = s.url(&format!("p/q/r/old{i}"));
        let put_url = s.url(&format!("p/q/r/new{i}"));
        let d = thread::spawn(move || {
            let c = client();
            b1.wait();
            send(c.delete(&del_url)).status
        });
        let p = thread::spawn(move || {
            let c = client();
            b2.wait();
            send(c.put(&put_url).body(b"new".to_vec())).status
        });
        assert_eq!(d.join().unwrap(), 204, "round {i}: DELETE");
        assert_eq!(p.join().unwrap(), 201, "round {i}: PUT racing a prune");
        assert_eq!(s.get(&format!("p/q/r/new{i}")).body, b"new", "round {i}");
        assert_eq!(s.delete(&format!("p/q/r/new{i}")).status, 204);
    }
    assert_no_temp_files(dir.path());
}
