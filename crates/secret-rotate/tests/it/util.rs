//! The harness: the built binary with a clean environment, a scratch folder holding the policy file and the
//! state folder, servers that fail the test when they cannot start, and helpers to read secrets and history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use vault_core::{Client, KvPath, SecretMap, SecretString};
use vault_testkit::{DevServer, harness};

/// Starts a dev server, failing the test with the reason when it cannot.
pub use vault_testkit::harness::dev_server;

/// A root client for a dev server.
pub fn root_client(server: &DevServer) -> Client {
    vault_testkit::root_client!(server)
}

/// A scratch folder with `policies.toml` and `state/`, and the server's environment.
#[derive(Debug)]
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vault: Vec<(String, String)>,
}

impl Env {
    pub fn new(server: &DevServer, policies: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("policies.toml"), policies).expect("write the policy file");
        Env { dir, vault: server.env() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn history_file(&self) -> PathBuf {
        self.path("state/history.jsonl")
    }

    /// `secret-rotate` with only this test's settings: no `VAULT_*`/`BAO_*`/`SECRET_ROTATE_*` from the caller.
    pub fn cmd(&self) -> Command {
        let mut std = harness::tool_command(assert_cmd::cargo::cargo_bin!("secret-rotate"));
        harness::clear_env(&mut std, &["SECRET_ROTATE_"]);
        let mut cmd = Command::from_std(std);
        cmd.env("HOME", self.dir.path());
        cmd.envs(self.vault.clone());
        cmd.arg("--policy").arg(self.path("policies.toml")).arg("--state-dir").arg(self.path("state"));
        cmd
    }

    /// Runs with `args` and returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("secret-rotate runs")
    }

    /// The history file's records.
    pub fn history(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.history_file()) {
            Ok(text) => jsonl(&text),
            Err(_) => Vec::new(),
        }
    }

    /// The `event` of every history record for `path`, in order.
    pub fn events(&self, path: &str) -> Vec<String> {
        self.history().iter().filter(|r| r["path"] == path).map(|r| r["event"].as_str().unwrap().to_owned()).collect()
    }
}

/// stdout and stderr as text.
pub use vault_testkit::harness::{stderr, stdout};

/// The exit code (`None` when killed by a signal).
pub fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// Parses JSON Lines output, checking that every line is an object with a `type`.
pub use vault_testkit::harness::jsonl;

/// The records of type `kind` in JSON Lines stdout; checks that the stream ends with a summary.
pub fn records(output: &Output, kind: &str) -> Vec<Value> {
    let all = harness::jsonl_with_summary(&stdout(output));
    all.into_iter().filter(|r| r["type"] == kind).collect()
}

/// The final summary record.
pub fn summary(output: &Output) -> Value {
    jsonl(&stdout(output)).pop().expect("a summary")
}

/// Asserts that no output contains `secret`.
pub fn assert_absent(output: &Output, secret: &str) {
    harness::assert_output_hides(output, &[secret]);
}

/// Writes a secret.
pub async fn write(client: &Client, path: &str, data: &[(&str, &str)]) -> u64 {
    let p = client.kv_path(path).await.unwrap();
    let map: SecretMap = data.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned()))).collect();
    client.kv_write(&p, &map, None).await.unwrap().version
}

/// Reads a secret's latest (or a given) version as plain strings, with its version number.
pub async fn read(client: &Client, path: &str, version: Option<u64>) -> (BTreeMap<String, String>, u64) {
    let p = client.kv_path(path).await.unwrap();
    let s = client.kv_read(&p, version).await.unwrap();
    (s.data.iter().map(|(k, v)| (k.clone(), v.expose().to_owned())).collect(), s.metadata.version)
}

/// A secret's `custom_metadata`.
pub async fn custom(client: &Client, path: &str) -> BTreeMap<String, String> {
    let p: KvPath = client.kv_path(path).await.unwrap();
    client.kv_metadata(&p).await.unwrap().custom_metadata
}

/// Writes an executable script into the scratch folder.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
