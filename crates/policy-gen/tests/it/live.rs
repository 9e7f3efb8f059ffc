//! Against a real OpenBao: the shipped matrices with `test --live` (sys/capabilities and real requests), and the
//! diff → apply → diff cycle with pruning.

use policy_gen::live::Server;

use crate::util::{dev_server, policy_gen_at, repo, root_client, stderr, stdout, temp_files};

#[tokio::test]
async fn shipped_matrices_pass_against_the_server() {
    let server = dev_server().await;
    let output = policy_gen_at(&server)
        .current_dir(repo())
        .args(["--format", "json", "test", "--live"])
        .args(crate::shipped::shipped("tests", "toml"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
    let failures: Vec<&serde_json::Value> =
        report["cases"].as_array().unwrap().iter().filter(|c| c["pass"] != true).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(output.status.success());
    let cases = report["cases"].as_array().unwrap();
    assert!(cases.iter().all(|c| c["live"]["capabilities"].is_array()), "every case was asked live");
    let probes: Vec<_> = cases.iter().filter_map(|c| c["live"].get("request")).collect();
    assert!(probes.len() >= 15, "real requests were sent: {}", probes.len());
    assert!(probes.iter().any(|p| p["allowed"] == false && p["answer"] == "403 permission denied"));
    // The run cleaned up after itself.
    let left = Server::new(root_client(&server)).list_policies().await.unwrap();
    assert_eq!(left, ["default", "root"], "test policies were removed");
}

#[tokio::test]
async fn a_wrong_expectation_is_caught_by_the_server_too() {
    let server = dev_server().await;
    let shipped = std::fs::read_to_string(repo().join("policies/readonly-secrets.hcl")).unwrap();
    let dir = temp_files(&[
        ("readonly-secrets.hcl", &shipped),
        (
            "m.toml",
            "policies = [\"readonly-secrets.hcl\"]\n[[case]]\npath = \"secret/data/x\"\noperation = \"create\"\nexpect = \"allow\"\nrequest = true\n",
        ),
    ]);
    let output = policy_gen_at(&server).args(["test", "--live"]).arg(dir.path().join("m.toml")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("expected allow, the server says deny; the real request: 403 permission denied"), "{err}");
}

#[tokio::test]
async fn diff_apply_and_prune() {
    let server = dev_server().await;
    let admin = Server::new(root_client(&server));
    let dir = temp_files(&[
        ("app.hcl", "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}\n"),
        ("ops.hcl", "path \"sys/health\" {\n  capabilities = [\"read\"]\n}\n"),
    ]);
    admin.write_policy("stale", "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n").await.unwrap();

    let run = |args: &[&str]| policy_gen_at(&server).args(args).arg(dir.path()).output().unwrap();
    let output = run(&["diff"]);
    assert_eq!(output.status.code(), Some(1), "missing policies are drift");
    assert_eq!(stdout(&output), "app: missing\n  secret/data/app/* +[read]\nops: missing\n  sys/health +[read]\n");

    let output = run(&["apply"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("app: missing → would create"));
    assert!(stderr(&output).contains("dry run"));
    assert_eq!(admin.read_policy("app").await.unwrap(), None, "a dry run writes nothing");

    run(&["apply", "--yes"]);
    assert_eq!(run(&["diff"]).status.code(), Some(0));
    assert_eq!(run(&["diff", "--prune"]).status.code(), Some(1), "`stale` is extra");

    // A comment-only edit is no drift; a new capability is.
    std::fs::write(
        dir.path().join("app.hcl"),
        "# Reads.\npath \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}\n",
    )
    .unwrap();
    assert_eq!(run(&["diff"]).status.code(), Some(0));
    std::fs::write(
        dir.path().join("app.hcl"),
        "path \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n",
    )
    .unwrap();
    let output = run(&["--format", "jsonl", "diff"]);
    let first: serde_json::Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "policy");
    assert_eq!(first["status"], "changed");
    assert_eq!(first["changes"][0]["added"], serde_json::json!(["list"]));

    let output = run(&["apply", "--yes", "--prune"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut names = admin.list_policies().await.unwrap();
    names.sort();
    assert_eq!(names, ["app", "default", "ops", "root"], "stale pruned, built-ins kept");
    assert!(admin.read_policy("app").await.unwrap().unwrap().contains("\"list\""));
    assert_eq!(run(&["diff", "--prune"]).status.code(), Some(0));
}

#[tokio::test]
async fn apply_refuses_policies_with_errors() {
    let server = dev_server().await;
    let dir = temp_files(&[("wide.hcl", "path \"*\" {\n  capabilities = [\"update\"]\n}\n")]);
    let output = policy_gen_at(&server).args(["apply", "--yes"]).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("wide.hcl:1:"), "{}", stderr(&output));
    assert_eq!(Server::new(root_client(&server)).read_policy("wide").await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_server_exits_3() {
    let dir = temp_files(&[("app.hcl", "path \"a\" {\n  capabilities = [\"read\"]\n}\n")]);
    let output = crate::util::policy_gen()
        .env("VAULT_ADDR", "http://127.0.0.1:9")
        .env("VAULT_TOKEN", "x")
        .args(["diff", "--max-retries", "0"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}

#[tokio::test]
async fn sudo_is_needed_on_root_protected_paths_offline_and_live() {
    let server = dev_server().await;
    let dir = temp_files(&[
        ("no-sudo.hcl", "path \"sys/audit\" {\n  capabilities = [\"read\"]\n}\n"),
        (
            "m.toml",
            "policies = [\"no-sudo.hcl\"]\n[[case]]\npath = \"sys/audit\"\noperation = \"read\"\nexpect = \"deny\"\nrequest = true\nnote = \"read alone is not enough there\"\n",
        ),
    ]);
    let output = policy_gen_at(&server)
        .args(["--format", "json", "test", "--live"])
        .arg(dir.path().join("m.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let case = &report["cases"][0];
    assert_eq!(case["live"]["capabilities"], serde_json::json!(["read"]));
    assert_eq!(case["live"]["request"]["answer"], "403 permission denied");
}
