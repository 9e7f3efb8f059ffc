//! `--path` with the logical KV v2 path users write (`secret/dagster/x`), the hint when the other API form would
//! have matched, and `--operation` as a closed set.

use crate::util::audit_parse;

/// A read of `secret/dagster/x` and a list of `secret/dagster/`, as a KV v2 mount logs them (API paths).
fn log(dir: &std::path::Path) -> std::path::PathBuf {
    let line = |kind: &str, id: &str, op: &str, path: &str| {
        let auth = r#"{"display_name":"approle","policies":["dagster"],"policy_results":{"allowed":true}}"#;
        format!(
            r#"{{"time":"2026-12-01T10:00:00Z","type":"{kind}","auth":{auth},"request":{{"id":"{id}","operation":"{op}","path":"{path}","mount_point":"secret/","remote_address":"127.0.0.1"}}{}}}"#,
            if kind == "response" { r#","response":{}"# } else { "" }
        )
    };
    let mut text = String::new();
    for (id, op, path) in [("r1", "read", "secret/data/dagster/x"), ("r2", "list", "secret/metadata/dagster/")] {
        for kind in ["request", "response"] {
            text.push_str(&line(kind, id, op, path));
            text.push('\n');
        }
    }
    let file = dir.join("audit.log");
    std::fs::write(&file, text).unwrap();
    file
}

fn filter(args: &[&str], log: &std::path::Path) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = audit_parse().args(["filter", "-f", "jsonl"]).args(args).arg(log).output().unwrap();
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["type"] == "operation")
        .collect();
    (out.status.code(), records, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_logical_kv2_path_matches_its_api_forms_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path());
    let (code, ops, stderr) = filter(&["--path", "secret/dagster/x"], &log);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["path"], "secret/data/dagster/x");
    assert!(stderr.contains("secret/dagster/x is a logical KV v2 path"), "{stderr}");
    // A glob too, and listing goes to metadata/.
    let (_, ops, _) = filter(&["--path", "secret/dagster/*"], &log);
    assert_eq!(ops.len(), 2);
    // Taken as given: nothing has that path.
    let (code, ops, _) = filter(&["--kv-mount", "", "--path", "secret/dagster/x"], &log);
    assert_eq!((code, ops.len()), (Some(1), 0));
}

#[test]
fn a_filter_that_misses_says_which_form_would_match() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path());
    // Lists go to metadata/: data/ matches nothing, and stderr says what would.
    let (code, ops, stderr) = filter(&["--path", "secret/data/dagster/*", "--operation", "list"], &log);
    assert_eq!((code, ops.len()), (Some(1), 0), "{stderr}");
    assert!(
        stderr.contains("no operation matched --path secret/data/dagster/*; 1 would match secret/metadata/dagster/*"),
        "{stderr}"
    );
    // A filter that matches says nothing of the kind.
    let (code, _, stderr) = filter(&["--path", "secret/data/dagster/*"], &log);
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("would match"), "{stderr}");
}

#[test]
fn an_unknown_operation_is_a_usage_error_with_the_valid_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path());
    let out = audit_parse().args(["filter", "--operation", "raed"]).arg(&log).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid value 'raed' for '--operation <OP>'") && stderr.contains("read, update"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let (code, ops, _) = filter(&["--operation", "read"], &log);
    assert_eq!((code, ops.len()), (Some(0), 1));
}
