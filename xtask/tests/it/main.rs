//! `cargo xtask deploy`, `install`, `dist` and the operator scripts, end to end (deploy against a real OpenBao):
//! one integration-test binary.

mod cli;
mod cluster;
mod day_two;
mod demo;
mod deploy;
mod docs;
mod identities;
mod install;
mod join;
mod schemas;
mod scripts;
mod systemd;
mod systemd_jobs;
mod tidy;
mod units;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Every name install puts in PREFIX/bin (CONTRACT.md, "Install"): the eight tools and the deployment command
/// `vault-toolkit`, the one real binary the tools link to. Written here once, apart from the code's own list
/// (`dist::TOOLS`), so that the tests notice when the package stops shipping one.
pub const INSTALLED: [&str; 9] = [
    "vault-health",
    "secret-scan",
    "env-migrate",
    "vault-env",
    "policy-gen",
    "secret-rotate",
    "vault-backup",
    "audit-parse",
    "vault-toolkit",
];

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

/// The steps a deploy report (`--format json`) says it changed, in order. A report without a `steps` list fails
/// the test, showing the report, so that "nothing changed" is never read from a report that says nothing.
pub fn changed_steps(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    let steps = report["steps"].as_array().unwrap_or_else(|| panic!("no steps in the report: {report:#}"));
    steps.iter().filter(|s| s["outcome"] == "changed").collect()
}

/// The names of the steps a deploy report says it changed, in order.
pub fn changed(report: &serde_json::Value) -> Vec<String> {
    changed_steps(report).iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect()
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Stops a `--local DIR` deployment's server by its pid file (SIGTERM, then waits for it to exit), and the other
/// nodes of a cluster (`DIR/nodes/*`).
pub fn stop(dir: &Path) {
    if let Ok(nodes) = std::fs::read_dir(dir.join("nodes")) {
        for node in nodes.filter_map(Result::ok) {
            stop_one(&node.path());
        }
    }
    stop_one(dir);
}

fn stop_one(dir: &Path) {
    let Ok(pid) = std::fs::read_to_string(dir.join("server.pid")) else { return };
    let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
    let proc = format!("/proc/{}", pid.trim());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&proc).exists() && Instant::now() < deadline {
        if std::fs::read_to_string(format!("{proc}/stat")).unwrap_or_default().contains(") Z") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a `--local DIR` deployment's server when the test ends, however it ends.
#[derive(Debug)]
pub struct Stop(pub PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        stop(&self.0);
    }
}

/// Runs `program` as `role` of the `--local` deployment in `dir`: its AppRole files, the deployment's address and
/// CA, nothing from this shell.
pub fn as_role(dir: &Path, port: u16, role: &str, program: &Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            command.env_remove(key);
        }
    }
    let creds = dir.join("approle").join(role);
    command
        .env("VAULT_ADDR", format!("https://127.0.0.1:{port}"))
        .env("VAULT_CACERT", dir.join("tls/ca.pem"))
        .env("VAULT_ROLE_ID_FILE", creds.join("role-id"))
        .env("VAULT_SECRET_ID_FILE", creds.join("secret-id"))
        .current_dir(root());
    command
}

/// A vault-core client logged in with the AppRole credentials in `role_dir`, against the `--local` deployment in
/// `dir` listening on `port`.
pub fn approle(dir: &Path, port: u16, role_dir: &Path) -> vault_core::Client {
    use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
    let address = format!("https://127.0.0.1:{port}");
    let mut config = vault_core::Config::with_token(&address, vault_core::SecretString::default()).unwrap();
    config.tls.ca_cert = Some(dir.join("tls/ca.pem"));
    config.auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id: std::fs::read_to_string(role_dir.join("role-id")).unwrap().trim().to_owned(),
        secret_id: SecretIdSource::File(role_dir.join("secret-id")),
    });
    vault_core::Client::new(config).unwrap()
}
