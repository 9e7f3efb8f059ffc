//! `explain`: the JSON contract, the deciding rule with its file and line, and exit codes.

use crate::util::{policy_gen, stdout, temp_files};

const BROAD: &str = "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\npath \"secret/data/+/config\" {\n  capabilities = [\"update\"]\n}\n";
const OTHER: &str = "path \"secret/*\" {\n  capabilities = [\"create\"]\n}\n\npath \"secret/data/vault/config\" {\n  capabilities = [\"deny\"]\n}\n";

#[test]
fn json_names_the_deciding_rules_across_policies() {
    let dir = temp_files(&[("broad.hcl", BROAD), ("other.hcl", OTHER)]);
    let output = policy_gen()
        .args(["--format", "json", "explain", "--policy"])
        .arg(dir.path().join("broad.hcl"))
        .arg("--policy")
        .arg(dir.path().join("other.hcl"))
        .args(["--op", "create", "secret/data/app/token"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let x: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(x["path"], "secret/data/app/token");
    assert_eq!(x["operation"], "create");
    assert_eq!(x["allowed"], true);
    assert_eq!(x["capabilities"], serde_json::json!(["create", "list", "read"]), "same pattern: merged");
    assert_eq!(x["decided_by"]["pattern"], "secret/*");
    let rules = x["decided_by"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["policy"], "broad");
    assert_eq!(rules[0]["line"], 1);
    assert_eq!(rules[1]["policy"], "other");
}

#[test]
fn a_more_specific_glob_wins_and_the_reason_says_why() {
    let dir = temp_files(&[("broad.hcl", BROAD)]);
    let output = policy_gen()
        .args(["--format", "json", "explain", "--policy"])
        .arg(dir.path())
        .arg("secret/data/app/config")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "read is denied");
    let x: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(x["capabilities"], serde_json::json!(["update"]));
    assert_eq!(x["decided_by"]["pattern"], "secret/data/+/config");
    assert_eq!(x["outranked"][0]["pattern"], "secret/*");
    assert!(x["outranked"][0]["why"].as_str().unwrap().contains("first wildcard comes later"));
    assert!(x["reason"].as_str().unwrap().contains("other rules never add to it"), "{}", x["reason"]);
}

#[test]
fn deny_and_no_match() {
    let dir = temp_files(&[("broad.hcl", BROAD), ("other.hcl", OTHER)]);
    let run = |path: &str| {
        let output =
            policy_gen().args(["--format", "json", "explain", "--policy"]).arg(dir.path()).arg(path).output().unwrap();
        (output.status.code(), serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap())
    };
    let (code, x) = run("secret/data/vault/config");
    assert_eq!(code, Some(1));
    assert_eq!(x["capabilities"], serde_json::json!(["deny"]));
    assert_eq!(x["decided_by"]["kind"], "exact");
    let (code, x) = run("auth/token/create");
    assert_eq!(code, Some(1));
    assert_eq!(x["decided_by"], serde_json::Value::Null);
    assert_eq!(x["capabilities"], serde_json::json!(["deny"]));
}

#[test]
fn human_output_is_readable() {
    let dir = temp_files(&[("broad.hcl", BROAD)]);
    let output =
        policy_gen().args(["explain", "--policy"]).arg(dir.path()).arg("secret/data/app/config").output().unwrap();
    let text = stdout(&output);
    assert!(text.starts_with("read secret/data/app/config: denied\n"), "{text}");
    assert!(text.contains("decided by:   secret/data/+/config"));
    assert!(text.contains("broad.hcl:5 policy broad [update]"), "{text}");
}

/// The logical KV v2 path users and vault-env write (`secret/app/config`) is explained as the API path a request
/// goes to (`data/`, or `metadata/` to list), with a note saying so; `--kv-mount ''` takes the path as given.
#[test]
fn a_logical_kv2_path_is_explained_as_its_api_path() {
    let dir = temp_files(&[("broad.hcl", BROAD)]);
    let run = |args: &[&str]| {
        let output =
            policy_gen().args(["--format", "json", "explain", "--policy"]).arg(dir.path()).args(args).output().unwrap();
        let x = serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap();
        (output.status.code(), x, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, x, stderr) = run(&["--op", "update", "secret/app/config"]);
    assert_eq!(code, Some(0), "{x}");
    assert_eq!(x["path"], "secret/data/app/config");
    assert_eq!(x["decided_by"]["pattern"], "secret/data/+/config");
    assert!(
        stderr.contains("secret/app/config is a logical KV v2 path: explaining the API path secret/data/app/config")
    );
    let (_, x, _) = run(&["--op", "list", "secret/app/"]);
    assert_eq!(x["path"], "secret/metadata/app/");
    // Taken as given, and quiet about it with -q.
    let (code, x, stderr) = run(&["--kv-mount", "", "--op", "update", "secret/app/config"]);
    assert_eq!((code, x["path"].as_str()), (Some(1), Some("secret/app/config")));
    assert!(stderr.is_empty(), "{stderr}");
    let (_, _, stderr) = run(&["-q", "--op", "update", "secret/app/config"]);
    assert!(stderr.is_empty(), "{stderr}");
    // Another mount (or a path already in API form) is left alone.
    let (_, x, _) = run(&["--kv-mount", "kv", "secret/app/config"]);
    assert_eq!(x["path"], "secret/app/config");
}
