//! `from-audit` on the audit log of a real OpenBao: a role reads and lists some secrets and is denied one; the
//! minimal policy holds exactly what it did, and its current policy's unused grants are listed.

use reqwest::Method;
use serde_json::{Value, json};
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, Error, KvPath, SecretMap, SecretString};

const POLICY: &str = r#"path "secret/data/etl/*" {
  capabilities = ["read", "update"]
}

path "secret/metadata/etl/*" {
  capabilities = ["list"]
}

path "secret/data/other/*" {
  capabilities = ["read"]
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn minimal_policy_and_unused_grants_from_a_real_audit_log() {
    let server =
        vault_testkit::TlsServer::builder().audit_file(true).start().await.expect("OpenBao with audit must start");
    let mut config = Config::with_token(server.addr(), SecretString::from(server.root_token())).unwrap();
    config.tls.ca_cert = Some(server.ca_cert_path().to_path_buf());
    let root = Client::new(config.clone()).unwrap();
    vault_testkit::harness::mount_kv2(&server, "secret").await;
    let data: SecretMap = [("k".to_owned(), SecretString::from("from-audit-value-1"))].into();
    for path in ["secret/etl/a", "secret/etl/b", "secret/finance/x"] {
        root.kv_write(&KvPath::parse(path).unwrap(), &data, None).await.unwrap();
    }
    root.request(Method::PUT, "sys/policies/acl/etl", Some(&json!({ "policy": POLICY }))).await.unwrap();
    root.request(Method::POST, "sys/auth/approle", Some(&json!({ "type": "approle" }))).await.unwrap();
    root.request(Method::POST, "auth/approle/role/etl", Some(&json!({ "token_policies": ["etl"] }))).await.unwrap();
    let role_id = root.request(Method::GET, "auth/approle/role/etl/role-id", None).await.unwrap().unwrap();
    let secret_id = root.request(Method::POST, "auth/approle/role/etl/secret-id", None).await.unwrap().unwrap();

    let mut etl_config = config.clone();
    etl_config.auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id: role_id["data"]["role_id"].as_str().unwrap().into(),
        secret_id: SecretIdSource::Value(secret_id["data"]["secret_id"].as_str().unwrap().into()),
    });
    let etl = Client::new(etl_config).unwrap();
    etl.kv_read(&KvPath::parse("secret/etl/a").unwrap(), None).await.unwrap();
    etl.kv_read(&KvPath::parse("secret/etl/a").unwrap(), None).await.unwrap();
    etl.kv_read(&KvPath::parse("secret/etl/b").unwrap(), None).await.unwrap();
    etl.kv_list(&KvPath::parse("secret/etl/").unwrap()).await.unwrap();
    let denied = etl.kv_read(&KvPath::parse("secret/finance/x").unwrap(), None).await.unwrap_err();
    assert!(matches!(denied, Error::PermissionDenied { .. }), "{denied:?}");

    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("etl.hcl");
    std::fs::write(&policy_file, POLICY).unwrap();
    let log = server.audit_log_path().expect("an audit log");
    let output = assert_cmd::Command::cargo_bin("policy-gen")
        .unwrap()
        .args(["from-audit", "--role", "etl", "--policy"])
        .arg(&policy_file)
        .arg(log)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let paths = &answer["observed"]["paths"];
    let used: Vec<(String, Value, u64)> = paths
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, u)| (p.clone(), u["capabilities"].clone(), u["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        used,
        [
            // vault-core asks whether its token died after the denial: a real operation of the role.
            ("auth/token/lookup-self".to_owned(), json!(["read"]), 1),
            ("secret/data/etl/a".to_owned(), json!(["read"]), 2),
            ("secret/data/etl/b".to_owned(), json!(["read"]), 1),
            ("secret/metadata/etl/".to_owned(), json!(["list"]), 1),
        ]
    );
    assert_eq!(answer["observed"]["denied"]["secret/data/finance/x"]["read"], 1);
    let unused: Vec<(String, Value, bool)> = answer["unused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (u["pattern"].as_str().unwrap().to_owned(), u["capabilities"].clone(), u["never_used"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        unused,
        [
            ("secret/data/etl/*".to_owned(), json!(["update"]), false),
            ("secret/data/other/*".to_owned(), json!(["read"]), true)
        ]
    );

    // The generated policy is valid, canonical HCL that the server accepts.
    let hcl = answer["policy"].as_str().unwrap();
    let generated = dir.path().join("etl-minimal.hcl");
    std::fs::write(&generated, hcl).unwrap();
    let check = assert_cmd::Command::cargo_bin("policy-gen").unwrap().arg("check").arg(&generated).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    root.request(Method::PUT, "sys/policies/acl/etl-minimal", Some(&json!({ "policy": hcl }))).await.unwrap();
    assert!(!String::from_utf8_lossy(&output.stdout).contains("from-audit-value-1"));
}

#[test]
fn a_role_that_did_nothing_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "{\"type\":\"request\",\"time\":\"2026-11-28T10:00:00Z\",\"request\":{\"path\":\"sys/health\",\"operation\":\"read\"}}\n").unwrap();
    let output = assert_cmd::Command::cargo_bin("policy-gen")
        .unwrap()
        .args(["from-audit", "--role", "ghost"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no operation of role \"ghost\""));
}
