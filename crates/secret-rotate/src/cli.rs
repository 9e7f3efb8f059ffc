//! The command line: `check`, `due`, `run`, `rollback`, `history`, `state`. Data goes to stdout (or `-o FILE`),
//! messages to stderr.

mod examples;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use vault_core::cli::UsageError;
use vault_core::output::{Format, Output, OutputArgs, Table};
use vault_core::{Client, Config, ConnectArgs, Exit};

use crate::history::History;
use crate::lock::RunLock;
use crate::output::{due_table, emit, history_table, outcome_table};
use crate::policy::PolicyFile;
use crate::rotate::{Action, Rotator};
use crate::targets::{Resolved, expand};
use crate::{DEFAULT_POLICY_FILE, DEFAULT_STATE_DIR};

fn after_help() -> String {
    format!(
        "Files: the policy file (--policy, SECRET_ROTATE_POLICY, default {DEFAULT_POLICY_FILE}); the history \
         (--history, default STATE_DIR/history.jsonl) and the run lock (STATE_DIR/run.lock) under --state-dir \
         (SECRET_ROTATE_STATE_DIR, default {DEFAULT_STATE_DIR}). Format: docs/vault-rotation-config.md.\n\n{}",
        Exit::HELP
    )
}

/// Scheduled rotation of Vault / OpenBao secrets: policies with schedules and windows, generate / command /
/// database strategies, pending → verify → current with rollback, crash recovery, and a history.
#[derive(Debug, Parser)]
#[command(name = "secret-rotate", version, after_help = after_help(), max_term_width = 120)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t, value_name = "FORMAT", global = true)]
    format: Format,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    files: FileArgs,

    #[command(flatten)]
    connect: ConnectArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Files")]
struct FileArgs {
    /// The policy file
    #[arg(long, short = 'p', value_name = "FILE", env = "SECRET_ROTATE_POLICY", default_value = DEFAULT_POLICY_FILE, global = true)]
    policy: PathBuf,
    /// Folder for the history and the run lock
    #[arg(long, value_name = "DIR", env = "SECRET_ROTATE_STATE_DIR", default_value = DEFAULT_STATE_DIR, global = true)]
    state_dir: PathBuf,
    /// The history file [default: STATE_DIR/history.jsonl]
    #[arg(long, value_name = "FILE", env = "SECRET_ROTATE_HISTORY", global = true)]
    history: Option<PathBuf>,
}

impl FileArgs {
    fn history(&self) -> History {
        History::new(self.history.clone().unwrap_or_else(|| self.state_dir.join("history.jsonl")))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a policy file (problems are printed as FILE:LINE: message; exit 2)
    Check {
        /// The file [default: --policy]
        file: Option<PathBuf>,
    },
    /// List every secret the policies cover and whether it is due (exit 1 when something is overdue, failed or
    /// pending)
    Due {
        /// Due for longer than this counts as overdue
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration)]
        grace: Duration,
    },
    /// Rotate what is due (--due), or the given paths now; finishes interrupted rotations first
    Run {
        /// Rotate everything that is due and inside its window
        #[arg(long, conflicts_with = "paths", required_unless_present = "paths")]
        due: bool,
        /// Secrets or static roles to rotate now, whatever their schedule and window
        #[arg(value_name = "PATH")]
        paths: Vec<String>,
        /// Say what would be rotated without changing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// Make the newest earlier version known to be good current again (as a new version); never one that failed
    /// verification
    Rollback {
        /// The secret
        path: String,
        /// Say what would be restored without changing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the rotation history (all of it, or one secret's)
    History {
        /// Only this secret or static role
        path: Option<String>,
    },
    /// Show a secret's rotation state from its metadata
    State {
        /// The secret
        path: String,
    },
}

fn duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" || text.trim() == "0s" {
        return Ok(Duration::ZERO);
    }
    crate::schedule::parse_duration(text).map_err(|e| e.to_string())
}

fn usage(message: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(message))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn client(connect: &ConnectArgs) -> anyhow::Result<Client> {
    let config = Config::resolve(connect)?;
    Ok(Client::new(config)?)
}

fn load(path: &Path) -> anyhow::Result<PolicyFile> {
    PolicyFile::load(path).map_err(|e| usage(e.to_string()))
}

/// The `secret-rotate` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `secret-rotate` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `secret-rotate`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("secret-rotate", || run(&cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let mut out = cli.output.open().context("opening the output")?;
    let exit = match &cli.command {
        Command::Check { file } => check(file.as_deref().unwrap_or(&cli.files.policy), cli.format, &mut out)?,
        Command::History { path } => history(cli, path.as_deref(), &mut out)?,
        Command::Due { grace } => runtime()?.block_on(due(cli, *grace, &mut out))?,
        Command::Run { due, paths, dry_run } => runtime()?.block_on(rotate(cli, *due, paths, *dry_run, &mut out))?,
        Command::Rollback { path, dry_run } => runtime()?.block_on(rollback(cli, path, *dry_run, &mut out))?,
        Command::State { path } => runtime()?.block_on(state(cli, path, &mut out))?,
    };
    out.finish().context("writing the output")?;
    Ok(exit)
}

#[derive(Serialize)]
struct PolicyRow<'a> {
    line: usize,
    path: &'a str,
    strategy: &'static str,
    schedule: String,
    window: Option<String>,
    owner: Option<&'a str>,
    verify: bool,
    hooks: usize,
    derived: Vec<&'a str>,
    pass_env: &'a [String],
}

fn check(file: &Path, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    let policies = match PolicyFile::load(file) {
        Ok(p) => p,
        Err(e) => {
            for d in &e.0 {
                eprintln!("secret-rotate: {d}");
            }
            return Err(usage(format!("{} has {} problem(s)", file.display(), e.0.len())));
        }
    };
    let rows: Vec<PolicyRow<'_>> = policies
        .policies
        .iter()
        .map(|p| PolicyRow {
            line: p.line,
            path: p.target.text(),
            strategy: p.strategy.name(),
            schedule: p.schedule.to_string(),
            window: p.window.as_ref().map(ToString::to_string),
            owner: p.owner.as_deref(),
            verify: p.verify.is_some(),
            hooks: p.hooks.len(),
            derived: p.derived.keys().map(String::as_str).collect(),
            pass_env: &p.pass_env,
        })
        .collect();
    let summary = serde_json::json!({ "file": file, "policies": rows.len(), "errors": 0 });
    let color = out.color();
    emit(
        out,
        format,
        "policy",
        &rows,
        &summary,
        |rows| {
            let mut t = Table::new(["LINE", "PATH", "STRATEGY", "SCHEDULE", "WINDOW", "OWNER"]);
            for r in rows {
                t.row([
                    r.line.to_string(),
                    r.path.to_owned(),
                    r.strategy.to_owned(),
                    r.schedule.clone(),
                    r.window.clone().unwrap_or_else(|| "-".into()),
                    r.owner.unwrap_or("-").to_owned(),
                ]);
            }
            t
        },
        color,
    )?;
    Ok(Exit::Ok)
}

fn history(cli: &Cli, path: Option<&str>, out: &mut Output) -> anyhow::Result<Exit> {
    let records = cli.files.history().read(path)?;
    let summary = serde_json::json!({ "records": records.len() });
    let color = out.color();
    emit(out, cli.format, "history", &records, &summary, history_table, color)?;
    Ok(Exit::Ok)
}

async fn due(cli: &Cli, grace: Duration, out: &mut Output) -> anyhow::Result<Exit> {
    let policies = load(&cli.files.policy)?;
    let client = client(&cli.connect)?;
    let history = cli.files.history();
    let mut rotator = Rotator::new(&client, &history);
    rotator.grace = grace;
    let (targets, errors) = expand(&client, &policies).await;
    for (pattern, e) in &errors {
        eprintln!("secret-rotate: cannot list the secrets {pattern} matches: {e}");
    }
    let now = chrono::Utc::now();
    let mut items = Vec::new();
    for t in &targets {
        items.push(rotator.assess(t, now).await);
    }
    let count = |s: crate::DueStatus| items.iter().filter(|i| i.status == s).count();
    use crate::DueStatus as S;
    let summary = serde_json::json!({
        "total": items.len(),
        "ok": count(S::Ok),
        "due": count(S::Due),
        "overdue": count(S::Overdue),
        "failed": count(S::Failed),
        "pending": count(S::Pending),
        "errors": count(S::Error) + errors.len(),
    });
    let color = out.color();
    emit(out, cli.format, "secret", &items, &summary, due_table, color)?;
    for i in items.iter().filter(|i| i.status == S::Error) {
        eprintln!("secret-rotate: {}: {}", i.path, i.error.as_deref().unwrap_or("unknown error"));
    }
    Ok(if items.iter().any(|i| i.status.needs_attention()) || !errors.is_empty() { Exit::No } else { Exit::Ok })
}

async fn rotate(cli: &Cli, due: bool, paths: &[String], dry_run: bool, out: &mut Output) -> anyhow::Result<Exit> {
    let policies = load(&cli.files.policy)?;
    let mut selected: Vec<Resolved<'_>> = Vec::new();
    for path in paths {
        let normalized = crate::policy::normalize(path);
        let policy = policies
            .find(&normalized)
            .ok_or_else(|| usage(format!("no policy in {} covers {normalized}", cli.files.policy.display())))?;
        selected.push(Resolved { path: normalized, policy });
    }
    let client = client(&cli.connect)?;
    let history = cli.files.history();
    // A dry run changes nothing, so it need not wait for (or block) a real run.
    let _lock = if dry_run { None } else { Some(RunLock::acquire(&cli.files.state_dir.join("run.lock"))?) };
    let mut list_errors = 0;
    if due {
        let (targets, errors) = expand(&client, &policies).await;
        for (pattern, e) in &errors {
            eprintln!("secret-rotate: cannot list the secrets {pattern} matches: {e}");
        }
        list_errors = errors.len();
        selected = targets;
    }
    let mut rotator = Rotator::new(&client, &history);
    rotator.dry_run = dry_run;
    let mut outcomes = Vec::new();
    for target in &selected {
        let outcome = rotator.rotate(target, !due).await;
        if outcome.result == Action::Failed {
            eprintln!("secret-rotate: {}: {}", outcome.path, outcome.detail.as_deref().unwrap_or("failed"));
        }
        outcomes.push(outcome);
    }
    let count = |a: Action| outcomes.iter().filter(|o| o.result == a).count();
    let summary = serde_json::json!({
        "checked": outcomes.len(),
        "rotated": count(Action::Rotated),
        "rolled_back": count(Action::RolledBack),
        "failed": count(Action::Failed) + list_errors,
        "aborted": count(Action::Aborted),
        "would_rotate": count(Action::WouldRotate),
        "skipped": count(Action::Skipped),
        "recovered": outcomes.iter().filter(|o| o.recovered).count(),
        "dry_run": dry_run,
    });
    // Skipped targets are noise every five minutes in a timer's journal: people see only what was acted on.
    let shown: Vec<_> = if cli.format == Format::Human {
        outcomes.iter().filter(|o| o.result != Action::Skipped).cloned().collect()
    } else {
        outcomes.clone()
    };
    let color = out.color();
    emit(out, cli.format, "rotation", &shown, &summary, outcome_table, color)?;
    let bad = outcomes.iter().any(|o| matches!(o.result, Action::Failed | Action::RolledBack) || !o.hooks_ok);
    Ok(if bad || list_errors > 0 { Exit::Failed } else { Exit::Ok })
}

async fn rollback(cli: &Cli, path: &str, dry_run: bool, out: &mut Output) -> anyhow::Result<Exit> {
    // The policy file is optional here: with it, the secret's hooks run after the rollback.
    let policies = match PolicyFile::load(&cli.files.policy) {
        Ok(p) => Some(p),
        Err(e) if cli.files.policy.exists() => return Err(usage(e.to_string())),
        Err(_) => None,
    };
    let normalized = crate::policy::normalize(path);
    let policy = policies.as_ref().and_then(|p| p.find(&normalized));
    let client = client(&cli.connect)?;
    let history = cli.files.history();
    let _lock = if dry_run { None } else { Some(RunLock::acquire(&cli.files.state_dir.join("run.lock"))?) };
    let mut rotator = Rotator::new(&client, &history);
    rotator.dry_run = dry_run;
    let outcome = rotator.rollback(path, policy).await?;
    let ok = outcome.hooks_ok;
    let summary = serde_json::json!({ "rolled_back": usize::from(!dry_run), "dry_run": dry_run });
    let color = out.color();
    emit(out, cli.format, "rotation", &[outcome], &summary, outcome_table, color)?;
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}

async fn state(cli: &Cli, path: &str, out: &mut Output) -> anyhow::Result<Exit> {
    let client = client(&cli.connect)?;
    let kv = client.kv_path(path).await?;
    let state = crate::rotation_state(&client, &kv).await?;
    #[derive(Serialize)]
    struct Row {
        path: String,
        #[serde(flatten)]
        state: crate::RotationState,
    }
    let row = Row { path: kv.to_string(), state };
    let color = out.color();
    emit(
        out,
        cli.format,
        "state",
        std::slice::from_ref(&row),
        &serde_json::json!({ "secrets": 1 }),
        |rows| {
            let mut t = Table::new(["KEY", "VALUE"]);
            if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&rows[0]) {
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::Null => "-".to_owned(),
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    t.row([k, v]);
                }
            }
            t
        },
        color,
    )?;
    Ok(Exit::Ok)
}
