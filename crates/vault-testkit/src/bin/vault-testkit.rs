//! `cargo run -p vault-testkit -- tools`: finds (installing on first use) the server binaries the Rust tests use
//! and prints them as shell assignments, `BAO_BIN='…'` and `PG_BIN_DIR='…'`, so the Python harness in
//! `integrations/dagster` runs the very same OpenBao and PostgreSQL: `eval "$(cargo run -q -p vault-testkit -- tools)"`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["tools"] {
        eprintln!("usage: vault-testkit tools   (prints BAO_BIN=… and PG_BIN_DIR=… for a shell's eval)");
        return ExitCode::from(2);
    }
    let found = vault_testkit::bao_binary().and_then(|bao| Ok((bao, vault_testkit::postgres_bin_dir()?)));
    match found {
        Ok((bao, pg)) => {
            println!("BAO_BIN={}", quote(&bao.display().to_string()));
            println!("PG_BIN_DIR={}", quote(&pg.display().to_string()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vault-testkit: error: {e}");
            ExitCode::from(3)
        }
    }
}

/// Single-quotes a value for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
