//! The `secret-rotate` binary: parse the command line, run the subcommand, exit with the shared code table.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    vault_core::cli::main("secret-rotate", || cli::run(&cli))
}
