//! The `vault-backup` binary: parse the command line, run the subcommand, exit with the shared code table.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    vault_core::cli::main("vault-backup", || cli::run(cli))
}
