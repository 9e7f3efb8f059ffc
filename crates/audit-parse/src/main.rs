//! The `audit-parse` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    vault_core::cli::main("audit-parse", || audit_parse::cli::run(&audit_parse::cli::Cli::parse()))
}
