//! The typed endpoint modules against real servers: raft (snapshot out and back in, peers, autopilot, leader),
//! ACL policies, tokens and capabilities, mounts, AppRole, and the seal waits.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use vault_core::sys::NodeState;
use vault_core::sys::acl::Operation;
use vault_core::token::TokenRequest;
use vault_core::{Client, Error, KvPath, SecretString};
use vault_testkit::TlsServer;

use crate::{dev, map, tls_config};

#[tokio::test]
async fn a_snapshot_streams_out_and_back_in_and_the_cluster_reports_itself() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    let options = BTreeMap::from([("version".to_owned(), "2".to_owned())]);
    client.enable_mount("secret", "kv", &options).await.unwrap();
    assert_eq!(client.mounts().await.unwrap()["secret/"].options.get("version").map(String::as_str), Some("2"));
    let path = KvPath::parse("secret/app/db").unwrap();
    client.kv_write(&path, &map(&[("password", "before")]), None).await.unwrap();

    let mut chunks = Vec::new();
    let mut snapshot = client.raft_snapshot().await.unwrap();
    while let Some(chunk) = snapshot.next().await {
        chunks.push(chunk.unwrap());
    }
    assert_eq!(&chunks[0][..2], [0x1f, 0x8b], "gzip magic");
    client.kv_write(&path, &map(&[("password", "after")]), None).await.unwrap();

    let body = futures_util::stream::iter(chunks.into_iter().map(Ok));
    client.raft_snapshot_restore(body, false).await.unwrap();
    assert_eq!(client.wait_until_active(Duration::from_secs(30)).await.unwrap(), NodeState::Active);
    let read = client.kv_read(&path, None).await.unwrap();
    assert_eq!(read.data["password"].expose(), "before", "the snapshot's data is back");

    // A stream that breaks makes the upload fail; the server keeps its data.
    let broken =
        futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"\x1f\x8b")), Err(std::io::Error::other("cut"))]);
    assert!(client.raft_snapshot_restore(broken, true).await.is_err());
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "before");

    let peers = client.raft_peers().await.unwrap();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert!(peers[0].leader && peers[0].voter, "{peers:?}");
    let autopilot = client.autopilot_state().await.unwrap();
    assert_eq!(autopilot.leader, peers[0].node_id);
    let own = &autopilot.servers[&peers[0].node_id];
    assert_eq!((own.status.as_str(), own.address.as_str()), ("leader", peers[0].address.as_str()), "{autopilot:?}");
    assert!(own.healthy && own.last_index > 0 && own.last_contact_seconds().is_some(), "{autopilot:?}");
    assert_eq!((autopilot.leader_index(), autopilot.lag(own)), (Some(own.last_index), Some(0)));
    let leader = client.leader().await.unwrap().expect("sys/leader answers");
    assert!(leader.ha_enabled && leader.is_self, "{leader:?}");
}

#[tokio::test]
async fn policies_tokens_and_capabilities() {
    let (_server, root) = dev().await;
    let hcl = "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}\n";
    assert_eq!(root.policy_read("app-reader").await.unwrap(), None);
    root.policy_write("app-reader", hcl).await.unwrap();
    assert_eq!(root.policy_read("app-reader").await.unwrap().as_deref(), Some(hcl));
    assert!(root.policy_list().await.unwrap().contains(&"app-reader".to_owned()));

    let token = root
        .token_create(&TokenRequest {
            policies: vec!["app-reader".into()],
            no_default_policy: true,
            ttl: "5m".into(),
            renewable: false,
            display_name: "endpoints-test".into(),
        })
        .await
        .unwrap();
    let paths = vec!["secret/data/app/db".to_owned(), "secret/data/other".to_owned()];
    let caps = root.capabilities(&token, &paths).await.unwrap();
    assert_eq!(caps["secret/data/app/db"], ["read"]);
    assert_eq!(caps["secret/data/other"], ["deny"]);

    let mut config = root.config().clone();
    config.auth = vault_core::config::AuthConfig::Token { token: token.clone(), source: "test".into() };
    let reader = Client::new(config).unwrap();
    assert!(matches!(
        reader.try_operation(Operation::Write, "secret/data/other").await,
        Err(Error::PermissionDenied { .. })
    ));
    root.token_revoke(&token).await.unwrap();
    assert!(root.capabilities(&token, &paths).await.is_err(), "a revoked token has no capabilities to report");

    root.policy_delete("app-reader").await.unwrap();
    assert_eq!(root.policy_read("app-reader").await.unwrap(), None);
}

#[tokio::test]
async fn approle_roles_and_their_credentials() {
    let (_server, root) = dev().await;
    assert!(!root.auth_methods().await.unwrap().contains_key("approle/"));
    root.enable_auth("approle", "approle").await.unwrap();
    assert_eq!(root.auth_methods().await.unwrap()["approle/"].mount_type, "approle");
    assert_eq!(root.approle_role("approle", "etl").await.unwrap(), None);
    let settings = vault_core::approle::RoleSettings {
        token_policies: vec!["default".into()],
        token_ttl: 600,
        token_max_ttl: 1200,
        token_type: "service".into(),
        ..Default::default()
    };
    root.approle_write_role("approle", "etl", &settings).await.unwrap();
    let read = root.approle_role("approle", "etl").await.unwrap().expect("the role exists");
    assert_eq!((read.token_policies, read.token_ttl, read.token_max_ttl), (vec!["default".to_owned()], 600, 1200));
    assert!(!root.approle_role_id("approle", "etl").await.unwrap().is_empty());
    let secret_id = root.approle_new_secret_id("approle", "etl").await.unwrap();
    assert!(root.approle_secret_id_valid("approle", "etl", &secret_id).await);
    assert!(!root.approle_secret_id_valid("approle", "etl", &SecretString::from("not-a-secret-id")).await);
}

#[tokio::test]
async fn waiting_for_a_seal_state() {
    let server = TlsServer::builder().start().await.expect("OpenBao raft+TLS server must start");
    let client = Client::new(tls_config(&server)).unwrap();
    assert_eq!(client.wait_until_active(Duration::from_secs(10)).await.unwrap(), NodeState::Active);
    assert!(!client.wait_until_sealed(Duration::from_millis(200)).await, "an active server is not sealed");
    client.seal().await.unwrap();
    assert!(client.wait_until_sealed(Duration::from_secs(10)).await);
    assert_eq!(client.wait_until_active(Duration::from_millis(300)).await.unwrap(), NodeState::Sealed);
    let keys: Vec<SecretString> = server.unseal_keys().iter().map(|k| SecretString::from(k.as_str())).collect();
    assert!(!client.unseal_with(&keys).await.unwrap().sealed);
    assert_eq!(client.wait_until_active(Duration::from_secs(30)).await.unwrap(), NodeState::Active);
}
