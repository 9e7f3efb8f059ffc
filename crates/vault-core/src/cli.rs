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
        if cause.downcast_ref::<UsageError>().is_some() || cause.downcast_ref::<clap::Error>().is_some() {
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
}
