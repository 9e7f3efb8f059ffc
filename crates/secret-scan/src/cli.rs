//! The command line (clap derive) and what each command does with the library.

mod examples;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secret_scan::report::{Format, Reporter, summary_line};
use secret_scan::scan::{self, Event, Gate, Plan, ScanError, ScanOptions, SkipReason, Source};
use secret_scan::suppress::{Baseline, IGNORE_FILE, IgnoreList};
use secret_scan::{Confidence, Finding, RuleSet, Scanner};
use serde::Serialize;
use vault_core::Exit;
use vault_core::cli::UsageError;
use vault_core::output::{OutputArgs, Table, write_json, write_record};

fn after_help() -> String {
    format!(
        "Examples:\n  secret-scan                      scan the current folder (git-ignore aware)\n  secret-scan --staged             scan what `git commit` would record (pre-commit)\n  secret-scan --git-history        scan every blob of every branch once\n  secret-scan -f sarif -o out.sarif .\n  secret-scan -f gitlab -o gl-secret-detection-report.json .\n  cat app.log | secret-scan -\n\nSuppress: `secret-scan:allow` (or `gitleaks:allow`) on the line, .secret-scan-ignore (globs, fingerprints), --baseline FILE.\n\n{}\n  For secret-scan: 0 nothing found; 1 findings at or above --min-confidence; 2 also a file that\n  could not be read; 3 Vault unavailable (with --vault-known).",
        Exit::HELP
    )
}

/// Find hard-coded secrets in files, staged changes and git history.
#[derive(Debug, Parser)]
#[command(name = "secret-scan", version, after_help = after_help(), args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    scan: ScanArgs,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, global = true)]
    format: Format,
    /// Extra rule file (TOML): adds rules or replaces built-in ones by id. Repeatable.
    #[arg(long = "rules", value_name = "FILE", global = true)]
    rules: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    connect: vault_core::ConnectArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan (what `secret-scan [PATH]...` does without a subcommand).
    Scan(ScanArgs),
    /// List or check the rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Create or update a baseline: findings accepted now and not reported again.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Install a git pre-commit hook that runs `secret-scan --staged`.
    InstallHook {
        /// Replace a pre-commit hook that secret-scan did not write.
        #[arg(long)]
        force: bool,
        /// A folder inside the repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// List rules: id, confidence, group, description.
    List,
    /// Run every rule's examples and negative examples; exit 1 if one misbehaves.
    Check,
}

#[derive(Debug, Subcommand)]
enum BaselineCommand {
    /// Scan and write every finding's fingerprint to FILE (which must not exist).
    Create {
        /// The baseline file (JSON).
        file: PathBuf,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// Scan and rewrite FILE with the current findings: new ones are accepted, fixed ones dropped.
    Update {
        /// The baseline file (JSON).
        file: PathBuf,
        #[command(flatten)]
        scan: ScanArgs,
    },
}

#[derive(Debug, Clone, Args)]
struct ScanArgs {
    /// Folders, files, or `-` for stdin. Default: the current folder.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Scan the lines added in the git index (for pre-commit hooks).
    #[arg(long, conflicts_with = "git_history")]
    staged: bool,
    /// Scan every distinct blob of the git history once; RANGE is passed to `git log` (default: --all).
    #[arg(long, value_name = "RANGE", num_args = 0..=1, default_missing_value = "--all")]
    git_history: Option<String>,
    /// Report only findings at or above this confidence. `low` adds high-entropy strings and findings whose
    /// context lowered them (test fixtures, documentation, values marked as examples), each with its reason.
    #[arg(long, value_enum, default_value = "medium", value_name = "LEVEL")]
    min_confidence: Confidence,
    /// Print the secret values (never do this in CI logs).
    #[arg(long)]
    show_secrets: bool,
    /// Also scan files excluded by .gitignore, .ignore and git's exclude files.
    #[arg(long)]
    no_ignore: bool,
    /// Skip files larger than this (bytes, or with K/M/G suffix: 512K, 10M).
    #[arg(long, value_name = "SIZE", default_value = "10M", value_parser = parse_size)]
    max_file_size: u64,
    /// Worker threads (default: the number of CPUs).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// Do not report findings whose fingerprints are in this baseline file.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Ignore file of path globs and fingerprints (default: .secret-scan-ignore at the scan root, if present).
    #[arg(long, value_name = "FILE")]
    ignore_file: Option<PathBuf>,
    /// Also find the current values of these Vault KV secrets (or every secret under a folder ending in /),
    /// verbatim and whatever their shape. Values are held only as keyed hashes. Repeatable.
    #[arg(long = "vault-known", value_name = "KV_PATH")]
    vault_known: Vec<String>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches("ib").trim_end_matches('b');
    let (number, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&lower[..i], &lower[i..]),
        None => (lower, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return Err(format!("unknown size unit in {text:?} (use K, M or G)")),
    };
    let value: u64 = number.trim().parse().map_err(|_| format!("not a size: {text:?}"))?;
    value.checked_mul(1 << shift).ok_or_else(|| format!("size too large: {text:?}"))
}

/// The `secret-scan` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `secret-scan` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `secret-scan`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("secret-scan", || run(&cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let mut scanner = load_rules(&cli.rules)?;
    let scan_args = match &cli.command {
        None => Some(&cli.scan),
        Some(Command::Scan(args)) => Some(args),
        Some(Command::Baseline(BaselineCommand::Create { scan, .. } | BaselineCommand::Update { scan, .. })) => {
            Some(scan)
        }
        Some(_) => None,
    };
    if let Some(args) = scan_args.filter(|a| !a.vault_known.is_empty()) {
        scanner = scanner.with_known(load_known(&cli.connect, &args.vault_known)?);
    }
    match &cli.command {
        None => scan_command(&scanner, &cli.scan, cli.format, &cli.output),
        Some(Command::Scan(args)) => scan_command(&scanner, args, cli.format, &cli.output),
        Some(Command::Rules(RulesCommand::List)) => rules_list(&scanner, cli.format, &cli.output),
        Some(Command::Rules(RulesCommand::Check)) => rules_check(&scanner, cli.format, &cli.output),
        Some(Command::Baseline(BaselineCommand::Create { file, scan })) => {
            baseline_command(&scanner, file, scan, &cli.output, true)
        }
        Some(Command::Baseline(BaselineCommand::Update { file, scan })) => {
            baseline_command(&scanner, file, scan, &cli.output, false)
        }
        Some(Command::InstallHook { force, dir }) => {
            let path = secret_scan::hook::install_hook(dir, *force).map_err(|e| match e {
                secret_scan::hook::HookError::Foreign(_) => anyhow::Error::new(UsageError(e.to_string())),
                other => anyhow::Error::new(other),
            })?;
            vault_core::note!("secret-scan: installed pre-commit hook {}", path.display());
            Ok(Exit::Ok)
        }
    }
}

/// Reads the current values of the given Vault secrets (folders recursively) into keyed hashes.
fn load_known(connect: &vault_core::ConnectArgs, paths: &[String]) -> anyhow::Result<secret_scan::known::KnownValues> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = vault_core::Client::new(vault_core::Config::resolve(connect)?)?;
        let mut known = secret_scan::known::KnownValues::new();
        let mut secrets = 0;
        for text in paths {
            let path = client.kv_path(text).await?;
            let targets = if path.is_folder() {
                let below = client.kv_list_recursive(&path).await?;
                below.iter().map(|relative| path.join(relative)).collect::<Result<Vec<_>, _>>()?
            } else {
                vec![path]
            };
            for target in targets {
                let secret = client.kv_read(&target, None).await.with_context(|| format!("reading {target} for --vault-known"))?;
                secrets += 1;
                for (key, value) in &secret.data {
                    known.add(&format!("{target}#{key}"), value);
                }
            }
        }
        vault_core::note!(
            "secret-scan: looking for the current values of {secrets} Vault secrets ({} values; {} shorter than {} bytes left out)",
            known.len(),
            known.skipped_short(),
            secret_scan::known::MIN_LEN
        );
        anyhow::Ok(known)
    })
}

fn load_rules(files: &[PathBuf]) -> anyhow::Result<Scanner> {
    let mut set = RuleSet::builtin();
    for file in files {
        set.merge_file(file).map_err(|e| UsageError(e.to_string()))?;
    }
    Ok(Scanner::new(&set).map_err(|e| UsageError(e.to_string()))?)
}

/// What to scan, where its ignore file lives, and how.
fn plan(args: &ScanArgs) -> anyhow::Result<(Plan, ScanOptions)> {
    let first = args.paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    let (plan, root) = if args.staged || args.git_history.is_some() {
        if args.paths.len() > 1 || args.paths.first().is_some_and(|p| p == Path::new("-")) {
            return Err(
                UsageError("--staged and --git-history take at most one folder inside the repository".into()).into()
            );
        }
        let root = secret_scan::scan::repo_root(&first).map_err(|e| UsageError(e.to_string()))?;
        let plan = match &args.git_history {
            Some(range) => Plan::History { repo: root.clone(), range: range.clone() },
            None => Plan::Staged(root.clone()),
        };
        (plan, root)
    } else if args.paths.is_empty() {
        let root = secret_scan::scan::repo_top(&first).unwrap_or_else(|| first.clone());
        (Plan::Paths(vec![Source::Path { path: first, shown: false }]), root)
    } else {
        let sources = args
            .paths
            .iter()
            .map(|p| if p == Path::new("-") { Source::Stdin } else { Source::Path { path: p.clone(), shown: true } })
            .collect();
        // Inside a git work tree, paths are relative to its top, and so are the ignore file's globs.
        let root = match secret_scan::scan::repo_top(&first) {
            Some(top) => top,
            None if first.is_dir() => first,
            None => PathBuf::from("."),
        };
        (Plan::Paths(sources), root)
    };
    let mut ignore_files = Vec::new();
    let default_ignore = root.join(IGNORE_FILE);
    if default_ignore.is_file() {
        ignore_files.push(default_ignore);
    }
    ignore_files.extend(args.ignore_file.iter().cloned());
    let refs: Vec<&Path> = ignore_files.iter().map(PathBuf::as_path).collect();
    let ignore = IgnoreList::load(&refs).map_err(|e| UsageError(e.to_string()))?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)).max(1);
    Ok((plan, ScanOptions { max_file_size: args.max_file_size, threads, no_ignore: args.no_ignore, ignore }))
}

/// A git failure (not a repository, a bad range) is an input error; an output failure keeps its I/O kind, so that
/// a closed pipe exits quietly.
fn scan_error(error: ScanError) -> anyhow::Error {
    match error {
        ScanError::Git(message) => UsageError(message).into(),
        ScanError::Output(io) => io.into(),
    }
}

/// Notes on stderr for files that were not scanned in full.
fn note(event: &Event) {
    match event {
        Event::Skipped { path, reason: SkipReason::TooLarge(size) } => vault_core::note!(
            "secret-scan: note: skipped {path}: {} is over --max-file-size",
            vault_core::output::human_size(*size)
        ),
        Event::Error { path, message } => eprintln!("secret-scan: error: {path}: {message}"),
        _ => {}
    }
}

fn scan_command(scanner: &Scanner, args: &ScanArgs, format: Format, output: &OutputArgs) -> anyhow::Result<Exit> {
    let (plan, options) = plan(args)?;
    let baseline = match &args.baseline {
        Some(path) => Some(Baseline::load(path).map_err(|e| UsageError(e.to_string()))?),
        None => None,
    };
    let gate = Gate { baseline: baseline.as_ref(), ignore: &options.ignore, min_confidence: args.min_confidence };
    // Findings carry fingerprints and masked prefixes of secrets (values with --show-secrets): a report file is
    // 0600 whatever the file it replaces allowed.
    let out = output.open_secret().context("cannot open the output")?;
    let mut reporter = Reporter::new(format, out, args.show_secrets);
    // A running count of the bytes scanned on a watched terminal (nothing on a pipe, in CI or with -q).
    let progress = vault_core::progress::Progress::new(None, vault_core::progress::Unit::Bytes, "scanning");
    let on_event = |event: &Event| {
        if let Event::Scanned { bytes, .. } = event {
            progress.inc(*bytes);
        }
        progress.suspend(|| note(event));
    };
    let summary = scan::run(scanner, &plan, &options, &gate, on_event, |f| progress.suspend(|| reporter.finding(f)))
        .map_err(scan_error)?;
    progress.finish();
    reporter.finish(scanner, &summary)?.finish().context("cannot write the output")?;
    if format == Format::Human {
        vault_core::note!("secret-scan: {}", summary_line(&summary));
    }
    Ok(if summary.errors > 0 {
        Exit::Usage
    } else if summary.findings > 0 {
        Exit::No
    } else {
        Exit::Ok
    })
}

fn baseline_command(
    scanner: &Scanner,
    file: &Path,
    args: &ScanArgs,
    output: &OutputArgs,
    create: bool,
) -> anyhow::Result<Exit> {
    if output.output.is_some() {
        return Err(UsageError("baseline commands write FILE; -o/--output does not apply".into()).into());
    }
    let previous = match (create, file.exists()) {
        (true, true) => {
            return Err(UsageError(format!("{} exists; use `baseline update` to rewrite it", file.display())).into());
        }
        (false, true) => Some(Baseline::load(file).map_err(|e| UsageError(e.to_string()))?),
        _ => None,
    };
    let (plan, options) = plan(args)?;
    let gate = Gate { baseline: None, ignore: &options.ignore, min_confidence: args.min_confidence };
    let mut findings: Vec<Finding> = Vec::new();
    let summary = scan::run(scanner, &plan, &options, &gate, note, |f| {
        findings.push(f);
        Ok(())
    })
    .map_err(scan_error)?;
    if summary.errors > 0 {
        return Err(
            UsageError(format!("{} files could not be read; the baseline was not written", summary.errors)).into()
        );
    }
    let baseline = Baseline::from_findings(&findings);
    // A baseline is a list of fingerprints of secrets: 0600, like every file that holds them.
    let mut out = vault_core::output::Output::open_secret(Some(file), vault_core::output::ColorChoice::Never)
        .with_context(|| format!("cannot write {}", file.display()))?;
    baseline.write_to(&mut out)?;
    out.finish().with_context(|| format!("cannot write {}", file.display()))?;
    let change = previous.map_or(String::new(), |old| {
        let kept =
            baseline.findings.iter().filter(|e| old.findings.iter().any(|o| o.fingerprint == e.fingerprint)).count();
        format!(" ({} new, {} gone)", baseline.len() - kept, old.len() - kept)
    });
    vault_core::note!("secret-scan: baseline {}: {} findings{change}", file.display(), baseline.len());
    Ok(Exit::Ok)
}

#[derive(Serialize)]
struct RuleRecord<'a> {
    id: &'a str,
    confidence: Confidence,
    group: &'a str,
    description: &'a str,
    keywords: &'a [String],
}

fn rules_list(scanner: &Scanner, format: Format, output: &OutputArgs) -> anyhow::Result<Exit> {
    let mut out = output.open().context("cannot open the output")?;
    let records: Vec<RuleRecord<'_>> = scanner
        .rules()
        .map(|r| RuleRecord {
            id: &r.id,
            confidence: r.confidence,
            group: &r.group,
            description: &r.description,
            keywords: &r.keywords,
        })
        .collect();
    match format {
        Format::Human | Format::Sarif | Format::Gitlab => {
            let mut table = Table::new(["ID", "CONFIDENCE", "GROUP", "DESCRIPTION"]);
            for r in &records {
                table.row([r.id, r.confidence.as_str(), r.group, r.description]);
            }
            let color = out.color();
            table.write_to(&mut out, color)?;
        }
        Format::Json => write_json(&mut out, &records)?,
        Format::Jsonl => {
            for r in &records {
                write_record(&mut out, "rule", r)?;
            }
            write_record(&mut out, "summary", &serde_json::json!({ "rules": records.len() }))?;
        }
    }
    out.finish()?;
    Ok(Exit::Ok)
}

#[derive(Serialize)]
struct CheckRecord<'a> {
    rule_id: &'a str,
    example: &'a str,
    problem: &'static str,
}

fn rules_check(scanner: &Scanner, format: Format, output: &OutputArgs) -> anyhow::Result<Exit> {
    // Scans compile rules on their first keyword hit; the check compiles them all, so that no bad rule waits
    // for a matching file to show.
    scanner.compile_all().map_err(|e| UsageError(e.to_string()))?;
    let failures = scanner.check_examples();
    let examples: usize = scanner.rules().map(|r| r.examples.len() + r.negative_examples.len()).sum();
    let mut out = output.open().context("cannot open the output")?;
    let records: Vec<CheckRecord<'_>> = failures
        .iter()
        .map(|f| CheckRecord {
            rule_id: &f.rule_id,
            example: &f.example,
            problem: if f.missed { "example not matched" } else { "negative example matched" },
        })
        .collect();
    match format {
        Format::Human | Format::Sarif | Format::Gitlab => {
            for r in &records {
                writeln!(out, "{}: {}: {}", r.rule_id, r.problem, r.example.escape_debug())?;
            }
            vault_core::note!(
                "secret-scan: {} rules, {examples} examples, {} failures",
                scanner.rules().len(),
                records.len()
            );
        }
        Format::Json => write_json(
            &mut out,
            &serde_json::json!({ "failures": records, "rules": scanner.rules().len(), "examples": examples }),
        )?,
        Format::Jsonl => {
            for r in &records {
                write_record(&mut out, "failure", r)?;
            }
            write_record(
                &mut out,
                "summary",
                &serde_json::json!({ "rules": scanner.rules().len(), "examples": examples, "failures": records.len() }),
            )?;
        }
    }
    out.finish()?;
    Ok(if failures.is_empty() { Exit::Ok } else { Exit::No })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
