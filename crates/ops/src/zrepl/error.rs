//! What the toolkit reports: findings about a config, and failures of the
//! generators.

use std::fmt;

/// One problem (or warning) found in a zrepl config.
///
/// `path` points into the YAML (`jobs[1].pruning.keep_sender`) and `line`
/// to where it stands, so the person at the terminal can find it; `job` is
/// repeated in the message because job names are what people remember, not
/// indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// Location in the document, e.g. `jobs[1].pruning.keep_sender`.
    pub path: String,
    /// Name of the job the finding belongs to, when there is one.
    pub job: Option<String>,
    /// Plain-language description.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The included file it is in; `None` for the file checked.
    pub file: Option<String>,
}

/// A finding that makes zrepl refuse the config.
pub type ConfigError = Finding;
/// A finding zrepl accepts but that puts recovery at risk.
pub type ConfigWarning = Finding;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}, line {line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        match &self.job {
            Some(job) => write!(f, "job {job:?}: {} (at {})", self.message, self.path),
            None if self.path.is_empty() => write!(f, "{}", self.message),
            None => write!(f, "{} (at {})", self.message, self.path),
        }
    }
}

impl std::error::Error for Finding {}

/// Why a config could not be generated or reversed.
#[derive(Debug, thiserror::Error)]
pub enum ZreplError {
    /// An input (dataset name, address, job choice...) is unusable.
    #[error("{0}")]
    Input(String),
    /// A config handed in, or one we built, does not validate.
    #[error("{what} does not validate:\n{}", list(.findings))]
    Invalid {
        /// Which config (e.g. "generated sink config").
        what: String,
        /// Everything that is wrong with it.
        findings: Vec<ConfigError>,
    },
}

fn list(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  - {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}
