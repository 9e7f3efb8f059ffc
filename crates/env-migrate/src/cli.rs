//! The command line (clap derive) and what each subcommand does with the library.

mod examples;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use crate::apply::{self, Action};
use crate::detect::{self, Finding};
use crate::plan::{self, Convention};
use crate::{example, fsutil, refs, strip};
use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;
use vault_core::output::{Format, Output, OutputArgs, Table, write_json, write_record};
use vault_core::{Client, Config, ConnectArgs, Exit, usage_bail};

fn after_help() -> String {
    format!(
        "The flow:\n  env-migrate detect .                      what is in the env files (never values)\n  env-migrate plan . -o plan.json           where each secret goes; review and edit\n  env-migrate apply plan.json               dry run: what would change in Vault\n  env-migrate apply plan.json --yes         write with check-and-set, read every value back\n  env-migrate strip plan.json               empty the verified values in the files (backup kept)\n  env-migrate rollback --plan plan.json     put the files back\n  env-migrate refs . --plan plan.json       code that still reads the variables, and what to do\n  env-migrate refs . --plan plan.json --patch | git apply\n                                            Dagster assets read them through VaultSecretsResource\n\n{}\n  For env-migrate: 1 a dry run found conflicts, refs found readers, or example is stale;\n  2 also an unparseable env file, an invalid plan, or a value changed since the plan;\n  4 also a file not rewritten or a value not verified.",
        Exit::HELP
    )
}

/// Move secrets out of .env files into Vault KV v2, verified, with nothing lost.
#[derive(Debug, Parser)]
#[command(name = "env-migrate", version, after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, global = true)]
    format: Format,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    connect: ConnectArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find env files, resolve and classify each variable (key, file, line, class, reason, group; never values).
    Detect {
        /// Files or folders (default: the current folder).
        paths: Vec<PathBuf>,
        /// Also classify this process's environment variables.
        #[arg(long)]
        from_environment: bool,
    },
    /// Map each secret to a KV v2 path and key; write the plan (JSON, 0600) to -o FILE or stdout.
    Plan {
        /// Files or folders (default: the current folder).
        paths: Vec<PathBuf>,
        /// Also plan this process's environment variables.
        #[arg(long)]
        from_environment: bool,
        /// `{app}` in the template (default: each env file's folder name).
        #[arg(long)]
        app: Option<String>,
        /// `{env}` in the template (default: from the file name, `.env.production` → `production`, `.env` → `default`).
        #[arg(long)]
        env: Option<String>,
        /// The KV v2 path template: `{app}`, `{env}`, `{group}`, `{file}`, `{name}`; the key is the variable's name.
        #[arg(long, default_value = plan::DEFAULT_TEMPLATE)]
        template: String,
    },
    /// Write a plan's secrets to Vault (dry run unless --yes), then read every value back.
    Apply {
        /// The plan file.
        plan: PathBuf,
        /// Write; without it, show what would change.
        #[arg(long)]
        yes: bool,
        /// Secrets written at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Empty the values Vault holds (checked again now) in the env files, with a backup.
    Strip {
        /// The plan file.
        plan: PathBuf,
        /// Remove the statements instead of leaving `KEY="" # in Vault: path#key`.
        #[arg(long)]
        remove: bool,
        /// Show what would be stripped without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore env files from their newest backup in `.env-migrate/`.
    Rollback {
        /// Env files to restore.
        files: Vec<PathBuf>,
        /// Restore every file the plan names.
        #[arg(long)]
        plan: Option<PathBuf>,
    },
    /// List code and configuration that still read the migrated variables, with what to do for each; with
    /// --patch, write a unified diff that makes Dagster assets and ops read them through VaultSecretsResource.
    Refs {
        /// Folders or files to search (default: the current folder).
        paths: Vec<PathBuf>,
        #[command(flatten)]
        args: RefsArgs,
    },
    /// Create or refresh `.env.example` (names, no values) beside the env files.
    Example {
        /// Files or folders (default: the current folder).
        paths: Vec<PathBuf>,
        /// Write nothing; exit 1 when an example is missing or lacks names.
        #[arg(long)]
        check: bool,
    },
}

/// The flags of `refs`.
#[derive(Debug, clap::Args)]
struct RefsArgs {
    /// The variables of this plan, and where it put them (default: the secrets detected under PATHS).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// A variable to look for (repeatable).
    #[arg(long = "key", value_name = "NAME")]
    keys: Vec<String>,
    /// Write a unified diff (for `git apply`) to stdout or -o FILE instead of the list, which goes to stderr.
    /// Files are never changed. Needs --plan.
    #[arg(long)]
    patch: bool,
    /// Keep `os.getenv("X", default)` defaults in the rewrite, for a key missing in Vault (dropped by default:
    /// a silent fallback hides a failed read).
    #[arg(long, requires = "patch")]
    keep_defaults: bool,
}

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() }
}

/// The `env-migrate` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `env-migrate` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `env-migrate`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("env-migrate", || run(&cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the command line.
pub fn run(cli: &Cli) -> anyhow::Result<Exit> {
    match &cli.command {
        Command::Detect { paths, from_environment } => {
            let paths = if paths.is_empty() && *from_environment { vec![] } else { default_paths(paths) };
            cmd_detect(cli, &paths, *from_environment)
        }
        Command::Plan { paths, from_environment, app, env, template } => {
            let paths = if paths.is_empty() && *from_environment { vec![] } else { default_paths(paths) };
            let convention = Convention { template: template.clone(), app: app.clone(), env: env.clone() };
            cmd_plan(cli, &paths, *from_environment, &convention)
        }
        Command::Apply { plan, yes, concurrency } => cmd_apply(cli, plan, *yes, *concurrency),
        Command::Strip { plan, remove, dry_run } => cmd_strip(cli, plan, *remove, *dry_run),
        Command::Rollback { files, plan } => cmd_rollback(cli, files, plan.as_ref()),
        Command::Refs { paths, args } => cmd_refs(cli, &default_paths(paths), args),
        Command::Example { paths, check } => cmd_example(cli, &default_paths(paths), *check),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the runtime")
}

fn client(cli: &Cli) -> anyhow::Result<Client> {
    let config = Config::resolve(&cli.connect)?;
    // No read cache: every read-back must come from the server.
    Ok(Client::new(config)?)
}

/// Writes records in the chosen format: JSON Lines with a final summary, one JSON document, or a table.
fn emit<T: Serialize, S: Serialize>(
    cli: &Cli,
    kind: &str,
    records: &[T],
    summary: &S,
    table: impl FnOnce(&mut Output) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = cli.output.open().context("opening the output")?;
    match cli.format {
        Format::Jsonl => {
            for r in records {
                write_record(&mut out, kind, r)?;
            }
            write_record(&mut out, "summary", summary)?;
        }
        Format::Json => {
            let key = format!("{kind}s");
            write_json(&mut out, &serde_json::json!({ key: records, "summary": summary }))?;
        }
        Format::Human => table(&mut out)?,
    }
    out.finish().context("writing the output")?;
    Ok(())
}

#[derive(Serialize)]
struct DetectSummary {
    files: usize,
    variables: usize,
    secrets: usize,
    config: usize,
    references: usize,
    placeholders: usize,
    errors: usize,
}

fn warn_detection(d: &detect::Detection) {
    let mut stderr = std::io::stderr().lock();
    for v in &d.variables {
        if !v.shadowed.is_empty() {
            let lines: Vec<String> = v.shadowed.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                stderr,
                "env-migrate: warning: {}:{}: {} is also set on line(s) {}; the last one wins",
                v.source,
                v.line,
                v.key,
                lines.join(", ")
            );
        }
    }
    // A compose env_file's `$NAME` was expanded already; only python-dotenv files keep it literally.
    for v in d.variables.iter().filter(|v| v.dialect == Some(crate::parse::Dialect::PythonDotenv)) {
        let names = v.value.as_ref().map(|s| detect::unbraced_references(s.expose())).unwrap_or_default();
        if !names.is_empty() {
            let _ = writeln!(
                stderr,
                "env-migrate: warning: {}:{}: {} contains ${} literally (python-dotenv does not expand $NAME; docker compose and shells do): write ${{{}}} if it should be expanded",
                v.source, v.line, v.key, names[0], names[0]
            );
        }
    }
    for e in &d.errors {
        let _ = writeln!(stderr, "env-migrate: error: {e}");
    }
}

fn cmd_detect(cli: &Cli, paths: &[PathBuf], environment: bool) -> anyhow::Result<Exit> {
    let d = detect::detect(paths, environment).map_err(|e| vault_core::cli::UsageError(e.to_string()))?;
    warn_detection(&d);
    let findings: Vec<Finding> = d.variables.iter().map(detect::Variable::finding).collect();
    let count = |c: secret_scan::Class| findings.iter().filter(|f| f.class == c).count();
    let summary = DetectSummary {
        files: d.files.len(),
        variables: findings.len(),
        secrets: count(secret_scan::Class::Secret),
        config: count(secret_scan::Class::Config),
        references: count(secret_scan::Class::Reference),
        placeholders: count(secret_scan::Class::Placeholder),
        errors: d.errors.len(),
    };
    emit(cli, "variable", &findings, &summary, |out| {
        let mut t = Table::new(["FILE:LINE", "KEY", "CLASS", "GROUP", "REASON"]);
        for f in &findings {
            let class =
                serde_json::to_value(f.class).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let reason = if f.interpolated {
                format!("{} (interpolates {})", f.reason, f.references.join(", "))
            } else {
                f.reason.clone()
            };
            t.row([format!("{}:{}", f.file, f.line), f.key.clone(), class, f.group.clone(), reason]);
        }
        t.write_to(out, out.color())?;
        writeln!(
            out,
            "\n{} variables in {} files: {} secrets, {} config, {} references, {} placeholders",
            summary.variables, summary.files, summary.secrets, summary.config, summary.references, summary.placeholders
        )
    })?;
    Ok(if d.errors.is_empty() { Exit::Ok } else { Exit::Usage })
}

fn cmd_plan(cli: &Cli, paths: &[PathBuf], environment: bool, convention: &Convention) -> anyhow::Result<Exit> {
    let d = detect::detect(paths, environment).map_err(|e| vault_core::cli::UsageError(e.to_string()))?;
    warn_detection(&d);
    if !d.errors.is_empty() {
        usage_bail!("{} env file(s) could not be read or parsed; no plan written", d.errors.len());
    }
    let mut plan = plan::build(&d.variables, convention);
    if let Some(path) = cli.output.output.as_deref().filter(|p| *p != std::path::Path::new("-")) {
        plan::relativize(&mut plan, path);
    }
    if let Err(problems) = plan::validate(&plan) {
        usage_bail!("the plan is invalid; nothing written:\n  {}", problems.join("\n  "));
    }
    let mut text = serde_json::to_string_pretty(&plan)?;
    text.push('\n');
    // The plan holds the HMAC key and a fingerprint of every value: 0600 whatever the file it replaces allowed.
    let shown = cli.output.output.as_deref().map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
    let mut out = cli.output.open_secret().with_context(|| format!("writing the plan to {shown}"))?;
    out.write_all(text.as_bytes())?;
    out.finish().with_context(|| format!("writing the plan to {shown}"))?;
    let mut paths: Vec<&str> = plan.entries.iter().map(|e| e.target.path.as_str()).collect();
    paths.dedup();
    vault_core::note!(
        "env-migrate: planned {} secrets into {} Vault paths from {} files",
        plan.entries.len(),
        paths.iter().collect::<BTreeSet<_>>().len(),
        d.files.len()
    );
    Ok(Exit::Ok)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Add => "add",
        Action::Unchanged => "unchanged",
        Action::Conflict => "conflict",
        Action::Failed => "failed",
    }
}

fn cmd_apply(cli: &Cli, plan_path: &std::path::Path, yes: bool, concurrency: usize) -> anyhow::Result<Exit> {
    let plan = plan::load(plan_path)?;
    let values = match fsutil::current_values(&plan) {
        Ok(v) => v,
        Err(problems) => {
            usage_bail!("the sources no longer match the plan; nothing written:\n  {}", problems.join("\n  "))
        }
    };
    let client = client(cli)?;
    let (outcomes, summary) =
        runtime()?.block_on(async { apply::apply(&client, &plan, &values, yes, concurrency).await });
    drop(values);
    emit(cli, "secret", &outcomes, &summary, |out| {
        let mut t = Table::new(["ACTION", "TARGET", "SOURCE", "VERIFIED", "DETAIL"]);
        for o in &outcomes {
            let verified = match o.verified {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            t.row([
                action_name(o.action).to_owned(),
                format!("{}#{}", o.path, o.target_key),
                format!("{}:{} {}", o.source, o.line, o.key),
                verified.to_owned(),
                o.detail.clone().unwrap_or_default(),
            ]);
        }
        t.write_to(out, out.color())?;
        let verb = if summary.dry_run { "would write" } else { "written" };
        writeln!(
            out,
            "\n{} {verb}, {} unchanged, {} conflicts, {} failed{}",
            summary.written,
            summary.unchanged,
            summary.conflicts,
            summary.failed,
            if summary.dry_run {
                " (dry run: add --yes to write)".to_owned()
            } else {
                format!(", {} verified", summary.verified)
            }
        )
    })?;
    let unverified = !summary.dry_run && outcomes.iter().any(|o| o.verified == Some(false));
    Ok(if summary.unavailable {
        Exit::Unavailable
    } else if summary.failed > 0 || unverified || (!summary.dry_run && summary.conflicts > 0) {
        Exit::Failed
    } else if summary.conflicts > 0 {
        Exit::No
    } else {
        Exit::Ok
    })
}

#[derive(Serialize)]
struct StripSummary {
    files: usize,
    stripped: usize,
    kept: usize,
    errors: usize,
    dry_run: bool,
}

fn cmd_strip(cli: &Cli, plan_path: &std::path::Path, remove: bool, dry_run: bool) -> anyhow::Result<Exit> {
    let plan = plan::load(plan_path)?;
    let client = client(cli)?;
    let outcomes = match runtime()?.block_on(async { strip::strip(&client, &plan, remove, dry_run).await }) {
        Ok(o) => o,
        Err(strip::StripError::Vault(e)) => return Err(anyhow::Error::new(e).context("no file changed")),
        Err(e) => usage_bail!("{e}; no file changed"),
    };
    let summary = StripSummary {
        files: outcomes.len(),
        stripped: outcomes.iter().map(|o| o.stripped.len()).sum(),
        kept: outcomes.iter().map(|o| o.kept.len()).sum(),
        errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
        dry_run,
    };
    for o in &outcomes {
        if let Some(e) = &o.error {
            eprintln!("env-migrate: error: {e}");
        }
        if o.error.is_none() && !o.stripped.is_empty() {
            for w in &o.warnings {
                vault_core::note!("env-migrate: warning: {w}");
            }
        }
    }
    emit(cli, "file", &outcomes, &summary, |out| {
        let mut t = Table::new(["FILE", "STRIPPED", "KEPT", "BACKUP"]);
        for o in &outcomes {
            let kept: Vec<String> = o.kept.iter().map(|k| format!("{} ({})", k.key, k.reason)).collect();
            t.row([
                o.file.clone(),
                o.stripped.join(", "),
                kept.join("; "),
                o.backup.clone().or_else(|| o.error.clone()).unwrap_or_default(),
            ]);
        }
        t.write_to(out, out.color())?;
        let verb = if dry_run { "would strip" } else { "stripped" };
        writeln!(out, "\n{verb} {} values in {} files; {} kept", summary.stripped, summary.files, summary.kept)
    })?;
    Ok(if summary.errors > 0 { Exit::Failed } else { Exit::Ok })
}

fn cmd_rollback(cli: &Cli, files: &[PathBuf], plan_path: Option<&PathBuf>) -> anyhow::Result<Exit> {
    let mut files = files.to_vec();
    if let Some(p) = plan_path {
        let plan = plan::load(p)?;
        let named: BTreeSet<PathBuf> =
            plan.entries.iter().filter(|e| e.source != crate::ENVIRONMENT).map(|e| PathBuf::from(&e.source)).collect();
        files.extend(named);
    }
    if files.is_empty() {
        usage_bail!("name the env files to restore, or --plan PLAN");
    }
    let restored = strip::rollback(&files);
    let errors = restored.iter().filter(|r| r.error.is_some()).count();
    #[derive(Serialize)]
    struct Summary {
        files: usize,
        restored: usize,
        errors: usize,
    }
    let summary = Summary { files: restored.len(), restored: restored.len() - errors, errors };
    emit(cli, "restored", &restored, &summary, |out| {
        for r in &restored {
            match (&r.backup, &r.error) {
                (_, Some(e)) => writeln!(out, "{}: {e}", r.file)?,
                (Some(b), None) => writeln!(out, "{}: restored from {b}", r.file)?,
                (None, None) => {}
            }
        }
        Ok(())
    })?;
    Ok(if errors > 0 { Exit::Failed } else { Exit::Ok })
}

fn cmd_refs(cli: &Cli, paths: &[PathBuf], args: &RefsArgs) -> anyhow::Result<Exit> {
    let options = crate::python::Options { keep_defaults: args.keep_defaults };
    let mut query = match &args.plan {
        Some(p) => refs::Query::from_plan(&plan::load(p)?, options),
        None if args.patch => {
            usage_bail!("--patch needs --plan PLAN: the rewrite reads each variable from where the plan put it")
        }
        None => refs::Query { options, ..refs::Query::default() },
    };
    query.keys.extend(args.keys.iter().cloned());
    if args.plan.is_none() && args.keys.is_empty() {
        let d = detect::detect(paths, false).map_err(|e| vault_core::cli::UsageError(e.to_string()))?;
        query.keys.extend(
            d.variables.into_iter().filter(|v| v.classification.class == secret_scan::Class::Secret).map(|v| v.key),
        );
    }
    let outcome = refs::search(paths, &query, args.patch);
    let found = &outcome.references;
    let rewritten = found.iter().filter(|r| r.action == refs::Action::Rewrite).count();
    #[derive(Serialize)]
    struct Summary {
        variables: usize,
        references: usize,
        rewritten: usize,
        manual: usize,
        defaults: usize,
        patch: bool,
    }
    let summary = Summary {
        variables: query.keys.len(),
        references: found.len(),
        rewritten,
        manual: found.len() - rewritten,
        defaults: found.iter().filter(|r| r.default).count(),
        patch: args.patch,
    };
    for n in &outcome.notes {
        eprintln!("env-migrate: note: {n}");
    }
    let human = |out: &mut dyn Write| -> std::io::Result<()> {
        for r in found {
            let col = r.column.map(|c| format!(":{c}")).unwrap_or_default();
            let key = if r.key.is_empty() { "(computed name)" } else { r.key.as_str() };
            let context = r.context.as_deref().map(|c| format!(", {c}")).unwrap_or_default();
            let default = if r.default { ", has a default" } else { "" };
            write!(out, "{}:{}{col}: {key} ({}{context}{default})", r.file, r.line, r.kind)?;
            match (r.action, &r.target) {
                (refs::Action::Rewrite, Some(t)) => writeln!(out, " -> reads {t} through VaultSecretsResource")?,
                _ => writeln!(out, " -> manual")?,
            }
            if let Some(why) = &r.reason {
                writeln!(out, "    {why}")?;
            }
            if let Some(s) = &r.suggestion {
                writeln!(out, "    instead: {s}")?;
            }
        }
        writeln!(
            out,
            "\n{} places read {} migrated variables: {} rewritten by the patch, {} to change by hand",
            found.len(),
            query.keys.len(),
            summary.rewritten,
            summary.manual
        )
    };
    if args.patch {
        // stdout (or -o) carries the patch only; what was and was not rewritten goes to stderr.
        let mut out = cli.output.open().context("opening the output")?;
        out.write_all(outcome.patch.as_bytes())?;
        out.finish().context("writing the patch")?;
        let mut stderr = std::io::stderr().lock();
        match cli.format {
            Format::Human => human(&mut stderr)?,
            _ => {
                let records = found.iter().map(|r| ("reference", serde_json::to_value(r)));
                for (kind, record) in records.chain([("summary", serde_json::to_value(&summary))]) {
                    let mut record = record?;
                    if let Some(map) = record.as_object_mut() {
                        map.insert("type".into(), kind.into());
                    }
                    writeln!(stderr, "{record}")?;
                }
            }
        }
        return Ok(if summary.manual == 0 { Exit::Ok } else { Exit::No });
    }
    emit(cli, "reference", found, &summary, |out| human(out))?;
    Ok(if found.is_empty() { Exit::Ok } else { Exit::No })
}

fn cmd_example(cli: &Cli, paths: &[PathBuf], check: bool) -> anyhow::Result<Exit> {
    let found = crate::discover::find_env_files(paths).map_err(|e| vault_core::cli::UsageError(e.to_string()))?;
    for (path, why) in &found.problems {
        eprintln!("env-migrate: error: {}: {why}", path.display());
    }
    let files = &found.files;
    let outcomes = example::refresh(files, !check).map_err(|e| vault_core::cli::UsageError(e.to_string()))?;
    let stale = outcomes.iter().any(|o| o.created || !o.added.is_empty());
    #[derive(Serialize)]
    struct Summary {
        examples: usize,
        changed: usize,
        check: bool,
    }
    let changed = outcomes.iter().filter(|o| o.created || !o.added.is_empty()).count();
    let summary = Summary { examples: outcomes.len(), changed, check };
    emit(cli, "example", &outcomes, &summary, |out| {
        for o in &outcomes {
            let verb = match (o.created, check) {
                (true, true) => "missing",
                (true, false) => "created",
                (false, true) => "lacks",
                (false, false) => "added",
            };
            if o.created || !o.added.is_empty() {
                writeln!(out, "{}: {verb} {}", o.file, o.added.join(", "))?;
            } else {
                writeln!(out, "{}: up to date", o.file)?;
            }
        }
        Ok(())
    })?;
    let skipped = !found.problems.is_empty();
    Ok(if skipped {
        Exit::Usage
    } else if check && stale {
        Exit::No
    } else {
        Exit::Ok
    })
}
