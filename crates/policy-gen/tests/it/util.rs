//! The harness: the built binary with a clean environment, temp dirs, the repository root, and servers.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root (two levels above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/policy-gen is two levels deep").to_owned()
}

/// `policy-gen` with no Vault settings from the caller's environment.
pub fn policy_gen() -> Command {
    Command::from_std(vault_testkit::harness::tool_command(assert_cmd::cargo::cargo_bin!("policy-gen")))
}

/// `policy-gen` pointed at `server`.
pub fn policy_gen_at(server: &vault_testkit::DevServer) -> Command {
    let mut cmd = policy_gen();
    cmd.envs(server.env());
    cmd
}

/// Starts a dev server, failing the test with the reason when it cannot.
pub use vault_testkit::harness::dev_server;

/// A root client for `server`.
pub fn root_client(server: &vault_testkit::DevServer) -> vault_core::Client {
    vault_testkit::root_client!(server)
}

/// Writes `files` (name, content) into a new temp dir.
pub fn temp_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("writing a temp file");
    }
    dir
}

/// stdout and stderr of a finished command, as text.
pub use vault_testkit::harness::{stderr, stdout};
