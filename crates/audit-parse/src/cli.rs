//! The command line: clap definitions and the `run` function `main` calls.

mod examples;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use vault_core::output::OutputArgs;
use vault_core::{ConnectArgs, Exit};

use crate::filter::{Filter, parse_time};
use crate::input::{self, FollowStop};
use crate::operation::DEFAULT_JOIN_WINDOW;
use crate::record::RecordType;
use crate::render::{self, OutFormat};
use crate::report::{ReportAcc, inventory_path};
use crate::retain::{RetainOptions, retain};
use crate::scan::{FollowOptions, ScanOptions, scan, scan_parallel};

/// Who touched which secret, when: stream-parse Vault/OpenBao audit logs, filter them, report on them, keep them.
#[derive(Debug, Parser)]
#[command(name = "audit-parse", version, about, after_help = Exit::HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Output destination and colour.
    #[command(flatten)]
    pub output: OutputArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
    /// How to reach Vault (only for --value-file, --find-token-file and --from-vault).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the operations that match (request and response lines joined by request id).
    Filter(FilterCmd),
    /// Who read what, denials, root-token use, configuration changes, busiest paths, secrets never read.
    Report(ReportCmd),
    /// Compress rotated logs after M days and delete them after N days; never touches live files.
    Retain(RetainCmd),
}

/// Where logs come from.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input")]
pub struct InputArgs {
    /// Log files (plain or gzip), folders of rotated logs (read oldest first), or `-` for stdin.
    #[arg(required = true, value_name = "LOG")]
    pub inputs: Vec<PathBuf>,
    /// Lines longer than this are skipped and counted as malformed.
    #[arg(long, value_name = "BYTES", default_value_t = input::DEFAULT_MAX_LINE)]
    pub max_line_bytes: usize,
    /// A request waits this many lines for its response before it is shown alone.
    #[arg(long, value_name = "LINES", default_value_t = DEFAULT_JOIN_WINDOW)]
    pub join_window: u64,
}

/// Which operations to keep. Every criterion given must hold; a repeated flag holds when any of its values does.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Only at or after: a duration back from now (24h, 7d), an RFC 3339 time or a date.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only before: same forms as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Path glob, e.g. 'secret/data/dagster/*' (`*` crosses `/`). A logical KV v2 path on a --kv-mount
    /// ('secret/dagster/*', as vault-env takes it) also matches its API forms (data/, metadata/, …).
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Mounts taken to be KV v2 for logical --path values (audit logs cannot tell); comma-separated, '' for none.
    #[arg(long = "kv-mount", value_name = "MOUNT", default_value = "secret", value_delimiter = ',')]
    pub kv_mounts: Vec<String>,
    /// Mount point, e.g. secret.
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mounts: Vec<String>,
    /// Operation, as audit records name it (read, create, update, patch, delete, list, …).
    #[arg(long = "operation", value_name = "OP", value_enum, ignore_case = true)]
    pub operations: Vec<crate::filter::OperationName>,
    /// Line type (shows lines unjoined).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub record_type: Option<RecordType>,
    /// Token display name (root, token, approle, token-ci, …).
    #[arg(long = "display-name", value_name = "NAME")]
    pub display_names: Vec<String>,
    /// Identity entity id.
    #[arg(long = "entity", value_name = "ID")]
    pub entities: Vec<String>,
    /// AppRole role name (from the token's metadata).
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// A policy the token has.
    #[arg(long = "policy", value_name = "POLICY")]
    pub policies: Vec<String>,
    /// Client address.
    #[arg(long = "remote-address", value_name = "IP")]
    pub remote_addresses: Vec<String>,
    /// Only denied requests.
    #[arg(long)]
    pub denied: bool,
    /// Only failed requests (denied or with an error).
    #[arg(long)]
    pub errors: bool,
    /// Only requests made with a root token.
    #[arg(long)]
    pub root: bool,
    /// Only operations involving the value in FILE (hashed by the server's sys/audit-hash; never logged).
    #[arg(long = "value-file", value_name = "FILE")]
    pub value_files: Vec<PathBuf>,
    /// Only operations involving the token in FILE (hashed the same way).
    #[arg(long = "find-token-file", value_name = "FILE")]
    pub token_files: Vec<PathBuf>,
    /// The audit device whose HMAC key hashes --value-file and --find-token-file.
    #[arg(long, value_name = "NAME", default_value = "file")]
    pub device: String,
}

/// `filter`.
#[derive(Debug, Args)]
#[command(after_help = Exit::HELP)]
pub struct FilterCmd {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One row per line instead of per request.
    #[arg(long)]
    pub no_join: bool,
    /// Keep reading the (single) file as it grows, across rotation and truncation (`-F`, as `tail -F`: `-f` is
    /// --format in every tool).
    #[arg(long, short = 'F')]
    pub follow: bool,
    /// With --follow, read what the file already holds first.
    #[arg(long, requires = "follow")]
    pub from_start: bool,
    /// With --follow, stop after this long without new data (default: never).
    #[arg(long, value_name = "DURATION", requires = "follow")]
    pub idle_exit: Option<humantime::Duration>,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: OutFormat,
}

/// `report`.
#[derive(Debug, Args)]
#[command(after_help = Exit::HELP)]
pub struct ReportCmd {
    /// Inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Filters applied before reporting.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Secrets that should have been read: one path per line (`secret/app/db`), for the never-read list.
    #[arg(long, value_name = "FILE", conflicts_with = "from_vault")]
    pub inventory: Option<PathBuf>,
    /// List the secrets under this KV prefix from Vault for the never-read list (e.g. secret/dagster).
    #[arg(long, value_name = "PREFIX")]
    pub from_vault: Option<String>,
    /// How many busiest paths and identities.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: OutFormat,
}

/// `retain`.
#[derive(Debug, Args)]
#[command(after_help = Exit::HELP)]
pub struct RetainCmd {
    /// The folder holding the audit logs.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Delete rotated logs older than N days.
    #[arg(long, value_name = "N")]
    pub keep_days: u64,
    /// Compress rotated logs older than M days.
    #[arg(long, value_name = "M")]
    pub compress_after_days: u64,
    /// A file never to touch (besides files without a rotation suffix, which are never touched).
    #[arg(long, value_name = "FILE")]
    pub live: Vec<PathBuf>,
    /// Say what would be done, do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: OutFormat,
}

/// The `audit-parse` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `audit-parse` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `audit-parse`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("audit-parse", || run(&cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the command line.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let result = match &cli.command {
        Command::Filter(cmd) => run_filter(cli, cmd),
        Command::Report(cmd) => run_report(cli, cmd),
        Command::Retain(cmd) => run_retain(cli, cmd),
    };
    result.map_err(classify)
}

/// Gives the library's usage and input errors exit code 2: the shared `main` knows only vault-core's error types.
fn classify(error: anyhow::Error) -> anyhow::Error {
    let exit = error.chain().find_map(|cause| {
        if let Some(e) = cause.downcast_ref::<crate::Error>() {
            return Some(e.exit());
        }
        match cause.downcast_ref::<crate::scan::ScanError>() {
            Some(crate::scan::ScanError::Input(e)) => Some(e.exit()),
            _ => None,
        }
    });
    if exit == Some(Exit::Usage) {
        anyhow::Error::new(vault_core::cli::UsageError(format!("{error:#}")))
    } else {
        error
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// The --path globs with each logical KV v2 path on a --kv-mount joined by its API forms (audit records carry
/// `secret/data/app`, users and vault-env write `secret/app`), saying so on stderr when `say`.
fn kv2_expanded(paths: &[String], kv_mounts: &[String], say: bool) -> Vec<String> {
    let mut out = Vec::new();
    for path in paths {
        out.push(path.clone());
        if let Some(forms) = vault_core::kv::kv2_api_forms(path, kv_mounts) {
            if !say {
                out.extend(forms);
                continue;
            }
            vault_core::note!(
                "audit-parse: note: --path {path} is a logical KV v2 path: also matching its API forms {} and {} (and the \
                 version operations); --kv-mount '' takes paths as given",
                forms[0],
                forms[1]
            );
            out.extend(forms);
        }
    }
    out
}

/// The filter with the other KV v2 forms of the --path globs, and those forms.
type OtherForm = (Filter, Vec<String>);

/// When a --path filter matched nothing: the other spellings of its KV v2 API paths (data/ ↔ metadata/, the
/// logical path) in a filter otherwise the same, to tell the user which form would have matched; and the line
/// prefilter that lets both through.
fn other_form_filter(
    filter: &Filter,
    args: &FilterArgs,
) -> anyhow::Result<(Option<OtherForm>, Option<crate::filter::Prefilter>)> {
    let others: Vec<String> =
        args.paths.iter().flat_map(|p| vault_core::kv::kv2_other_forms(p, &args.kv_mounts)).collect();
    if others.is_empty() {
        return Ok((None, filter.prefilter()));
    }
    let mut both = kv2_expanded(&args.paths, &args.kv_mounts, false);
    both.extend(others.iter().cloned());
    let prefilter = Filter { paths: Filter::globs(&both)?, ..filter.clone() }.prefilter();
    Ok((Some((Filter { paths: Filter::globs(&others)?, ..filter.clone() }, others)), prefilter))
}

/// Builds the filter, hashing searched values and tokens through the server; returns it and the HMACs to look for.
fn build_filter(cli: &Cli, args: &FilterArgs) -> anyhow::Result<(Filter, Vec<String>)> {
    let now = chrono::Utc::now();
    let mut filter = Filter {
        since: args.since.as_deref().map(|t| parse_time("--since", t, now)).transpose()?,
        until: args.until.as_deref().map(|t| parse_time("--until", t, now)).transpose()?,
        paths: Filter::globs(&kv2_expanded(&args.paths, &args.kv_mounts, true))?,
        mounts: args.mounts.clone(),
        operations: args.operations.iter().map(|o| o.as_str().to_owned()).collect(),
        record_type: args.record_type,
        display_names: args.display_names.clone(),
        entities: args.entities.clone(),
        roles: args.roles.clone(),
        policies: args.policies.clone(),
        remote_addresses: args.remote_addresses.clone(),
        denied: args.denied,
        errors: args.errors,
        root: args.root,
        value: false,
    };
    let mut needles = Vec::new();
    if !args.value_files.is_empty() || !args.token_files.is_empty() {
        let mut secrets = Vec::new();
        for (path, what) in args
            .value_files
            .iter()
            .map(|p| (p, "--value-file"))
            .chain(args.token_files.iter().map(|p| (p, "--find-token-file")))
        {
            secrets.push(vault_core::config::read_secret_file(path, what)?);
        }
        let client = vault_core::Client::new(vault_core::Config::resolve(&cli.connect)?)?;
        let rt = runtime()?;
        for secret in &secrets {
            let hash = rt
                .block_on(client.audit_hash(&args.device, secret))
                .with_context(|| format!("cannot hash a searched value through sys/audit-hash/{}", args.device))?;
            needles.push(hash);
        }
        filter.value = true;
    }
    Ok((filter, needles))
}

fn run_filter(cli: &Cli, cmd: &FilterCmd) -> anyhow::Result<Exit> {
    let (filter, needles) = build_filter(cli, &cmd.filter)?;
    if cmd.follow && cmd.input.inputs.len() != 1 {
        vault_core::usage_bail!("--follow reads exactly one file (the live log), not several");
    }
    let sources = input::expand(&cmd.input.inputs)?;
    let follow = if cmd.follow {
        if sources.len() != 1 || sources[0] == input::Source::Stdin {
            vault_core::usage_bail!("--follow reads exactly one file (the live log), not stdin or several files");
        }
        Some(FollowOptions {
            from_start: cmd.from_start,
            poll: Duration::from_millis(200),
            stop: FollowStop { flag: Arc::new(AtomicBool::new(false)), idle: cmd.idle_exit.map(Into::into) },
        })
    } else {
        None
    };
    let join = !(cmd.no_join || cmd.filter.record_type.is_some());
    let (other_form, prefilter) = other_form_filter(&filter, &cmd.filter)?;
    let options = ScanOptions {
        max_line: cmd.input.max_line_bytes,
        needles,
        join_window: join.then_some(cmd.input.join_window),
        follow,
        prefilter,
    };
    let mut out = cli.output.open().context("cannot open the output")?;
    let mut writer = render::FilterWriter::new(cmd.format, out.color(), cmd.follow);
    let mut matched = 0u64;
    let mut operations = 0u64;
    let mut warned = 0u64;
    let mut other_matched = 0u64;
    // Operations read so far, on a watched terminal, unless following (that never ends).
    let progress = if cmd.follow { vault_core::progress::Progress::hidden() } else { operations_progress() };
    let stats = {
        let mut on_op = |op: crate::operation::AuditOperation| -> std::io::Result<()> {
            operations += 1;
            progress.inc(1);
            if filter.matches(&op) {
                matched += 1;
                progress.suspend(|| writer.operation(&mut out, &op))?;
            } else if other_form.as_ref().is_some_and(|(other, _)| other.matches(&op)) {
                other_matched += 1;
            }
            Ok(())
        };
        let mut on_malformed = |m: &crate::scan::Malformed| {
            warned += 1;
            if warned <= 20 {
                vault_core::note!("audit-parse: warning: {}:{}: not an audit record: {}", m.file, m.line, m.error);
            }
        };
        scan(&sources, &options, &mut on_op, &mut on_malformed)?
    };
    progress.finish();
    if warned > 20 {
        vault_core::note!("audit-parse: warning: {} more malformed lines not shown", warned - 20);
    }
    if matched == 0
        && other_matched > 0
        && let Some((_, others)) = &other_form
    {
        vault_core::note!(
            "audit-parse: no operation matched --path {}; {other_matched} would match {} (the path's other KV v2 form)",
            cmd.filter.paths.join(", "),
            others.join(" or ")
        );
    }
    writer.finish(&mut out, &stats, operations, matched)?;
    out.finish().context("cannot write the output")?;
    if let Some(exit) = unreadable(&stats) {
        return Ok(exit);
    }
    Ok(if matched == 0 { Exit::No } else { Exit::Ok })
}

/// A running count of the audit operations read, for large logs on a watched terminal (vault-core decides).
fn operations_progress() -> vault_core::progress::Progress {
    vault_core::progress::Progress::new(None, vault_core::progress::Unit::Items, "reading audit operations")
}

fn run_report(cli: &Cli, cmd: &ReportCmd) -> anyhow::Result<Exit> {
    let (filter, needles) = build_filter(cli, &cmd.filter)?;
    let inventory = match (&cmd.inventory, &cmd.from_vault) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
            Some(text.lines().filter_map(inventory_path).collect::<BTreeSet<String>>())
        }
        (None, Some(prefix)) => Some(list_from_vault(cli, prefix)?),
        (None, None) => None,
    };
    let sources = input::expand(&cmd.input.inputs)?;
    let join = cmd.filter.record_type.is_none();
    let options = ScanOptions {
        max_line: cmd.input.max_line_bytes,
        needles,
        join_window: join.then_some(cmd.input.join_window),
        follow: None,
        prefilter: filter.prefilter(),
    };
    let progress = operations_progress();
    let (accs, stats) = scan_parallel(&sources, &options, ReportAcc::default, |acc, op| {
        progress.inc(1);
        if filter.matches(&op) {
            acc.add(&op);
        }
    })?;
    progress.finish();
    let mut total = ReportAcc::default();
    for acc in accs {
        total.merge(acc);
    }
    for m in stats.malformed_lines.iter().take(20) {
        vault_core::note!("audit-parse: warning: {}:{}: not an audit record: {}", m.file, m.line, m.error);
    }
    if stats.malformed > 20 {
        vault_core::note!("audit-parse: warning: {} more malformed lines not shown", stats.malformed - 20);
    }
    let report = total.finish(cmd.top, inventory.as_ref());
    let mut out = cli.output.open().context("cannot open the output")?;
    render::report(&mut out, cmd.format, &report, &stats)?;
    out.finish().context("cannot write the output")?;
    Ok(unreadable(&stats).unwrap_or(Exit::Ok))
}

/// After the output is complete: files that could not be read to the end make the run a partial failure (exit 4),
/// said once on stderr; each was already reported where reading stopped.
fn unreadable(stats: &crate::scan::ScanStats) -> Option<Exit> {
    (stats.unreadable > 0).then(|| {
        eprintln!(
            "audit-parse: error: {} of {} files could not be read to the end; the others were read in full",
            stats.unreadable, stats.files
        );
        Exit::Failed
    })
}

/// The logical paths of every secret under a KV prefix, listed through vault-core.
fn list_from_vault(cli: &Cli, prefix: &str) -> anyhow::Result<BTreeSet<String>> {
    let client = vault_core::Client::new(vault_core::Config::resolve(&cli.connect)?)?;
    let rt = runtime()?;
    rt.block_on(async {
        let folder = client.kv_path(&format!("{}/", prefix.trim_end_matches('/'))).await?;
        let base = folder.path().trim_matches('/');
        let children = client.kv_list_recursive(&folder).await?;
        Ok(children
            .into_iter()
            .map(|c| {
                if base.is_empty() {
                    format!("{}/{c}", folder.mount())
                } else {
                    format!("{}/{base}/{c}", folder.mount())
                }
            })
            .collect())
    })
}

fn run_retain(cli: &Cli, cmd: &RetainCmd) -> anyhow::Result<Exit> {
    let options = RetainOptions {
        dir: cmd.dir.clone(),
        keep_days: cmd.keep_days,
        compress_after_days: cmd.compress_after_days,
        live: cmd.live.clone(),
        dry_run: cmd.dry_run,
        now: SystemTime::now(),
    };
    let plan = retain(&options)?;
    let mut out = cli.output.open().context("cannot open the output")?;
    render::retain(&mut out, cmd.format, &plan, cmd.dry_run)?;
    out.flush()?;
    out.finish().context("cannot write the output")?;
    Ok(Exit::Ok)
}
