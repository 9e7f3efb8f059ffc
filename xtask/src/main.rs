//! Project automation, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `test`: installs the servers the tests need when missing, then runs fmt, clippy, the whole test suite and
//!   the docs build: what `.ci/run` runs.
//! - `deploy`: a hardened, initialised, unsealed Vault with the root token revoked (systemd, or `--local DIR`).
//! - `demo`: the tools installed under `.demo/prefix`, the deploy flow under `.demo/`, a `.env` migrated, and
//!   every scheduled job run once, each as its own identity.
//! - `job`: run a `--local` deployment's job units (backup, drill, health, rotation, audit retention) as systemd
//!   would, and list them with their schedules.
//! - `bench`: benchmarks beside the tools users would otherwise use, reporting the ratios.
//! - `dist`: the tarball a VPS without Rust installs; `install`: the same layout into a prefix from a checkout.
//!
//! Installed, this binary is `vault-toolkit`, and the eight tools are links to it: invoked under a tool's name it
//! runs that tool (`multicall.rs`).

mod bench;
mod bench_cluster;
mod bench_scan;
mod demo;
mod deploy;
mod dist;
mod job;
mod multicall;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use vault_core::Exit;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation", version, after_help = Exit::HELP)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the tests need, then run fmt --check, clippy -D warnings, the test suite and the docs build.
    Test(test::Args),
    /// Deploy a hardened, initialised, unsealed Vault (systemd, or --local DIR), converging on re-runs.
    Deploy(Box<deploy::Args>),
    /// Install the tools under .demo/prefix, deploy a local Vault under .demo/ (or reuse it), migrate a sample
    /// .env and run every scheduled job once, each as its own identity.
    Demo(demo::Args),
    /// Run or list the scheduled jobs' units (a --local deployment's DIR/systemd) as systemd would.
    Job(job::Args),
    /// Run a benchmark beside the tools users would otherwise use.
    Bench(bench::Args),
    /// Build target/dist/vault-toolkit-VERSION-TARGET.tar.gz: the tools, units, policies, scripts, docs, install.sh.
    Dist(dist::DistArgs),
    /// Build and install the tools and their files into a prefix (default /usr/local), as the tarball's install.sh does.
    Install(dist::InstallArgs),
}

fn main() -> ExitCode {
    // The packaged build installs the tools as links to this binary: `vault-env` means vault-env's own main.
    if let Some(tool_main) = std::env::args_os().next().and_then(|arg0| multicall::tool_main(&arg0)) {
        return tool_main();
    }
    // Installed, this binary is `vault-toolkit` (`sudo vault-toolkit deploy` on a host without Rust): its help and
    // version then name it so, not `cargo xtask`.
    let installed = std::env::args_os().next().is_some_and(|arg0| Path::new(&arg0).ends_with(dist::DEPLOY_BIN));
    // Every subcommand's help ends with the exit codes, as every tool's does.
    let command = vault_core::generate::with_exit_codes(Cli::command());
    let command = if installed { command.name(dist::DEPLOY_BIN).bin_name(dist::DEPLOY_BIN) } else { command };
    // `vault-toolkit --generate complete-bash|complete-zsh|complete-fish|man`, as every tool answers it.
    if let Some(code) = vault_core::generate::intercept(&command) {
        return ExitCode::from(code);
    }
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    vault_core::cli::main("xtask", || match cli.task {
        Task::Test(args) => test::run(&args).map(|()| Exit::Ok),
        Task::Deploy(args) => deploy::run(&args),
        Task::Demo(args) => demo::run(&args).map(|()| Exit::Ok),
        Task::Job(args) => job::run(&args),
        // Benchmarks measure optimised code: a debug xtask hands over to a release build of itself.
        Task::Bench(_) if cfg!(debug_assertions) => rerun_in_release().map(|()| Exit::Ok),
        Task::Bench(args) => bench::run(&args).map(|()| Exit::Ok),
        Task::Dist(args) => dist::dist(&args),
        Task::Install(args) => dist::install(&args),
    })
}

/// Runs this same command line through a release build of xtask.
fn rerun_in_release() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .current_dir(workspace_root())
        .status()?;
    anyhow::ensure!(status.success(), "the release build of xtask failed ({status})");
    Ok(())
}

/// The workspace root (this crate lives in `<root>/xtask`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// A multi-threaded runtime for the async parts.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
