//! `cargo xtask deploy`, `install`, `dist` and the operator scripts, end to end (deploy against a real OpenBao):
//! one integration-test binary.

mod deploy;
mod identities;
mod install;
mod scripts;
mod systemd;
mod systemd_jobs;
mod units;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A loopback port whose successor is free too (raft's cluster port).
pub fn free_port_pair() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 65535 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Runs the xtask binary with `args`, without any Vault variables from the developer's shell.
pub fn xtask(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            command.env_remove(key);
        }
    }
    command.output().expect("running xtask")
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}
