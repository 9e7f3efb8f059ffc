//! `cargo xtask demo`: the whole toolkit on one machine, as a user would run it. It
//!
//! 1. installs the tools into `DIR/prefix` (`cargo xtask install --profile dev`: a debug build, cargo's progress
//!    shown), so every command it prints runs the installed binaries, not `target/`;
//! 2. deploys (`deploy --local DIR --bin-dir DIR/prefix/bin`): raft storage, TLS with its own CA, 5 key shares
//!    (threshold 3) in 0600 files, unsealed, KV v2, audit devices, the shipped policies, an AppRole identity per
//!    job, the job units rendered to `DIR/systemd/`, the root token revoked;
//! 3. writes a secret as the operator, reads it back as the pipeline, shows the pipeline denied elsewhere;
//! 4. moves a sample application's `.env` into Vault with the installed env-migrate and its default settings
//!    (detect, plan, apply, strip), as the operator;
//! 5. runs each scheduled job once through the job runner (backup, then verify; drill; health; rotation check;
//!    audit retention), each as its own identity, and says where each result is;
//! 6. prints an `export …` line and commands that work as printed after pasting it.
//!
//! A re-run converges: the tools are re-installed only where they changed, deploy changes nothing, the demo
//! secrets and the migrated values are found as they are (no new KV version), the rotation policy is not due.
//! A stopped server is started and unsealed from the share files. `--stop` stops it, `--clean` deletes it all.
//! (One machine holds every share here: this is a demonstration; a real deployment hands each share to a
//! different person.)

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Parser;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, Error, Exit, KvPath, SecretMap, SecretString};

use crate::deploy;
use crate::deploy::units::JobPaths;

/// The sample application's folder name under the demo folder: env-migrate's default template derives the app
/// name from it, so its secrets land under `secret/dagster/warehouse-sync/default/`.
pub const SAMPLE_APP: &str = "warehouse-sync";

/// The secrets env-migrate's default settings make of the sample (`secret/dagster/{app}/{env}/{group}`).
const SAMPLE_PATHS: [&str; 2] =
    ["secret/dagster/warehouse-sync/default/database", "secret/dagster/warehouse-sync/default/email"];

/// The secret the pipeline reads in step 3, and the one the rotation policy names.
const DEMO_SECRET: &str = "secret/dagster/demo";

/// The jobs the demo runs once, in order: the backup first, since the drill and the health check look at it.
const JOBS: [&str; 5] = ["vault-backup", "vault-backup-drill", "vault-health", "secret-rotate", "audit-retention"];

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the server's config, data, certificates, keys, the installed tools and the sample app.
    #[arg(long, default_value = ".demo")]
    dir: PathBuf,
    /// API port (the cluster port is the next one).
    #[arg(long, default_value_t = 18200)]
    port: u16,
    /// Stop the local server and exit.
    #[arg(long, conflicts_with = "clean")]
    stop: bool,
    /// Stop the local server and delete the demo's folder (data, keys, credentials, tools, sample app), then exit.
    #[arg(long)]
    clean: bool,
}

/// Lets the demo fill in the deployment's flags the way a user would type them.
#[derive(Parser)]
struct DeployCommand {
    #[command(flatten)]
    args: deploy::Args,
}

/// A line before each slow step, on stderr with the other progress, so a first run never sits silent.
fn progress(text: &str) {
    eprintln!("demo: {text}");
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

    let prefix = dir.join("prefix");
    let bin = prefix.join("bin");
    progress(&format!(
        "installing the tools into {} (cargo xtask install --profile dev; the first build takes a few minutes)",
        prefix.display()
    ));
    match crate::dist::install_into(&prefix, crate::dist::Profile::Dev, false)? {
        Exit::Ok => {}
        _ => bail!("installing the tools into {} failed (see above)", prefix.display()),
    }

    let listen = format!("127.0.0.1:{}", args.port);
    progress(&format!(
        "deploying a local Vault at https://{listen} under {} (first run: finds or fetches OpenBao, makes a CA, \
         initialises and unseals)",
        dir.display()
    ));
    let command = DeployCommand::parse_from([
        "deploy",
        "--local",
        &dir.display().to_string(),
        "--listen",
        &listen,
        "--bin-dir",
        &bin.display().to_string(),
    ]);
    let address = crate::runtime()?.block_on(async {
        let report = deploy::deploy(&command.args).await?;
        for step in &report.steps {
            println!("{:<8} {:<22} {}", format!("{:?}", step.outcome).to_lowercase(), step.step, step.detail);
        }
        if !report.complete {
            bail!("the deployment did not complete; see the steps above");
        }
        exercise(&dir, &report).await?;
        migrate_sample(&dir, &report, &bin).await?;
        ensure_rotation_policy(&dir)?;
        Ok::<_, anyhow::Error>(report.address)
    })?;
    let results = run_jobs(&dir, &bin)?;
    print_results(&results);
    print_usage(args, &dir, &bin, &address);
    Ok(())
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

/// A command for an installed tool, with the connection of `role` and nothing from the caller's shell.
fn as_role(bin: &Path, tool: &str, dir: &Path, address: &str, role: &str) -> Command {
    let layout = deploy::Layout::local(dir);
    let creds = layout.approle_dir.join(role);
    let mut command = Command::new(bin.join(tool));
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            command.env_remove(key);
        }
    }
    command
        .env("VAULT_ADDR", address)
        .env("VAULT_CACERT", dir.join("tls/ca.pem"))
        .env("VAULT_ROLE_ID_FILE", creds.join("role-id"))
        .env("VAULT_SECRET_ID_FILE", creds.join("secret-id"));
    command
}

/// Moves a sample application's `.env` into Vault with the installed env-migrate and its default settings, as the
/// operator, and shows the stripped file.
async fn migrate_sample(dir: &Path, report: &deploy::Report, bin: &Path) -> anyhow::Result<()> {
    // The first run writes a sample with random values; later runs restore it from env-migrate's backup, so the
    // flow runs again and shows it converges (the values are already in Vault: nothing is written twice).
    let app = dir.join(SAMPLE_APP);
    std::fs::create_dir_all(&app)?;
    let first_run = !app.join(".env").exists();
    if first_run {
        // A new sample replaces whatever an earlier demo migrated: env-migrate never overwrites a value that differs.
        let operator = Client::new(approle_config(report, &deploy::Layout::local(dir).operator_dir())?)?;
        for path in SAMPLE_PATHS {
            match operator.kv_delete_all(&KvPath::parse(path)?).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        files_write_private(&app.join(".env"), &sample_env())?;
    }
    let run = |args: &[&str]| -> anyhow::Result<()> {
        println!("  $ env-migrate {}", args.join(" "));
        let status = as_role(bin, "env-migrate", dir, &report.address, "operator")
            .args(args)
            .current_dir(&app)
            .status()
            .context("running env-migrate")?;
        // detect and apply answer 1 for "found secrets" / "something to do" in some modes; only errors stop us.
        if status.code().is_none_or(|c| c > 1) {
            bail!("env-migrate {} failed ({status})", args[0]);
        }
        Ok(())
    };
    println!();
    println!(
        "Migrating a sample app's .env into Vault with env-migrate's default settings, as the operator (in {}):",
        app.display()
    );
    if !first_run {
        run(&["rollback", ".env"])?;
    }
    run(&["detect", "."])?;
    run(&["plan", ".", "-o", "plan.json"])?;
    run(&["apply", "plan.json", "--yes"])?;
    run(&["strip", "plan.json"])?;
    println!();
    println!("The stripped {}/.env (the original is backed up 0600 in .env-migrate/):", app.display());
    print!("{}", std::fs::read_to_string(app.join(".env"))?);
    Ok(())
}

/// The sample's `.env`: settings and three secrets with fresh random values.
fn sample_env() -> String {
    let random = |n: usize| -> String {
        use rand::Rng;
        rand::rng().sample_iter(rand::distr::Alphanumeric).take(n).map(char::from).collect()
    };
    format!(
        "# warehouse-sync settings\nAPP_NAME=warehouse-sync\nLOG_LEVEL=info\nDATABASE_URL=postgres://etl:{}@db.internal:5432/warehouse\nSMTP_PASSWORD=\"{}\"\nSENDGRID_API_KEY=SG.{}.{}\n",
        random(24),
        random(20),
        random(22),
        random(43)
    )
}

/// A rotation policy for the demo secret, written once: every 90 days, so the job checks it and finds nothing
/// due (a secret never rotated counts from its creation), and a re-run writes no version.
fn ensure_rotation_policy(dir: &Path) -> anyhow::Result<()> {
    let file = JobPaths::local(dir).rotate_config_dir.join("policies.toml");
    if file.exists() {
        return Ok(());
    }
    let policy = format!(
        "# Written by `cargo xtask demo`: the secret-rotate job (vault-toolkit job run --local DIR secret-rotate)\n\
         # rotates the demo secret's warehouse_password every 90 days. See docs/vault-rotation-config.md.\n\
         [[policy]]\npath = \"{DEMO_SECRET}\"\nowner = \"demo\"\nevery = \"90d\"\nstrategy = \"generate\"\n\
         generate = {{ key = \"warehouse_password\", length = 32, charset = \"alphanumeric\" }}\n"
    );
    std::fs::write(&file, policy).with_context(|| format!("writing {}", file.display()))
}

/// What one job run gave, for the summary.
struct JobResult {
    job: &'static str,
    ok: bool,
    detail: String,
}

/// Runs each job unit once through the job runner (as systemd would on a host), then verifies the backup.
fn run_jobs(dir: &Path, bin: &Path) -> anyhow::Result<Vec<JobResult>> {
    let paths = JobPaths::local(dir);
    let layout = deploy::Layout::local(dir);
    println!();
    println!("Running each scheduled job once, as its own identity (on a systemd host their timers do this):");
    let mut results = Vec::new();
    for job in JOBS {
        progress(&format!("running the {job} job"));
        println!("  $ vault-toolkit job run --local {} {job}", dir.display());
        let unit = paths.unit_dir.join(format!("{job}.service"));
        let ok = crate::job::run_unit(&unit).with_context(|| format!("running the {job} job"))? == Exit::Ok;
        let detail = match job {
            "vault-backup" => format!(
                "saved: {}",
                newest_backup(&paths.backup_dir).map_or_else(|| "no backup found".into(), |p| p.display().to_string())
            ),
            "vault-backup-drill" => "restored the newest backup into a throw-away server and compared".into(),
            "vault-health" => {
                let prom = paths.health_dir.join("vault_health.prom");
                let green = std::fs::read_to_string(&prom)
                    .is_ok_and(|text| text.lines().any(|l| l.starts_with("vault_health_status{") && l.ends_with(" 0")));
                let state = if green { "green" } else { "NOT green" };
                format!("{state}: {} (vault_health_status 0 is ok)", prom.display())
            }
            "secret-rotate" => format!(
                "checked {} (history in {})",
                paths.rotate_config_dir.join("policies.toml").display(),
                paths.rotate_state_dir.display()
            ),
            _ => format!(
                "compressed and pruned rotated logs in {} and {}",
                layout.audit_dir.display(),
                layout.audit_secondary_dir.display()
            ),
        };
        results.push(JobResult { job, ok, detail });
        if job == "vault-backup" {
            // The unit saves and prunes; verifying is the user's check that a backup is good, offline.
            println!("  $ vault-backup verify {}", paths.backup_dir.display());
            let ok = Command::new(bin.join("vault-backup"))
                .arg("verify")
                .arg(&paths.backup_dir)
                .status()
                .context("running vault-backup verify")?
                .success();
            let detail = "the newest backup checks out offline (SHA-256, gzip, tar, SHA256SUMS)".into();
            results.push(JobResult { job: "vault-backup verify", ok, detail });
        }
    }
    if let Some(failed) = results.iter().find(|r| !r.ok) {
        print_results(&results);
        bail!("the {} job failed; see its output above", failed.job);
    }
    Ok(results)
}

/// The newest backup in a folder (names start with the time, so the greatest name is the newest).
fn newest_backup(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gz") || p.is_dir())
        .max()
}

fn print_results(results: &[JobResult]) {
    println!();
    println!("Results:");
    for r in results {
        println!("  {:<20} {:<6} {}", r.job, if r.ok { "ok" } else { "FAILED" }, r.detail);
    }
}

/// The `export` line and commands that work as printed after pasting it (a test runs each of them).
fn print_usage(args: &Args, dir: &Path, bin: &Path, address: &str) {
    let layout = deploy::Layout::local(dir);
    let pipeline = layout.approle_dir.join("dagster");
    let operator = layout.operator_dir();
    let d = dir.display();
    println!();
    println!("The local Vault is up at {address}. Paste this into a shell to use the installed tools as the pipeline:");
    println!();
    println!(
        "  export PATH={}:$PATH VAULT_ADDR={address} VAULT_CACERT={} VAULT_ROLE_ID_FILE={} VAULT_SECRET_ID_FILE={}",
        bin.display(),
        dir.join("tls/ca.pem").display(),
        pipeline.join("role-id").display(),
        pipeline.join("secret-id").display()
    );
    println!();
    println!("then, for example:");
    println!();
    let [database, _] = SAMPLE_PATHS;
    for line in [
        "vault-health".to_owned(),
        format!("vault-env list --recursive secret/dagster/{SAMPLE_APP}"),
        format!(
            "vault-env run --secret {database}=DB_ -- sh -c 'echo \"DATABASE_URL arrived: ${{#DB_DATABASE_URL}} characters\"'"
        ),
        format!("audit-parse report --role dagster {}", layout.audit_dir.display()),
        format!(
            "VAULT_ROLE_ID_FILE={} VAULT_SECRET_ID_FILE={} env-migrate detect {d}/{SAMPLE_APP}",
            operator.join("role-id").display(),
            operator.join("secret-id").display()
        ),
        format!("vault-toolkit job list --local {d}"),
        format!("vault-toolkit job run --local {d} vault-backup"),
        format!("vault-backup verify {}", JobPaths::local(dir).backup_dir.display()),
    ] {
        println!("  $ {line}");
    }
    println!();
    println!("(env-migrate runs as the operator: its credentials are in {}.)", operator.display());
    let dir_flag = if args.dir == Path::new(".demo") { String::new() } else { format!(" --dir {d}") };
    println!("Stop the server, or delete everything, from the checkout:");
    println!();
    println!("  $ cargo xtask demo{dir_flag} --stop");
    println!("  $ cargo xtask demo{dir_flag} --clean");
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

    let path = KvPath::parse(DEMO_SECRET)?;
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
    Ok(())
}
