//! The one error type of the test kit.
//!
//! Tests call `.expect()` on what the kit returns, so every message has to stand on its own in a test failure: what
//! failed, the command or request involved, the tail of the server's log, and how to fix it where we know.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The result type of the test kit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a server could not be installed, started or driven.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Installing or locating a server binary failed.
    #[error("cannot install {what}: `{command}` {outcome}{}\nfix: {fix}", block("its output", output))]
    Install {
        /// What was being installed, e.g. `OpenBao`.
        what: &'static str,
        /// The command line that failed.
        command: String,
        /// How it failed: its exit status, or why it could not run.
        outcome: String,
        /// The tail of its stdout and stderr.
        output: String,
        /// What the user can do about it.
        fix: String,
    },
    /// Something the kit needs is missing or misconfigured, and no install step can fix it.
    #[error("{problem}\nfix: {fix}")]
    Setup {
        /// What is wrong.
        problem: String,
        /// What the user can do about it.
        fix: String,
    },
    /// A helper command such as `initdb` or `psql` failed.
    #[error("`{command}` {outcome}{}", block("its output", output))]
    Command {
        /// The command line that failed.
        command: String,
        /// How it failed.
        outcome: String,
        /// The tail of its stdout and stderr.
        output: String,
    },
    /// A file or process operation failed.
    #[error("{context}")]
    Io {
        /// What the kit was doing.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server process exited while the kit waited for it.
    #[error("{server} exited ({status}) before it was ready{}", block("its log", log_tail))]
    Exited {
        /// Which server, e.g. `OpenBao dev server`.
        server: &'static str,
        /// Its exit status.
        status: String,
        /// The end of its log.
        log_tail: String,
    },
    /// The server kept running but did not become ready in time.
    #[error("{server} not ready after {waited:.1?}: {reason}{}", block("its log", log_tail))]
    NotReady {
        /// Which server.
        server: &'static str,
        /// How long the kit waited.
        waited: Duration,
        /// The last probe's answer, e.g. `connection refused` or `status 503`.
        reason: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A request to the server failed or got an unexpected answer.
    #[error("{server}: {action} failed: {detail}")]
    Api {
        /// Which server.
        server: &'static str,
        /// The request, e.g. `PUT /v1/sys/init`.
        action: String,
        /// The transport error, or the status and body of the answer.
        detail: String,
    },
    /// The test certificates could not be generated.
    #[error("cannot generate the test TLS certificates")]
    Certificate(#[from] rcgen::Error),
    /// An install failure, shared by every caller in the process: installs are tried once per process.
    #[error(transparent)]
    Shared(Arc<Error>),
}

// `Result::expect` prints the `Debug` form. A derived `Debug` would print one long line with escaped newlines, which
// buries the log tail; the readable message and its causes are what a failing test needs.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\ncaused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Whether the server died because one of its ports was taken between our check and its bind, so that
    /// starting again on other ports is likely to work.
    pub(crate) fn is_port_clash(&self) -> bool {
        let Error::Exited { log_tail, .. } = self else { return false };
        log_tail.to_ascii_lowercase().contains("address already in use")
    }
}

/// Formats captured output as an indented block under a heading, or nothing when there is none.
fn block(heading: &str, text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let mut out = format!("\n--- {heading} ---");
    for line in text.lines() {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// The last `lines` lines of `text`, so that error messages show where a long log ends.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An error and all its causes on one line: reqwest's own message ("error sending request") hides the useful part
/// ("connection refused", "invalid peer certificate") in its sources.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
