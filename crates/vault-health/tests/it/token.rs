//! The caller's token: judged against its creation TTL by default and against given thresholds literally, a
//! dead token is critical, no token skips what needs one, and an
//! AppRole login made for the run is revoked after it.

use reqwest::Method;
use serde_json::json;

use crate::util::{
    assert_no_secret, check, code, dev_server, json, root_client, statuses, vault_health, vault_health_with,
};

#[tokio::test]
async fn a_token_is_judged_against_its_creation_ttl_unless_told() {
    let server = dev_server().await;
    let client = root_client(&server);
    let answer = client
        .request(Method::POST, "auth/token/create", Some(&json!({"ttl": "30m", "policies": ["default"]})))
        .await
        .unwrap()
        .unwrap();
    let token = answer["auth"]["client_token"].as_str().unwrap().to_owned();
    let env = vec![("VAULT_ADDR".to_owned(), server.addr().to_owned()), ("VAULT_TOKEN".to_owned(), token.clone())];

    // By default a fresh token is judged against the TTL it was created with: 30 minutes left of 30 is fine.
    let output = vault_health_with(env.clone()).args(["--format", "json"]).output().unwrap();
    assert_no_secret(&output, &token);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let checked = check(&report, "token");
    assert_eq!(checked["status"], "ok", "{checked:#}");
    assert_eq!(checked["details"]["creation_ttl_seconds"], 1800);
    assert_eq!(checked["metrics"][0]["limits"], json!({"warn": 450.0, "crit": 180.0, "alert_when": "below"}));
    // The default policy may not read sys/audit: the check is skipped with the reason, never unknown.
    let audit = check(&report, "audit");
    assert_eq!(audit["status"], "skipped");
    assert!(audit["summary"].as_str().unwrap().contains("needs sudo"), "{audit:#}");
    assert_eq!(code(&output), 0, "{report:#}");

    // A threshold given on the command line is taken literally.
    let output = vault_health_with(env.clone()).args(["--format", "json", "--token-ttl-warn", "1h"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let checked = check(&report, "token");
    assert_eq!(checked["status"], "warn", "{checked:#}");
    let summary = checked["summary"].as_str().unwrap();
    assert!(summary.starts_with("expires in 29m") || summary.starts_with("expires in 30m00s"), "{checked:#}");
    assert!(checked["summary"].as_str().unwrap().ends_with("(renewable), under 1h00m"), "{checked:#}");
    let details = &checked["details"];
    assert!((1700..=1800).contains(&details["ttl_seconds"].as_u64().unwrap()), "{details:#}");
    assert_eq!((details["renewable"].as_bool(), &details["policies"]), (Some(true), &json!(["default"])));
    assert_eq!(checked["metrics"][0]["limits"], json!({"warn": 3600.0, "crit": 300.0, "alert_when": "below"}));

    let (report, _) = json(vault_health_with(env.clone()).args(["--token-ttl-warn", "10m"]));
    assert_eq!(check(&report, "token")["status"], "ok");
    let (report, _) = json(vault_health_with(env).args(["--token-ttl-warn", "2h", "--token-ttl-crit", "45m"]));
    assert_eq!(check(&report, "token")["status"], "crit");

    // The same token from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (report, _) = json(
        vault_health().env("VAULT_ADDR", server.addr()).args(["--token-ttl-warn", "1h", "--token-file"]).arg(&file),
    );
    assert_eq!(check(&report, "token")["status"], "warn");
}

#[tokio::test]
async fn no_token_skips_and_a_dead_token_is_critical() {
    let server = dev_server().await;
    let (report, exit) = json(vault_health().env("VAULT_ADDR", server.addr()));
    for name in ["token", "audit"] {
        let c = check(&report, name);
        assert_eq!(c["status"], "skipped", "{c:#}");
        assert_eq!(c["summary"], "no token: set VAULT_TOKEN, pass --token-file, or configure AppRole");
    }
    assert_eq!((report["status"].as_str(), exit), (Some("ok"), 0), "skipped checks never count: {report:#}");

    let bogus = "s.not-a-real-token-0123456789";
    let output = vault_health()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", bogus)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_no_secret(&output, bogus);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let token = check(&report, "token");
    assert_eq!(token["status"], "crit");
    // vault-core tells a dead token from one that may not look itself up, so the summary says which.
    assert_eq!(
        token["summary"],
        "authentication failed (token): the token from VAULT_TOKEN was refused: it is invalid, revoked or expired; get a new one"
    );
    assert_eq!(code(&output), 1, "the server is fine; the answer is still no");
}

#[tokio::test]
async fn an_approle_login_is_revoked_after_the_run() {
    let server = dev_server().await;
    let client = root_client(&server);
    client.request(Method::POST, "sys/auth/approle", Some(&json!({"type": "approle"}))).await.unwrap();
    client
        .request(
            Method::POST,
            "auth/approle/role/monitoring",
            Some(&json!({"token_ttl": "2h", "token_policies": ["default"]})),
        )
        .await
        .unwrap();
    let role_id = client.request(Method::GET, "auth/approle/role/monitoring/role-id", None).await.unwrap().unwrap();
    let secret = client.request(Method::POST, "auth/approle/role/monitoring/secret-id", None).await.unwrap().unwrap();
    let secret_id = secret["data"]["secret_id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret-id");
    std::fs::write(&secret_file, &secret_id).unwrap();
    let accessors = || async {
        let list = client.request(Method::from_bytes(b"LIST").unwrap(), "auth/token/accessors", None).await.unwrap();
        list.unwrap()["data"]["keys"].as_array().unwrap().len()
    };
    let before = accessors().await;

    let output = vault_health()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_ROLE_ID", role_id["data"]["role_id"].as_str().unwrap())
        .env("VAULT_SECRET_ID_FILE", &secret_file)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_no_secret(&output, &secret_id);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let s = statuses(&report);
    assert_eq!(s["token"], "ok", "{report:#}");
    let summary = check(&report, "token")["summary"].as_str().unwrap();
    assert!(summary.starts_with("expires in 1h59m") || summary.starts_with("expires in 2h00m"), "{report:#}");
    assert_eq!(accessors().await, before, "the run's token was revoked");
}
