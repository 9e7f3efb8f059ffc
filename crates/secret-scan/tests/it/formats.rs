//! Every output format, exit codes, and the promise that a secret never appears without --show-secrets.

use crate::util::{Tree, findings, jsonl, stderr, stdout, token};

fn tree() -> Tree {
    Tree::new(&[
        ("app/settings.py", &format!("DEBUG = True\nGITHUB = \"{}\"\n", token())),
        ("README.md", "nothing to see\n"),
    ])
}

#[test]
fn jsonl_records_are_flat_with_stable_fields() {
    let tree = tree();
    let out = tree.run(&["-f", "jsonl", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = jsonl(&out);
    assert_eq!(records.last().unwrap()["type"], "summary");
    let found = findings(&out);
    assert_eq!(found.len(), 1);
    let f = found[0].as_object().unwrap();
    let mut keys: Vec<&str> = f.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "column",
            "confidence",
            "end_column",
            "end_line",
            "fingerprint",
            "line",
            "path",
            "redacted",
            "rule_id",
            "schema",
            "type"
        ]
    );
    assert_eq!(f["schema"], "secret-scan.finding/1", "the schema and version of the record (docs/output.md)");
    assert_eq!(f["path"], "./app/settings.py");
    assert_eq!((f["line"].as_u64(), f["column"].as_u64()), (Some(2), Some(11)));
    assert_eq!(f["rule_id"], "github-token");
    assert_eq!(f["confidence"], "high");
    assert_eq!(f["redacted"], "ghp_…");
    assert_eq!(f["fingerprint"].as_str().unwrap().len(), 16);
    let summary = &records.last().unwrap();
    assert_eq!((summary["findings"].as_u64(), summary["files_scanned"].as_u64()), (Some(1), Some(2)));
}

#[test]
fn paths_are_relative_without_an_argument_and_joined_with_one() {
    let tree = tree();
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(findings(&out)[0]["path"], "app/settings.py");
    let out = tree.run(&["-f", "jsonl", "app"]);
    assert_eq!(findings(&out)[0]["path"], "app/settings.py");
    let out = tree.run(&["-f", "jsonl", "app/settings.py"]);
    assert_eq!(findings(&out)[0]["path"], "app/settings.py");
}

#[test]
fn fingerprints_do_not_depend_on_how_the_root_is_spelled() {
    let tree = tree();
    let a = findings(&tree.run(&["-f", "jsonl"]))[0]["fingerprint"].clone();
    let b = findings(&tree.run(&["-f", "jsonl", "."]))[0]["fingerprint"].clone();
    let c = findings(&tree.run(&["-f", "jsonl", tree.path().to_str().unwrap()]))[0]["fingerprint"].clone();
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn human_output_is_one_sorted_line_per_finding() {
    let tree =
        Tree::new(&[("b.env", &format!("TOKEN={}\n", token())), ("a.py", &format!("x = 1\ny = \"{}\"\n", token()))]);
    let out = tree.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "a.py:2:6   github-token  ghp_…  high\nb.env:1:7  github-token  ghp_…  high\n");
    assert!(stderr(&out).starts_with("secret-scan: 2 findings in 2 files"), "{}", stderr(&out));
}

#[test]
fn json_is_one_document() {
    let out = tree().run(&["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
    assert_eq!(doc["findings"][0]["rule_id"], "github-token");
    assert_eq!(doc["summary"]["findings"], 1);
}

#[test]
fn sarif_is_2_1_0_with_stable_partial_fingerprints() {
    let tree = tree();
    let run = || {
        let out = tree.run(&["-f", "sarif"]);
        assert_eq!(out.status.code(), Some(1));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    let doc = run();
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run0 = &doc["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "secret-scan");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.len() >= 30);
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "github-token");
    assert_eq!(rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"], "github-token");
    assert_eq!(result["level"], "error");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "app/settings.py");
    assert_eq!(location["region"]["startLine"], 2);
    assert_eq!(location["region"]["startColumn"], 11);
    let fingerprint = result["partialFingerprints"]["secretFingerprint/v1"].clone();
    assert_eq!(fingerprint.as_str().unwrap().len(), 16);
    assert_eq!(run()["runs"][0]["results"][0]["partialFingerprints"]["secretFingerprint/v1"], fingerprint);
}

#[test]
fn a_planted_secret_never_appears_without_show_secrets() {
    let tree = tree();
    let secret = token();
    for format in ["human", "json", "jsonl", "sarif"] {
        let out = tree.run(&["-f", format]);
        assert!(!stdout(&out).contains(&secret), "{format} stdout leaks");
        assert!(!stderr(&out).contains(&secret), "{format} stderr leaks");
        assert!(!stdout(&out).contains(&secret[4..12]), "{format} leaks part of the body");
    }
    let out = tree.run(&["-f", "jsonl", "--show-secrets"]);
    assert_eq!(findings(&out)[0]["secret"], secret.as_str());
    let out = tree.run(&["--show-secrets"]);
    assert!(stdout(&out).contains(&secret));
}

#[test]
fn output_file_is_written_and_stdout_stays_empty() {
    let tree = tree();
    let out = tree.run(&["-f", "jsonl", "-o", "report.jsonl", "app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let written = std::fs::read_to_string(tree.join("report.jsonl")).unwrap();
    assert!(written.lines().last().unwrap().contains("\"type\":\"summary\""));
}

#[test]
fn exit_codes() {
    let clean = Tree::new(&[("a.txt", "hello\n")]);
    assert_eq!(clean.run(&[]).status.code(), Some(0));
    assert_eq!(tree().run(&[]).status.code(), Some(1));
    assert_eq!(clean.run(&["--no-such-flag"]).status.code(), Some(2));
    let missing = clean.run(&["does-not-exist"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("does-not-exist"), "{}", stderr(&missing));
    let bad_baseline = clean.run(&["--baseline", "nope.json"]);
    assert_eq!(bad_baseline.status.code(), Some(2));
    assert!(stderr(&bad_baseline).starts_with("secret-scan: error: nope.json"), "{}", stderr(&bad_baseline));
}

#[test]
fn min_confidence_filters_findings() {
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
        "zdWIiOiJhY21lLWV0bCIsImlhdCI6MTcwMDAwMDAwMH0", "SgqbjG3uhkWKFLf6xuI5aHUQPFeNBTxaQWk8JzFalHl"
    );
    let tree = Tree::new(&[("token.txt", &format!("session {jwt}\n"))]);
    assert_eq!(tree.run(&[]).status.code(), Some(1));
    let out = tree.run(&["--min-confidence", "high", "-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(jsonl(&out).last().unwrap()["below_min_confidence"], 1);
}

#[test]
fn help_and_version() {
    let out = crate::util::bin().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Exit codes:"));
    let out = crate::util::bin().arg("--version").output().unwrap();
    assert_eq!(stdout(&out), format!("secret-scan {}\n", env!("CARGO_PKG_VERSION")));
}
