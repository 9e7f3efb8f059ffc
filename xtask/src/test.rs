//! `cargo xtask test`: the one command that installs what the tests need and runs every check CI runs.

use std::process::Command;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Skip fmt, clippy and docs; run only the tests.
    #[arg(long)]
    tests_only: bool,
    /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    eprintln!("xtask test: installing the servers the tests need (OpenBao, SeaweedFS, PostgreSQL) when missing");
    vault_testkit::install_all().context("installing the test servers")?;
    install_commands(&[
        ("shellcheck", "shellcheck"),
        ("gpg", "gnupg"),
        ("curl", "curl"),
        ("systemd-analyze", "systemd"),
        // deploy's systemd mode is tested in a Debian container booted with its own systemd.
        ("systemd-nspawn", "systemd-container"),
        ("debootstrap", "debootstrap"),
    ])?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let step = |name: &str, args: &[&str], env: &[(&str, &str)]| -> anyhow::Result<()> {
        eprintln!("xtask test: {name}: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&root)
            .status()
            .with_context(|| format!("running cargo {}", args.join(" ")))?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok(())
    };

    if !args.tests_only {
        step("format", &["fmt", "--all", "--", "--check"], &[])?;
        step("lint", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    }
    let mut test_args = vec!["test", "--workspace"];
    if !args.cargo_test_args.is_empty() {
        test_args.push("--");
        test_args.extend(args.cargo_test_args.iter().map(String::as_str));
    }
    step("tests", &test_args, &[])?;
    if args.cargo_test_args.is_empty() {
        dagster_tests(&root)?;
    }
    if !args.tests_only {
        step("docs", &["doc", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    }
    eprintln!("xtask test: all checks passed");
    Ok(())
}

/// Installs the Debian packages that provide commands the tests run (shellcheck for the scripts, gpg for the
/// key ceremony, curl for the unseal script, systemd-nspawn and debootstrap for the systemd container), when a
/// command is missing.
fn install_commands(needed: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> =
        needed.iter().filter(|(command, _)| which(command).is_none()).map(|(_, package)| *package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask test: installing {} with apt-get", missing.join(", "));
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get (the tests need Debian packages)")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(&missing);
    apt(&install)
}

fn which(command: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(command)).find(|p| p.is_file()))
}

/// The Python side of the Dagster bridge: real Dagster against a real OpenBao, through the vault-env binary the
/// test step just built. Its wheel test builds the vault-dagster wheel once with maturin in the same target dir
/// (debug profile, so cargo reuses what the test step compiled) and runs a job from a fresh venv with it.
fn dagster_tests(root: &std::path::Path) -> anyhow::Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let target = if target.is_absolute() { target } else { root.join(target) };
    let bao = vault_testkit::bao_binary().context("finding the OpenBao binary")?;
    let pg = vault_testkit::postgres_bin_dir().context("finding PostgreSQL")?;
    eprintln!("xtask test: dagster: integrations/dagster/run-tests.sh");
    let status = Command::new(root.join("integrations/dagster/run-tests.sh"))
        .env("VAULT_ENV_BIN", target.join("debug/vault-env"))
        .env("BAO_BIN", bao)
        .env("PG_BIN_DIR", pg)
        .current_dir(root)
        .status()
        .context("running the Dagster tests")?;
    if !status.success() {
        bail!("the Dagster tests failed ({status})");
    }
    Ok(())
}
