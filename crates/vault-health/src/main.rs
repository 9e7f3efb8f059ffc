//! The `vault-health` binary: parse the command line, run the checks, print the report, exit with the shared code
//! table (or Nagios's, with `--format nagios`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if cli.format == cli::HealthFormat::Nagios {
        return cli::run_nagios(&cli);
    }
    vault_core::cli::main("vault-health", || cli::run(&cli))
}
