//! The command line: clap definitions, and each subcommand's run and output.

mod examples;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use vault_core::output::{self, Format, OutputArgs, Table, write_record};
use vault_core::{Client, Config, ConnectArgs, Exit, usage_bail};

use crate::catalog::{self, State};
use crate::retention::{Action, Policy};
use crate::s3::S3Settings;
use crate::store::{Destination, Store, StoreError};
use crate::{crypto, drill, prune, restore, save, verify};

const AFTER_HELP: &str = "Backups are named vault-backup-YYYY-MM-DDTHH-MM-SS.mmmZ.snap.gz with a .manifest.json beside \
it (written last: a backup without one is incomplete). See docs/vault-backup-recovery.md.";

/// Raft snapshots of Vault/OpenBao, streamed to folders and S3-compatible storage, verified offline, pruned,
/// restored and drilled.
#[derive(Debug, Parser)]
#[command(name = "vault-backup", version, after_help = format!("{AFTER_HELP}\n\n{}", Exit::HELP))]
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
    #[command(flatten)]
    s3: S3Args,
    /// How much to say on stderr.
    #[command(flatten)]
    pub log: vault_core::cli::LogArgs,
}

/// How to reach S3-compatible storage.
#[derive(Debug, Args)]
#[command(next_help_heading = "S3")]
struct S3Args {
    /// S3 endpoint URL, e.g. https://fsn1.your-objectstorage.com [env: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL]
    #[arg(long = "s3-endpoint", value_name = "URL", global = true)]
    endpoint: Option<String>,
    /// Region to sign requests for [env: AWS_REGION] [default: us-east-1]
    #[arg(long = "s3-region", value_name = "REGION", global = true)]
    region: Option<String>,
    /// Credentials file (AWS INI or AWS_ACCESS_KEY_ID=… lines) instead of the AWS_* variables
    #[arg(long = "s3-credentials-file", value_name = "FILE", global = true)]
    credentials_file: Option<PathBuf>,
    /// Multipart part size in MiB (at least 5)
    #[arg(long = "s3-part-size", value_name = "MIB", default_value_t = 8, global = true)]
    part_size_mib: usize,
}

impl S3Args {
    fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            credentials_file: self.credentials_file.clone(),
            part_size: self.part_size_mib.max(5) * 1024 * 1024,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Take a raft snapshot from the active node and stream it to every destination at once.
    Save {
        /// A folder or s3://bucket/prefix; repeat for several (the variable takes a comma-separated list)
        #[arg(
            long = "to",
            value_name = "DEST",
            env = "VAULT_BACKUP_TO",
            hide_env_values = true,
            value_delimiter = ',',
            required = true
        )]
        to: Vec<String>,
        /// Encrypt the backup to this age public key (age1…); repeat for several
        #[arg(
            long = "encrypt-to",
            value_name = "AGE1KEY",
            env = "VAULT_BACKUP_RECIPIENTS",
            hide_env_values = true,
            value_delimiter = ','
        )]
        encrypt_to: Vec<String>,
        /// Encrypt the backup to the age public keys in FILE (one per line)
        #[arg(long = "recipients-file", value_name = "FILE")]
        recipients_file: Vec<PathBuf>,
    },
    /// Check a backup offline: SHA-256 against its manifest, gzip, tar, SHA256SUMS. A folder or prefix means its
    /// newest complete backup.
    Verify {
        /// ID.snap.gz (file or s3:// object), its manifest, or a folder / s3://bucket/prefix
        backup: String,
        /// age private key file (age-keygen output), to check the archive inside an encrypted backup
        #[arg(long = "identity", value_name = "FILE")]
        identity: Vec<PathBuf>,
    },
    /// List the backups in each destination, oldest first.
    List {
        #[command(flatten)]
        from: Destinations,
    },
    /// Delete the backups a retention policy does not keep; the newest good backup always stays.
    Prune {
        #[command(flatten)]
        from: Destinations,
        /// Keep the N newest backups
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_last: u32,
        /// Keep the newest backup of each of the N newest days
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_daily: u32,
        /// Keep the newest backup of each of the N newest ISO weeks
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_weekly: u32,
        /// Keep the newest backup of each of the N newest months
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_monthly: u32,
        /// Say what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore a verified backup into a running server, unseal it with the source's keys and read secrets back.
    Restore(RestoreArgs),
    /// The restore drill: restore the newest backup into a throwaway server and compare it with the live one.
    Drill(DrillArgs),
}

/// The destinations `list` and `prune` read: the positional DEST arguments, or `VAULT_BACKUP_TO`.
#[derive(Debug, Args)]
struct Destinations {
    /// Folders or s3://bucket/prefix (the variable takes a comma-separated list)
    #[arg(
        value_name = "DEST",
        env = "VAULT_BACKUP_TO",
        hide_env_values = true,
        value_delimiter = ',',
        required = true
    )]
    from: Vec<String>,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// ID.snap.gz (file or s3:// object), its manifest, or a folder / s3://bucket/prefix (its newest backup)
    backup: String,
    /// The server to restore into (the token, from VAULT_TOKEN or --token-file, must be valid on it now); for a
    /// raft cluster, repeat for every node: the snapshot goes to the active node and every node is unsealed
    #[arg(long = "to", value_name = "ADDR", required = true)]
    to: Vec<String>,
    /// A file with unseal key shares of the SOURCE (one per line, or init JSON); repeat for several
    #[arg(long = "key-file", value_name = "FILE")]
    key_files: Vec<PathBuf>,
    /// A file with a token valid on the SOURCE, to read secrets back after the restore
    #[arg(long = "check-token-file", value_name = "FILE")]
    check_token_file: Option<PathBuf>,
    /// KV folder to read back; repeat for several [default: secret/]
    #[arg(long = "check-path", value_name = "PATH")]
    check_paths: Vec<String>,
    /// Read back at most N secrets (0: all)
    #[arg(long = "check-limit", value_name = "N", default_value_t = 0)]
    check_limit: usize,
    /// The snapshot is already restored and the server restarted: only unseal and check
    #[arg(long)]
    resume: bool,
    /// age private key file, for an encrypted backup
    #[arg(long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct DrillArgs {
    /// Where the backups are: a folder or s3://bucket/prefix (its newest backup), or one backup
    #[arg(long = "from", value_name = "DEST", env = "VAULT_BACKUP_TO", hide_env_values = true, value_delimiter = ',')]
    from: Vec<String>,
    /// A file with unseal key shares of the live server; repeat for several
    #[arg(long = "key-file", value_name = "FILE", required = true)]
    key_files: Vec<PathBuf>,
    /// The server binary (bao or vault) [default: BAO_BIN, VAULT_BIN, bao or vault on PATH, the ExecStart of
    /// /etc/systemd/system/vault.service, then /usr/local/bin, /usr/bin, /bin, /usr/local/sbin, /usr/sbin,
    /// /opt/openbao/bin, /opt/vault/bin]
    #[arg(long = "bin", value_name = "PATH")]
    bin: Option<PathBuf>,
    /// KV folder to compare; repeat for several [default: secret/]
    #[arg(long = "check-path", value_name = "PATH")]
    check_paths: Vec<String>,
    /// How many secrets' metadata to compare
    #[arg(long = "sample", value_name = "N", default_value_t = 50)]
    sample: usize,
    /// age private key file, for encrypted backups
    #[arg(long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
}

/// The `vault-backup` program: parses the process's command line, runs it, prints an error once and returns the exit
/// code. The `vault-backup` binary is only this call, and the multi-call `vault-toolkit` binary calls it when
/// invoked as `vault-backup`, so both behave alike.
pub fn main() -> std::process::ExitCode {
    let cli = vault_core::generate::parse::<Cli>(examples::EXAMPLES);
    vault_core::cli::main("vault-backup", || run(cli))
}

/// The tool's command line as `--help`, the completions and the man page show it: the clap definition with the
/// examples.
pub fn command() -> clap::Command {
    vault_core::generate::command::<Cli>(examples::EXAMPLES)
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    let result = runtime.block_on(dispatch(cli));
    // S3 trouble gets its own exit code: 3 when the store is unreachable, 2 for bad settings.
    if let Err(error) = &result {
        if let Some(save) = error.downcast_ref::<save::SaveError>()
            && save.exit() != Exit::Failed
        {
            eprintln!("vault-backup: error: {error:#}");
            return Ok(save.exit());
        }
        for cause in error.chain() {
            if let Some(store) = cause.downcast_ref::<StoreError>()
                && store.exit() != Exit::Failed
            {
                eprintln!("vault-backup: error: {error:#}");
                return Ok(store.exit());
            }
        }
    }
    result
}

async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let s3 = cli.s3.settings();
    let ctx = Ctx { connect: &cli.connect, output: &cli.output, format: cli.format, s3: &s3 };
    match &cli.command {
        Command::Save { to, encrypt_to, recipients_file } => save(&ctx, to, encrypt_to, recipients_file).await,
        Command::Verify { backup, identity } => verify(&ctx, backup, identity).await,
        Command::List { from } => list(&ctx, &from.from).await,
        Command::Prune { from, keep_last, keep_daily, keep_weekly, keep_monthly, dry_run } => {
            prune(&ctx, &from.from, keep_last, keep_daily, keep_weekly, keep_monthly, dry_run).await
        }
        Command::Restore(args) => restore(&ctx, args).await,
        Command::Drill(args) => drill(&ctx, args).await,
    }
}

/// What every subcommand takes from the shared flags.
#[derive(Debug)]
struct Ctx<'a> {
    /// The connection flags.
    connect: &'a ConnectArgs,
    /// `-o` and `--color`.
    output: &'a OutputArgs,
    /// `--format`.
    format: Format,
    /// The S3 settings from flags and environment.
    s3: &'a S3Settings,
}

/// `save`: streams a snapshot to every destination; exit 1 (failed) when one of them failed.
async fn save(
    ctx: &Ctx<'_>,
    to: &[String],
    encrypt_to: &[String],
    recipients_file: &[PathBuf],
) -> anyhow::Result<Exit> {
    let recipients = match crypto::recipients(encrypt_to, recipients_file) {
        Ok(r) => r,
        Err(e) => usage_bail!("{e}"),
    };
    let stores = open_stores(to, ctx.s3)?;
    let client = Client::new(Config::resolve(ctx.connect)?)?;
    let outcome = save::save(&client, &stores, &recipients).await?;
    let mut out = ctx.output.open()?;
    match ctx.format {
        Format::Jsonl => {
            for d in &outcome.destinations {
                write_record(&mut out, "destination", d)?;
            }
            let m = &outcome.manifest;
            write_record(
                &mut out,
                "summary",
                &json!({
                    "id": m.id, "size": m.size, "sha256": m.sha256, "raft_index": m.raft.index,
                    "raft_term": m.raft.term, "encryption": m.encryption,
                    "saved": outcome.destinations.iter().filter(|d| d.status == "saved").count(),
                    "failed": outcome.destinations.iter().filter(|d| d.status != "saved").count(),
                }),
            )?;
        }
        Format::Json => output::write_json(
            &mut out,
            &json!({ "manifest": outcome.manifest, "destinations": outcome.destinations }),
        )?,
        Format::Human => {
            let m = &outcome.manifest;
            writeln!(
                out,
                "{} ({}, raft index {} term {}, sha256 {})",
                m.id,
                output::human_size(m.size),
                m.raft.index,
                m.raft.term,
                &m.sha256[..16]
            )?;
            for d in &outcome.destinations {
                match &d.error {
                    None => writeln!(out, "  saved   {}", d.location)?,
                    Some(e) => writeln!(out, "  FAILED  {}: {e}", d.destination)?,
                }
            }
        }
    }
    out.finish()?;
    for d in outcome.destinations.iter().filter(|d| d.error.is_some()) {
        eprintln!("vault-backup: error: {}: {}", d.destination, d.error.as_deref().unwrap_or_default());
    }
    Ok(if outcome.partial() { Exit::Failed } else { Exit::Ok })
}

/// `verify`: checks a backup offline; exit 1 ("no") when it is bad.
async fn verify(ctx: &Ctx<'_>, backup: &str, identity: &[PathBuf]) -> anyhow::Result<Exit> {
    let identities = load_identities(identity)?;
    let (store, id) = catalog::resolve(backup, ctx.s3).await.map_err(resolve_error)?;
    let report = verify::verify(&store, &id, &identities).await?;
    let mut out = ctx.output.open()?;
    match ctx.format {
        Format::Jsonl => {
            for problem in &report.problems {
                write_record(&mut out, "problem", &json!({ "id": report.id, "problem": problem }))?;
            }
            write_record(
                &mut out,
                "summary",
                &json!({
                    "id": report.id, "location": report.location, "ok": report.ok(), "size": report.size,
                    "sha256": report.sha256, "raft_index": report.raft.as_ref().map(|r| r.index),
                    "raft_term": report.raft.as_ref().map(|r| r.term), "members": report.members,
                    "encrypted": report.encrypted, "archive_checked": report.archive_checked,
                    "problems": report.problems.len(),
                }),
            )?;
        }
        Format::Json => output::write_json(&mut out, &json!({ "ok": report.ok(), "report": report }))?,
        Format::Human => {
            if report.ok() && !report.archive_checked {
                writeln!(
                    out,
                    "OK {} ({}, SHA-256 matches the manifest; encrypted: pass --identity to check the archive inside)",
                    report.location,
                    output::human_size(report.size)
                )?;
            } else if report.ok() {
                let raft = report.raft.clone().unwrap_or_default();
                writeln!(
                    out,
                    "OK {} ({}, raft index {} term {}, {} members match SHA256SUMS)",
                    report.location,
                    output::human_size(report.size),
                    raft.index,
                    raft.term,
                    report.members.len()
                )?;
            } else {
                writeln!(out, "BAD {}", report.location)?;
                for problem in &report.problems {
                    writeln!(out, "  {problem}")?;
                }
            }
        }
    }
    out.finish()?;
    Ok(if report.ok() { Exit::Ok } else { Exit::No })
}

/// `list`: every backup at the destinations, good or not.
async fn list(ctx: &Ctx<'_>, from: &[String]) -> anyhow::Result<Exit> {
    let stores = open_stores(from, ctx.s3)?;
    let mut out = ctx.output.open()?;
    let mut table = Table::new(["DESTINATION", "ID", "STATE", "SIZE", "RAFT INDEX", "PROBLEM"]);
    let mut all = Vec::new();
    let (mut good, mut other) = (0, 0);
    for store in &stores {
        for backup in catalog::catalog(store).await? {
            if backup.state == State::Good {
                good += 1;
            } else {
                other += 1;
            }
            let record = json!({
                "destination": store.location(),
                "id": backup.id,
                "time": backup.time,
                "state": backup.state,
                "location": store.location_of(&crate::manifest::data_name(&backup.id)),
                "size": backup.data.as_ref().map(|d| d.size),
                "sha256": backup.manifest.as_ref().map(|m| m.sha256.clone()),
                "raft_index": backup.manifest.as_ref().map(|m| m.raft.index),
                "raft_term": backup.manifest.as_ref().map(|m| m.raft.term),
                "encryption": backup.manifest.as_ref().map(|m| m.encryption.clone()),
                "problem": backup.problem,
            });
            match ctx.format {
                Format::Jsonl => write_record(&mut out, "backup", &record)?,
                Format::Json => all.push(record),
                Format::Human => {
                    table.row([
                        store.location(),
                        backup.id.clone(),
                        format!("{:?}", backup.state).to_lowercase(),
                        backup.data.as_ref().map(|d| output::human_size(d.size)).unwrap_or_else(|| "-".into()),
                        backup.manifest.as_ref().map(|m| m.raft.index.to_string()).unwrap_or_else(|| "-".into()),
                        backup.problem.clone().unwrap_or_default(),
                    ]);
                }
            }
        }
    }
    match ctx.format {
        Format::Jsonl => write_record(&mut out, "summary", &json!({ "good": good, "not_good": other }))?,
        Format::Json => output::write_json(&mut out, &all)?,
        Format::Human => {
            let color = out.color();
            table.write_to(&mut out, color)?;
        }
    }
    out.finish()?;
    Ok(Exit::Ok)
}

/// `prune`: applies the retention policy (or shows what it would do).
async fn prune(
    ctx: &Ctx<'_>,
    from: &[String],
    keep_last: &u32,
    keep_daily: &u32,
    keep_weekly: &u32,
    keep_monthly: &u32,
    dry_run: &bool,
) -> anyhow::Result<Exit> {
    let policy = Policy {
        keep_last: *keep_last,
        keep_daily: *keep_daily,
        keep_weekly: *keep_weekly,
        keep_monthly: *keep_monthly,
    };
    if policy.is_empty() {
        usage_bail!("prune needs at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly");
    }
    let stores = open_stores(from, ctx.s3)?;
    let mut out = ctx.output.open()?;
    let (mut kept, mut deleted, mut failed) = (0, 0, 0);
    let mut all = Vec::new();
    for store in &stores {
        for record in prune::prune(store, &policy, *dry_run, chrono::Utc::now()).await? {
            match record.action {
                Action::Keep => kept += 1,
                Action::Delete if record.error.is_some() => failed += 1,
                Action::Delete => deleted += 1,
            }
            match ctx.format {
                Format::Jsonl => write_record(&mut out, "decision", &record)?,
                Format::Json => all.push(record),
                Format::Human => {
                    let verb = match (record.action, *dry_run, &record.error) {
                        (Action::Keep, _, _) => "keep",
                        (Action::Delete, true, _) => "would delete",
                        (Action::Delete, false, None) => "deleted",
                        (Action::Delete, false, Some(_)) => "FAILED to delete",
                    };
                    writeln!(out, "{verb:16} {} {}: {}", record.destination, record.id, record.reasons.join(", "))?;
                    if let Some(e) = &record.error {
                        writeln!(out, "                 {e}")?;
                    }
                }
            }
        }
    }
    let summary = json!({ "dry_run": dry_run, "kept": kept, "deleted": deleted, "failed": failed, "policy": policy });
    match ctx.format {
        Format::Jsonl => write_record(&mut out, "summary", &summary)?,
        Format::Json => output::write_json(&mut out, &json!({ "decisions": all, "summary": summary }))?,
        Format::Human => {
            let would = if *dry_run { "would delete" } else { "deleted" };
            writeln!(out, "kept {kept}, {would} {deleted}, failed {failed}")?;
        }
    }
    out.finish()?;
    Ok(if failed > 0 { Exit::Failed } else { Exit::Ok })
}

/// `restore`: restores a backup into the server (or every node of the cluster) at `--to` and unseals it.
async fn restore(ctx: &Ctx<'_>, args: &RestoreArgs) -> anyhow::Result<Exit> {
    let (store, id) = catalog::resolve(&args.backup, ctx.s3).await.map_err(resolve_error)?;
    let mut targets = Vec::new();
    for to in &args.to {
        let connect = ConnectArgs { address: Some(to.clone()), ..ctx.connect.clone() };
        targets.push(Client::new(Config::resolve(&connect)?)?);
    }
    let check_token =
        args.check_token_file.as_deref().map(|f| vault_core::config::read_secret_file(f, "check token")).transpose()?;
    let options = restore::RestoreOptions {
        key_files: args.key_files.clone(),
        check_token,
        check_paths: args.check_paths.clone(),
        check_limit: args.check_limit,
        resume: args.resume,
        identities: load_identities(&args.identity)?,
    };
    let outcome = restore::restore(&targets, &store, &id, &options).await?;
    let mut out = ctx.output.open()?;
    write_steps(
        &mut out,
        ctx.format,
        &outcome.steps,
        &json!({
            "id": id, "target": args.to[0], "targets": args.to, "pending": outcome.pending,
            "secrets_read": outcome.secrets_read, "secrets_failed": outcome.secrets_failed,
        }),
    )?;
    out.finish()?;
    Ok(if outcome.secrets_failed > 0 {
        Exit::Failed
    } else if outcome.pending {
        Exit::No
    } else {
        Exit::Ok
    })
}

/// `drill`: restores the newest backup into a throwaway server and compares.
async fn drill(ctx: &Ctx<'_>, args: &DrillArgs) -> anyhow::Result<Exit> {
    if args.from.is_empty() {
        usage_bail!("drill needs --from DEST (or VAULT_BACKUP_TO)");
    }
    let live = Client::new(Config::resolve(ctx.connect)?)?;
    let options = drill::DrillOptions {
        from: args.from.clone(),
        key_files: args.key_files.clone(),
        bin: args.bin.clone(),
        check_paths: args.check_paths.clone(),
        sample: args.sample,
        identities: load_identities(&args.identity)?,
    };
    let outcome = match drill::drill(&live, ctx.s3, &options).await {
        // A missing server binary is a setup problem (exit 2), like a missing flag.
        Err(drill::DrillError::NoBinary(message)) => usage_bail!("{message}"),
        other => other?,
    };
    let mut out = ctx.output.open()?;
    write_steps(
        &mut out,
        ctx.format,
        &outcome.steps,
        &json!({
            "id": outcome.id, "compared": outcome.compared, "differences": outcome.differences.len(),
            "ok": outcome.ok(),
        }),
    )?;
    out.finish()?;
    Ok(if outcome.ok() { Exit::Ok } else { Exit::No })
}

fn write_steps(
    out: &mut output::Output,
    format: Format,
    steps: &[restore::Step],
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => {
            for step in steps {
                write_record(out, "step", step)?;
            }
            write_record(out, "summary", summary)?;
        }
        Format::Json => output::write_json(out, &json!({ "steps": steps, "summary": summary }))?,
        Format::Human => {
            for step in steps {
                writeln!(out, "{:8} {:7} {}", step.step, step.status, step.detail)?;
            }
        }
    }
    Ok(())
}

fn open_stores(texts: &[String], s3: &S3Settings) -> anyhow::Result<Vec<Store>> {
    let mut stores = Vec::new();
    for text in texts.iter().filter(|t| !t.trim().is_empty()) {
        let destination = match Destination::parse(text.trim()) {
            Ok(d) => d,
            Err(e) => usage_bail!("{e}"),
        };
        stores.push(Store::open(&destination, s3)?);
    }
    if stores.is_empty() {
        usage_bail!("no destination given");
    }
    Ok(stores)
}

fn load_identities(files: &[PathBuf]) -> anyhow::Result<Vec<crypto::Identity>> {
    match crypto::identities(files) {
        Ok(ids) => Ok(ids),
        Err(e) => usage_bail!("{e}"),
    }
}

fn resolve_error(e: catalog::ResolveError) -> anyhow::Error {
    match e {
        catalog::ResolveError::Usage(text) => anyhow::Error::new(vault_core::cli::UsageError(text)),
        // The store's own error, so its exit code (3 when unreachable) applies.
        catalog::ResolveError::Store(e) => anyhow::Error::new(e),
        other => anyhow::Error::new(other),
    }
}
