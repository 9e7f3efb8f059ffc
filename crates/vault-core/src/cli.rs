//! What every tool's `main` does around its own work: logging to stderr, printing an error once with its chain,
//! choosing the exit code from the shared table, and exiting quietly on a broken pipe.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::exit::Exit;

/// An input or usage problem found after argument parsing (a malformed file, an invalid path): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for returning a [`UsageError`] from a function that returns `anyhow::Result`.
#[macro_export]
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err(::anyhow::Error::new($crate::cli::UsageError(format!($($arg)*))))
    };
}

/// A text input file that could not be read: I/O (exit 4), or not UTF-8 text (invalid input, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReadTextError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not UTF-8 text; the place is given, never the bytes.
    #[error("{}:{line}: not UTF-8 text (invalid byte at column {column})", path.display())]
    NotUtf8 {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based byte column of it.
        column: usize,
    },
}

/// Reads a text input (a policy, a plan, a spec): invalid UTF-8 is an input error naming the file and line.
pub fn read_text(path: &std::path::Path) -> Result<String, ReadTextError> {
    let bytes = std::fs::read(path).map_err(|source| ReadTextError::Io { path: path.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        ReadTextError::NotUtf8 { path: path.to_owned(), line, column }
    })
}

/// Sets up logging on stderr from `RUST_LOG` (default `warn`), with the HTTP libraries held at `warn` even when a
/// user asks for `trace`, because their request traces can carry tokens and secret values. vaultrs and rustify are
/// off: they log every 403 and 404 at ERROR, and vault-core reports those itself, typed, once.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let filter = EnvFilter::try_new(format!(
        "{wanted},vaultrs=off,rustify=off,reqwest=warn,hyper=warn,hyper_util=warn,rustls=warn,h2=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The exit code an error deserves: a broken pipe on stdout is success (the reader went away, as with `| head`),
/// whether [`Output`](crate::output::Output) saw it or it is in the chain; otherwise the first error in the chain
/// that knows its code decides; anything else is an operation failure.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    // Checked first because a tool's own error type can wrap the io::Error transparently, hiding it from the chain.
    if crate::output::stdout_closed() {
        return Exit::Ok;
    }
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<serde_json::Error>()
            && e.io_error_kind() == Some(io::ErrorKind::BrokenPipe)
        {
            return Exit::Ok;
        }
        if let Some(e) = cause.downcast_ref::<crate::Error>() {
            return e.exit();
        }
        if cause.downcast_ref::<UsageError>().is_some()
            || cause.downcast_ref::<clap::Error>().is_some()
            || matches!(cause.downcast_ref::<ReadTextError>(), Some(ReadTextError::NotUtf8 { .. }))
        {
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<io::Error>()
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            return Exit::Ok;
        }
    }
    Exit::Failed
}

/// Runs a tool's `run` and turns its result into the process exit code, printing an error once as
/// `tool: error: message: cause: cause`.
pub fn main<F>(tool: &str, run: F) -> ExitCode
where
    F: FnOnce() -> anyhow::Result<Exit>,
{
    init_logging();
    crate::output::set_tool(tool);
    match run() {
        Ok(exit) => exit.into(),
        Err(error) => {
            let exit = exit_for(&error);
            if exit != Exit::Ok {
                let mut stderr = io::stderr().lock();
                let _ = writeln!(stderr, "{tool}: error: {error:#}");
            }
            exit.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_chain() {
        let usage = anyhow::Error::new(UsageError("bad line".into())).context("reading .env");
        assert_eq!(exit_for(&usage), Exit::Usage);
        let pipe = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(exit_for(&pipe), Exit::Ok);
        let sealed = anyhow::Error::new(crate::Error::Sealed { address: "https://x".into() });
        assert_eq!(exit_for(&sealed), Exit::Unavailable);
        assert_eq!(exit_for(&anyhow::anyhow!("disk full")), Exit::Failed);
    }

    #[test]
    fn text_that_is_not_utf8_is_an_input_error_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.hcl");
        std::fs::write(&path, b"ok\nab\xffc\n").unwrap();
        let err = read_text(&path).unwrap_err();
        assert!(err.to_string().ends_with("p.hcl:2: not UTF-8 text (invalid byte at column 3)"), "{err}");
        assert_eq!(exit_for(&anyhow::Error::new(err).context("reading the policy")), Exit::Usage);
        let missing = read_text(&dir.path().join("missing")).unwrap_err();
        assert_eq!(exit_for(&anyhow::Error::new(missing)), Exit::Failed);
        std::fs::write(&path, "fine\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "fine\n");
    }
}
