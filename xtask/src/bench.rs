//! `cargo xtask bench …`: each benchmark runs our tool beside the tool a user would otherwise use, in one run,
//! and prints the ratios. Benchmarks are measurements, not pass/fail tests; targets are reported, not asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vault_core::{Client, Config, KvPath, SecretMap, SecretString};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand)]
enum Which {
    /// KV v2 reads: vault-core uncached and cached, beside Python hvac (reused session) and `bao kv get`.
    Client {
        /// Reads per client.
        #[arg(long, default_value_t = 2000)]
        reads: usize,
        /// Process spawns of `bao kv get` (each is a whole CLI start-up).
        #[arg(long, default_value_t = 100)]
        cli_reads: usize,
    },
    /// secret-scan's throughput on real code beside gitleaks, betterleaks, kingfisher and detect-secrets.
    Scan(crate::bench_scan::Args),
    /// env-migrate: 1,000 variables in 20 files migrated and verified, beside a loop of `bao kv put`.
    Migrate,
    /// audit-parse: the same filter over a 1 GB audit log (AUDIT_BENCH_MB sets the size), beside jq.
    Audit,
    /// The Dagster resource: 1,000 get_secret calls (cached and uncached) beside hvac, and `vault-env run` start-up.
    Dagster,
    /// vault-backup: a snapshot of 200,000 secrets to S3 (BACKUP_BENCH_SECRETS sets the count) beside
    /// `bao operator raft snapshot save` plus an S3 CLI upload, with peak memory.
    Backup,
    /// Reads through a three-node raft cluster (active node and standby) beside a single node, and through a
    /// standby while the leader is killed.
    Cluster(crate::bench_cluster::Args),
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if matches!(args.which, Which::Client { .. } | Which::Cluster(_)) && rerun_optimised()? {
        return Ok(());
    }
    match &args.which {
        Which::Client { reads, cli_reads } => client(*reads, *cli_reads),
        Which::Scan(args) => crate::bench_scan::run(args),
        Which::Migrate => cargo_bench("env-migrate", "migrate"),
        Which::Audit => cargo_bench("audit-parse", "audit"),
        Which::Dagster => dagster(),
        Which::Backup => cargo_bench("vault-backup", "backup"),
        Which::Cluster(args) => crate::bench_cluster::run(args),
    }
}

/// The benchmarks that time vault-core inside this process (`client`, `cluster`) must time optimised code, and
/// `cargo xtask` builds xtask without optimisation: a debug build runs the same command again from a release
/// build of itself and returns true; a release build returns false and goes on.
fn rerun_optimised() -> anyhow::Result<bool> {
    if !cfg!(debug_assertions) {
        return Ok(false);
    }
    eprintln!("bench: vault-core is timed in this process, so the benchmark runs from a release build of xtask");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .current_dir(crate::workspace_root())
        .status()
        .context("running the release build of xtask")?;
    if !status.success() {
        bail!("the benchmark's release run failed ({status})");
    }
    Ok(true)
}

/// Runs the Python benchmark of the Dagster resource against a release build of vault-env, in the venv the
/// Dagster tests use (made by `integrations/dagster/run-tests.sh`).
fn dagster() -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(&cargo)
        .args(["build", "--quiet", "--release", "--package", "vault-env"])
        .current_dir(&root)
        .status()?;
    if !built.success() {
        bail!("building vault-env failed");
    }
    let python = vault_testkit::tools_dir().join("dagster-venv/bin/python");
    if !python.exists() {
        bail!(
            "no Dagster venv at {}: run `cargo xtask test` (or integrations/dagster/run-tests.sh) once",
            python.display()
        );
    }
    let target = vault_testkit::tools_dir().parent().map(Path::to_path_buf).unwrap_or_else(|| root.join("target"));
    let status = Command::new(python)
        .arg(root.join("integrations/dagster/bench/bench_get_secret.py"))
        .env("VAULT_ENV_BIN", target.join("release/vault-env"))
        .env("BAO_BIN", vault_testkit::bao_binary()?)
        .current_dir(root.join("integrations/dagster"))
        .status()
        .context("running the Dagster benchmark")?;
    if !status.success() {
        bail!("the Dagster benchmark failed ({status})");
    }
    Ok(())
}

/// Runs a crate's own benchmark binary (`benches/NAME.rs`, `harness = false`), which measures the tool beside
/// the one users would otherwise use and prints the ratio.
fn cargo_bench(package: &str, bench: &str) -> anyhow::Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "--package", package, "--bench", bench])
        .current_dir(crate::workspace_root())
        .status()
        .with_context(|| format!("running cargo bench -p {package}"))?;
    if !status.success() {
        bail!("the {package} benchmark failed ({status})");
    }
    Ok(())
}

/// Latency percentiles of one contender.
pub(crate) struct Row {
    pub name: String,
    pub p50: Duration,
    pub p99: Duration,
    pub samples: usize,
    /// The sum of every sample: how long the contender took in all.
    pub latencies_sum: Duration,
}

impl Row {
    pub fn new(name: &str, mut latencies: Vec<Duration>) -> anyhow::Result<Self> {
        if latencies.is_empty() {
            bail!("{name}: no samples");
        }
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        let latencies_sum = latencies.iter().sum();
        Ok(Row { name: name.to_owned(), p50: at(0.50), p99: at(0.99), samples: latencies.len(), latencies_sum })
    }
}

fn client(reads: usize, cli_reads: usize) -> anyhow::Result<()> {
    let python = hvac_python().context("setting up Python with hvac")?;
    let bao = vault_testkit::bao_binary().context("finding the OpenBao binary")?;
    let rt = crate::runtime()?;
    let rows = rt.block_on(async {
        let server = vault_testkit::DevServer::start().await.context("starting an OpenBao dev server")?;
        eprintln!("bench client: OpenBao dev server at {}", server.addr());
        let config = Config::with_token(server.addr(), SecretString::from(server.root_token()))?;
        let path = KvPath::parse("secret/bench/warehouse")?;
        let mut data = SecretMap::new();
        for (k, v) in [("host", "db.internal"), ("user", "etl"), ("password", "bench-password-3f9a"), ("port", "5432")]
        {
            data.insert(k.to_owned(), SecretString::from(v));
        }
        Client::new(config.clone())?.kv_write(&path, &data, None).await?;

        let mut rows = Vec::new();
        let uncached = Client::new(config.clone())?;
        rows.push(Row::new("vault-core (uncached)", time_reads(&uncached, &path, reads).await?)?);
        let cached = Client::builder(config).cache(Duration::from_secs(3600)).build()?;
        rows.push(Row::new("vault-core (cached)", time_reads(&cached, &path, reads).await?)?);
        let stats = cached.cache().expect("cache is on").stats();
        eprintln!("bench client: cache hits {} misses {}", stats.hits, stats.misses);

        rows.push(Row::new(
            "hvac 2.x, reused session",
            hvac_reads(&python, server.addr(), server.root_token(), reads)?,
        )?);
        rows.push(Row::new(
            "bao kv get (process per read)",
            cli_reads_of(&bao, server.addr(), server.root_token(), cli_reads)?,
        )?);
        anyhow::Ok(rows)
    })?;

    print_rows(&rows);
    let base = rows[0].p50.as_secs_f64();
    let hvac = rows[2].p50.as_secs_f64();
    println!();
    println!(
        "target: uncached p50 at least 2x faster than hvac: {:.1}x {}",
        hvac / base,
        if hvac / base >= 2.0 { "(met)" } else { "(MISSED)" }
    );
    println!(
        "target: cached p50 under 1 µs: {} {}",
        fmt_duration(rows[1].p50),
        if rows[1].p50 < Duration::from_micros(1) { "(met)" } else { "(MISSED)" }
    );
    Ok(())
}

async fn time_reads(client: &Client, path: &KvPath, reads: usize) -> anyhow::Result<Vec<Duration>> {
    for _ in 0..50 {
        client.kv_read(path, None).await?;
    }
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        let start = Instant::now();
        let secret = client.kv_read(path, None).await?;
        latencies.push(start.elapsed());
        assert_eq!(secret.data.len(), 4);
    }
    Ok(latencies)
}

fn hvac_reads(python: &Path, addr: &str, token: &str, reads: usize) -> anyhow::Result<Vec<Duration>> {
    let script = std::env::temp_dir().join("vault-toolkit-hvac-reads.py");
    std::fs::write(&script, include_str!("../assets/hvac_reads.py"))?;
    let output = Command::new(python)
        .arg(&script)
        .args(["secret", "bench/warehouse", &reads.to_string()])
        .env("VAULT_ADDR", addr)
        .env("VAULT_TOKEN", token)
        .output()
        .context("running the hvac benchmark")?;
    if !output.status.success() {
        bail!("the hvac benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        latencies_ns: Vec<u64>,
    }
    let answer: Answer = serde_json::from_slice(&output.stdout).context("reading the hvac benchmark's output")?;
    Ok(answer.latencies_ns.into_iter().map(Duration::from_nanos).collect())
}

fn cli_reads_of(bao: &Path, addr: &str, token: &str, reads: usize) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        let start = Instant::now();
        let output = Command::new(bao)
            .args(["kv", "get", "-format=json", "-mount=secret", "bench/warehouse"])
            .env("BAO_ADDR", addr)
            .env("BAO_TOKEN", token)
            .env("VAULT_ADDR", addr)
            .env("VAULT_TOKEN", token)
            .output()
            .context("running bao kv get")?;
        latencies.push(start.elapsed());
        if !output.status.success() {
            bail!("bao kv get failed: {}", String::from_utf8_lossy(&output.stderr));
        }
    }
    Ok(latencies)
}

/// A Python with hvac 2.x, in a venv of its own under the tools folder.
fn hvac_python() -> anyhow::Result<PathBuf> {
    let venv = python_venv("bench-venv", &["hvac>=2,<3"], "import hvac")?;
    Ok(venv.join("bin/python"))
}

/// A venv under the tools folder with `packages` installed, unless `probe` (Python code) already runs there.
pub fn python_venv(name: &str, packages: &[&str], probe: &str) -> anyhow::Result<PathBuf> {
    let venv = vault_testkit::tools_dir().join(name);
    let python = venv.join("bin/python");
    if python.exists() && Command::new(&python).args(["-c", probe]).output().is_ok_and(|o| o.status.success()) {
        return Ok(venv);
    }
    eprintln!("bench: installing {} into {}", packages.join(" "), venv.display());
    let run = |cmd: &mut Command| -> anyhow::Result<()> {
        let output = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        if !output.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet"]).args(packages))?;
    Ok(venv)
}

fn print_rows(rows: &[Row]) {
    let base = rows[0].p50.as_secs_f64();
    println!("{:<32} {:>10} {:>10} {:>8} {:>18}", "client", "p50", "p99", "samples", "p50 vs uncached");
    for row in rows {
        println!(
            "{:<32} {:>10} {:>10} {:>8} {:>17.2}x",
            row.name,
            fmt_duration(row.p50),
            fmt_duration(row.p99),
            row.samples,
            row.p50.as_secs_f64() / base
        );
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}
