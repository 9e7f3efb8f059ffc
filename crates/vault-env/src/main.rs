//! The `vault-env` binary: parse the command line, run the subcommand, print an error once, and exit with the
//! shared code table — or, for `run`, with the command's own exit code.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    vault_core::cli::init_logging();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = cli::exit_code(&error);
            if code != 0 {
                let _ = writeln!(std::io::stderr().lock(), "vault-env: error: {error:#}");
            }
            ExitCode::from(code)
        }
    }
}
