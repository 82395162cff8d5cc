//! The one way `putfs ops` runs external tools (zfs, rsync).
//!
//! Every command line is logged to stderr exactly as it could be pasted into
//! a shell (`+ zfs rollback -r tank/putfs@s1`), so an operator can see and
//! repeat what was done. Commands that change something are only printed
//! under `--dry-run`; queries always run, so a dry run shows a real plan.
//! A failure names the command, its exit code and its stderr.

use std::process::{Command, Output, Stdio};

use super::error::OpsError;

/// Executes a command line; the seam that lets unit tests run plans
/// without touching real pools.
pub trait Exec: Send + Sync {
    fn exec(&self, argv: &[String]) -> std::io::Result<Output>;
}

/// Runs commands for real.
pub struct System;

impl Exec for System {
    fn exec(&self, argv: &[String]) -> std::io::Result<Output> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty command line"))?;
        Command::new(prog).args(args).stdin(Stdio::null()).output()
    }
}

pub struct Runner {
    exec: Box<dyn Exec>,
    dry_run: bool,
}

impl Runner {
    pub fn new(dry_run: bool) -> Runner {
        Runner {
            exec: Box::new(System),
            dry_run,
        }
    }

    pub fn with_exec(exec: Box<dyn Exec>, dry_run: bool) -> Runner {
        Runner { exec, dry_run }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Run a command that only reads; its stdout on success.
    pub fn query(&self, argv: &[&str]) -> Result<String, OpsError> {
        self.run(argv, false)
    }

    /// Run a command that changes something (printed, not run, in a dry
    /// run); its stdout on success.
    pub fn change(&self, argv: &[&str]) -> Result<String, OpsError> {
        self.run(argv, true)
    }

    /// A query whose failure is an answer (e.g. "does this dataset exist"):
    /// `Ok(None)` when the command ran and failed.
    pub fn probe(&self, argv: &[&str]) -> Result<Option<String>, OpsError> {
        match self.run(argv, false) {
            Ok(out) => Ok(Some(out)),
            Err(OpsError::Command { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn run(&self, argv: &[&str], changes: bool) -> Result<String, OpsError> {
        let line = shell_words::join(argv);
        if changes && self.dry_run {
            eprintln!("+ {line}    (dry run: not run)");
            return Ok(String::new());
        }
        eprintln!("+ {line}");
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        let out = self.exec.exec(&argv).map_err(|e| OpsError::Spawn {
            command: line.clone(),
            error: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(OpsError::Command {
                command: line,
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted `Exec` for unit tests: answers by command prefix and
    //! records every command it was asked to run.

    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Fake {
        pub answers: Arc<Mutex<Vec<(String, i32, String)>>>,
        pub log: Arc<Mutex<Vec<String>>>,
    }

    impl Fake {
        /// Answer commands starting with `prefix` with this exit code and stdout.
        pub fn answer(&self, prefix: &str, code: i32, stdout: &str) {
            if let Ok(mut a) = self.answers.lock() {
                a.push((prefix.to_owned(), code, stdout.to_owned()));
            }
        }
        pub fn commands(&self) -> Vec<String> {
            self.log.lock().map(|l| l.clone()).unwrap_or_default()
        }
    }

    impl Exec for Fake {
        fn exec(&self, argv: &[String]) -> std::io::Result<Output> {
            let line = shell_words::join(argv);
            if let Ok(mut l) = self.log.lock() {
                l.push(line.clone());
            }
            let answers = self.answers.lock().map(|a| a.clone()).unwrap_or_default();
            let (code, stdout) = answers
                .iter()
                .rev()
                .find(|(p, _, _)| line.starts_with(p.as_str()))
                .map(|(_, c, o)| (*c, o.clone()))
                .unwrap_or((0, String::new()));
            Ok(Output {
                status: std::process::ExitStatus::from_raw(code << 8),
                stdout: stdout.into_bytes(),
                stderr: if code == 0 {
                    Vec::new()
                } else {
                    b"failed".to_vec()
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Fake;
    use super::*;

    #[test]
    fn dry_run_skips_changes_but_runs_queries() {
        let fake = Fake::default();
        let r = Runner::with_exec(Box::new(fake.clone()), true);
        r.query(&["zfs", "list"]).unwrap();
        r.change(&["zfs", "rollback", "-r", "tank/a@s"]).unwrap();
        assert_eq!(fake.commands(), ["zfs list"]);
    }

    #[test]
    fn failures_name_command_code_and_stderr() {
        let fake = Fake::default();
        fake.answer("zfs destroy", 1, "");
        let r = Runner::with_exec(Box::new(fake), false);
        let e = r.change(&["zfs", "destroy", "tank/x y"]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("zfs destroy 'tank/x y'"), "{msg}");
        assert!(msg.contains("exit code 1"), "{msg}");
        assert!(msg.contains("failed"), "{msg}");
    }
}
