//! Robustness of the binary itself, without a server: a closed stdout exits 0 for every command and format; a
//! truncated `.gz` inside a rotated set is reported and the newer files are still read; and mutated command lines
//! never make it panic.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, fuzz_argv, run_with_early_close};

/// The binary as a plain `Command` (the fuzz helpers take std's), with no Vault settings from the caller.
fn audit_parse() -> Command {
    vault_testkit::harness::tool_command(env!("CARGO_BIN_EXE_audit-parse"))
}

/// `n` request/response pairs of realistic audit lines.
fn lines(n: usize, from: usize) -> String {
    let mut text = String::new();
    for i in from..from + n {
        text.push_str(&format!(
            r#"{{"time":"2026-11-28T13:02:{:02}Z","type":"request","auth":{{"display_name":"approle","policies":["dagster-secrets"],"policy_results":{{"allowed":true}},"metadata":{{"role_name":"dagster"}}}},"request":{{"id":"r{i}","operation":"read","mount_point":"secret/","path":"secret/data/app/k{i}","remote_address":"127.0.0.1"}}}}"#,
            i % 60
        ));
        text.push('\n');
        text.push_str(&format!(
            r#"{{"time":"2026-11-28T13:02:{:02}Z","type":"response","auth":{{"display_name":"approle"}},"request":{{"id":"r{i}","operation":"read","path":"secret/data/app/k{i}"}},"response":{{"data":{{"k":"hmac-sha256:00"}}}}}}"#,
            i % 60
        ));
        text.push('\n');
    }
    text
}

fn gz(text: &str) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = audit_parse();
    cmd.current_dir(dir).args(args);
    cmd
}

#[test]
fn a_closed_stdout_exits_0_for_every_command_and_format() {
    let dir = tempfile::tempdir().unwrap();
    // Big enough that every format writes more than a pipe holds.
    std::fs::write(dir.path().join("audit.log"), lines(3000, 0)).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    for n in 1..40 {
        std::fs::write(logs.join(format!("audit.log.{n}")), "").unwrap();
    }
    std::fs::write(logs.join("audit.log"), "").unwrap();
    for format in ["human", "json", "jsonl", "csv"] {
        for args in [
            vec!["filter", "audit.log", "--format", format],
            vec!["filter", "audit.log", "--no-join", "--format", format],
            vec!["report", "audit.log", "--format", format],
            vec![
                "retain",
                "--dir",
                "logs",
                "--keep-days",
                "1",
                "--compress-after-days",
                "0",
                "--dry-run",
                "--format",
                format,
            ],
        ] {
            let label = format!("audit-parse {}", args.join(" "));
            assert_broken_pipe_exits_0(|| cmd(dir.path(), &args), &label);
            // A reader that takes a little and then goes away, while the tool is still writing.
            let (code, stderr) = run_with_early_close(cmd(dir.path(), &args), 100);
            assert_eq!(code, Some(0), "{label} with an early-closing reader: {stderr}");
        }
    }
}

#[test]
fn a_truncated_gz_in_a_rotated_set_is_reported_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let oldest = gz(&lines(400, 0));
    std::fs::write(d.join("audit.log.3.gz"), &oldest).unwrap();
    // Cut the middle file's gzip stream short, as an interrupted compression leaves it.
    let middle = gz(&lines(400, 400));
    std::fs::write(d.join("audit.log.2.gz"), &middle[..middle.len() / 2]).unwrap();
    // A file that is gzip in name and magic only.
    std::fs::write(d.join("audit.log.1.gz"), [0x1f, 0x8b, 0x08, 0x00, 0xff]).unwrap();
    std::fs::write(d.join("audit.log"), lines(100, 800)).unwrap();
    for (command, extra) in [("filter", vec!["--format", "jsonl"]), ("report", vec!["--format", "jsonl"])] {
        let mut args = vec![command, d.to_str().unwrap()];
        args.extend(extra);
        let output = cmd(d, &args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(4), "{command}: a partial read is a failure: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let summary = records.last().expect("a summary even so");
        assert_eq!(summary["type"], "summary", "{command}: {stdout}");
        assert_eq!(summary["files"], 4, "{command}: every file of the set was opened");
        assert_eq!(summary["unreadable"], 2, "{command}: both broken files are counted");
        let unreadable: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| r["type"] == "malformed" && r["error"].as_str().unwrap_or("").contains("unreadable"))
            .collect();
        assert_eq!(unreadable.len(), 2, "{command}: each broken file is named: {stdout}");
        assert!(unreadable.iter().any(|r| r["file"].as_str().unwrap().ends_with("audit.log.2.gz")));
        assert!(stderr.contains("could not be read to the end"), "{stderr}");
        if command == "filter" {
            // The oldest file in full, part of the truncated one, and every line of the newest (read after it).
            let ops: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "operation").collect();
            assert!(ops.iter().any(|o| o["path"] == "secret/data/app/k899"), "the newest file was read");
            assert!(ops.iter().any(|o| o["path"] == "secret/data/app/k0"), "the oldest file was read");
            assert!(ops.len() >= 500, "{} operations", ops.len());
        } else {
            assert!(summary["operations"].as_u64().unwrap() >= 500, "{summary}");
        }
    }
}

#[test]
fn mutated_command_lines_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("audit.log"), lines(50, 0)).unwrap();
    std::fs::write(d.join("audit.log.1.gz"), gz(&lines(20, 100))).unwrap();
    std::fs::write(d.join("inventory.txt"), "secret/app/k1\nsecret/app/none\n").unwrap();
    std::fs::write(d.join("value.txt"), "v\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["filter", "audit.log"]),
            s(&["filter", "audit.log", "--path", "secret/data/app/*", "--operation", "read", "--format", "jsonl"]),
            s(&["filter", ".", "--since", "2026-11-01", "--until", "1h", "--denied", "--format", "csv"]),
            s(&["filter", "audit.log", "--type", "request", "--role", "dagster", "--max-line-bytes", "100"]),
            s(&["report", "audit.log", "audit.log.1.gz", "--inventory", "inventory.txt", "--top", "3"]),
            s(&["report", ".", "--format", "json", "--join-window", "2"]),
            s(&["retain", "--dir", ".", "--keep-days", "30", "--compress-after-days", "7", "--dry-run"]),
            s(&["filter", "-"]),
            s(&["--help"]),
        ],
        words: s(&[
            "filter",
            "report",
            "retain",
            "--path",
            "--mount",
            "--operation",
            "--type",
            "--display-name",
            "--entity",
            "--role",
            "--policy",
            "--remote-address",
            "--denied",
            "--errors",
            "--root",
            "--value-file",
            "--find-token-file",
            "--audit-device",
            "--no-join",
            "--follow",
            "--from-start",
            "--idle-exit",
            "--format",
            "-o",
            "--color",
            "--since",
            "--until",
            "--max-line-bytes",
            "--join-window",
            "--inventory",
            "--from-vault",
            "--top",
            "--dir",
            "--keep-days",
            "--compress-after-days",
            "--live",
            "--dry-run",
            "-f",
        ]),
        values: s(&[
            "audit.log",
            "audit.log.1.gz",
            "inventory.txt",
            "value.txt",
            ".",
            "out.json",
            "missing.log",
            "jsonl",
            "csv",
            "json",
            "read",
            "2026-11-28T13:02:00Z",
            "-5m",
            "0",
            "1",
            "secret/**",
            "[",
            "0.1s",
        ]),
    };
    let codes = fuzz_argv(0x5eed_a0d1, &space, 250, Duration::from_secs(3), || {
        let mut cmd = audit_parse();
        // Anything that reaches for a server finds nothing listening, fast.
        cmd.current_dir(d)
            .env("VAULT_ADDR", "http://127.0.0.1:9")
            .env("VAULT_TOKEN", "fuzz")
            .env("VAULT_MAX_RETRIES", "0");
        cmd
    });
    // The mutations reach both the parser's refusals and the tool's work.
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.keys().any(|&c| c == 0 || c == 1), "{codes:?}");
}
