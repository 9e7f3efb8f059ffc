//! The command line: subcommands, flags, and turning them into library calls and output.

mod examples;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{
    AllowedNames, CheckStatus, DbKind, ExportFormat, Manifest, RunOptions, SecretSpec, ServeOptions, check, db_creds,
    render, resolve_allowing, run_command, write_private_file,
};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use vault_core::config::AuthConfig;
use vault_core::output::{Format, Table, write_json, write_record};
use vault_core::{Client, Config, ConnectArgs, Exit};

/// Secrets for pipelines at run time, from HashiCorp Vault or OpenBao: read one, list them, export them, check a
/// manifest, run a command with them in its environment, get database credentials, or serve a long-lived process
/// over stdin/stdout.
///
/// Authenticate with AppRole (VAULT_ROLE_ID or VAULT_ROLE_ID_FILE, and VAULT_SECRET_ID_FILE — what
/// `cargo xtask deploy` writes) or a token (VAULT_TOKEN, --token-file, ~/.vault-token).
#[derive(Debug, Parser)]
#[command(name = "vault-env", version, after_help = after_help(), max_term_width = 120)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    connect: ConnectArgs,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
    /// When to use colour in messages on stderr (log lines have none on a pipe, in a journal or with NO_COLOR).
    #[arg(long, value_enum, default_value_t, value_name = "WHEN", global = true)]
    pub color: vault_core::output::ColorChoice,
}

fn after_help() -> String {
    format!(
        "{}\n  `run` exits with the command's own code (128 + N when signal N killed it); 126/127 when it cannot be started.",
        Exit::HELP
    )
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print one secret: the whole secret as JSON, or one value raw with --field (values go to stdout: that is
    /// what this command is for)
    Get(GetArgs),
    /// List the secrets under a folder
    List(ListArgs),
    /// Write secrets as a dotenv file, shell exports or JSON: to a 0600 file with -o FILE, or to stdout with -o -
    Export(ExportArgs),
    /// Check that every secret a manifest declares exists and is readable (exit 1 listing those that are not)
    Check(CheckArgs),
    /// Run a command with secrets in its environment
    Run(RunArgs),
    /// Get database credentials from the database secrets engine (dynamic or static role)
    DbCreds(DbCredsArgs),
    /// Answer JSON requests, one per line, on stdin/stdout over one authenticated, caching connection
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct GetArgs {
    /// The secret, e.g. secret/dagster/warehouse
    path: String,
    /// Print only this key's value, raw
    #[arg(long, value_name = "KEY")]
    field: Option<String>,
    /// Read this version instead of the latest
    #[arg(long, value_name = "N")]
    version: Option<u64>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// The folder, e.g. secret/dagster
    prefix: String,
    /// List every secret below it, as paths relative to it
    #[arg(long, short = 'r')]
    recursive: bool,
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Which secrets: `--secret`/positional paths and a manifest.
#[derive(Debug, Args)]
struct Sources {
    /// A manifest (TOML) declaring the secrets and their environment names
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Secrets as PATH or PATH=PREFIX (each key becomes PREFIX + KEY in upper case)
    #[arg(value_name = "PATH[=PREFIX]")]
    secrets: Vec<String>,
    #[command(flatten)]
    sources: Sources,
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = ExportFormat::Dotenv)]
    format: ExportFormat,
    /// Write to FILE (mode 0600, atomically); `-` for stdout. Without -o, stdout is used only when it is not a
    /// terminal
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Let a secret set NAME although it is on the guarded list (variables that run or load code, such as
    /// PYTHONPATH or LD_PRELOAD; see docs/vault-api.md). Repeatable; exact names only
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The manifest to check
    manifest: PathBuf,
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A secret as PATH or PATH=PREFIX (repeatable)
    #[arg(long = "secret", short = 's', value_name = "PATH[=PREFIX]")]
    secrets: Vec<String>,
    #[command(flatten)]
    sources: Sources,
    /// Replace vault-env with the command (exec) instead of supervising it; the token is then left to expire
    #[arg(long)]
    exec: bool,
    /// Do not revoke the token vault-env logged in with when the command ends
    #[arg(long)]
    keep_token: bool,
    /// Let a secret set NAME although it is on the guarded list (variables that run or load code, such as
    /// BASH_ENV, NODE_OPTIONS or LD_PRELOAD; see docs/vault-api.md). Repeatable; exact names only
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

#[derive(Debug, Args)]
struct DbCredsArgs {
    /// The role name, or a path MOUNT/creds/ROLE or MOUNT/static-creds/ROLE
    role: String,
    /// The database secrets engine's mount
    #[arg(long, default_value = "database", value_name = "MOUNT")]
    mount: String,
    /// Dynamic or static role (default: try dynamic, then static)
    #[arg(long, value_enum)]
    kind: Option<DbKind>,
    /// Print only this field raw: username, password, lease_id, lease_duration, ttl
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Speak the protocol on stdin/stdout (the only transport)
    #[arg(long, required = true)]
    stdio: bool,
    /// How long a read is cached, e.g. 30s or 5m; 0 turns the cache off
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    cache_ttl: Duration,
    /// Do not revoke the token vault-env logged in with when stdin closes
    #[arg(long)]
    keep_token: bool,
}

fn duration(text: &str) -> Result<Duration, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e} (expected e.g. 30s or 5m)"))
}

/// The exit code for an error: a library error knows its own (126/127 for a command that cannot start), the
/// rest follow the shared table.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<crate::Error>() {
            return e.exit_code();
        }
        if cause.downcast_ref::<vault_core::Error>().is_some() {
            break;
        }
    }
    vault_core::cli::exit_for(error).code()
}

/// The `vault-env` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code (exit codes from the shared table, or for `run` the command's own). The `vault-env` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `vault-env`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::output::set_tool("vault-env");
    vault_core::cli::main_with_code(
        || run(cli),
        |error| vault_core::cli::print_error("vault-env", error, exit_code(error)),
    )
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the subcommand; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let config = Config::resolve(&cli.connect)?;
    // Only a token vault-env obtained itself (an AppRole login) is revoked at the end: a token the caller handed
    // in (VAULT_TOKEN, a token file) is theirs, and revoking it would log them out.
    let own_token = matches!(config.auth, AuthConfig::AppRole(_));
    // One-shot commands keep to --client-timeout as a whole: login, retries and every read included.
    let limit = config.timeout;
    let one_shot = |config: Config| -> anyhow::Result<Client> {
        let client = Client::new(config)?;
        client.set_time_limit(limit);
        Ok(client)
    };
    match cli.command {
        Command::Get(args) => {
            let client = one_shot(config)?;
            let result = get(&client, &args).await;
            revoke(&client, own_token).await;
            result
        }
        Command::List(args) => {
            let client = one_shot(config)?;
            let result = list(&client, &args).await;
            revoke(&client, own_token).await;
            result
        }
        Command::Export(args) => export(&one_shot(config)?, &args, own_token).await,
        Command::Check(args) => {
            let client = one_shot(config)?;
            let result = check_manifest(&client, &args).await;
            revoke(&client, own_token).await;
            result
        }
        Command::Run(args) => run_cmd(&one_shot(config)?, args, own_token).await,
        Command::DbCreds(args) => db(&one_shot(config)?, &args).await,
        Command::Serve(args) => {
            let mut builder = Client::builder(config);
            if !args.cache_ttl.is_zero() {
                builder = builder.cache(args.cache_ttl);
            }
            let client = builder.build()?;
            let options = ServeOptions { revoke_token: own_token && !args.keep_token };
            crate::serve::serve_stdio(&client, &options).await.context("serving on stdin/stdout")?;
            Ok(0)
        }
    }
}

/// Revokes a token vault-env logged in with, after a command that needs it no more.
async fn revoke(client: &Client, own_token: bool) {
    client.revoke_after_run(own_token, "after the command").await;
}

async fn get(client: &Client, args: &GetArgs) -> anyhow::Result<u8> {
    let fetched = crate::fetch::get(client, &args.path, args.version).await?;
    let mut stdout = std::io::stdout().lock();
    match &args.field {
        Some(key) => {
            let value = fetched.field(key)?;
            stdout.write_all(value.expose().as_bytes())?;
            // Like the Vault CLI's -field: raw bytes for pipes and $(…), a newline only for a person.
            if std::io::stdout().is_terminal() {
                stdout.write_all(b"\n")?;
            }
        }
        None => {
            let mut doc = fetched.document();
            let written = write_json(&mut stdout, &doc);
            vault_core::secret::zeroize_json(&mut doc);
            written?;
        }
    }
    stdout.flush()?;
    Ok(0)
}

async fn list(client: &Client, args: &ListArgs) -> anyhow::Result<u8> {
    let (folder, keys) = crate::fetch::list(client, &args.prefix, args.recursive).await?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Human => {
            for key in &keys {
                writeln!(stdout, "{key}")?;
            }
        }
        Format::Json => {
            write_json(&mut stdout, &serde_json::json!({ "path": folder.to_string(), "keys": keys }))?;
        }
        Format::Jsonl => {
            for key in &keys {
                let full = format!("{folder}{key}");
                write_record(&mut stdout, "key", &serde_json::json!({ "key": key, "path": full }))?;
            }
            write_record(
                &mut stdout,
                "summary",
                &serde_json::json!({ "path": folder.to_string(), "count": keys.len() }),
            )?;
        }
    }
    stdout.flush()?;
    Ok(0)
}

/// Secrets from positional/`--secret` arguments and a manifest.
fn specs(secrets: &[String], manifest: Option<&Path>) -> anyhow::Result<Manifest> {
    let mut all = match manifest {
        Some(file) => Manifest::load(file)?,
        None => Manifest::default(),
    };
    for text in secrets {
        all.secrets.push(SecretSpec::parse_flag(text)?);
    }
    if all.secrets.is_empty() && all.databases.is_empty() {
        vault_core::usage_bail!("no secrets given: name them (PATH or PATH=PREFIX) or pass --manifest FILE");
    }
    Ok(all)
}

async fn export(client: &Client, args: &ExportArgs, own_token: bool) -> anyhow::Result<u8> {
    let manifest = specs(&args.secrets, args.sources.manifest.as_deref())?;
    let to_stdout = match crate::fetch::export_to_stdout(args.output.as_deref(), std::io::stdout().is_terminal()) {
        Ok(to_stdout) => to_stdout,
        Err(refusal) => vault_core::usage_bail!("{refusal}"),
    };
    let allowed = AllowedNames::new(args.allow_env.iter().cloned());
    let env = crate::fetch::export_env(client, &manifest, &allowed, own_token).await?;
    let text = render(&env, args.format);
    match (&args.output, to_stdout) {
        (_, true) => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
        (Some(file), false) => {
            write_private_file(file, text.as_bytes())?;
            vault_core::note!("vault-env: wrote {} variables to {} (mode 0600)", env.len(), file.display());
        }
        (None, false) => unreachable!("no -o means stdout"),
    }
    Ok(0)
}

async fn check_manifest(client: &Client, args: &CheckArgs) -> anyhow::Result<u8> {
    let manifest = Manifest::load(&args.manifest)?;
    let items = check(client, &manifest.secrets, &manifest.databases).await?;
    let bad = items.iter().filter(|i| i.status != CheckStatus::Ok).count();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Human => {
            let mut table = Table::new(["STATUS", "KIND", "PATH", "PROBLEM"]);
            for item in &items {
                let status = serde_json::to_value(&item.status)?.as_str().unwrap_or_default().to_owned();
                table.row([status, item.kind.to_owned(), item.path.clone(), item.message.clone().unwrap_or_default()]);
            }
            table.write_to(&mut stdout, false)?;
            writeln!(stdout, "{} declared, {} readable, {bad} not", items.len(), items.len() - bad)?;
        }
        Format::Json => {
            write_json(&mut stdout, &serde_json::json!({ "manifest": args.manifest, "ok": bad == 0, "items": items }))?;
        }
        Format::Jsonl => {
            for item in &items {
                write_record(&mut stdout, "secret", item)?;
            }
            write_record(
                &mut stdout,
                "summary",
                &serde_json::json!({ "manifest": args.manifest, "declared": items.len(), "missing": bad, "ok": bad == 0 }),
            )?;
        }
    }
    stdout.flush()?;
    Ok(if bad == 0 { Exit::Ok.code() } else { Exit::No.code() })
}

async fn run_cmd(client: &Client, args: RunArgs, own_token: bool) -> anyhow::Result<u8> {
    let manifest = specs(&args.secrets, args.sources.manifest.as_deref())?;
    let revoke_token = own_token && !args.keep_token;
    let options = RunOptions { command: args.command, exec: args.exec, revoke_token };
    let allowed = AllowedNames::new(args.allow_env.iter().cloned());
    let result = match resolve_allowing(client, &manifest.secrets, &manifest.databases, &allowed).await {
        Ok(env) => {
            // The time limit covers getting the secrets, not the command: from here on each call to Vault
            // (renewals, the revocation at the end) is bounded by the client timeout alone.
            client.set_deadline(None);
            run_command(client, env, &options).await
        }
        Err(error) => Err(error),
    };
    // When the command never ran, run_command did not get to revoke: do it here, so a failed start leaves no
    // live token (or database user) behind.
    if result.is_err() {
        revoke(client, revoke_token).await;
    }
    Ok(result?)
}

async fn db(client: &Client, args: &DbCredsArgs) -> anyhow::Result<u8> {
    // The token is not revoked: the credentials' lease belongs to it and would end with it.
    let creds = db_creds(client, &args.role, &args.mount, args.kind).await?;
    let mut stdout = std::io::stdout().lock();
    match &args.field {
        Some(name) => {
            let Some(value) = crate::db::field(&creds, name) else {
                vault_core::usage_bail!(
                    "no field {name:?}: choose username, password, lease_id, lease_duration, ttl or path"
                );
            };
            stdout.write_all(value.expose().as_bytes())?;
            if std::io::stdout().is_terminal() {
                stdout.write_all(b"\n")?;
            }
        }
        None => write_json(&mut stdout, &crate::db::exposed(&creds))?,
    }
    stdout.flush()?;
    Ok(0)
}
