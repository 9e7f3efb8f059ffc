//! The harness: the built binary with a clean environment, and the fixture a real server's audit log makes.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

/// `audit-parse` with no Vault settings from the caller's environment.
pub fn audit_parse() -> Command {
    let mut cmd = Command::cargo_bin("audit-parse").expect("the binary is built");
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", std::env::temp_dir()).env_remove("RUST_LOG").env_remove("NO_COLOR");
    cmd
}

/// What the live test produced: the log and the secrets that must never show up in output.
#[derive(Debug)]
pub struct Fixture {
    /// A copy of the server's audit log, taken after all the traffic.
    pub log: PathBuf,
    /// The folder holding the copy (and files the checks write).
    pub dir: PathBuf,
    /// Environment for the binary to reach the server (address, CA, root token).
    pub env: Vec<(String, String)>,
    /// Values and tokens that must never appear in any output.
    pub secrets: Vec<String>,
    /// A file holding the planted secret value.
    pub value_file: PathBuf,
    /// A file holding the narrow token.
    pub narrow_token_file: PathBuf,
}

/// Runs the binary and returns (exit code, stdout, stderr), checking no secret leaked into either stream.
pub fn run(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let output = audit_parse().envs(fixture.env.iter().cloned()).args(args).output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for secret in &fixture.secrets {
        assert!(!stdout.contains(secret.as_str()), "a secret leaked into stdout of {args:?}");
        assert!(!stderr.contains(secret.as_str()), "a secret leaked into stderr of {args:?}");
    }
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// The JSON Lines records of a run, checked to end with a summary.
pub fn records(stdout: &str) -> Vec<Value> {
    let records: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert_eq!(records.last().map(|r| r["type"].clone()), Some(Value::from("summary")), "ends with a summary");
    records
}

/// The records of one type.
pub fn of_type<'a>(records: &'a [Value], kind: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["type"] == kind).collect()
}

/// Runs `filter --format jsonl` with `args` and returns the matched operations' count, checked against the summary.
pub fn count(fixture: &Fixture, args: &[&str]) -> usize {
    let mut full = vec!["filter", "--format", "jsonl"];
    full.extend_from_slice(args);
    let (code, stdout, stderr) = run(fixture, &full);
    let records = records(&stdout);
    let ops = of_type(&records, "operation").len();
    let summary = records.last().expect("a summary");
    assert_eq!(summary["matched"], ops, "the summary counts what was printed");
    assert_eq!(code, if ops == 0 { 1 } else { 0 }, "exit code of {args:?}: {stderr}");
    ops
}
