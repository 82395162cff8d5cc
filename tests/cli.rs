//! Command-line handling: invalid settings are refused at start with a
//! message, and the listening line is printed once ready.

mod common;

use common::*;

#[test]
fn invalid_flag_values_are_refused_at_start() {
    let cases: &[&[&str]] = &[
        &["--on-existing", "sometimes"],
        &["--fsync", "maybe"],
        &["--body-timeout", "soon"],
        &["--checksum-paths", "^cas/(?P<sha256>[0-9a-f"],
        &["--mutable", "a/[b"],
    ];
    for args in cases {
        let dir = tempdir();
        match Server::try_start(dir.path(), args) {
            Ok(_) => panic!("putfs started with {args:?}"),
            Err(output) => assert!(
                output.contains("[stderr]"),
                "{args:?}: refused without a message on stderr:\n{output}"
            ),
        }
    }
}

#[test]
fn listening_line_names_a_working_address() {
    let dir = tempdir();
    let s = Server::start(dir.path(), &[]);
    assert_ne!(
        s.addr.port(),
        0,
        "port 0 must be replaced by the bound port"
    );
    assert_eq!(s.get("/.putfs/live").status, 200);
    assert!(s.logs().contains("putfs listening on http://127.0.0.1:"));
}
