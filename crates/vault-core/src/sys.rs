//! System endpoints: health with its status codes, seal status, init, unseal, seal, the caller's token,
//! capabilities and audit-hash.
//!
//! `sys/health` answers with its status code (200 active, 429 standby, 472 DR secondary, 473 performance
//! standby, 501 not initialised, 503 sealed), so it is read with `Client::request_unchecked` and mapped here
//! rather than treated as an error.
//!
//! The submodules hold the rest of `sys/`: [`seal`] (waiting for active or sealed), [`raft`] (snapshots streamed
//! both ways, peers, autopilot, leader), [`audit`] (devices), [`mounts`] (secrets engines and auth methods) and
//! [`acl`] (ACL policies, capabilities, password policies).

pub mod acl;
pub mod audit;
pub mod mounts;
pub mod raft;
pub mod seal;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Op};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// What `sys/health` says about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// 200: initialised, unsealed, active.
    Active,
    /// 429: unsealed standby.
    Standby,
    /// 473: performance standby (Enterprise).
    PerformanceStandby,
    /// 472: disaster-recovery secondary (Enterprise).
    DrSecondary,
    /// 503: sealed.
    Sealed,
    /// 501: not initialised.
    Uninitialized,
    /// Any other status.
    Unknown,
}

impl NodeState {
    /// The state a `sys/health` status code stands for.
    pub fn from_status(status: u16) -> Self {
        match status {
            200 => NodeState::Active,
            429 => NodeState::Standby,
            472 => NodeState::DrSecondary,
            473 => NodeState::PerformanceStandby,
            501 => NodeState::Uninitialized,
            503 => NodeState::Sealed,
            _ => NodeState::Unknown,
        }
    }

    /// Whether the node serves requests (active, or a standby that forwards them).
    pub fn is_serving(self) -> bool {
        matches!(self, NodeState::Active | NodeState::Standby | NodeState::PerformanceStandby)
    }
}

/// `sys/health`.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// The HTTP status the server answered.
    pub status: u16,
    /// What that status means.
    pub state: NodeState,
    /// The body's fields.
    #[serde(flatten)]
    pub body: HealthBody,
}

/// The body of `sys/health`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HealthBody {
    /// Initialised.
    #[serde(default)]
    pub initialized: bool,
    /// Sealed.
    #[serde(default)]
    pub sealed: bool,
    /// A standby node.
    #[serde(default)]
    pub standby: bool,
    /// A performance standby (Enterprise).
    #[serde(default)]
    pub performance_standby: bool,
    /// DR replication mode.
    #[serde(default)]
    pub replication_dr_mode: Option<String>,
    /// The server's clock, Unix seconds.
    #[serde(default)]
    pub server_time_utc: Option<i64>,
    /// The server's version.
    #[serde(default)]
    pub version: Option<String>,
    /// The cluster's name.
    #[serde(default)]
    pub cluster_name: Option<String>,
    /// The cluster's id.
    #[serde(default)]
    pub cluster_id: Option<String>,
}

/// `sys/seal-status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealStatus {
    /// Seal type (`shamir`, …).
    #[serde(default, rename = "type")]
    pub seal_type: String,
    /// Initialised.
    #[serde(default)]
    pub initialized: bool,
    /// Sealed.
    pub sealed: bool,
    /// Threshold of shares needed.
    #[serde(default, rename = "t")]
    pub threshold: u32,
    /// Number of shares.
    #[serde(default, rename = "n")]
    pub shares: u32,
    /// Shares entered so far.
    #[serde(default)]
    pub progress: u32,
    /// Server version.
    #[serde(default)]
    pub version: String,
}

/// What `sys/init` hands out once. Treat every field as a secret.
#[derive(Debug)]
pub struct InitResult {
    /// Unseal key shares, base64.
    pub keys_base64: Vec<SecretString>,
    /// The initial root token.
    pub root_token: SecretString,
}

/// The caller's token, from `auth/token/lookup-self` (never the token itself).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Accessor (safe to log; identifies the token for revocation).
    #[serde(default)]
    pub accessor: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Policies attached.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Seconds left (0: never expires).
    #[serde(default)]
    pub ttl: u64,
    /// The TTL it was created with, in seconds (0: never expires). Judging what is left needs it: 50 minutes
    /// left is fine for a 1-hour token and alarming for a 30-day one.
    #[serde(default)]
    pub creation_ttl: u64,
    /// Whether it can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Expiry (RFC 3339), when it expires.
    #[serde(default)]
    pub expire_time: Option<String>,
    /// Entity id.
    #[serde(default)]
    pub entity_id: String,
}

impl Client {
    /// `sys/health`, whatever the node's state; only a failed connection is an error.
    pub async fn health(&self) -> Result<Health> {
        let (status, body) = self.request_unchecked(Method::GET, "sys/health").await?;
        let body: HealthBody = serde_json::from_slice(&body).map_err(|e| Error::Response {
            path: "sys/health".into(),
            detail: format!("answered {status} with a body that is not health JSON: {e}"),
        })?;
        Ok(Health { status: status.as_u16(), state: NodeState::from_status(status.as_u16()), body })
    }

    /// `sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let (status, body) = self.request_unchecked(Method::GET, "sys/seal-status").await?;
        if !status.is_success() {
            return Err(self.status_error(status, &body, Op::new("read", "sys/seal-status")));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::Response { path: "sys/seal-status".into(), detail: format!("unexpected answer: {e}") })
    }

    /// Initialises the server with Shamir shares. With `pgp_keys` (base64 of binary public keys, one per share)
    /// the server encrypts each share to its holder and the plaintext shares never exist outside it. The result
    /// is the only copy of the shares and the root token.
    pub async fn init(&self, shares: u32, threshold: u32, pgp_keys: &[String]) -> Result<InitResult> {
        #[derive(Deserialize)]
        struct Answer {
            keys_base64: Vec<SecretString>,
            root_token: SecretString,
        }
        let mut body = serde_json::json!({ "secret_shares": shares, "secret_threshold": threshold });
        if !pgp_keys.is_empty() {
            body["pgp_keys"] = serde_json::json!(pgp_keys);
        }
        let answer = self.request_anonymous(Method::PUT, "sys/init", Some(&body)).await?.unwrap_or_default();
        let answer: Answer = serde_json::from_value(answer)
            .map_err(|e| Error::Response { path: "sys/init".into(), detail: format!("unexpected answer: {e}") })?;
        Ok(InitResult { keys_base64: answer.keys_base64, root_token: answer.root_token })
    }

    /// Enters one unseal key share; returns the progress.
    pub async fn unseal(&self, key: &SecretString) -> Result<SealStatus> {
        let body = serde_json::json!({ "key": key.expose() });
        let answer = self.request_anonymous(Method::PUT, "sys/unseal", Some(&body)).await?.unwrap_or_default();
        serde_json::from_value(answer)
            .map_err(|e| Error::Response { path: "sys/unseal".into(), detail: format!("unexpected answer: {e}") })
    }

    /// Enters key shares until the server is unsealed or the shares run out. Returns the last status: still
    /// sealed when there were too few shares. Shares past the threshold are not sent.
    pub async fn unseal_with(&self, keys: &[SecretString]) -> Result<SealStatus> {
        let mut status = self.seal_status().await?;
        for key in keys {
            if !status.sealed {
                break;
            }
            status = self.unseal(key).await?;
        }
        Ok(status)
    }

    /// Seals the server (needs a token allowed to).
    pub async fn seal(&self) -> Result<()> {
        self.request(Method::PUT, "sys/seal", None).await.map(drop)
    }

    /// Looks up the caller's token.
    pub async fn token_lookup_self(&self) -> Result<TokenInfo> {
        self.read_data(Method::GET, "auth/token/lookup-self", None).await
    }

    /// The HMAC an audit device would log for `input` (`hmac-sha256:…`), so a value can be found in audit logs
    /// without writing it anywhere.
    pub async fn audit_hash(&self, device: &str, input: &SecretString) -> Result<String> {
        #[derive(Deserialize)]
        struct Answer {
            hash: String,
        }
        let body = serde_json::json!({ "input": input.expose() });
        let api = format!("sys/audit-hash/{}", device.trim_matches('/'));
        let answer = self.request(Method::POST, &api, Some(&body)).await?.unwrap_or_default();
        let answer = answer.get("data").cloned().unwrap_or(answer);
        serde_json::from_value::<Answer>(answer)
            .map(|a| a.hash)
            .map_err(|e| Error::Response { path: api, detail: format!("unexpected answer: {e}") })
    }
}
