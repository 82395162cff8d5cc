//! Errors of `putfs ops`, each with the exit code an operator's script can
//! branch on.

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Usage(String),
    #[error("`{command}` failed with exit code {}: {stderr}", code.map_or("(killed)".to_owned(), |c| c.to_string()))]
    Command {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("could not run `{command}`: {error}")]
    Spawn { command: String, error: String },
    #[error("{0}")]
    NotFound(String),
    /// A safety check said no; nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// Objects that differ where they must be equal.
    #[error("{0}")]
    Conflicts(String),
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl OpsError {
    /// 1 error, 2 usage (as clap), 3 refused by a safety check, 4 conflicts.
    pub fn exit_code(&self) -> u8 {
        match self {
            OpsError::Usage(_) => 2,
            OpsError::Refused(_) => 3,
            OpsError::Conflicts(_) => 4,
            _ => 1,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
        let context = context.into();
        move |error| OpsError::Io { context, error }
    }
}
