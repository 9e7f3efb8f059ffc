//! The `policy-gen` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    vault_core::cli::main("policy-gen", || policy_gen::cli::run(policy_gen::cli::Cli::parse()))
}
