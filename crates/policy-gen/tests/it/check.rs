//! `check`: file:line findings in every format, exit codes, and malformed files.

use crate::util::{policy_gen, stderr, stdout, temp_files};

const RISKY: &str = r#"path "*" {
  capabilities = ["read", "update"]
}

path "secret/data/app" {
  capabilities = ["create"]
  allowed_parameters = { "password" = [] }
}

path "secret/*/x" {
  policy = "write"
}

path "secret/data/app/*" {
  capabilities = ["read", "list"]
}

path "secret/data/app/special" {
  capabilities = ["list", "fly"]
}
"#;

#[test]
fn human_output_names_file_line_severity_and_code() {
    let dir = temp_files(&[("risky.hcl", RISKY)]);
    let file = dir.path().join("risky.hcl");
    let output = policy_gen().arg("check").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let f = file.display();
    for expected in [
        format!("{f}:1: error[root-like]"),
        format!("{f}:5: warning[kv2-parameters]"),
        format!("{f}:10: error[glob-not-at-end]"),
        format!("{f}:10: warning[legacy-policy]"),
        format!("{f}:19: error[unknown-capability]"),
        format!("{f}:18: warning[shadowed]"),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(stderr(&output).contains("3 errors, 6 warnings in 1 files"), "{}", stderr(&output));
}

#[test]
fn jsonl_is_one_record_per_finding_and_a_summary() {
    let dir = temp_files(&[("risky.hcl", RISKY)]);
    let output = policy_gen().args(["--format", "jsonl", "check"]).arg(dir.path()).output().unwrap();
    let records: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let (last, findings) = records.split_last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["errors"], 3);
    assert!(findings.iter().all(|r| r["type"] == "finding" && r["file"].is_string() && r["line"].is_u64()));
    assert!(findings.iter().any(|r| r["code"] == "root-like" && r["severity"] == "error"));
}

#[test]
fn warnings_fail_only_when_strict() {
    let dir = temp_files(&[("legacy.hcl", "path \"secret/data/a\" {\n  policy = \"read\"\n}\n")]);
    policy_gen().arg("check").arg(dir.path()).assert().success();
    policy_gen().args(["check", "--strict"]).arg(dir.path()).assert().code(1);
}

#[test]
fn malformed_policies_exit_2_and_the_others_are_still_checked() {
    let dir = temp_files(&[("a-bad.hcl", "path \"a\" {\n  capabilities = [\"read\",\n"), ("b-risky.hcl", RISKY)]);
    let output = policy_gen().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("a-bad.hcl:2:"), "{}", stderr(&output));
    assert!(stdout(&output).contains("b-risky.hcl:1: error[root-like]"));
    // The file that does not load is an error of its own in the count, not "3 errors" as if all were checked.
    assert!(stderr(&output).contains("4 errors, 6 warnings in 2 files (1 did not load)"), "{}", stderr(&output));
    let jsonl = policy_gen().args(["--format", "jsonl", "check"]).arg(dir.path()).output().unwrap();
    assert_eq!(jsonl.status.code(), Some(2));
    let summary: serde_json::Value = serde_json::from_str(stdout(&jsonl).lines().last().unwrap()).unwrap();
    assert_eq!((summary["type"].as_str(), summary["errors"].as_u64()), (Some("summary"), Some(4)), "{summary}");
    let alone = temp_files(&[("bad.hcl", "path \"a\" {\n")]);
    let output = policy_gen().args(["--format", "json", "check"]).arg(alone.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(doc["summary"]["errors"], 1, "a run whose only file does not load has one error, not 0: {doc}");
}

#[test]
fn json_policies_are_checked_too() {
    let dir = temp_files(&[(
        "j.json",
        "{\n  \"path\": {\n    \"sys/*\": {\"capabilities\": [\"sudo\", \"update\"]}\n  }\n}\n",
    )]);
    let output = policy_gen().arg("check").arg(dir.path().join("j.json")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("j.json:3: error[root-like]"), "{}", stdout(&output));
}
