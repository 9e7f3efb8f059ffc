//! The `env-migrate` binary: parse the command line, run, print an error once, exit with the shared code table.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    vault_core::cli::main("env-migrate", || cli::run(&cli::Cli::parse()))
}
