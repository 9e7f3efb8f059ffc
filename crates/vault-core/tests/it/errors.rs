//! Failures a user meets, each as its own typed error with the right exit code: sealed, stopped, not
//! initialised, wrong CA, wrong server name, permission denied. And no token or value in any message.

use std::time::{Duration, Instant};

use vault_core::{Client, Error, Exit, KvPath};
use vault_testkit::TlsServer;

use crate::{create_token, dev, dev_config, map, put_policy, tls_config, with_token};

#[tokio::test]
async fn sealed_server_is_reported_without_long_retries() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    let path = KvPath::parse("secret/app/db").unwrap();
    client.kv_path("secret/app/db").await.ok();
    server.seal().await.expect("sealing");
    let start = Instant::now();
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Sealed { .. }), "{err:?}");
    assert_eq!(err.exit(), Exit::Unavailable);
    assert!(err.to_string().contains("unseal"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "sealed is not retried: {:?}", start.elapsed());
    let status = client.seal_status().await.unwrap();
    assert!(status.sealed);
}

#[tokio::test]
async fn stopped_server_is_retried_then_unreachable() {
    let (mut server, client) = dev().await;
    client.kv_write(&KvPath::parse("secret/a").unwrap(), &map(&[("k", "v")]), None).await.unwrap();
    server.stop().await;
    let start = Instant::now();
    let err = client.kv_read(&KvPath::parse("secret/a").unwrap(), None).await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit(), Exit::Unavailable);
    assert!(err.to_string().contains(server.addr()), "names the address: {err}");
    // Two retries with backoff: at least 50 + 100 ms of waiting, well under the timeout.
    assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(10), "{took:?}");

    let mut config = dev_config(&server);
    config.max_retries = 0;
    let start = Instant::now();
    let err = Client::new(config).unwrap().kv_read(&KvPath::parse("secret/a").unwrap(), None).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_millis(150), "no retries when told: {:?}", start.elapsed());
}

#[tokio::test]
async fn uninitialised_server() {
    let server = TlsServer::builder().initialize(false).start().await.expect("OpenBao raft+TLS server must start");
    let mut config = vault_core::Config::with_token(server.addr(), "no-token-yet".into()).unwrap();
    config.tls.ca_cert = Some(server.ca_cert_path().to_path_buf());
    let client = Client::new(config).unwrap();
    let health = client.health().await.unwrap();
    assert_eq!(health.state, vault_core::sys::NodeState::Uninitialized);
    assert_eq!(health.status, 501);
    let err = client.kv_read(&KvPath::parse("secret/x").unwrap(), None).await.unwrap_err();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err:?}");
}

fn other_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Some Other CA");
    let cert = params.self_signed(&key).unwrap();
    let path = dir.join("other-ca.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    path
}

#[tokio::test]
async fn tls_failures_name_the_trust_used() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let dir = tempfile::tempdir().unwrap();
    let path = KvPath::parse("secret/x").unwrap();

    let mut wrong_ca = tls_config(&server);
    wrong_ca.tls.ca_cert = Some(other_ca(dir.path()));
    let err = Client::new(wrong_ca).unwrap().kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("other-ca.pem"), "names the CA file: {err}");
    assert_eq!(err.exit(), Exit::Unavailable);

    let mut system_roots = tls_config(&server);
    system_roots.tls.ca_cert = None;
    let err = Client::new(system_roots).unwrap().kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("system"), "{err}");

    // A CA folder works like a CA file.
    let ca_dir = dir.path().join("cas");
    std::fs::create_dir(&ca_dir).unwrap();
    std::fs::copy(server.ca_cert_path(), ca_dir.join("ca.pem")).unwrap();
    let mut folder = tls_config(&server);
    folder.tls.ca_cert = None;
    folder.tls.ca_path = Some(ca_dir);
    Client::new(folder).unwrap().health().await.expect("CA folder trusted");

    // The certificate is for localhost and 127.0.0.1: a server name it lacks fails, one it has works.
    let mut wrong_name = tls_config(&server);
    wrong_name.tls.server_name = Some("vault.example.com".into());
    let err = Client::new(wrong_name).unwrap().health().await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    let mut right_name = tls_config(&server);
    right_name.tls.server_name = Some("localhost".into());
    assert_eq!(Client::new(right_name).unwrap().health().await.unwrap().status, 200);

    // Plain HTTP against the TLS port is not a silent hang.
    let mut plain = tls_config(&server);
    plain.address = vault_core::config::parse_address(&server.addr().replace("https://", "http://")).unwrap();
    let err = Client::new(plain).unwrap().kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("https://"), "{err}");

    // Turning verification off works, and is the user's loud choice.
    let mut skip = tls_config(&server);
    skip.tls.ca_cert = None;
    skip.tls.skip_verify = true;
    assert_eq!(Client::new(skip).unwrap().health().await.unwrap().status, 200);

    let mut bad_file = tls_config(&server);
    bad_file.tls.ca_cert = Some(dir.path().join("missing.pem"));
    let err = Client::new(bad_file).unwrap_err();
    assert!(matches!(err, Error::Config(_)) && err.to_string().contains("missing.pem"), "{err:?}");
}

#[tokio::test]
async fn permission_denied_names_the_path() {
    let (server, root) = dev().await;
    put_policy(&root, "app-only", r#"path "secret/data/app/*" { capabilities = ["read"] }"#).await;
    root.kv_write(&KvPath::parse("secret/app/db").unwrap(), &map(&[("k", "v")]), None).await.unwrap();
    root.kv_write(&KvPath::parse("secret/finance/db").unwrap(), &map(&[("k", "v")]), None).await.unwrap();
    let token = create_token(&root, &["app-only"], "1h", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();

    client.kv_read(&KvPath::parse("secret/app/db").unwrap(), None).await.unwrap();
    let err = client.kv_read(&KvPath::parse("secret/finance/db").unwrap(), None).await.unwrap_err();
    assert!(matches!(&err, Error::PermissionDenied { path, .. } if path == "secret/finance/db"), "{err:?}");
    assert_eq!(err.exit(), Exit::Failed);
    let err = client.kv_write(&KvPath::parse("secret/app/db").unwrap(), &map(&[("k", "x")]), None).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("write"), "{err}");

    // Every KV operation's denial reads as one sentence: "permission denied: OPERATION on PATH ...", with no
    // dangling preposition ("read metadata of on ...") whichever operation it was.
    let finance = KvPath::parse("secret/finance/db").unwrap();
    let update = vault_core::kv::MetadataUpdate { max_versions: Some(3), ..Default::default() };
    let custom: std::collections::BTreeMap<String, Option<String>> = [("k".to_owned(), Some("v".to_owned()))].into();
    let denials = [
        client.kv_read(&finance, None).await.map(drop),
        client.kv_write(&finance, &map(&[("k", "x")]), None).await.map(drop),
        client.kv_patch(&finance, &map(&[("k", "x")]), None).await.map(drop),
        client.kv_list(&KvPath::parse("secret/finance/").unwrap()).await.map(drop),
        client.kv_metadata(&finance).await.map(drop),
        client.kv_write_metadata(&finance, &update).await,
        client.kv_patch_metadata(&finance, &custom).await,
        client.kv_delete(&finance).await,
        client.kv_delete_versions(&finance, &[1]).await,
        client.kv_undelete(&finance, &[1]).await,
        client.kv_destroy(&finance, &[1]).await,
        client.kv_delete_all(&finance).await,
    ];
    for result in denials {
        let err = result.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
        assert!(text.starts_with("permission denied: ") && text.contains(" on secret/finance/"), "{text}");
        for dangling in [" of on ", " to on ", " on on ", "  "] {
            assert!(!text.contains(dangling), "{text}");
        }
    }
}

#[tokio::test]
async fn no_token_or_value_in_any_message() {
    let (server, root) = dev().await;
    let planted_value = "planted-S3cr3t-value-9d2f";
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("password", planted_value)]), None).await.unwrap();
    let token = create_token(&root, &["default"], "1h", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();

    let mut shown = Vec::new();
    let denied = client.kv_read(&path, None).await.unwrap_err();
    shown.push(format!("{denied} {denied:?}"));
    let cas = root.kv_write(&path, &map(&[("password", planted_value)]), Some(0)).await.unwrap_err();
    shown.push(format!("{cas} {cas:?}"));
    let secret = root.kv_read(&path, None).await.unwrap();
    shown.push(format!("{secret:?} {:?}", secret.data));
    shown.push(format!("{client:?} {:?}", with_token(&dev_config(&server), &token)));
    let anyhow_chain = anyhow::Error::new(denied).context("reading the warehouse password");
    shown.push(format!("{anyhow_chain:#} {anyhow_chain:?}"));
    for text in &shown {
        assert!(!text.contains(planted_value), "value leaked: {text}");
        assert!(!text.contains(&token), "token leaked: {text}");
        assert!(!text.contains(server.root_token()) || server.root_token() == "root", "root token leaked: {text}");
    }
    assert!(shown[2].contains("[redacted]"));
}
