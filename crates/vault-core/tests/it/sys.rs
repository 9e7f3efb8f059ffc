//! System endpoints against real servers: health states, seal and unseal, capabilities, audit-hash, snapshots.

use std::io::Read;

use vault_core::sys::NodeState;
use vault_core::{Client, KvPath, SecretString};
use vault_testkit::TlsServer;

use crate::{create_token, dev, dev_config, map, put_policy, tls_config, with_token};

#[tokio::test]
async fn health_of_an_active_dev_server() {
    let (_server, client) = dev().await;
    let health = client.health().await.unwrap();
    assert_eq!((health.status, health.state), (200, NodeState::Active));
    assert!(health.body.initialized && !health.body.sealed);
    assert!(health.body.version.as_deref().is_some_and(|v| !v.is_empty()));
    assert!(health.body.server_time_utc.is_some());
}

#[tokio::test]
async fn seal_and_unseal_through_the_client() {
    let server = TlsServer::builder().shares(3).threshold(2).start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    client.seal().await.unwrap();
    let health = client.health().await.unwrap();
    assert_eq!((health.status, health.state), (503, NodeState::Sealed));
    let first = client.unseal(&SecretString::from(server.unseal_keys()[0].as_str())).await.unwrap();
    assert!(first.sealed);
    assert_eq!((first.progress, first.threshold, first.shares), (1, 2, 3));
    let second = client.unseal(&SecretString::from(server.unseal_keys()[1].as_str())).await.unwrap();
    assert!(!second.sealed);
    assert!(
        crate::eventually(std::time::Duration::from_secs(10), async || client
            .health()
            .await
            .is_ok_and(|h| h.status == 200))
        .await,
        "active again after unseal"
    );
}

#[tokio::test]
async fn capabilities_of_the_caller() {
    let (server, root) = dev().await;
    put_policy(&root, "app", r#"path "secret/data/app/*" { capabilities = ["read", "list"] }"#).await;
    let token = create_token(&root, &["app"], "1h", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    let caps = client.capabilities_self(&["secret/data/app/db", "secret/data/other"]).await.unwrap();
    assert_eq!(caps["secret/data/app/db"], ["list", "read"]);
    assert_eq!(caps["secret/data/other"], ["deny"]);
    let one = client.capabilities_self(&["secret/data/app/x"]).await.unwrap();
    assert_eq!(one["secret/data/app/x"], ["list", "read"]);
}

#[tokio::test]
async fn audit_hash_matches_the_audit_log() {
    let server =
        TlsServer::builder().audit_file(true).start().await.expect("OpenBao raft+TLS server with audit must start");
    let client = Client::new(tls_config(&server)).unwrap();
    let value = "audit-planted-value-7731";
    let path = KvPath::parse("secret/app/audited").unwrap();
    client
        .request(
            reqwest::Method::POST,
            "sys/mounts/secret",
            Some(&serde_json::json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await
        .ok();
    client.kv_write(&path, &crate::map(&[("password", value)]), None).await.unwrap();
    let hash = client.audit_hash("file", &SecretString::from(value)).await.unwrap();
    assert!(hash.starts_with("hmac-sha256:"), "{hash}");
    let log = std::fs::read_to_string(server.audit_log_path().expect("audit log")).unwrap();
    assert!(log.contains(&hash), "the HMAC of the written value is in the audit log");
    assert!(!log.contains(value), "the plaintext is not");
}

#[tokio::test]
async fn raft_snapshot_streams_a_gzipped_tar() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    let mut response = client.get_stream("sys/storage/raft/snapshot").await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip magic");
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut tar).unwrap();
    let text = String::from_utf8_lossy(&tar);
    assert!(text.contains("meta.json") && text.contains("state.bin") && text.contains("SHA256SUMS"));
}

#[tokio::test]
async fn configuration_from_the_environment_reaches_a_tls_server() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let vars: std::collections::HashMap<String, String> = [
        ("BAO_ADDR", server.addr().to_owned()),
        ("VAULT_ADDR", "https://wrong.invalid:1".to_owned()),
        ("VAULT_TOKEN", server.root_token().to_owned()),
        ("VAULT_CACERT", server.ca_cert_path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = vault_core::Config::resolve_with(&Default::default(), |k| vars.get(k).cloned(), None).unwrap();
    let client = Client::new(config).unwrap();
    client
        .request(
            reqwest::Method::POST,
            "sys/mounts/secret",
            Some(&serde_json::json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await
        .unwrap();
    let path = KvPath::parse("secret/env/check").unwrap();
    client.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["k"].expose(), "v");
}

#[tokio::test]
async fn unseal_works_with_a_client_that_has_a_token() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    client.seal().await.unwrap();
    // The root token cannot be looked up while sealed; unseal must not need it.
    let status = client.unseal(&SecretString::from(server.unseal_keys()[0].as_str())).await.unwrap();
    assert!(!status.sealed);
}

#[tokio::test]
async fn unseal_with_stops_at_the_threshold_and_reports_too_few() {
    let server = TlsServer::builder().shares(3).threshold(2).start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    let keys: Vec<SecretString> = server.unseal_keys().iter().map(|k| SecretString::from(k.as_str())).collect();
    client.seal().await.unwrap();
    let short = client.unseal_with(&keys[..1]).await.unwrap();
    assert!(short.sealed && short.progress == 1, "{short:?}");
    // The remaining shares: unsealed after the next one; the last is never needed.
    let status = client.unseal_with(&keys[1..]).await.unwrap();
    assert!(!status.sealed, "{status:?}");
}
