//! Tokens other than the client's own: minting a short-lived token for a set of policies, revoking one, and
//! revoking the client's own token when a run that logged in is over.

use reqwest::Method;
use serde::Serialize;

use crate::client::{Client, Op};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The API paths of a token's own endpoints, as policies and their test matrices name them.
pub mod paths {
    /// Where a token looks itself up (TTL, policies); the client calls it before a configured token's first use.
    pub const LOOKUP_SELF: &str = "auth/token/lookup-self";
    /// Where a token revokes itself.
    pub const REVOKE_SELF: &str = "auth/token/revoke-self";
}

/// What [`Client::token_create`] asks for.
#[derive(Clone, Debug, Serialize)]
pub struct TokenRequest {
    /// The policies the token carries.
    pub policies: Vec<String>,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// Its TTL, e.g. `15m`.
    pub ttl: String,
    /// Whether it may be renewed.
    pub renewable: bool,
    /// Its display name.
    pub display_name: String,
}

impl Client {
    /// Creates a child token (`auth/token/create`) and returns it.
    pub async fn token_create(&self, request: &TokenRequest) -> Result<SecretString> {
        const PATH: &str = "auth/token/create";
        let body = serde_json::to_vec(request).expect("a token request serializes");
        // Each call mints a token: never sent twice unless the first certainly had no effect.
        let op = Op::new("create", PATH).once();
        let answer =
            self.request_bytes(Method::POST, PATH, Some(&body), "application/json", op).await?.unwrap_or_default();
        answer
            .pointer("/auth/client_token")
            .and_then(|t| t.as_str())
            .map(|t| SecretString::new(t.to_owned()))
            .ok_or_else(|| Error::Response { path: PATH.into(), detail: "no client_token in the answer".into() })
    }

    /// Revokes `token` (and its children).
    pub async fn token_revoke(&self, token: &SecretString) -> Result<()> {
        let body = serde_json::json!({ "token": token.expose() });
        self.request(Method::POST, "auth/token/revoke", Some(&body)).await.map(drop)
    }

    /// At the end of a run: revokes the token this client logged in for when `revoke` is set (a tool that
    /// logged in with AppRole), so it does not outlive the run. A failure is only a warning naming `after`
    /// (e.g. `after the command ended`): the run's own result matters more, and the token expires at its TTL.
    pub async fn revoke_after_run(&self, revoke: bool, after: &str) {
        if revoke && let Err(error) = self.revoke_self().await {
            tracing::warn!("could not revoke the token {after} (it expires at its TTL): {error}");
        }
    }
}
