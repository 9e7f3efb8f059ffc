//! A real OpenBao writes the audit log: KV v2 mounted, secrets written and read with the root token, a narrow
//! policy and a token holding it (one allowed read, one denied), an AppRole role whose logins read a secret.
//! Then every filter is checked for its exact count, and the other modules check their feature on the same log.
//!
//! The server also logs its own requests and vault-core's helpers (mount lookups, token lookups), so counts are
//! taken on the paths this test made (`secret/data/aptest/*`) unless the filter itself is narrow enough.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, SecretString};
use vault_testkit::TlsServer;

use crate::util::{Fixture, count, of_type, records, run};

/// The value planted in `secret/aptest/db`; the server HMACs it, and no output may show it.
pub const PLANTED: &str = "planted-warehouse-password-7d1e";
const OTHER: &str = "planted-app-key-93ab";
const UNUSED: &str = "planted-unused-value-0c42";

fn client(server: &TlsServer, token: &str) -> Client {
    let mut config = Config::with_token(server.addr(), SecretString::from(token)).expect("a valid address");
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    Client::new(config).expect("a client")
}

fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect()
}

/// The traffic. Returns (narrow token, AppRole secret_id) for the leak checks.
async fn traffic(server: &TlsServer) -> (String, String) {
    let root = vault_testkit::root_client!(server);
    vault_testkit::harness::mount_kv2(server, "secret").await;
    // Three secrets written by root (3 `create` operations); two reads of db by root.
    let db = root.kv_path("secret/aptest/db").await.expect("path");
    let app = root.kv_path("secret/aptest/app").await.expect("path");
    let unused = root.kv_path("secret/aptest/unused").await.expect("path");
    root.kv_write(&db, &secret(&[("password", PLANTED)]), None).await.expect("write db");
    root.kv_write(&app, &secret(&[("key", OTHER)]), None).await.expect("write app");
    root.kv_write(&unused, &secret(&[("value", UNUSED)]), None).await.expect("write unused");
    for _ in 0..2 {
        assert_eq!(root.kv_read(&db, None).await.expect("read db").data["password"].expose(), PLANTED);
    }

    // A narrow policy (1 policy change) and a token holding it: reads app (allowed), then db (denied).
    let policy = r#"path "secret/data/aptest/app" { capabilities = ["read"] }"#;
    root.request(Method::PUT, "sys/policies/acl/narrow", Some(&json!({ "policy": policy }))).await.expect("policy");
    let created = root
        .request(Method::POST, "auth/token/create", Some(&json!({"policies": ["narrow"], "display_name": "ci"})))
        .await
        .expect("token")
        .expect("an answer");
    let narrow_token = created["auth"]["client_token"].as_str().expect("a token").to_owned();
    let narrow = client(server, &narrow_token);
    let app_n = narrow.kv_path("secret/aptest/app").await.expect("path");
    assert_eq!(narrow.kv_read(&app_n, None).await.expect("allowed read").data["key"].expose(), OTHER);
    let db_n = narrow.kv_path("secret/aptest/db").await.expect("path");
    let denied = narrow.kv_read(&db_n, None).await.expect_err("the narrow token cannot read db");
    assert!(matches!(denied, vault_core::Error::PermissionDenied { .. }), "{denied}");

    // AppRole (1 auth change): role etl with the narrow policy; a client logs in and reads app twice.
    root.request(Method::POST, "sys/auth/approle", Some(&json!({"type": "approle"}))).await.expect("enable approle");
    root.request(Method::POST, "auth/approle/role/etl", Some(&json!({"token_policies": ["narrow"]})))
        .await
        .expect("role");
    let role_id = root.request(Method::GET, "auth/approle/role/etl/role-id", None).await.expect("role id").unwrap()
        ["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id =
        root.request(Method::POST, "auth/approle/role/etl/secret-id", None).await.expect("secret id").unwrap()["data"]
            ["secret_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut config = Config::with_token(server.addr(), SecretString::from("unused")).expect("address");
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    config.auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id,
        secret_id: SecretIdSource::Value(SecretString::from(secret_id.as_str())),
    });
    let etl = Client::new(config).expect("approle client");
    let app_e = etl.kv_path("secret/aptest/app").await.expect("path");
    for _ in 0..2 {
        assert_eq!(etl.kv_read(&app_e, None).await.expect("approle read").data["key"].expose(), OTHER);
    }
    (narrow_token, secret_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_openbao_audit_log() {
    let server = TlsServer::builder()
        .audit_file(true)
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start an OpenBao TLS server with a file audit device: {e}"));
    let (narrow_token, secret_id) = traffic(&server).await;

    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("audit.log");
    let text = std::fs::read_to_string(server.audit_log_path().expect("an audit log")).expect("the log is readable");
    std::fs::write(&log, &text).expect("copy the log");
    let value_file = dir.path().join("value");
    std::fs::write(&value_file, format!("{PLANTED}\n")).expect("value file");
    let narrow_token_file = dir.path().join("narrow-token");
    std::fs::write(&narrow_token_file, &narrow_token).expect("token file");
    let secrets = vec![
        PLANTED.to_owned(),
        OTHER.to_owned(),
        UNUSED.to_owned(),
        server.root_token().to_owned(),
        narrow_token,
        secret_id,
    ];
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the server wrote a secret in clear into its audit log");
    }
    let fixture =
        Fixture { log, dir: dir.path().to_owned(), env: server.env(), secrets, value_file, narrow_token_file };

    filters(&fixture);
    crate::report::check(&fixture);
    crate::corrupt::check(&fixture);
    crate::rotated::check(&fixture);
    crate::follow::check_real_lines(&fixture);
}

fn filters(f: &Fixture) {
    let log = f.log.to_str().unwrap();
    let mine = "secret/data/aptest/*";
    // 3 writes + 2 root reads + 2 narrow reads (one denied) + 2 AppRole reads.
    assert_eq!(count(f, &[log, "--path", mine]), 9);
    assert_eq!(count(f, &[log, "--mount", "secret"]), 9, "nothing else touched the secret/ mount");
    assert_eq!(count(f, &[log, "--mount", "secret/", "--operation", "read"]), 6);
    assert_eq!(count(f, &[log, "--path", mine, "--operation", "create"]), 3);
    assert_eq!(count(f, &[log, "--path", mine, "--operation", "create", "--operation", "read"]), 9);
    assert_eq!(count(f, &[log, "--path", mine, "--denied"]), 1);
    assert_eq!(count(f, &[log, "--path", mine, "--errors"]), 1);
    assert_eq!(count(f, &[log, "--path", "secret/data/aptest/db", "--display-name", "token-ci"]), 1);
    assert_eq!(count(f, &[log, "--path", mine, "--display-name", "token-ci"]), 2);
    assert_eq!(count(f, &[log, "--path", mine, "--role", "etl"]), 2);
    assert_eq!(
        count(f, &[log, "--path", "auth/approle/login", "--role", "etl"]),
        1,
        "the login's role is in its response"
    );
    assert_eq!(count(f, &[log, "--path", mine, "--policy", "narrow"]), 4);
    // The AppRole logins' entity: found on the login, then used to select that identity's reads.
    let (_, stdout, _) = run(f, &["filter", log, "--path", "auth/approle/login", "--format", "jsonl"]);
    let login = records(&stdout);
    let entity =
        of_type(&login, "operation")[0]["entity_id"].as_str().expect("AppRole logins have an entity").to_owned();
    assert_eq!(count(f, &[log, "--path", mine, "--entity", &entity]), 2);
    assert_eq!(count(f, &[log, "--path", mine, "--entity", "no-such-entity"]), 0);
    assert_eq!(count(f, &[log, "--path", mine, "--root"]), 5);
    assert_eq!(count(f, &[log, "--path", mine, "--remote-address", "127.0.0.1"]), 9);
    assert_eq!(count(f, &[log, "--path", mine, "--remote-address", "10.0.0.1"]), 0);
    assert_eq!(count(f, &[log, "--path", mine, "--since", "1h"]), 9);
    assert_eq!(count(f, &[log, "--path", mine, "--until", "2000-01-01"]), 0);
    assert_eq!(count(f, &[log, "--path", mine, "--type", "request"]), 9);
    assert_eq!(count(f, &[log, "--path", mine, "--type", "response"]), 9);
    assert_eq!(count(f, &[log, "--path", mine, "--no-join"]), 18);

    // The planted value, hashed by the server: its write and the two reads that returned it, nothing else.
    let value = f.value_file.to_str().unwrap();
    assert_eq!(count(f, &[log, "--value-file", value]), 3);
    assert_eq!(count(f, &[log, "--value-file", value, "--operation", "read"]), 2);
    // The narrow token: its two reads under aptest (its other requests are vault-core's lookups).
    let token = f.narrow_token_file.to_str().unwrap();
    assert_eq!(count(f, &[log, "--find-token-file", token, "--path", mine]), 2);
    assert_eq!(count(f, &[log, "--find-token-file", token, "--path", mine, "--denied"]), 1);

    // Joined operations carry both lines' numbers and the identity of the request.
    let (_, stdout, _) = run(f, &["filter", log, "--path", mine, "--denied", "--format", "jsonl"]);
    let records = records(&stdout);
    let op = of_type(&records, "operation")[0];
    assert_eq!(op["joined"], "both");
    assert_eq!(op["path"], "secret/data/aptest/db");
    assert_eq!(op["display_name"], "token-ci");
    assert_eq!(op["allowed"], false);
    assert!(op["request_line"]["line"].as_u64().unwrap() < op["response_line"]["line"].as_u64().unwrap());

    // The other formats show the same operations.
    let (code, human, _) = run(f, &["filter", log, "--path", mine]);
    assert_eq!(code, 0);
    assert_eq!(human.lines().count(), 10, "a header and 9 rows:\n{human}");
    assert!(human.lines().any(|l| l.contains("secret/data/aptest/db") && l.ends_with("denied")), "{human}");
    let (_, csv, _) = run(f, &["filter", log, "--path", mine, "--format", "csv"]);
    assert_eq!(csv.lines().count(), 10, "{csv}");
    assert!(csv.starts_with("time,response_time,id,operation,path,"));
    let (_, doc, _) = run(f, &["filter", log, "--path", mine, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("one JSON document");
    assert_eq!(doc["operations"].as_array().unwrap().len(), 9);
    assert_eq!(doc["summary"]["matched"], 9);
    assert_eq!(doc["summary"]["malformed"], 0);
}
