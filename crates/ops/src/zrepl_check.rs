//! `putfs ops zrepl-check`: the command-line side of
//! [`zrepl::validate_file`](super::zrepl::validate_file).

use std::path::PathBuf;

use clap::Args;

use super::error::OpsError;
use super::zrepl;

/// The files to check (the command's help is on `OpsCommand::ZreplCheck`).
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config files to check. Includes are resolved as zrepl does: against
    /// the file's directory when its path is relative, against the working
    /// directory when it is absolute.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The exit status an operator's script branches on.
pub const EXIT_STATUS: &str = "Exit status: 0 when zrepl accepts every file \
(warnings allowed), 1 when it refuses one or one cannot be read, 2 for a usage error.";

pub fn run(args: CheckArgs) -> Result<(), OpsError> {
    let mut bad = 0;
    for f in &args.files {
        match zrepl::validate_file(f) {
            Ok(v) => {
                for w in &v.warnings {
                    println!("{}: warning: {w}", f.display());
                }
                println!("{}: ok", f.display());
            }
            Err(findings) => {
                bad += 1;
                for e in &findings {
                    println!("{}: error: {e}", f.display());
                }
            }
        }
    }
    if bad > 0 {
        return Err(OpsError::Other(format!(
            "{bad} of {} config(s) are invalid",
            args.files.len()
        )));
    }
    Ok(())
}
