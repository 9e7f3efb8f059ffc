//! What every tool's integration tests do around the tool: run the built binary with none of the caller's Vault
//! settings, read its stdout, stderr and exit code, parse its JSON Lines, check that a planted value never shows,
//! start servers that fail the test when they cannot, and mount KV version 2 on a server.
//!
//! The kit does not depend on `vault-core` (that would be a dev-dependency cycle: vault-core's own tests use the
//! kit). What needs a `vault_core::Client` is the [`root_client!`](crate::root_client) macro, expanded in the test
//! crate where `vault_core` is a dependency, over the [`Server`] trait every server of the kit implements.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::{DevServer, TlsServer, TlsServerBuilder};

/// The prefixes of the variables a tool reads its connection from: the caller's must not leak into a test
/// (`BAO_*` would even win over the kit's `VAULT_*`).
pub const VAULT_PREFIXES: [&str; 2] = ["VAULT_", "BAO_"];

/// The binary at `path` with none of the caller's `VAULT_*`/`BAO_*` variables, `HOME` a temp folder (so no
/// `~/.vault-token` is found), and no `RUST_LOG` or `NO_COLOR`. Wrap it in `assert_cmd::Command::from_std` for
/// assertions.
pub fn tool_command(path: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(path);
    clear_env(&mut cmd, &[]);
    cmd.env("HOME", std::env::temp_dir()).env_remove("RUST_LOG").env_remove("NO_COLOR");
    cmd
}

/// Removes the caller's `VAULT_*`/`BAO_*` variables from `cmd`, and those starting with any of `more` (a tool's
/// own, such as `AWS_` or `SECRET_ROTATE_`).
pub fn clear_env(cmd: &mut Command, more: &[&str]) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if VAULT_PREFIXES.iter().chain(more).any(|prefix| key.starts_with(prefix)) {
            cmd.env_remove(key.as_ref());
        }
    }
}

/// A finished command's stdout, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's stderr, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A finished command's exit code; fails the test when a signal ended it.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or_else(|| panic!("the process was killed: {}\n{}", output.status, stderr(output)))
}

/// Parses JSON Lines, checking every line is a JSON object with a string `type` (the output contract).
pub fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value["type"].is_string(), "a JSON Lines record without a type: {line}");
            value
        })
        .collect()
}

/// [`jsonl`], also checking that the stream ends with its `summary` record.
pub fn jsonl_with_summary(text: &str) -> Vec<Value> {
    let records = jsonl(text);
    assert_eq!(records.last().map(|r| r["type"].clone()), Some(Value::from("summary")), "no final summary:\n{text}");
    records
}

/// The records of one `type`.
pub fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

/// Fails the test when any of `values` appears in any of the named `texts` (`("stdout", &out)`); the message
/// names where, never the value.
pub fn assert_absent<V: AsRef<str>>(values: &[V], texts: &[(&str, &str)]) {
    for value in values {
        let value = value.as_ref();
        for (what, text) in texts {
            assert!(!text.contains(value), "a planted secret value leaked into {what}:\n{text}");
        }
    }
}

/// Fails the test when any of `values` appears on a finished command's stdout or stderr.
pub fn assert_output_hides<V: AsRef<str>>(output: &Output, values: &[V]) {
    assert_absent(values, &[("stdout", &stdout(output)), ("stderr", &stderr(output))]);
}

/// Starts an OpenBao dev server, failing the test with the reason when it cannot.
pub async fn dev_server() -> DevServer {
    DevServer::start().await.unwrap_or_else(|e| panic!("cannot start an OpenBao dev server: {e}"))
}

/// Starts an OpenBao TLS + raft server, failing the test with the reason when it cannot.
pub async fn tls_server(builder: TlsServerBuilder) -> TlsServer {
    builder.start().await.unwrap_or_else(|e| panic!("cannot start an OpenBao TLS server: {e}"))
}

/// What a test needs to reach a server of the kit as root: its address, root token and, with TLS, its CA.
pub trait Server {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    fn addr(&self) -> &str;
    /// The root token.
    fn root_token(&self) -> &str;
    /// The CA file to trust (TLS servers only).
    fn ca_cert(&self) -> Option<&Path>;
}

impl Server for DevServer {
    fn addr(&self) -> &str {
        DevServer::addr(self)
    }
    fn root_token(&self) -> &str {
        DevServer::root_token(self)
    }
    fn ca_cert(&self) -> Option<&Path> {
        None
    }
}

impl Server for TlsServer {
    fn addr(&self) -> &str {
        TlsServer::addr(self)
    }
    fn root_token(&self) -> &str {
        TlsServer::root_token(self)
    }
    fn ca_cert(&self) -> Option<&Path> {
        Some(self.ca_cert_path())
    }
}

/// A root `vault_core::Client` for a [`Server`] (a reference to a `DevServer` or `TlsServer`), failing the test
/// when it cannot be made. A macro so the kit needs no `vault-core`: it expands in the test crate.
#[macro_export]
macro_rules! root_client {
    ($server:expr) => {{
        let server = $server;
        let mut config = ::vault_core::Config::with_token(
            $crate::harness::Server::addr(server),
            ::vault_core::SecretString::from($crate::harness::Server::root_token(server).to_owned()),
        )
        .expect("the server's address is valid");
        config.tls.ca_cert = $crate::harness::Server::ca_cert(server).map(::std::path::Path::to_owned);
        ::vault_core::Client::new(config).expect("a client for the server")
    }};
}

/// Mounts a KV version 2 engine at `mount` on `server`, as root (a TLS server starts without `secret/`; a dev
/// server has it already). Fails the test when the server refuses.
pub async fn mount_kv2(server: &impl Server, mount: &str) {
    let client = match server.ca_cert() {
        Some(ca) => crate::http::tls_client("OpenBao", &std::fs::read(ca).expect("the CA file is readable")),
        None => crate::http::plain_client("OpenBao"),
    }
    .expect("an HTTP client for the server");
    let response = client
        .post(format!("{}/v1/sys/mounts/{mount}", server.addr()))
        .header("X-Vault-Token", server.root_token())
        .json(&serde_json::json!({ "type": "kv", "options": { "version": "2" } }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot mount KV v2 at {mount}: {e}"));
    let status = response.status();
    assert!(status.is_success(), "mounting KV v2 at {mount}: {status}: {}", response.text().await.unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_checks_types_and_the_summary() {
        let records = jsonl_with_summary("{\"type\":\"a\",\"n\":1}\n{\"type\":\"summary\"}\n");
        assert_eq!(of_type(&records, "a").len(), 1);
        assert!(std::panic::catch_unwind(|| jsonl("{\"n\":1}\n")).is_err(), "a record without a type");
        assert!(std::panic::catch_unwind(|| jsonl_with_summary("{\"type\":\"a\"}\n")).is_err(), "no summary");
    }

    #[test]
    fn absent_values_pass_and_present_ones_fail() {
        assert_absent(&["s3cr3t"], &[("stdout", "nothing here")]);
        assert!(std::panic::catch_unwind(|| assert_absent(&["s3cr3t"], &[("stderr", "a s3cr3t")])).is_err());
    }

    #[test]
    fn tool_commands_carry_no_vault_settings() {
        let cmd = tool_command("true");
        let removed: Vec<_> = cmd.get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k.to_owned()).collect();
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("VAULT_") {
                assert!(removed.contains(&key), "{key:?} is cleared");
            }
        }
        assert!(cmd.get_envs().any(|(k, v)| k == "HOME" && v.is_some()));
    }
}

/// A running `vault-env serve --stdio` (stdin and stdout piped): one `get` request, one answer line.
///
/// The failover tests (vault-env's against a kit [`Cluster`](crate::Cluster), the xtask's against a deployed one)
/// send reads at a steady pace through a standby while the leader dies, and count what failed.
#[derive(Debug)]
pub struct ServeReads {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// What [`ServeReads::paced`] saw.
#[derive(Debug)]
pub struct PacedReads {
    /// Each failed read's id and its `error` (`null` when it answered a wrong value).
    pub failed: Vec<(usize, Value)>,
    /// The slowest answer.
    pub slowest: std::time::Duration,
    /// The whole run.
    pub elapsed: std::time::Duration,
}

impl ServeReads {
    /// Takes over a spawned `serve --stdio` child with piped stdin and stdout (and, to read it after, stderr).
    pub fn new(mut child: std::process::Child) -> Self {
        let stdin = child.stdin.take().expect("serve's stdin is piped");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("serve's stdout is piped"));
        ServeReads { child, stdin, stdout }
    }

    /// Sends `{"id", "op": "get", "path", "key"}` and returns the answer.
    pub fn get(&mut self, id: i64, path: &str, key: &str) -> Value {
        use std::io::{BufRead, Write};
        let request = serde_json::json!({"id": id, "op": "get", "path": path, "key": key});
        writeln!(self.stdin, "{request}").expect("write a request to serve");
        self.stdin.flush().expect("flush serve's stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read serve's answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Sends `reads` reads of `path#key`, one every `pace`, calling `before(id)` before each (to kill a node at
    /// some id); a read fails unless it answers `ok` with `expected`.
    pub fn paced(
        &mut self,
        reads: usize,
        pace: std::time::Duration,
        (path, key, expected): (&str, &str, &str),
        mut before: impl FnMut(usize),
    ) -> PacedReads {
        let (mut failed, mut slowest) = (Vec::new(), std::time::Duration::ZERO);
        let started = std::time::Instant::now();
        for id in 0..reads {
            before(id);
            let sent = std::time::Instant::now();
            let answer = self.get(id as i64, path, key);
            slowest = slowest.max(sent.elapsed());
            if answer["ok"] != true || answer["value"] != expected {
                failed.push((id, answer["error"].clone()));
            }
            std::thread::sleep(pace.saturating_sub(sent.elapsed()));
        }
        PacedReads { failed, slowest, elapsed: started.elapsed() }
    }

    /// Closes stdin (serve then ends) and returns its output (stderr, when piped).
    pub fn finish(self) -> Output {
        drop(self.stdin);
        self.child.wait_with_output().expect("serve exits")
    }
}
