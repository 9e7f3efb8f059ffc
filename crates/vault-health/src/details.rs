//! The facts each check reports beside its verdict (the `details` of a check in JSON), in one module that the
//! report and every check import, so no check module and the report import each other.
//!
//! Serialized field names are public API (the `json` and `jsonl` formats print these types as they are), so they
//! only ever grow.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use vault_core::sys::NodeState;

pub use vault_core::sys::audit::AuditDevice;

/// Facts of the audit check.
#[derive(Clone, Debug, Serialize)]
pub struct AuditDetails {
    /// The enabled devices, by path.
    pub devices: Vec<AuditDevice>,
}

/// Facts of the backup check.
#[derive(Clone, Debug, Serialize)]
pub struct BackupDetails {
    /// The folder looked in.
    pub dir: PathBuf,
    /// The file-name glob.
    pub pattern: String,
    /// How many files matched.
    pub files: usize,
    /// The newest match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<PathBuf>,
    /// Its modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// Its age, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<f64>,
}

/// Facts of the canary check.
#[derive(Clone, Debug, Serialize)]
pub struct CanaryDetails {
    /// The KV v2 path read.
    pub path: String,
    /// How many reads were timed.
    pub reads: usize,
    /// Median latency, seconds.
    pub p50_seconds: f64,
    /// 99th-percentile latency, seconds (nearest rank: with fewer than 100 reads, the slowest).
    pub p99_seconds: f64,
    /// Slowest read, seconds.
    pub max_seconds: f64,
    /// All reads together, seconds (Prometheus summaries want it).
    pub sum_seconds: f64,
}

/// Facts of the cluster check: the raft configuration joined with autopilot's view of each server.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterDetails {
    /// The leader's node id, as autopilot names it.
    pub leader_id: String,
    /// The leader's last raft index, what each peer's `lag` is counted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_index: Option<u64>,
    /// How many peers vote.
    pub voters: usize,
    /// How many voters autopilot counts as healthy.
    pub healthy_voters: usize,
    /// How many voters must agree: more than half of them.
    pub quorum: usize,
    /// Autopilot's verdict on the whole cluster.
    pub healthy: bool,
    /// How many voters may fail before the cluster loses its quorum.
    pub failure_tolerance: u32,
    /// Every peer, sorted by node id.
    pub peers: Vec<PeerDetails>,
}

/// One raft peer, as the cluster check reports it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerDetails {
    /// The node id.
    pub node_id: String,
    /// Its cluster address (host:port of the raft listener).
    pub address: String,
    /// Whether it votes.
    pub voter: bool,
    /// Whether it leads.
    pub leader: bool,
    /// Autopilot's verdict on it; `null` when autopilot does not list it.
    pub healthy: Option<bool>,
    /// Autopilot's status: `leader`, `voter`, `non-voter`, `staging`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `alive`, `left`, `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_status: Option<String>,
    /// Seconds since the leader last heard from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contact_seconds: Option<f64>,
    /// The raft term of its last log entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_term: Option<u64>,
    /// The raft index of its last log entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_index: Option<u64>,
    /// Raft entries it is behind the leader (`leader_index` minus its `last_index`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Since when autopilot has seen it healthy without a break (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_since: Option<String>,
}

/// Facts of the reachability check.
#[derive(Clone, Debug, Serialize)]
pub struct ReachabilityDetails {
    /// The HTTP status `sys/health` answered.
    pub http_status: u16,
}

/// Facts of the state check.
#[derive(Clone, Debug, Serialize)]
pub struct StateDetails {
    /// The state the `sys/health` status code stands for.
    pub state: NodeState,
    /// Initialised.
    pub initialized: bool,
    /// Sealed.
    pub sealed: bool,
    /// A standby.
    pub standby: bool,
    /// A performance standby (Enterprise).
    pub performance_standby: bool,
    /// DR replication mode, when the server reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_dr_mode: Option<String>,
    /// Whether HA is enabled (raft storage always is), when `sys/leader` answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha_enabled: Option<bool>,
    /// Whether this node is the active one, when `sys/leader` answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_self: Option<bool>,
    /// The active node's API address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_address: Option<String>,
}

/// Facts of the seal check.
#[derive(Clone, Debug, Serialize)]
pub struct SealDetails {
    /// Seal type (`shamir`, or an auto-unseal type).
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Initialised.
    pub initialized: bool,
    /// Sealed.
    pub sealed: bool,
    /// Key shares needed to unseal.
    pub threshold: u32,
    /// Key shares that exist.
    pub shares: u32,
    /// Key shares entered so far towards unsealing.
    pub progress: u32,
}

/// Facts of the version check.
#[derive(Clone, Debug, Serialize)]
pub struct VersionDetails {
    /// The server's version, as `sys/health` reports it.
    pub version: String,
    /// The cluster's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The cluster's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// Facts of the clock-skew check.
#[derive(Clone, Debug, Serialize)]
pub struct SkewDetails {
    /// The server's clock, Unix seconds (whole seconds: that is all `sys/health` gives).
    pub server_time_utc: i64,
    /// This host's clock when the server read its own, Unix seconds.
    pub local_time_utc: f64,
    /// Server minus local, in seconds: positive when the server is ahead.
    pub skew_seconds: f64,
}

/// Facts of the TLS check.
#[derive(Clone, Debug, Serialize)]
pub struct TlsDetails {
    /// The name the certificate was checked against: `VAULT_TLS_SERVER_NAME`, else the address's host.
    pub server_name: String,
    /// Whether the chain verified against the trusted CAs (expiry and name included).
    pub verified: bool,
    /// Why it did not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// The negotiated protocol, e.g. `TLSv1_3`, when the handshake completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Certificates the server sent: its own plus intermediates.
    pub chain_length: usize,
    /// The served certificate's subject.
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Its serial number, colon-separated hex.
    pub serial: String,
    /// Its SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it.
    pub sha256: String,
    /// Valid from.
    pub not_before: DateTime<Utc>,
    /// Valid until.
    pub not_after: DateTime<Utc>,
    /// Seconds until `not_after` (negative once expired).
    pub expires_in_seconds: i64,
    /// Subject alternative names, as `DNS:name` and `IP:address`.
    pub san: Vec<String>,
    /// Whether a SAN covers `server_name`.
    pub san_matches: bool,
    /// The comparison with `--cert-file`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<CertFileDetails>,
}

/// How the certificate file on disk compares with the served certificate.
#[derive(Clone, Debug, Serialize)]
pub struct CertFileDetails {
    /// The file.
    pub path: PathBuf,
    /// Whether its first certificate is the served one.
    pub matches_served: bool,
    /// The file's certificate's fingerprint.
    pub sha256: String,
    /// The file's certificate's expiry.
    pub not_after: DateTime<Utc>,
}

/// Facts of the token check. Never the token or its accessor.
#[derive(Clone, Debug, Serialize)]
pub struct TokenDetails {
    /// Seconds left; 0 means it never expires (root tokens).
    pub ttl_seconds: u64,
    /// The TTL it was created with, seconds (what the thresholds are scaled to).
    pub creation_ttl_seconds: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// When it expires (RFC 3339), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// Its display name, e.g. `approle` or `token-monitoring`.
    pub display_name: String,
    /// Its policies.
    pub policies: Vec<String>,
}
