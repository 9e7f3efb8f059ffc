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

/// `eprintln!` for a note or warning on stderr (not an error): says nothing under `-q/--quiet`.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::cli::quiet() {
            eprintln!($($arg)*);
        }
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

/// Set once `-q/--quiet` was given: only errors go to stderr (see [`quiet`]).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the user asked for quiet (`-q`): a tool prints no notes, warnings or progress on stderr, errors only.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// The flags every tool takes for how much it says on stderr. Flatten it into the tool's `Cli`; the tool's
/// [`generate::parse`](crate::generate::parse) reads them (by id, at any subcommand level) and sets up logging.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Messages")]
pub struct LogArgs {
    /// Print only errors on stderr: no warnings, notes or progress bars.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr: -v info, -vv debug, -vvv trace (overrides RUST_LOG).
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// How logging is set up: the level asked for and whether stderr gets colour codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// The filter directive for our own crates (`warn`, `info`, or `RUST_LOG`'s value).
    pub level: String,
    /// ANSI colour codes in log lines.
    pub ansi: bool,
}

impl LogSettings {
    /// From the flags: `-q` means errors only, each `-v` one level more than `warn`, otherwise `RUST_LOG` (default
    /// `warn`). Colour only when `color` allows it for a terminal stderr (so never on a pipe, in a journal, with
    /// `NO_COLOR` or with `--color never`).
    pub fn new(quiet: bool, verbose: u8, color: crate::output::ColorChoice, stderr_is_terminal: bool) -> Self {
        let level = match (quiet, verbose) {
            (true, _) => "error".to_owned(),
            (false, 0) => std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "warn".to_owned()),
            (false, 1) => "info".to_owned(),
            (false, 2) => "debug".to_owned(),
            (false, _) => "trace".to_owned(),
        };
        Self { level, ansi: color.enabled(stderr_is_terminal) }
    }
}

/// Sets up logging from the parsed flags of [`LogArgs`] and the shared `--color`, read from whichever
/// (sub)command level they were given at; ids a tool does not define count as not given.
pub fn init_logging_from(matches: &clap::ArgMatches) {
    use crate::output::ColorChoice;
    use std::io::IsTerminal;
    let levels = crate::generate::levels(matches);
    let quiet = levels.iter().any(|m| matches!(m.try_get_one::<bool>("quiet"), Ok(Some(true))));
    let verbose = levels.iter().filter_map(|m| m.try_get_one::<u8>("verbose").ok().flatten()).max().copied();
    // The most specific level that was given on the command line wins; else the default any level has.
    let color = levels
        .iter()
        .rev()
        .find(|m| {
            matches!(m.try_get_one::<ColorChoice>("color"), Ok(Some(_)))
                && m.value_source("color") == Some(clap::parser::ValueSource::CommandLine)
        })
        .or_else(|| levels.first())
        .and_then(|m| m.try_get_one::<ColorChoice>("color").ok().flatten().copied())
        .unwrap_or_default();
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
    init_logging_with(&LogSettings::new(quiet, verbose.unwrap_or(0), color, io::stderr().is_terminal()));
}

/// Sets up logging on stderr from `RUST_LOG` (default `warn`), colour only on a terminal without `NO_COLOR`.
/// Tools that parse through [`generate::parse`](crate::generate::parse) have it set up from their flags already;
/// this later call then changes nothing.
pub fn init_logging() {
    use std::io::IsTerminal;
    init_logging_with(&LogSettings::new(false, 0, crate::output::ColorChoice::Auto, io::stderr().is_terminal()));
}

/// Sets up logging on stderr, with the HTTP libraries held at `warn` even when a user asks for `trace`, because
/// their request traces can carry tokens and secret values. vaultrs and rustify are off: they log every 403 and
/// 404 at ERROR, and vault-core reports those itself, typed, once. The first call in a process wins.
pub fn init_logging_with(settings: &LogSettings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(format!(
        "{},vaultrs=off,rustify=off,reqwest=warn,hyper=warn,hyper_util=warn,rustls=warn,h2=warn",
        settings.level
    ))
    .unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(settings.ansi)
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
    crate::output::set_tool(tool);
    main_with_code(|| run().map(Exit::code), |error| print_error(tool, error, exit_for(error).code()))
}

/// Like [`main`] for a tool whose exit code is not always from the shared table: `run` returns the code itself
/// (`vault-env run` passes its child's status through, Nagios mode has its own codes) and `on_error` prints an
/// error its way and picks its code ([`print_error`] does what [`main`] does).
pub fn main_with_code<F, E>(run: F, on_error: E) -> ExitCode
where
    F: FnOnce() -> anyhow::Result<u8>,
    E: FnOnce(&anyhow::Error) -> u8,
{
    init_logging();
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(error) => ExitCode::from(on_error(&error)),
    }
}

/// Prints `tool: error: message: cause: cause` on stderr unless `code` is 0 (a broken pipe: nobody is left to
/// tell), and returns `code`.
pub fn print_error(tool: &str, error: &anyhow::Error, code: u8) -> u8 {
    if code != 0 {
        let _ = writeln!(io::stderr().lock(), "{tool}: error: {error:#}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_settings_follow_the_flags_and_the_terminal() {
        use crate::output::ColorChoice;
        let quiet = LogSettings::new(true, 0, ColorChoice::Auto, false);
        assert_eq!(quiet, LogSettings { level: "error".into(), ansi: false });
        assert_eq!(LogSettings::new(false, 1, ColorChoice::Auto, false).level, "info");
        assert_eq!(LogSettings::new(false, 5, ColorChoice::Auto, false).level, "trace");
        // Never colour on a pipe or a journal, nor when told not to; `always` is the user's choice.
        assert!(!LogSettings::new(false, 0, ColorChoice::Auto, false).ansi);
        assert!(!LogSettings::new(false, 0, ColorChoice::Never, true).ansi);
        assert!(LogSettings::new(false, 0, ColorChoice::Always, false).ansi);
    }

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
