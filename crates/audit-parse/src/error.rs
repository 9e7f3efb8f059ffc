//! The library's errors: each names the file, flag or path it is about.

use std::io;
use std::path::{Path, PathBuf};

/// What can go wrong reading, filtering and keeping audit logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A flag's value is unusable.
    #[error("invalid {flag} {value:?}: {reason}")]
    Usage {
        /// The flag.
        flag: &'static str,
        /// The value given (never a secret: secrets come from files).
        value: String,
        /// Why.
        reason: String,
    },
    /// An input file (inventory) is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// Vault refused or failed a request (hashing a value, listing an inventory).
    #[error(transparent)]
    Vault(#[from] vault_core::Error),
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        Error::Io { path: path.to_owned(), source }
    }

    /// A bad flag value.
    pub fn usage(flag: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Usage { flag, value: value.into(), reason: reason.into() }
    }

    /// The exit code this error deserves in the shared table.
    pub fn exit(&self) -> vault_core::Exit {
        match self {
            Error::Usage { .. } | Error::Input { .. } => vault_core::Exit::Usage,
            Error::Io { .. } => vault_core::Exit::Failed,
            Error::Vault(e) => e.exit(),
        }
    }
}
