//! vault-env's errors: what went wrong, naming the file, line, path or key, never a value.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in vault-env's library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Talking to Vault failed.
    #[error(transparent)]
    Vault(#[from] vault_core::Error),
    /// The manifest cannot be read or is malformed.
    #[error("manifest {}: {detail}", .file.display())]
    Manifest { file: PathBuf, detail: String },
    /// A `--secret` argument or manifest entry is unusable.
    #[error("{0}")]
    Spec(String),
    /// Some declared secrets are missing or unreadable; the list names each one and why.
    #[error("{} of the declared secrets cannot be read: {}", .0.len(), .0.join("; "))]
    Missing(Vec<String>),
    /// A secret has no such key.
    #[error("{path} has no key {key:?} (its keys: {})", .keys.join(", "))]
    NoKey { path: String, key: String, keys: Vec<String> },
    /// A secret lacks keys the manifest requires.
    #[error("{path} lacks the required keys {}", .missing.join(", "))]
    MissingKeys { path: String, missing: Vec<String> },
    /// No database role by that name, neither dynamic nor static.
    #[error("no database role {role:?}: neither {dynamic} nor {fixed} exists (or the token may read neither)")]
    NoRole { role: String, dynamic: String, fixed: String },
    /// The command could not be started.
    #[error("cannot run {program:?}: {source}")]
    Spawn { program: String, source: std::io::Error },
    /// A file could not be written or read.
    #[error("{what} {}: {source}", .file.display())]
    Io { what: &'static str, file: PathBuf, source: std::io::Error },
}

impl Error {
    /// Whether this error is a problem with the user's input (exit code 2) rather than with Vault.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Manifest { .. } | Error::Spec(_))
            || matches!(self, Error::Vault(e) if e.exit() == vault_core::Exit::Usage)
    }

    /// The shared exit code this error deserves; a command that cannot be started gets the shell's 126/127.
    pub fn exit_code(&self) -> u8 {
        use vault_core::Exit;
        match self {
            Error::Vault(e) => e.exit().code(),
            Error::Manifest { .. } | Error::Spec(_) => Exit::Usage.code(),
            Error::Missing(_)
            | Error::NoKey { .. }
            | Error::MissingKeys { .. }
            | Error::NoRole { .. }
            | Error::Io { .. } => Exit::Failed.code(),
            Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Spawn { .. } => 126,
        }
    }
}
