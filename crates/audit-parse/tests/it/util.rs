//! The harness: the built binary with a clean environment, and the fixture a real server's audit log makes.

use std::path::PathBuf;

use assert_cmd::Command;
use vault_testkit::harness;

/// `audit-parse` with no Vault settings from the caller's environment.
pub fn audit_parse() -> Command {
    Command::from_std(vault_testkit::harness::tool_command(assert_cmd::cargo::cargo_bin!("audit-parse")))
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
    let (stdout, stderr) = (harness::stdout(&output), harness::stderr(&output));
    harness::assert_absent(&fixture.secrets, &[("stdout", &stdout), ("stderr", &stderr)]);
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// The JSON Lines records of a run, each checked to have a `type`, the last a summary.
pub use vault_testkit::harness::jsonl_with_summary as records;
/// The records of one type.
pub use vault_testkit::harness::of_type;

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
