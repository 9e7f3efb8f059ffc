//! `cargo xtask demo`: the main job on an embedded default. Runs the deployment flow (`cargo xtask deploy --local
//! .demo`) — raft storage, TLS with its own CA, 5 key shares (threshold 3) in 0600 files, unsealed, KV v2,
//! AppRole, audit devices, the shipped policies, the pipeline's and the operator's credentials, root token
//! revoked — then writes a secret as the operator, reads it back as the pipeline, shows the pipeline is denied
//! elsewhere, prints how to point the tools at the server, and moves a sample application's `.env` into Vault
//! with env-migrate (detect, plan, apply, strip), showing the stripped file.
//!
//! Re-running reuses what is there: a running server is left running, a stopped one is started and unsealed from
//! the share files. `--stop` stops it. (One machine holds every share here: this is a demonstration; a real
//! deployment hands each share to a different person.)

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, Error, KvPath, SecretMap, SecretString};

use crate::deploy;

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the server's config, data, certificates, keys and log.
    #[arg(long, default_value = ".demo")]
    dir: PathBuf,
    /// API port (the cluster port is the next one).
    #[arg(long, default_value_t = 18200)]
    port: u16,
    /// Stop the local server and exit.
    #[arg(long, conflicts_with = "clean")]
    stop: bool,
    /// Stop the local server and delete the demo's folder (data, keys, credentials, sample app), then exit.
    #[arg(long)]
    clean: bool,
}

/// Lets the demo fill in the deployment's flags the way a user would type them.
#[derive(Parser)]
struct DeployCommand {
    #[command(flatten)]
    args: deploy::Args,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = if args.dir.is_absolute() { args.dir.clone() } else { crate::workspace_root().join(&args.dir) };
    if args.stop || args.clean {
        match deploy::stop_local(&dir)? {
            Some(pid) if args.stop => {
                println!("stopped the local server (pid {pid}); its data stays in {}", dir.display());
            }
            Some(pid) => println!("stopped the local server (pid {pid})"),
            None => println!("no local server is running from {}", dir.display()),
        }
        if args.clean {
            clean(&dir)?;
        }
        return Ok(());
    }
    let listen = format!("127.0.0.1:{}", args.port);
    let command = DeployCommand::parse_from(["deploy", "--local", &dir.display().to_string(), "--listen", &listen]);
    crate::runtime()?.block_on(async {
        let report = deploy::deploy(&command.args).await?;
        for step in &report.steps {
            println!("{:<8} {:<22} {}", format!("{:?}", step.outcome).to_lowercase(), step.step, step.detail);
        }
        if !report.complete {
            bail!("the deployment did not complete; see the steps above");
        }
        exercise(&dir, &report).await?;
        migrate_sample(&dir, &report).await
    })
}

/// Deletes the demo's folder, after checking it is one: a typo in `--dir` must never delete something else.
fn clean(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        println!("nothing to clean: {} does not exist", dir.display());
        return Ok(());
    }
    let layout = deploy::Layout::local(dir);
    if !layout.config_file.exists() && !layout.data_dir.exists() {
        bail!(
            "{} does not look like a demo folder (no config/vault.hcl or data/ in it); not deleting it",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))?;
    println!("deleted {}", dir.display());
    Ok(())
}

/// Moves a sample application's `.env` into Vault with env-migrate, as the operator, and shows the stripped file.
async fn migrate_sample(dir: &Path, report: &deploy::Report) -> anyhow::Result<()> {
    use std::process::Command;
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built =
        Command::new(&cargo).args(["build", "--quiet", "--package", "env-migrate"]).current_dir(&root).status()?;
    if !built.success() {
        bail!("building env-migrate failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let env_migrate = target.join("debug/env-migrate");

    // The first run writes a sample with random values; later runs restore it from env-migrate's backup, so the
    // flow runs again and shows it converges (the values are already in Vault: nothing is written twice).
    let app = dir.join("sample-app");
    std::fs::create_dir_all(&app)?;
    let first_run = !app.join(".env").exists();
    if first_run {
        // A new sample replaces whatever an earlier demo migrated: env-migrate never overwrites a value that differs.
        let operator = Client::new(approle_config(report, &deploy::Layout::local(dir).operator_dir())?)?;
        for path in ["secret/dagster/warehouse-sync/demo/database", "secret/dagster/warehouse-sync/demo/email"] {
            match operator.kv_delete_all(&KvPath::parse(path)?).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        let random = |n: usize| -> String {
            use rand::Rng;
            rand::rng().sample_iter(rand::distr::Alphanumeric).take(n).map(char::from).collect()
        };
        let sample = format!(
            "# warehouse-sync settings\nAPP_NAME=warehouse-sync\nLOG_LEVEL=info\nDATABASE_URL=postgres://etl:{}@db.internal:5432/warehouse\nSMTP_PASSWORD=\"{}\"\nSENDGRID_API_KEY=SG.{}.{}\n",
            random(24),
            random(20),
            random(22),
            random(43)
        );
        files_write_private(&app.join(".env"), &sample)?;
    }
    let layout = deploy::Layout::local(dir);
    let operator = layout.operator_dir();
    let run = |args: &[&str]| -> anyhow::Result<()> {
        println!("$ env-migrate {}", args.join(" "));
        let mut command = Command::new(&env_migrate);
        command.args(args).current_dir(&app);
        for (key, _) in std::env::vars() {
            if key.starts_with("VAULT_") || key.starts_with("BAO_") {
                command.env_remove(key);
            }
        }
        command
            .env("VAULT_ADDR", &report.address)
            .env("VAULT_ROLE_ID_FILE", operator.join("role-id"))
            .env("VAULT_SECRET_ID_FILE", operator.join("secret-id"));
        if let Some(ca) = &report.ca_file {
            command.env("VAULT_CACERT", ca);
        }
        let status = command.status().context("running env-migrate")?;
        // detect and apply answer 1 for "found secrets" / "something to do" in some modes; only errors stop us.
        if status.code().is_none_or(|c| c > 1) {
            bail!("env-migrate {} failed ({status})", args[0]);
        }
        Ok(())
    };
    println!();
    println!("Migrating a sample .env into Vault ({}):", app.display());
    if !first_run {
        run(&["rollback", ".env"])?;
    }
    run(&["detect", "."])?;
    run(&["plan", ".", "--app", "warehouse-sync", "--env", "demo", "-o", "plan.json"])?;
    run(&["apply", "plan.json", "--yes"])?;
    run(&["strip", "plan.json"])?;
    println!();
    println!("The stripped {}/.env (the original is backed up 0600 in .env-migrate/):", app.display());
    print!("{}", std::fs::read_to_string(app.join(".env"))?);
    Ok(())
}

fn approle_config(report: &deploy::Report, credentials: &Path) -> anyhow::Result<Config> {
    let mut config = Config::with_token(&report.address, SecretString::default())?;
    config.tls.ca_cert = report.ca_file.clone();
    let role_id = std::fs::read_to_string(credentials.join("role-id")).context("reading the role-id")?;
    config.auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id: role_id.trim().to_owned(),
        secret_id: SecretIdSource::File(credentials.join("secret-id")),
    });
    Ok(config)
}

/// Writes a file only its owner can read.
fn files_write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// The demo secret at `path`: written (create-only) with fresh random values on the first run, kept as it is on
/// later runs, so a re-run adds no version. Returns the values, the current version and whether it wrote.
async fn ensure_demo_secret(operator: &Client, path: &KvPath) -> anyhow::Result<(SecretMap, u64, bool)> {
    match operator.kv_read(path, None).await {
        Ok(current) if current.data.contains_key("greeting") && current.data.contains_key("warehouse_password") => {
            return Ok((current.data.clone(), current.metadata.version, false));
        }
        Ok(_) | Err(Error::NotFound { .. }) => {}
        Err(other) => return Err(other.into()),
    }
    use rand::Rng;
    let password: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect();
    let mut data = SecretMap::new();
    data.insert("greeting".into(), SecretString::from("hello from vault-core"));
    data.insert("warehouse_password".into(), SecretString::from(password));
    let written = operator.kv_write(path, &data, None).await?;
    Ok((data, written.version, true))
}

/// Writes as the operator, reads as the pipeline, and shows the pipeline's limits.
async fn exercise(dir: &Path, report: &deploy::Report) -> anyhow::Result<()> {
    let layout = deploy::Layout::local(dir);
    let operator = Client::new(approle_config(report, &layout.operator_dir())?)?;
    let pipeline_dir = layout.approle_dir.join("dagster");
    let pipeline = Client::new(approle_config(report, &pipeline_dir)?)?;

    let path = KvPath::parse("secret/dagster/demo")?;
    let (data, version, wrote) = ensure_demo_secret(&operator, &path).await.context("writing as the operator")?;
    let read = pipeline.kv_read(&path, None).await.context("reading as the pipeline")?;
    if read.data != data {
        bail!("the pipeline read back {path} and it differs from what the operator wrote");
    }
    println!();
    let verb = if wrote { "wrote" } else { "found (unchanged)" };
    println!("operator {verb} {path} (version {version}); the pipeline (AppRole dagster) read it back: values match");
    let elsewhere = KvPath::parse("secret/finance/ledger")?;
    ensure_demo_secret(&operator, &elsewhere).await?;
    match pipeline.kv_read(&elsewhere, None).await {
        Err(Error::PermissionDenied { .. }) => println!("the pipeline is denied {elsewhere}, as its policy says"),
        Ok(_) => bail!("the pipeline could read {elsewhere}: its policy is too broad"),
        Err(other) => return Err(other.into()),
    }

    let ca = report.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    println!();
    println!("The local Vault is up at {}. Point a pipeline at it with:", report.address);
    println!("  export VAULT_ADDR={} VAULT_CACERT={ca}", report.address);
    println!(
        "  export VAULT_ROLE_ID_FILE={} VAULT_SECRET_ID_FILE={}",
        pipeline_dir.join("role-id").display(),
        pipeline_dir.join("secret-id").display()
    );
    println!(
        "and an operator shell with VAULT_ROLE_ID_FILE/VAULT_SECRET_ID_FILE from {}.",
        layout.operator_dir().display()
    );
    println!("Stop it with: cargo xtask demo --stop");
    Ok(())
}
