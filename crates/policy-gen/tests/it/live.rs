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

/// `--as-self` judges the caller's own token: a token carrying exactly the matrix's policy passes, one carrying
/// more fails the cases its extra policy reaches, and a wrong expectation fails as it does with minted tokens.
#[tokio::test]
async fn as_self_judges_the_callers_own_token() {
    let server = dev_server().await;
    let admin = Server::new(root_client(&server));
    let readonly = std::fs::read_to_string(repo().join("policies/readonly-secrets.hcl")).unwrap();
    let admin_text = std::fs::read_to_string(repo().join("policies/admin-secrets.hcl")).unwrap();
    admin.write_policy("readonly-secrets", &readonly).await.unwrap();
    admin.write_policy("admin-secrets", &admin_text).await.unwrap();
    // Tokens as a login gives them: the named policies plus `default`.
    let token = |policies: &[&str]| {
        let body = serde_json::json!({ "policies": policies, "ttl": "15m" });
        let admin = admin.clone();
        async move {
            let answer = admin.client().request(reqwest::Method::POST, "auth/token/create", Some(&body)).await;
            let token = answer.unwrap().unwrap()["auth"]["client_token"].as_str().unwrap().to_owned();
            vault_core::SecretString::new(token)
        }
    };
    let run = |token: vault_core::SecretString, matrix: &std::path::Path| {
        let output = policy_gen_at(&server)
            .env("VAULT_TOKEN", token.expose())
            .current_dir(repo())
            .args(["--format", "json", "test", "--live", "--as-self"])
            .arg(matrix)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&output), stderr(&output)));
        (output.status.code(), report, stderr(&output))
    };
    let matrix = repo().join("policies/tests/readonly-secrets.toml");

    let (code, report, err) = run(token(&["readonly-secrets"]).await, &matrix);
    assert_eq!(code, Some(0), "{report:#}\n{err}");
    assert!(report["cases"].as_array().unwrap().iter().any(|c| c["live"]["request"]["allowed"] == false));
    let left = admin.list_policies().await.unwrap();
    assert_eq!(left.len(), 4, "as-self writes no policies: {left:?}");

    let (code, report, err) = run(token(&["readonly-secrets", "admin-secrets"]).await, &matrix);
    assert_eq!(code, Some(1), "{report:#}\n{err}");
    let problems =
        report["cases"].as_array().unwrap().iter().flat_map(|c| c["problems"].as_array().cloned().unwrap_or_default());
    let problems: Vec<String> = problems.map(|p| p.as_str().unwrap().to_owned()).collect();
    assert!(
        problems.iter().any(|p| p.contains("the token carries other policies than the matrix names")),
        "{problems:#?}"
    );
    assert!(problems.iter().any(|p| p.contains("expected deny, the server says allow")), "{problems:#?}");

    // The token is never revoked by its own test, even when the matrix asks for that request.
    let dir = temp_files(&[
        (
            "m.toml",
            "policies = [\"p.hcl\"]\n[[case]]\npath = \"auth/token/revoke-self\"\noperation = \"update\"\nexpect = \"allow\"\nrequest = true\n",
        ),
        ("p.hcl", "path \"auth/token/revoke-self\" {\n  capabilities = [\"update\"]\n}\n"),
    ]);
    let kept = token(&["default"]).await;
    let (code, report, err) = run(kept.clone(), &dir.path().join("m.toml"));
    assert_eq!(code, Some(0), "{report:#}\n{err}");
    let config = vault_core::Config::with_token(server.addr(), kept).unwrap();
    vault_core::Client::new(config).unwrap().token_lookup_self().await.expect("the token still works");

    // --as-self needs --live.
    let output = policy_gen_at(&server).current_dir(repo()).args(["test", "--as-self"]).arg(&matrix).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
