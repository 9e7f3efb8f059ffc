//! The harness: the built binary with a clean environment, temp dirs, the repository root, and servers.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root (two levels above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/policy-gen is two levels deep").to_owned()
}

/// `policy-gen` with no Vault settings from the caller's environment.
pub fn policy_gen() -> Command {
    let mut cmd = Command::cargo_bin("policy-gen").expect("the binary is built");
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", std::env::temp_dir()).env_remove("RUST_LOG");
    cmd
}

/// `policy-gen` pointed at `server`.
pub fn policy_gen_at(server: &vault_testkit::DevServer) -> Command {
    let mut cmd = policy_gen();
    cmd.envs(server.env());
    cmd
}

/// Starts a dev server, failing the test with the reason when it cannot.
pub async fn dev_server() -> vault_testkit::DevServer {
    vault_testkit::DevServer::start().await.unwrap_or_else(|e| panic!("cannot start an OpenBao dev server: {e}"))
}

/// A root client for `server`.
pub fn root_client(server: &vault_testkit::DevServer) -> vault_core::Client {
    let config =
        vault_core::Config::with_token(server.addr(), vault_core::SecretString::new(server.root_token().into()))
            .expect("the dev server's address is valid");
    vault_core::Client::new(config).expect("a client for the dev server")
}

/// Writes `files` (name, content) into a new temp dir.
pub fn temp_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("writing a temp file");
    }
    dir
}

/// stdout of a finished command, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr of a finished command, as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
