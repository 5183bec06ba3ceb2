//! Typed errors. Every problem in intent files is reported as `FILE:LINE: message`.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in an input file, with the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn error(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line,
            severity: Severity::Error,
            message: message.into(),
        }
    }
    pub fn warning(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            line,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}: {}{}",
            self.file.display(),
            self.line,
            level,
            self.message
        )
    }
}

/// Intent files that cannot be loaded: every error, one `FILE:LINE: message` per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Errors of the admin commands (`frontline intents ...`).
///
/// Every message is self-contained (it names the file and includes the cause), so no variant
/// exposes a [`std::error::Error::source`]: `anyhow`'s `{:#}` would print the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum IntentsError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Semantic(#[from] super::semantic::SemanticError),
    /// A problem in an input file other than intent files (CSV cases, Rasa data), with its line.
    #[error("{0}")]
    Input(Problem),
    /// A command-line value out of range (the library checks what clap checks).
    #[error("{0}")]
    Usage(String),
    /// An action refused to protect the admin's files (e.g. `import` into a non-empty folder).
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
    /// `error` is deliberately not named `source`: thiserror would make it the source too.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl IntentsError {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        IntentsError::Io {
            path: path.into(),
            error,
        }
    }
    pub fn input(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        IntentsError::Input(Problem::error(file, line, message))
    }
}
