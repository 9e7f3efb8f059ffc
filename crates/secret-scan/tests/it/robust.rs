//! Robustness: mutated rule files, baselines, ignore files and scanned bytes never panic; mutated command lines
//! never make the binary panic; a closed stdout exits 0 for every command and format.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use secret_scan::rules::RuleSet;
use secret_scan::scanner::Scanner;
use secret_scan::suppress::{Baseline, IgnoreList};
use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, each_mutation, fuzz_argv};

use crate::util::{token, token2};

fn bin() -> Command {
    let mut c = vault_testkit::harness::tool_command(env!("CARGO_BIN_EXE_secret-scan"));
    c.env("NO_COLOR", "1");
    c.env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "fuzz").env("VAULT_MAX_RETRIES", "0");
    c
}

/// A tree of `files` files full of findings (60 make every format write more than a pipe holds).
fn tree(files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..files {
        let text = format!("token = \"{}\"\nother = \"{}\"\n", token(), token2()).repeat(20);
        std::fs::write(dir.path().join(format!("f{i}.py")), text).unwrap();
    }
    dir
}

#[test]
fn a_closed_stdout_exits_0_for_every_command_and_format() {
    let dir = tree(60);
    let d = dir.path().to_str().unwrap().to_owned();
    for format in ["human", "json", "jsonl", "sarif"] {
        for args in [vec!["scan", d.as_str()], vec!["rules", "list"], vec![d.as_str(), "--show-secrets"]] {
            let label = format!("secret-scan --format {format} {}", args.join(" "));
            assert_broken_pipe_exits_0(
                || {
                    let mut c = bin();
                    c.args(&args).args(["--format", format]);
                    c
                },
                &label,
            );
        }
    }
}

#[test]
fn report_and_baseline_files_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree(3);
    let d = dir.path();
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("report.json");
    std::fs::write(&report, "{}").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o666)).unwrap();
    let status = bin().args(["--format", "json", "-o"]).arg(&report).arg(d).status().unwrap();
    assert_eq!(status.code(), Some(1));
    let baseline = out.path().join("baseline.json");
    let status = bin().args(["baseline", "create"]).arg(&baseline).arg(d).status().unwrap();
    assert_eq!(status.code(), Some(0));
    for file in [report, baseline] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let scanner = Scanner::builtin();
    let sample = format!(
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\ntoken: {}\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\npassword = \"hunter2hunter2\" # secret-scan:allow\n",
        token()
    );
    let seeds: [&[u8]; 1] = [sample.as_bytes()];
    each_mutation(0x5eed_5ca1, &seeds, 800, 8_000, |input| {
        for f in scanner.scan_bytes("src/app.py", input) {
            let _ = serde_json::to_string(&f.fingerprint).unwrap();
        }
    });

    // Rule files: the shipped ones, mutated.
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut rule_files: Vec<Vec<u8>> = std::fs::read_dir(&rules_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    rule_files.sort();
    rule_files.truncate(3);
    let seeds: Vec<&[u8]> = rule_files.iter().map(Vec::as_slice).collect();
    each_mutation(0x5eed_5ca2, &seeds, 40, 5_000, |input| {
        let mut set = RuleSet::builtin();
        if set.merge_str(&String::from_utf8_lossy(input), "fuzz.toml").is_ok()
            && let Ok(s) = Scanner::new(&set)
        {
            let _ = s.scan_bytes("x", b"key = \"AKIAIOSFODNN7EXAMPLE\"\n");
        }
    });

    // Baselines and ignore files, read from disk as the tool reads them.
    let findings = scanner.scan_bytes("a.py", sample.as_bytes());
    let mut baseline = Vec::new();
    Baseline::from_findings(&findings).write_to(&mut baseline).unwrap();
    let ignore =
        b"# fixtures\ntests/fixtures/\n*.snap\n!keep.snap\n0123456789abcdef # rotated\n[a-\n**/x/**\n".to_vec();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    each_mutation(0x5eed_5ca3, &[&baseline, &ignore], 1500, 5_000, |input| {
        std::fs::write(&file, input).unwrap();
        if let Ok(b) = Baseline::load(&file) {
            for f in &findings {
                let _ = b.contains(f);
            }
        }
        if let Ok(list) = IgnoreList::load(&[file.as_path()]) {
            for f in &findings {
                let _ = list.fingerprint_ignored(f);
            }
            let _ = list.path_ignored("tests/fixtures/a.py", false);
        }
    });
}

#[test]
fn mutated_command_lines_never_panic() {
    let dir = tree(3);
    let d = dir.path();
    std::fs::write(d.join(".secret-scan-ignore"), "f1.py\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["."]),
            s(&["scan", ".", "--format", "sarif", "--min-confidence", "high"]),
            s(&["--format", "jsonl", "f0.py", "f2.py", "--max-file-size", "10"]),
            s(&["rules", "check"]),
            s(&["baseline", "create", "b.json", "."]),
            s(&["--baseline", "b.json", "."]),
            s(&["--staged"]),
            s(&["--git-history", "."]),
        ],
        words: s(&[
            "scan",
            "rules",
            "list",
            "check",
            "baseline",
            "create",
            "update",
            "--format",
            "-f",
            "-o",
            "--color",
            "--baseline",
            "--ignore-file",
            "--min-confidence",
            "--max-file-size",
            "--show-secrets",
            "--staged",
            "--git-history",
            "--rules",
            "--no-builtin",
            "--vault-known",
            "--threads",
            "--hidden",
            "--no-ignore",
        ]),
        values: s(&[
            ".",
            "f0.py",
            "b.json",
            "missing",
            "sarif",
            "jsonl",
            "high",
            "low",
            "0",
            "1k",
            "99999999999999999999",
            "/dev/null",
            "rules.toml",
        ]),
    };
    let codes = fuzz_argv(0x5eed_5ca4, &space, 150, Duration::from_secs(5), || {
        let mut c = bin();
        c.current_dir(d);
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.contains_key(&1), "{codes:?}");
}
