//! The command line: clap definitions, and one function per subcommand that reads the inputs, calls the
//! library and writes the result in the chosen format. Data goes to stdout (or `-o FILE`); messages to stderr.

mod examples;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use vault_core::cli::UsageError;
use vault_core::output::{Format, Output, OutputArgs, Table, write_json, write_record};
use vault_core::{Client, ConnectArgs, Exit};

use crate::apply::{self, ApplyError, Local, Mode};
use crate::cases::{self, Expect};
use crate::check::{self, Finding};
use crate::explain;
use crate::live::{self, Server};
use crate::matcher::{Acl, Flavor, Operation};
use crate::parse::{self, Parsed, SourceFormat};
use crate::spec;
use crate::write::to_hcl;

/// Least-privilege Vault / OpenBao ACL policies: render, check, format, explain, test, diff and apply.
#[derive(Debug, Parser)]
#[command(name = "policy-gen", version, after_help = Exit::HELP)]
pub struct Cli {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t, global = true)]
    pub format: Format,
    /// Output destination and colour.
    #[command(flatten)]
    pub output: OutputArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render HCL policies from TOML specs of intent.
    Render(RenderArgs),
    /// Rewrite HCL policies in canonical form.
    Fmt(FmtArgs),
    /// Find mistakes in policies: file:line errors and warnings.
    Check(CheckArgs),
    /// Explain which rule decides a request, offline, with the server's matching rules (exit 1 when denied).
    Explain(ExplainArgs),
    /// Check allow/deny matrices offline, or against a server with --live.
    Test(TestArgs),
    /// Compare policy files with the server's policies by meaning (exit 1 on drift).
    Diff(DiffArgs),
    /// Write policy files to the server (dry run unless --yes).
    Apply(ApplyArgs),
    /// The minimal policy of a role from what it did in an audit log, and the grants of its policies it never used.
    FromAudit(FromAuditArgs),
}

/// `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Spec files (TOML).
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Write NAME.hcl for each spec into DIR instead of printing one policy.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// With --out-dir: change nothing, exit 1 when a file there differs from what its spec renders.
    #[arg(long, requires = "out_dir")]
    pub check: bool,
}

/// `fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Policy files or folders of them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Change nothing; list the files that would change and exit 1 if any.
    #[arg(long)]
    pub check: bool,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files or folders of them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Exit 1 on warnings too, not only on errors.
    #[arg(long)]
    pub strict: bool,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A policy file (or folder of them) the token carries; repeat the flag or separate with commas.
    #[arg(long = "policy", short = 'p', required = true, value_delimiter = ',', value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Which server's matching to model where OpenBao and HashiCorp Vault differ (listing a path ending in `/`).
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
    /// The operation.
    #[arg(long, default_value = "read", value_parser = parse_operation)]
    pub op: Operation,
    /// The request path, e.g. secret/data/dagster/warehouse; a logical KV v2 path on a --kv-mount
    /// (secret/dagster/warehouse, as vault-env takes it) is explained as its API path (data/, metadata/ to list).
    pub path: String,
    /// Mounts taken to be KV v2 for logical paths (explain runs offline and cannot ask); comma-separated, '' for
    /// none (the path is then taken as given).
    #[arg(long = "kv-mount", value_name = "MOUNT", default_value = "secret", value_delimiter = ',')]
    pub kv_mounts: Vec<String>,
}

fn parse_operation(text: &str) -> Result<Operation, String> {
    text.parse()
}

/// `from-audit`.
#[derive(Debug, Args)]
pub struct FromAuditArgs {
    /// Audit logs: files, folders of rotated logs, `.gz`, or `-` for stdin.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The AppRole role whose operations to read (the audit log's `auth.metadata.role_name`).
    #[arg(long, value_name = "NAME")]
    pub role: String,
    /// The role's current policies (files or folders), to list the grants it never used.
    #[arg(long = "policy", short = 'p', value_delimiter = ',', value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Name of the generated policy [default: ROLE-minimal]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Which server's matching to model for the unused grants.
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
}

/// `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Matrix files (TOML).
    #[arg(required = true, value_name = "CASES")]
    pub matrices: Vec<PathBuf>,
    /// Also check every case against the server: write the policies under unique names, mint a token with
    /// exactly those, compare sys/capabilities with the offline answer, send the requests marked `request`.
    #[arg(long)]
    pub live: bool,
    /// With --live: judge the caller's own token (VAULT_TOKEN, or an AppRole login) instead of minting one, through
    /// sys/capabilities-self and real requests with that token; no rights to policies or tokens needed. A token
    /// granted more than the matrix's policies on a case's path fails that case.
    #[arg(long, requires = "live")]
    pub as_self: bool,
    /// Which server's matching to model where OpenBao and HashiCorp Vault differ (listing a path ending in `/`).
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Policy files or folders of them; each file is the policy named after it.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The files are the complete set: server policies they do not define count as drift (root and default
    /// never do).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Policy files or folders of them; each file is the policy named after it.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Also delete server policies the files do not define (never root or default).
    #[arg(long)]
    pub prune: bool,
    /// Make the changes; without it nothing is written.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// The `policy-gen` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `policy-gen` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `policy-gen`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("policy-gen", || run(cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let mut out = cli.output.open().context("opening the output")?;
    let format = cli.format;
    let exit = match cli.command {
        Command::Render(args) => render(&args, &mut out)?,
        Command::Fmt(args) => fmt(&args, format, &mut out)?,
        Command::Check(args) => check_files(&args, format, &mut out)?,
        Command::Explain(args) => explain(&args, format, &mut out)?,
        Command::Test(args) => block_on(test(&args, format, &mut out))?,
        Command::Diff(args) => {
            block_on(diff_files(&args.files, &args.connect, args.prune, Mode::Diff, format, &mut out))?
        }
        Command::Apply(args) => {
            let mode = if args.yes { Mode::Write } else { Mode::DryRun };
            block_on(diff_files(&args.files, &args.connect, args.prune, mode, format, &mut out))?
        }
        Command::FromAudit(args) => from_audit(&args, format, &mut out)?,
    };
    out.finish().context("writing the output")?;
    Ok(exit)
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a single-threaded runtime always builds")
        .block_on(future)
}

fn usage(message: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(message))
}

/// Policy files named directly, and the `.hcl`/`.json` files of named folders (sorted).
pub fn policy_files(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(arg)
                .with_context(|| format!("reading {}", arg.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "hcl" || e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else if arg.exists() {
            files.push(arg.clone());
        } else {
            return Err(usage(format!("{}: no such file or folder", arg.display())));
        }
    }
    Ok(files)
}

/// Loads policy files; any syntax error or error finding stops with exit 2, naming `file:line`.
fn load_valid(args: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, Parsed)>> {
    let mut loaded = Vec::new();
    for file in policy_files(args)? {
        let parsed = parse::load(&file).map_err(|e| usage(e.to_string()))?;
        if let Some(f) = parsed.first_error() {
            return Err(usage(format!(
                "{}:{}: {} (run `policy-gen check` for all problems)",
                file.display(),
                f.line,
                f.message
            )));
        }
        loaded.push((file, parsed));
    }
    Ok(loaded)
}

fn render(args: &RenderArgs, out: &mut Output) -> anyhow::Result<Exit> {
    if args.out_dir.is_none() && args.specs.len() > 1 {
        return Err(usage("several specs need --out-dir DIR".into()));
    }
    let mut stale = 0;
    for file in &args.specs {
        let text = vault_core::cli::read_text(file)?;
        let spec = spec::parse_spec(&text).map_err(|e| usage(format!("{}: {e}", file.display())))?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let policy = spec::render(&spec, &name).map_err(|e| usage(format!("{}: {e}", file.display())))?;
        let hcl = to_hcl(&policy);
        let Some(dir) = &args.out_dir else {
            out.write_all(hcl.as_bytes())?;
            continue;
        };
        let target = dir.join(format!("{}.hcl", policy.name));
        let current = std::fs::read_to_string(&target).ok();
        if current.as_deref() == Some(hcl.as_str()) {
            continue;
        }
        if args.check {
            stale += 1;
            writeln!(out, "{}", target.display())?;
            eprintln!(
                "policy-gen: {} is not what {} renders; run `policy-gen render --out-dir`",
                target.display(),
                file.display()
            );
        } else {
            write_atomically(&target, &hcl)?;
            vault_core::note!("policy-gen: wrote {}", target.display());
        }
    }
    Ok(if stale > 0 { Exit::No } else { Exit::Ok })
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = Output::open(Some(path), vault_core::output::ColorChoice::Never)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.finish().with_context(|| format!("writing {}", path.display()))
}

#[derive(Serialize)]
struct FmtRecord<'a> {
    file: &'a Path,
    changed: bool,
}

fn fmt(args: &FmtArgs, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    let mut changed = Vec::new();
    let mut unusable = false;
    let mut records = Vec::new();
    for file in policy_files(&args.files)? {
        let text = vault_core::cli::read_text(&file)?;
        if SourceFormat::detect(&file, &text) == SourceFormat::Json {
            vault_core::note!("policy-gen: {}: skipped: fmt formats HCL only", file.display());
            continue;
        }
        let parsed = match parse::parse_hcl(&parse::policy_name(&file), &text) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("policy-gen: error: {}", e.in_file(&file));
                unusable = true;
                continue;
            }
        };
        if let Some(f) = parsed.first_error() {
            eprintln!(
                "policy-gen: error: {}:{}: not formatted, it would lose this: {}",
                file.display(),
                f.line,
                f.message
            );
            unusable = true;
            continue;
        }
        let canonical = to_hcl(&parsed.policy);
        let differs = canonical != text;
        records.push((file.clone(), differs));
        if differs {
            if !args.check {
                write_atomically(&file, &canonical)?;
            }
            changed.push(file);
        }
    }
    match format {
        Format::Human => {
            for file in &changed {
                writeln!(out, "{}", file.display())?;
            }
            let verb = if args.check { "would reformat" } else { "reformatted" };
            vault_core::note!("policy-gen: {verb} {} of {} files", changed.len(), records.len());
        }
        Format::Json => {
            let files: Vec<FmtRecord<'_>> = records.iter().map(|(f, c)| FmtRecord { file: f, changed: *c }).collect();
            write_json(
                out,
                &serde_json::json!({ "files": files, "summary": { "files": records.len(), "changed": changed.len() } }),
            )?;
        }
        Format::Jsonl => {
            for (file, c) in &records {
                write_record(out, "file", &FmtRecord { file, changed: *c })?;
            }
            write_record(out, "summary", &serde_json::json!({ "files": records.len(), "changed": changed.len() }))?;
        }
    }
    Ok(if unusable {
        Exit::Usage
    } else if args.check && !changed.is_empty() {
        Exit::No
    } else {
        Exit::Ok
    })
}

#[derive(Serialize)]
struct FileFinding<'a> {
    file: &'a Path,
    #[serde(flatten)]
    finding: &'a Finding,
}

fn check_files(args: &CheckArgs, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    let files = policy_files(&args.files)?;
    let report = check::check_files(&files);
    for e in &report.unloadable {
        eprintln!("policy-gen: error: {e}");
    }
    let all = &report.findings[..];
    let (errors, warnings) = (report.errors(), report.warnings());
    let summary = serde_json::json!({ "files": files.len(), "errors": errors, "warnings": warnings });
    match format {
        Format::Human => {
            for (file, f) in all {
                writeln!(out, "{}:{}: {}[{}]: {}", file.display(), f.line, f.severity.as_str(), f.code, f.message)?;
            }
            let unloadable = match report.unloadable.len() {
                0 => String::new(),
                n => format!(" ({n} did not load)"),
            };
            vault_core::note!("policy-gen: {errors} errors, {warnings} warnings in {} files{unloadable}", files.len());
        }
        Format::Json => {
            let findings: Vec<FileFinding<'_>> =
                all.iter().map(|(file, finding)| FileFinding { file, finding }).collect();
            write_json(out, &serde_json::json!({ "findings": findings, "summary": summary }))?;
        }
        Format::Jsonl => {
            for (file, finding) in all {
                write_record(out, "finding", &FileFinding { file, finding })?;
            }
            write_record(out, "summary", &summary)?;
        }
    }
    Ok(if !report.unloadable.is_empty() {
        Exit::Usage
    } else if errors > 0 || (args.strict && warnings > 0) {
        Exit::No
    } else {
        Exit::Ok
    })
}

fn explain(args: &ExplainArgs, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    let files = load_valid(&args.policies)?;
    let policies: Vec<_> = files.iter().map(|(_, p)| p.policy.clone()).collect();
    let acl = Acl::with_flavor(&policies, args.flavor).map_err(|e| usage(e.to_string()))?;
    let path = match vault_core::kv::kv2_api_path(&args.path, &args.kv_mounts, args.op == Operation::List) {
        Some(api) => {
            vault_core::note!(
                "policy-gen: note: {} is a logical KV v2 path: explaining the API path {api} (--kv-mount '' takes \
                 the path as given)",
                args.path
            );
            api
        }
        None => args.path.clone(),
    };
    let x = explain::explanation(&acl, &files, &path, args.op);
    match format {
        Format::Json => write_json(out, &x)?,
        Format::Jsonl => {
            write_record(out, "explain", &x)?;
            write_record(out, "summary", &serde_json::json!({ "allowed": x.allowed }))?;
        }
        Format::Human => {
            writeln!(out, "{} {}: {}", x.operation, x.path, if x.allowed { "allowed" } else { "denied" })?;
            writeln!(out, "  capabilities: {}", x.capabilities.join(", "))?;
            if let Some(d) = &x.decided_by {
                writeln!(out, "  decided by:   {} ({}) [{}]", d.pattern, d.kind.as_str(), d.capabilities.join(", "))?;
                for r in &d.rules {
                    writeln!(
                        out,
                        "                {}:{} policy {} [{}]",
                        r.file.display(),
                        r.line,
                        r.policy,
                        r.capabilities.join(", ")
                    )?;
                }
            }
            for o in &x.outranked {
                writeln!(out, "  outranked:    {} [{}]: {}", o.pattern, o.capabilities.join(", "), o.why)?;
            }
            for c in &x.conditions {
                writeln!(out, "  condition:    {c}")?;
            }
            writeln!(out, "  why:          {}", x.reason)?;
        }
    }
    Ok(if x.allowed { Exit::Ok } else { Exit::No })
}

fn from_audit(args: &FromAuditArgs, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    use crate::from_audit;
    let seen = from_audit::observe(&args.logs, &args.role).map_err(|e| match e.exit() {
        Exit::Usage => usage(e.to_string()),
        _ => anyhow::Error::new(e),
    })?;
    if seen.operations == 0 {
        return Err(usage(format!("the audit log shows no operation of role {:?}", args.role)));
    }
    let name = args.name.clone().unwrap_or_else(|| format!("{}-minimal", args.role));
    let policy = from_audit::minimal_policy(&name, &seen);
    let hcl = crate::write::to_hcl(&policy);
    let unused = if args.policies.is_empty() {
        Vec::new()
    } else {
        let files = load_valid(&args.policies)?;
        let policies: Vec<_> = files.iter().map(|(_, p)| p.policy.clone()).collect();
        let acl = Acl::with_flavor(&policies, args.flavor).map_err(|e| usage(e.to_string()))?;
        from_audit::unused_grants(&acl, &seen)
    };
    match format {
        Format::Human => {
            write!(out, "{hcl}")?;
            for (path, ops) in &seen.denied {
                for (op, count) in ops {
                    writeln!(out, "# denied and left out: {op} {path} ({count} times)")?;
                }
            }
            for u in &unused {
                let what = if u.never_used { "never used" } else { "partly unused" };
                writeln!(
                    out,
                    "# {what}: policy {} line {}: path \"{}\" [{}]",
                    u.policy,
                    u.line,
                    u.pattern,
                    u.capabilities.join(", ")
                )?;
            }
        }
        Format::Json => write_json(
            out,
            &serde_json::json!({ "role": seen.role, "name": name, "policy": hcl, "observed": seen, "unused": unused }),
        )?,
        Format::Jsonl => {
            for (path, used) in &seen.paths {
                write_record(
                    out,
                    "rule",
                    &serde_json::json!({ "path": path, "capabilities": used.capabilities.names(), "count": used.count }),
                )?;
            }
            for (path, ops) in &seen.denied {
                for (op, count) in ops {
                    write_record(out, "denied", &serde_json::json!({ "path": path, "operation": op, "count": count }))?;
                }
            }
            for u in &unused {
                write_record(out, "unused", u)?;
            }
            write_record(
                out,
                "summary",
                &serde_json::json!({ "role": seen.role, "operations": seen.operations, "rules": seen.paths.len(), "unused": unused.len() }),
            )?;
        }
    }
    Ok(Exit::Ok)
}

async fn test(args: &TestArgs, format: Format, out: &mut Output) -> anyhow::Result<Exit> {
    let server = if args.live {
        let config = vault_core::Config::resolve(&args.connect)?;
        Some(Server::new(Client::new(config)?))
    } else {
        None
    };
    let mut results = Vec::new();
    for path in &args.matrices {
        let matrix = cases::load(path).map_err(|e| usage(e.to_string()))?;
        let acl = Acl::with_flavor(&matrix.access_policies(), args.flavor)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        let live = match &server {
            Some(server) => {
                let verdicts = if args.as_self {
                    live::judge_self(server.client(), &matrix.cases).await
                } else {
                    let mut texts = Vec::new();
                    for (file, parsed) in &matrix.policies {
                        let text = vault_core::cli::read_text(file)?;
                        texts.push((parsed.policy.name.clone(), text));
                    }
                    live::judge(server, &texts, &matrix.cases).await
                }
                .with_context(|| format!("checking {} against {}", path.display(), server.client().address()))?;
                Some(verdicts)
            }
            None => None,
        };
        results.extend(cases::judge_matrix(&matrix, &acl, live, args.as_self));
    }
    let failed = results.iter().filter(|r| !r.pass).count();
    let summary = serde_json::json!({ "cases": results.len(), "passed": results.len() - failed, "failed": failed, "live": args.live });
    match format {
        Format::Json => write_json(out, &serde_json::json!({ "cases": results, "summary": summary }))?,
        Format::Jsonl => {
            for r in &results {
                write_record(out, "case", r)?;
            }
            write_record(out, "summary", &summary)?;
        }
        Format::Human => {
            let mut header = vec!["RESULT", "MATRIX", "OP", "PATH", "EXPECT", "OFFLINE"];
            if args.live {
                header.push("SERVER");
            }
            let mut table = Table::new(header);
            for r in &results {
                let mut row = vec![
                    if r.pass { "ok".to_owned() } else { "FAIL".to_owned() },
                    parse::policy_name(&r.matrix),
                    r.case.operation.to_string(),
                    r.case.path.clone(),
                    r.case.expect.as_str().to_owned(),
                    Expect::from_allowed(r.offline.allowed).as_str().to_owned(),
                ];
                if let Some(l) = &r.live {
                    row.push(format!("{} [{}]", Expect::from_allowed(l.allowed).as_str(), l.capabilities.join(", ")));
                }
                table.row(row);
            }
            table.write_to(out, out.color())?;
            for r in results.iter().filter(|r| !r.pass) {
                for p in &r.problems {
                    eprintln!("policy-gen: {}: {} {}: {p}", r.matrix.display(), r.case.operation, r.case.path);
                }
            }
            vault_core::note!("{} passed, {failed} failed", results.len() - failed);
        }
    }
    Ok(if failed > 0 { Exit::No } else { Exit::Ok })
}

async fn diff_files(
    files: &[PathBuf],
    connect: &ConnectArgs,
    prune: bool,
    mode: Mode,
    format: Format,
    out: &mut Output,
) -> anyhow::Result<Exit> {
    let mut local = Vec::new();
    for (file, parsed) in load_valid(files)? {
        let text = vault_core::cli::read_text(&file)?;
        local.push(Local { file, parsed, text });
    }
    let stopped = |e: ApplyError| match e {
        ApplyError::Input(message) => usage(message),
        other => anyhow::Error::new(other),
    };
    apply::validate(&local, mode).map_err(stopped)?;
    let server = Server::new(Client::new(vault_core::Config::resolve(connect)?)?);
    let states = apply::reconcile(&server, &local, prune, mode).await.map_err(stopped)?;
    let drift = apply::drift(&states);
    let summary = serde_json::json!({ "policies": states.len(), "drift": drift, "applied": states.iter().filter(|s| s.applied).count() });
    match format {
        Format::Json => write_json(out, &serde_json::json!({ "policies": states, "summary": summary }))?,
        Format::Jsonl => {
            for s in &states {
                write_record(out, "policy", s)?;
            }
            write_record(out, "summary", &summary)?;
        }
        Format::Human => {
            for s in &states {
                let action = match (mode, s.action) {
                    (_, "none") | (Mode::Diff, _) => String::new(),
                    (_, a) if s.applied => format!(" → {a}d"),
                    (_, a) => format!(" → would {a}"),
                };
                writeln!(out, "{}: {}{action}", s.name, s.status)?;
                for c in &s.changes {
                    let mut parts = Vec::new();
                    if !c.added.is_empty() {
                        parts.push(format!("+[{}]", c.added.join(", ")));
                    }
                    if !c.removed.is_empty() {
                        parts.push(format!("-[{}]", c.removed.join(", ")));
                    }
                    if !c.conditions.is_empty() {
                        parts.push(format!("~{}", c.conditions.join(", ")));
                    }
                    writeln!(out, "  {} {}", c.pattern, parts.join(" "))?;
                }
                if let Some(n) = &s.note {
                    writeln!(out, "  note: {n}")?;
                }
            }
        }
    }
    Ok(match mode {
        Mode::Diff if drift > 0 => Exit::No,
        Mode::DryRun if drift > 0 => {
            vault_core::note!("policy-gen: dry run: {drift} policies would change; pass --yes to apply");
            Exit::Ok
        }
        _ => Exit::Ok,
    })
}
