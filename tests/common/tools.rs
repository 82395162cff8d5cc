//! Shared by the deployment-file and replication-script tests: finding the
//! tools a test needs (skip or fail), and running commands cleanly.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ops::{CMD_TIMEOUT, Output, find_tool, run_cmd, tool_path_env};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn putfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_putfs")
}

/// The tool's path, or `None` after printing SKIP; a panic instead when
/// `PUTFS_REQUIRE_TOOLS=1`.
pub fn need(tool: &str, test: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Some(p);
    }
    if std::env::var_os("PUTFS_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!("{test}: `{tool}` is not installed and PUTFS_REQUIRE_TOOLS=1");
    }
    eprintln!("SKIP {test}: `{tool}` is not installed");
    None
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A command with the test's `PUTFS_*` variables removed (every serve flag
/// reads one), sbin on PATH, and loopback never sent through a proxy.
pub fn clean_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.as_bytes().starts_with(b"PUTFS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", tool_path_env())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    cmd
}

pub fn run(cmd: Command) -> Output {
    run_cmd(cmd, None, CMD_TIMEOUT)
}

pub fn read_heartbeat(root: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(root.join(".putfs/heartbeat")).ok()?;
    serde_json::from_slice(&bytes).ok()
}
