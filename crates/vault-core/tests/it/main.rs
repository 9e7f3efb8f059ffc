//! vault-core against real OpenBao servers started by vault-testkit: one integration-test binary, one module per
//! feature. Every test starts its own server, so they run in parallel and fail (never skip) when one cannot start.

mod auth;
mod cache;
mod endpoints;
mod errors;
mod failover;
mod kv;
mod sys;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use vault_core::{Client, Config, SecretMap, SecretString};
use vault_testkit::{DevServer, TlsServer};

/// A root client for a dev server (plain HTTP).
pub fn dev_config(server: &DevServer) -> Config {
    Config::with_token(server.addr(), SecretString::from(server.root_token())).expect("valid address")
}

/// A root client config for a TLS server, trusting its CA.
pub fn tls_config(server: &TlsServer) -> Config {
    let mut config = Config::with_token(server.addr(), SecretString::from(server.root_token())).expect("valid address");
    config.tls.ca_cert = Some(server.ca_cert_path().to_path_buf());
    config
}

pub async fn dev() -> (DevServer, Client) {
    let server = DevServer::start().await.expect("OpenBao dev server must start");
    let client = Client::new(dev_config(&server)).expect("client");
    (server, client)
}

/// A config with a given token against the same server as `base`.
pub fn with_token(base: &Config, token: &str) -> Config {
    let mut config = base.clone();
    config.auth = vault_core::config::AuthConfig::Token { token: SecretString::from(token), source: "the test".into() };
    config
}

pub fn map(pairs: &[(&str, &str)]) -> SecretMap {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect()
}

/// Writes an ACL policy with the root client.
pub async fn put_policy(root: &Client, name: &str, hcl: &str) {
    root.request(Method::PUT, &format!("sys/policies/acl/{name}"), Some(&json!({ "policy": hcl })))
        .await
        .expect("policy written");
}

/// Creates a token with the given policies and TTL; returns the token.
pub async fn create_token(root: &Client, policies: &[&str], ttl: &str, renewable: bool) -> String {
    let answer = root
        .request(
            Method::POST,
            "auth/token/create",
            Some(&json!({ "policies": policies, "ttl": ttl, "renewable": renewable, "no_default_policy": false })),
        )
        .await
        .expect("token created")
        .expect("an answer");
    answer["auth"]["client_token"].as_str().expect("a token").to_owned()
}

/// Polls `check` every 50 ms until it is true or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
