//! The command line: flags, turning them into [`Options`], running the checks and writing the chosen format.

mod examples;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::{BackupOptions, CanaryOptions, Options, Report, Thresholds, output};
use anyhow::Context;
use clap::{Args, Parser};
use vault_core::cli::UsageError;
use vault_core::config::AuthConfig;
use vault_core::output::OutputArgs;
use vault_core::{Client, Config, ConnectArgs, Exit};

/// Checks a Vault or OpenBao server: reachability, state (active, standby, sealed, uninitialised, DR), unseal
/// progress, version, clock skew, the TLS certificate it serves, canary read latency, audit devices, the caller's
/// token TTL, backup age and its raft cluster (peers, leader, autopilot's health, failure tolerance).
///
/// Checks that need a token are skipped when there is none; those that need an unsealed server are skipped when
/// it is sealed. Skipped checks never change the verdict.
#[derive(Debug, Parser)]
#[command(name = "vault-health", version, after_help = after_help(), max_term_width = 120)]
pub struct Cli {
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = HealthFormat::Human, value_name = "FORMAT")]
    pub format: HealthFormat,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub checks: CheckArgs,

    /// The most the whole run may take, every request, retry and login included; the report (and the Nagios or
    /// Prometheus line) is written even when the server does not answer in time. At most the client timeout is
    /// spent on any one request
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

vault_core::format_enum! {
    /// The output formats: the shared three, then Nagios and Prometheus.
    pub enum HealthFormat {
        /// A heading and an aligned table
        Human,
        /// One JSON document: overall status and every check
        Json,
        /// One {"type":"check"} record per check, then a {"type":"summary"} record
        Jsonl,
        /// One Nagios plugin line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
        Nagios,
        /// Prometheus textfile-collector format (use -o DIR/vault.prom: written atomically)
        Prometheus,
    }
}

/// What to check and the thresholds.
#[derive(Debug, Args)]
#[command(next_help_heading = "Checks and thresholds")]
pub struct CheckArgs {
    /// Time reads of this KV v2 secret, e.g. secret/health/canary
    #[arg(long, value_name = "PATH")]
    pub canary: Option<String>,
    /// How many canary reads to time
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_CANARY_READS)]
    pub canary_reads: usize,
    /// Warn when the canary's p99 latency is above this
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = duration)]
    pub latency_warn: Duration,
    /// Critical when the canary's p99 latency is above this
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    pub latency_crit: Duration,
    /// Compare the served certificate with this PEM file (differs: the server needs SIGHUP)
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<std::path::PathBuf>,
    /// Warn when the served certificate expires within this many days
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub cert_warn_days: u64,
    /// Critical when the served certificate expires within this many days
    #[arg(long, value_name = "DAYS", default_value_t = 3)]
    pub cert_crit_days: u64,
    /// Warn when the server's clock is off by more than this
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub skew_warn: Duration,
    /// Critical when the server's clock is off by more than this
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub skew_crit: Duration,
    /// Warn when the caller's token has less than this left [default: 1h, or a quarter of the TTL the token was
    /// created with when that is less]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub token_ttl_warn: Option<Duration>,
    /// Critical when the caller's token has less than this left [default: 5m, or a tenth of its creation TTL when
    /// that is less]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub token_ttl_crit: Option<Duration>,
    /// Warn when fewer audit devices are enabled (none is always critical)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub audit_min_devices: usize,
    /// Check the age of the newest backup file in this folder
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<std::path::PathBuf>,
    /// Backup file names to look for (a glob)
    #[arg(long, value_name = "GLOB", default_value = crate::DEFAULT_BACKUP_PATTERN)]
    pub backup_pattern: String,
    /// Warn when the newest backup is older than this
    #[arg(long, value_name = "DURATION", default_value = "26h", value_parser = duration)]
    pub backup_warn: Duration,
    /// Critical when the newest backup is older than this
    #[arg(long, value_name = "DURATION", default_value = "50h", value_parser = duration)]
    pub backup_crit: Duration,
    /// Warn when the raft cluster can lose fewer nodes than this before it loses its quorum [default: 1, for
    /// clusters of two or more voters; a value given judges a single node too]
    #[arg(long, value_name = "N")]
    pub min_failure_tolerance: Option<u32>,
}

fn duration(text: &str) -> Result<Duration, String> {
    vault_core::config::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration: use e.g. 500ms, 2s, 1h30m, 26h, or whole seconds"))
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be more than 0, e.g. 10s".into()),
        d => Ok(d),
    }
}

/// The share of `--timeout` kept for writing the report and revoking the run's token once the checks gave up.
const REPORT_MARGIN: Duration = Duration::from_millis(300);

fn after_help() -> String {
    format!(
        "{}\n\nFor vault-health: 0 every check is OK or skipped; 1 a check warned, was critical or could not tell; \
         3 the server is unreachable (TLS failures included), sealed or not initialised.\n\
         With --format nagios the code follows Nagios instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        Exit::HELP
    )
}

impl CheckArgs {
    fn options(&self) -> Options {
        const DAY: u64 = 86_400;
        let defaults = Thresholds::default();
        Options {
            thresholds: Thresholds {
                cert_warn: Duration::from_secs(self.cert_warn_days.saturating_mul(DAY)),
                cert_crit: Duration::from_secs(self.cert_crit_days.saturating_mul(DAY)),
                skew_warn: self.skew_warn,
                skew_crit: self.skew_crit,
                latency_warn: self.latency_warn,
                latency_crit: self.latency_crit,
                token_ttl_warn: self.token_ttl_warn.unwrap_or(defaults.token_ttl_warn),
                token_ttl_crit: self.token_ttl_crit.unwrap_or(defaults.token_ttl_crit),
                token_ttl_relative: self.token_ttl_warn.is_none() && self.token_ttl_crit.is_none(),
                backup_warn: self.backup_warn,
                backup_crit: self.backup_crit,
                audit_min_devices: self.audit_min_devices,
                min_failure_tolerance: self.min_failure_tolerance.unwrap_or(defaults.min_failure_tolerance),
                failure_tolerance_single_voter: self.min_failure_tolerance.is_some(),
            },
            canary: self.canary.clone().map(|path| CanaryOptions { path, reads: self.canary_reads }),
            cert_file: self.cert_file.clone(),
            backup: self.backup_dir.clone().map(|dir| BackupOptions { dir, pattern: self.backup_pattern.clone() }),
        }
    }
}

/// The `vault-health` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code (exit codes from the shared table, or Nagios's with `--format nagios`). The `vault-health` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `vault-health`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = match vault_core::generate::try_parse::<Cli>(examples::EXAMPLES) {
        Ok(cli) => cli,
        Err(error) => return refused(&error),
    };
    if cli.format == HealthFormat::Nagios {
        return run_nagios(&cli);
    }
    vault_core::cli::main("vault-health", || run(&cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// A command line clap refused: its message and exit 2, or with `--format nagios` among the arguments the Nagios
/// contract (a `VAULT UNKNOWN` line on stdout and exit 3): Nagios reads exit 2 as CRITICAL and shows stdout only.
fn refused(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !nagios_requested(std::env::args_os().skip(1)) {
        error.exit();
    }
    let _ = error.print();
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first).replace('|', "/");
    let _ = writeln!(std::io::stdout().lock(), "VAULT UNKNOWN - {first}");
    ExitCode::from(3)
}

/// Whether the arguments ask for `--format nagios` (`-f nagios`, `--format=nagios`, `-fnagios`), read before
/// clap so that a command line it refuses still answers in Nagios's terms.
pub fn nagios_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    args.iter().enumerate().any(|(i, arg)| match arg.as_str() {
        "--format" | "-f" => args.get(i + 1).is_some_and(|v| v == "nagios"),
        "--" => false,
        other => matches!(other, "--format=nagios" | "-fnagios" | "-f=nagios"),
    })
}

/// Runs the checks and writes the report; the exit code follows the shared table.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let report = report(cli)?;
    let mut out = cli.output.open().context("cannot open the output file")?;
    let color = out.color();
    match cli.format {
        HealthFormat::Human => output::write_human(&report, &mut out, color)?,
        HealthFormat::Json => output::write_report_json(&report, &mut out)?,
        HealthFormat::Jsonl => output::write_jsonl(&report, &mut out)?,
        HealthFormat::Prometheus => out.write_all(output::prometheus(&report).as_bytes())?,
        HealthFormat::Nagios => writeln!(out, "{}", output::nagios_line(&report))?,
    }
    out.finish().context("cannot write the output")?;
    Ok(report.exit())
}

/// `--format nagios`: the Nagios plugin contract throughout. Even a failure to start (a bad flag value, an
/// unreadable token file) prints a `VAULT UNKNOWN` line on stdout, where Nagios looks, and exits 3.
pub fn run_nagios(cli: &Cli) -> ExitCode {
    let run = || {
        let report = report(cli)?;
        let mut out = cli.output.open().context("cannot open the output file")?;
        writeln!(out, "{}", output::nagios_line(&report))?;
        out.finish().context("cannot write the output")?;
        Ok(report.status.nagios_code())
    };
    vault_core::cli::main_with_code(run, |error| {
        // The reader went away (`| head`): nobody is left to tell, and that is not a failure.
        if vault_core::cli::exit_for(error) == Exit::Ok {
            return 0;
        }
        let text = format!("{error:#}").replace('|', "/").replace('\n', " ");
        // Not println!: it panics when stdout is a closed pipe.
        let _ = writeln!(std::io::stdout().lock(), "VAULT UNKNOWN - {text}");
        3
    })
}

/// Validates the options, connects and runs the checks. An AppRole login made for this run is revoked after it,
/// so a timer running every minute does not pile up live tokens.
fn report(cli: &Cli) -> anyhow::Result<Report> {
    let options = cli.checks.options();
    options.validate().map_err(|e| UsageError(e.to_string()))?;
    let config = Config::resolve(&cli.connect)?;
    let approle = matches!(config.auth, AuthConfig::AppRole(_));
    let client = Client::new(config)?;
    // Every request, the TLS probe and the canary reads stop at the deadline, so the checks end in time and
    // report what they found; the margin leaves time to write that report.
    client.set_time_limit(cli.timeout.saturating_sub(REPORT_MARGIN.min(cli.timeout / 10)));
    // One thread is plenty: the work is waiting on a handful of requests, and it starts faster.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    Ok(runtime.block_on(async {
        let report = crate::check(&client, &options).await;
        client.revoke_after_run(approle, "after this run").await;
        report
    }))
}
