//! Authentication lifecycle: renewal at half the TTL (on use and in the background), fail-closed expiry, AppRole
//! login, re-login after revocation, a secret_id file that changes between logins, and no credentials.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, Error, Exit, KvPath};

use crate::{create_token, dev, dev_config, map, put_policy, with_token};

const READER: &str = r#"path "secret/data/*" { capabilities = ["read"] }"#;

#[tokio::test]
async fn renews_at_half_ttl_on_use() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();

    let token = create_token(&root, &["reader"], "4s", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    client.kv_read(&path, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.kv_read(&path, None).await.expect("read past half the TTL renews first");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // 5 s after creation: alive only because it was renewed.
    client.kv_read(&path, None).await.expect("the renewed token outlives its first TTL");
    assert!(client.token_lookup_self().await.unwrap().ttl >= 1);
}

#[tokio::test]
async fn background_renewal_keeps_an_idle_token_alive() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    let token = create_token(&root, &["reader"], "3s", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    let renewal = client.spawn_renewal();
    tokio::time::sleep(Duration::from_secs(5)).await;
    client.kv_read(&path, None).await.expect("renewed in the background while idle");
    renewal.abort();
}

#[tokio::test]
async fn expired_token_fails_closed() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    let token = create_token(&root, &["reader"], "2s", false).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    client.kv_read(&path, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert_eq!(err.exit(), Exit::Unavailable);
    assert!(!format!("{err} {err:?}").contains(&token));
}

#[tokio::test]
async fn revoked_static_token_is_an_auth_error() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let token = create_token(&root, &["reader"], "1h", true).await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    client.kv_read(&path, None).await.unwrap();
    root.request(Method::POST, "auth/token/revoke", Some(&json!({ "token": token }))).await.unwrap();
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "a dead token is not a policy denial: {err:?}");
    assert!(err.to_string().contains("revoked"), "{err}");
    assert!(!format!("{err} {err:?}").contains(&token));
}

#[tokio::test]
async fn no_credentials_says_how_to_give_them() {
    let (server, _root) = dev().await;
    let mut config = dev_config(&server);
    config.auth = AuthConfig::None;
    let err = Client::new(config).unwrap().kv_read(&KvPath::parse("secret/x").unwrap(), None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("VAULT_TOKEN"), "{err}");
}

struct AppRole {
    role_id: String,
    secret_ids: Vec<String>,
}

async fn approle(root: &Client) -> AppRole {
    root.request(Method::POST, "sys/auth/approle", Some(&json!({ "type": "approle" }))).await.unwrap();
    put_policy(root, "reader", READER).await;
    root.request(
        Method::POST,
        "auth/approle/role/pipeline",
        Some(&json!({ "token_policies": ["reader"], "token_ttl": "1h", "token_max_ttl": "4h" })),
    )
    .await
    .unwrap();
    let role_id = root.request(Method::GET, "auth/approle/role/pipeline/role-id", None).await.unwrap().unwrap();
    let mut approle =
        AppRole { role_id: role_id["data"]["role_id"].as_str().unwrap().to_owned(), secret_ids: Vec::new() };
    approle.secret_ids.push(new_secret_id(root).await);
    approle
}

async fn new_secret_id(root: &Client) -> String {
    let answer = root.request(Method::POST, "auth/approle/role/pipeline/secret-id", None).await.unwrap().unwrap();
    answer["data"]["secret_id"].as_str().unwrap().to_owned()
}

async fn revoke_client_token(root: &Client, client: &Client) -> String {
    let accessor = client.token_lookup_self().await.unwrap().accessor;
    root.request(Method::POST, "auth/token/revoke-accessor", Some(&json!({ "accessor": accessor }))).await.unwrap();
    accessor
}

#[tokio::test]
async fn approle_logs_in_again_after_revocation_and_rereads_the_secret_id_file() {
    let (server, root) = dev().await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("password", "approle-read-value-51c8")]), None).await.unwrap();
    let mut role = approle(&root).await;

    let dir = tempfile::tempdir().unwrap();
    let secret_id_file = dir.path().join("secret-id");
    std::fs::write(&secret_id_file, format!("{}\n", role.secret_ids[0])).unwrap();
    let mut config: Config = dev_config(&server);
    config.auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id: role.role_id.clone(),
        secret_id: SecretIdSource::File(secret_id_file.clone()),
    });
    let client = Client::new(config).unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "approle-read-value-51c8");

    // Revoked behind the client's back: it logs in again and the read succeeds.
    let old_accessor = revoke_client_token(&root, &client).await;
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "approle-read-value-51c8");
    assert_ne!(client.token_lookup_self().await.unwrap().accessor, old_accessor);

    // The secret_id is rotated: new one in the file, old one destroyed. The next login reads the file again.
    role.secret_ids.push(new_secret_id(&root).await);
    std::fs::write(&secret_id_file, &role.secret_ids[1]).unwrap();
    root.request(
        Method::POST,
        "auth/approle/role/pipeline/secret-id/destroy",
        Some(&json!({ "secret_id": role.secret_ids[0] })),
    )
    .await
    .unwrap();
    revoke_client_token(&root, &client).await;
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["password"].expose(), "approle-read-value-51c8");

    // A secret_id that no longer works: fail closed with an auth error that names no secret.
    let bogus = "00000000-bogus-secret-id-0000";
    std::fs::write(&secret_id_file, bogus).unwrap();
    revoke_client_token(&root, &client).await;
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert_eq!(err.exit(), Exit::Unavailable);
    let shown = format!("{err} {err:?}");
    for secret in role.secret_ids.iter().map(String::as_str).chain([bogus, "approle-read-value-51c8"]) {
        assert!(!shown.contains(secret), "error shows a secret: {shown}");
    }
}

#[tokio::test]
async fn approle_wrong_mount_or_role_is_an_auth_error() {
    let (server, root) = dev().await;
    let role = approle(&root).await;
    for (mount, role_id) in [("nowhere", role.role_id.as_str()), ("approle", "not-a-role-id")] {
        let mut config = dev_config(&server);
        config.auth = AuthConfig::AppRole(AppRoleConfig {
            mount: mount.into(),
            role_id: role_id.into(),
            secret_id: SecretIdSource::Value(role.secret_ids[0].as_str().into()),
        });
        let err = Client::new(config).unwrap().kv_read(&KvPath::parse("secret/x").unwrap(), None).await.unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{mount}/{role_id}: {err:?}");
        assert!(!format!("{err} {err:?}").contains(&role.secret_ids[0]));
    }
}

#[tokio::test]
async fn a_token_that_may_not_look_itself_up_still_works() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    let answer = root
        .request(
            Method::POST,
            "auth/token/create",
            Some(&json!({ "policies": ["reader"], "no_default_policy": true, "ttl": "1h" })),
        )
        .await
        .unwrap()
        .unwrap();
    let token = answer["auth"]["client_token"].as_str().unwrap();
    let client = Client::new(with_token(&dev_config(&server), token)).unwrap();
    assert_eq!(client.kv_read(&path, None).await.unwrap().data["k"].expose(), "v");
    // A write its policy does not allow is a plain denial, not mistaken for a dead token.
    let err = client.kv_write(&path, &map(&[("k", "w")]), None).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
}

/// A token that is dead before the first request (never existed, revoked, expired), with and without the
/// `default` policy, is an authentication failure (exit 3) on every kind of first call, never "permission
/// denied" (exit 4); a live token without `default` that is then revoked is caught the same way.
#[tokio::test]
async fn a_dead_token_at_start_is_an_auth_error_on_every_first_call() {
    let (server, root) = dev().await;
    put_policy(&root, "reader", READER).await;
    let path = KvPath::parse("secret/app/db").unwrap();
    root.kv_write(&path, &map(&[("k", "v")]), None).await.unwrap();
    let make = async |no_default: bool, ttl: &str| -> String {
        let answer = root
            .request(
                Method::POST,
                "auth/token/create",
                Some(&json!({ "policies": ["reader"], "no_default_policy": no_default, "ttl": ttl })),
            )
            .await
            .unwrap()
            .unwrap();
        answer["auth"]["client_token"].as_str().unwrap().to_owned()
    };
    let mut dead = vec![("never issued".to_owned(), "s.Ab3dE5gH7jK9mN1pQ3sT5vW7".to_owned())];
    for no_default in [false, true] {
        let revoked = make(no_default, "1h").await;
        root.request(Method::POST, "auth/token/revoke", Some(&json!({ "token": revoked }))).await.unwrap();
        dead.push((format!("revoked (no_default_policy={no_default})"), revoked));
        dead.push((format!("expired (no_default_policy={no_default})"), make(no_default, "1s").await));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (what, token) in &dead {
        for call in ["kv_read", "kv_list", "kv_metadata", "request"] {
            let client = Client::new(with_token(&dev_config(&server), token)).unwrap();
            let err = match call {
                "kv_read" => client.kv_read(&path, None).await.map(drop),
                "kv_list" => client.kv_list(&KvPath::parse("secret/app/").unwrap()).await.map(drop),
                "kv_metadata" => client.kv_metadata(&path).await.map(drop),
                _ => client.request(Method::GET, "sys/mounts", None).await.map(drop),
            }
            .unwrap_err();
            assert!(matches!(err, Error::Auth { .. }), "{what}, {call}: {err:?}");
            assert_eq!(err.exit(), Exit::Unavailable, "{what}, {call}");
            assert!(!format!("{err} {err:?}").contains(token.as_str()), "{what}: the token is shown");
        }
    }

    // A live token without `default` works, is denied as a denial, and once revoked fails as a dead token.
    let token = make(true, "1h").await;
    let client = Client::new(with_token(&dev_config(&server), &token)).unwrap();
    client.kv_read(&path, None).await.unwrap();
    let err = client.request(Method::GET, "sys/mounts", None).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    root.request(Method::POST, "auth/token/revoke", Some(&json!({ "token": token }))).await.unwrap();
    let err = client.kv_read(&path, None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "revoked while in use: {err:?}");
}
