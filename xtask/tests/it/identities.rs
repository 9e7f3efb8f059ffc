//! An identity per job, on a real deployed server: `deploy --local` provisions every role of
//! `policies/roles.toml`; each role, logged in with its own AppRole credentials, passes its policy matrix live
//! (`policy-gen test --live --as-self`), does its job (a snapshot as `backup`, the drill as `drill`, a rotation as
//! `rotate`, every migrated value read as `dagster`) and sees `vault-health` green. Plus the move of an older
//! deployment's operator credentials from `keys/operator` to `approle/operator`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::{Stop, as_role, free_port_pair, root, text, xtask};

/// The tools the jobs run, built once for this test binary (they are other packages of the workspace).
pub fn tool(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet"]).current_dir(root());
        for package in ["policy-gen", "vault-health", "vault-backup", "secret-rotate", "env-migrate", "vault-env"] {
            build.args(["--package", package]);
        }
        assert!(build.status().unwrap().success(), "building the tools");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("debug").join(name)
}

/// The role table, read the way a user would (the file deploy embeds).
fn roles() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("policies/roles.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["role"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r["policy"].as_str().unwrap().to_owned()))
        .collect()
}

fn deploy(dir: &Path, port: u16) -> (Option<i32>, Value, String) {
    let listen = format!("127.0.0.1:{port}");
    let bin = bao();
    let output =
        xtask(&["deploy", "--local", dir.to_str().unwrap(), "--listen", &listen, "--bin", &bin, "--format", "json"]);
    (output.status.code(), serde_json::from_slice(&output.stdout).unwrap_or(Value::Null), text(&output))
}

fn bao() -> String {
    vault_testkit::bao_binary().expect("the OpenBao binary must be available").display().to_string()
}

/// The steps the report says it changed, each as "step: detail".
fn changed_with_detail(report: &Value) -> Vec<String> {
    let detail = |s: &&Value| format!("{}: {}", s["step"].as_str().unwrap(), s["detail"].as_str().unwrap());
    crate::changed_steps(report).iter().map(detail).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

#[test]
fn every_identity_does_its_job_and_nothing_more() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("vault");
    let port = free_port_pair();
    let (code, report, output) = deploy(&dir, port);
    let _deployment = Stop(dir.clone());
    assert_eq!(code, Some(0), "{output}");
    let roles = roles();
    assert_eq!(roles.len(), 6);

    // Every role has its credentials, 0400 in a 0700 folder, and nothing secret reached the report.
    for (role, _) in &roles {
        let creds = dir.join("approle").join(role);
        assert_eq!(mode(&creds), 0o700, "{role}");
        for file in ["role-id", "secret-id"] {
            assert_eq!(mode(&creds.join(file)), 0o400, "{role}/{file}");
        }
        let secret_id = std::fs::read_to_string(creds.join("secret-id")).unwrap();
        assert!(!output.contains(secret_id.trim()), "{role}'s secret-id reached the output");
    }
    assert!(!dir.join("keys/operator").exists(), "the operator's credentials live beside the others");
    assert!(changed_with_detail(&report).iter().any(|c| c.starts_with("canary:")), "{report:#}");

    // A re-run changes nothing (it logs in as the operator from approle/operator).
    let (code, report, output) = deploy(&dir, port);
    assert_eq!(code, Some(0), "{output}");
    assert!(changed_with_detail(&report).is_empty(), "converged: {report:#}");

    // An older deployment kept the operator's credentials in keys/operator: it logs in with them, moves them,
    // and converges.
    let secret_id = std::fs::read_to_string(dir.join("approle/operator/secret-id")).unwrap();
    std::fs::rename(dir.join("approle/operator"), dir.join("keys/operator")).unwrap();
    let (code, report, output) = deploy(&dir, port);
    assert_eq!(code, Some(0), "{output}");
    let moved = changed_with_detail(&report);
    assert_eq!(moved.len(), 1, "only the move: {report:#}");
    assert!(moved[0].contains("moved the credentials"), "{moved:?}");
    assert!(!dir.join("keys/operator").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("approle/operator/secret-id")).unwrap(),
        secret_id,
        "kept, not reissued"
    );
    assert_eq!(mode(&dir.join("approle/operator/secret-id")), 0o400);
    let (code, report, output) = deploy(&dir, port);
    assert_eq!(code, Some(0), "{output}");
    assert!(changed_with_detail(&report).is_empty(), "converged after the move: {report:#}");

    // Each role's token carries its own policy and nothing else: no `default` (least privilege, and a faster
    // ACL check on every request).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (role, policy) in &roles {
        let client = crate::approle(&dir, port, &dir.join("approle").join(role));
        let info = runtime.block_on(client.token_lookup_self()).unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(info.policies, vec![policy.clone()], "{role}'s token holds only its policy");
        runtime.block_on(client.revoke_self()).unwrap();
    }

    // Each role's own token passes its matrix live: it can do its job and nothing more.
    for (role, policy) in &roles {
        let matrix = format!("policies/tests/{policy}.toml");
        let out = run(as_role(&dir, port, role, &tool("policy-gen")).args([
            "--format",
            "json",
            "test",
            "--live",
            "--as-self",
            &matrix,
        ]));
        let result: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let failures: Vec<&Value> =
            result["cases"].as_array().map(|c| c.iter().filter(|c| c["pass"] != true).collect()).unwrap_or_default();
        assert!(failures.is_empty() && out.status.success(), "{role}: {failures:#?}\n{}", text(&out));
        assert!(result["summary"]["cases"].as_u64().unwrap() >= 15, "{role}: a real matrix");
    }

    // vault-health is green with every identity, in every format; what an identity may not check is skipped
    // with the reason, never unknown.
    for (role, _) in &roles {
        let health = || {
            let mut c = as_role(&dir, port, role, &tool("vault-health"));
            c.args(["--canary", "secret/health/canary"]);
            c
        };
        let out = run(health().args(["--format", "json"]));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(out.status.code(), Some(0), "{role}: {report:#}\n{}", text(&out));
        assert_eq!(report["status"], "ok", "{role}: {report:#}");
        let status = |name: &str| {
            let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
            (check["status"].as_str().unwrap().to_owned(), check["summary"].as_str().unwrap().to_owned())
        };
        for check in report["checks"].as_array().unwrap() {
            assert!(["ok", "skipped"].contains(&check["status"].as_str().unwrap()), "{role}: {check:#}");
        }
        assert_eq!(status("token").0, "ok", "{role}");
        if role == "health" || role == "operator" {
            assert_eq!(status("audit").0, "ok", "{role} lists audit devices");
            assert_eq!(status("canary").0, "ok", "{role} reads the canary");
        } else {
            let (audit, why) = status("audit");
            assert!(audit == "skipped" && why.contains("may not list audit devices"), "{role}: {why}");
            let (canary, why) = status("canary");
            assert!(canary == "skipped" && why.contains("may not read secret/health/canary"), "{role}: {why}");
        }
        let nagios = run(health().args(["--format", "nagios"]));
        let line = String::from_utf8_lossy(&nagios.stdout).into_owned();
        assert!(nagios.status.code() == Some(0) && line.starts_with("VAULT OK"), "{role}: {line}");
        for format in ["human", "jsonl", "prometheus"] {
            let out = run(health().args(["--format", format]));
            assert_eq!(out.status.code(), Some(0), "{role} --format {format}: {}", text(&out));
        }
        let jsonl = run(health().args(["--format", "jsonl"]));
        for line in String::from_utf8_lossy(&jsonl.stdout).lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert!(["ok", "skipped"].contains(&record["status"].as_str().unwrap()), "{role}: {line}");
        }
    }

    // backup: a snapshot, saved and verified; the pipeline may not take one.
    let backups = temp.path().join("backups");
    let out = run(as_role(&dir, port, "backup", &tool("vault-backup")).arg("save").arg("--to").arg(&backups));
    assert_eq!(out.status.code(), Some(0), "backup save: {}", text(&out));
    let out = run(as_role(&dir, port, "backup", &tool("vault-backup")).arg("verify").arg(&backups));
    assert_eq!(out.status.code(), Some(0), "backup verify: {}", text(&out));
    let refused = temp.path().join("refused");
    let out = run(as_role(&dir, port, "dagster", &tool("vault-backup")).arg("save").arg("--to").arg(&refused));
    assert_ne!(out.status.code(), Some(0), "the pipeline may not take a snapshot: {}", text(&out));
    assert!(text(&out).contains("permission denied") || text(&out).contains("denied"), "{}", text(&out));

    // dagster reads every value env-migrate wrote with its default settings (as the operator).
    let app = temp.path().join("shop");
    std::fs::create_dir(&app).unwrap();
    let values = [
        ("DB_PASSWORD", "pw-identities-7f3a9c2e51"),
        ("GH_TOKEN", "ghp_4Zt9wQ2mX7rL0pK5sV8nB3cF6hJ1dG9aE2yU"),
        ("STRIPE_SECRET_KEY", "sk_live_51Hq8RzK2eYv9TmWc3Lp7XnA0bD"),
    ];
    let env: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(app.join(".env"), format!("LOG_LEVEL=info\n{env}")).unwrap();
    let migrate = |args: &[&str]| {
        let out = run(as_role(&dir, port, "operator", &tool("env-migrate")).args(args).current_dir(&app));
        assert!(out.status.code().is_some_and(|c| c <= 1), "env-migrate {args:?}: {}", text(&out));
    };
    migrate(&["plan", ".", "-o", "plan.json"]);
    migrate(&["apply", "plan.json", "--yes"]);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(app.join("plan.json")).unwrap()).unwrap();
    let entries = plan["entries"].as_array().unwrap();
    assert!(entries.len() >= values.len(), "{plan:#}");
    for (key, value) in values {
        let entry = entries.iter().find(|e| e["key"] == key).unwrap_or_else(|| panic!("{key} is planned"));
        let path = entry["target"]["path"].as_str().unwrap();
        assert!(path.starts_with("secret/dagster/shop/"), "the default template writes where dagster reads: {path}");
        let out = run(as_role(&dir, port, "dagster", &tool("vault-env")).args([
            "get",
            path,
            "--field",
            entry["target"]["key"].as_str().unwrap(),
        ]));
        assert_eq!(out.status.code(), Some(0), "dagster reads {path}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), value, "{path}");
    }

    // rotate: rotates a pipeline secret (a new version) and may not touch another folder.
    let policy = temp.path().join("rotation.toml");
    let target = entries.iter().find(|e| e["key"] == "DB_PASSWORD").unwrap()["target"]["path"].as_str().unwrap();
    std::fs::write(
        &policy,
        format!(
            "[[policy]]\npath = \"{target}\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
             generate = {{ key = \"DB_PASSWORD\", length = 32, charset = \"alphanumeric\" }}\n"
        ),
    )
    .unwrap();
    let state = temp.path().join("rotate-state");
    let out = run(as_role(&dir, port, "rotate", &tool("secret-rotate"))
        .arg("--policy")
        .arg(&policy)
        .arg("--state-dir")
        .arg(&state)
        .args(["--format", "json", "run", target]));
    assert_eq!(out.status.code(), Some(0), "secret-rotate run: {}", text(&out));
    let out = run(as_role(&dir, port, "dagster", &tool("vault-env")).args(["get", target, "--field", "DB_PASSWORD"]));
    let rotated = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    assert!(rotated.len() == 32 && rotated != values[0].1, "the pipeline reads the rotated value");

    // drill: restores the newest backup into a throwaway server and compares it with the live one. The
    // migrated secrets came after that backup, so take a fresh one first.
    let out = run(as_role(&dir, port, "backup", &tool("vault-backup")).arg("save").arg("--to").arg(&backups));
    assert_eq!(out.status.code(), Some(0), "backup save: {}", text(&out));
    let mut drill = as_role(&dir, port, "drill", &tool("vault-backup"));
    drill.args(["--format", "json", "drill", "--bin", &bao()]).arg("--from").arg(&backups);
    for n in 1..=3 {
        drill.arg("--key-file").arg(dir.join(format!("keys/unseal-key-{n}")));
    }
    let out = run(&mut drill);
    assert_eq!(out.status.code(), Some(0), "drill: {}", text(&out));
}
