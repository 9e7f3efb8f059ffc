//! Raft storage: the snapshot streamed out (`sys/storage/raft/snapshot`) and back in (`…/snapshot` or
//! `…/snapshot-force`) without holding it in memory, the cluster's peers, autopilot's view of its health, and
//! `sys/leader` (which node is active).

use std::collections::BTreeMap;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Op};
use crate::error::{Error, Result};

/// A snapshot as a stream of chunks.
pub type SnapshotStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

const SNAPSHOT: &str = "sys/storage/raft/snapshot";
const SNAPSHOT_FORCE: &str = "sys/storage/raft/snapshot-force";
const AUTOPILOT_CONFIG: &str = "sys/storage/raft/autopilot/configuration";

/// One member of the raft cluster, from `sys/storage/raft/configuration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftPeer {
    /// The node's id.
    #[serde(default)]
    pub node_id: String,
    /// Its cluster address.
    #[serde(default)]
    pub address: String,
    /// Whether it leads.
    #[serde(default)]
    pub leader: bool,
    /// Whether it votes.
    #[serde(default)]
    pub voter: bool,
}

/// Autopilot's view of the cluster (`sys/storage/raft/autopilot/state`), the fields the toolkit reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AutopilotState {
    /// Whether every voter is healthy.
    #[serde(default)]
    pub healthy: bool,
    /// How many voters may fail before the cluster loses its quorum.
    #[serde(default)]
    pub failure_tolerance: u32,
    /// The leader's node id.
    #[serde(default)]
    pub leader: String,
    /// The voters' node ids.
    #[serde(default)]
    pub voters: Vec<String>,
    /// Every server autopilot knows (voters and non-voters), by node id.
    #[serde(default)]
    pub servers: BTreeMap<String, AutopilotServer>,
}

impl AutopilotState {
    /// The leader's last raft index, from its own entry in `servers`; `None` when autopilot names no leader or
    /// does not list it.
    pub fn leader_index(&self) -> Option<u64> {
        self.servers.get(&self.leader).map(|leader| leader.last_index)
    }

    /// How many raft entries `server` is behind the leader (the leader's last index minus the server's), 0 for
    /// the leader itself and for a server that is momentarily ahead of the leader's entry as autopilot read it;
    /// `None` when the leader's index is unknown.
    pub fn lag(&self, server: &AutopilotServer) -> Option<u64> {
        self.leader_index().map(|leader| leader.saturating_sub(server.last_index))
    }
}

/// One server in autopilot's state: its identity, how recently the leader heard from it, how far its log has
/// got and autopilot's verdict on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotServer {
    /// The node id.
    #[serde(default)]
    pub id: String,
    /// The node's name (the node id on Vault and OpenBao).
    #[serde(default)]
    pub name: String,
    /// Its cluster address.
    #[serde(default)]
    pub address: String,
    /// `alive`, `left`, `failed` or `unknown`.
    #[serde(default)]
    pub node_status: String,
    /// How long ago the leader last heard from it, a Go duration such as `0s` or `1.5s`
    /// ([`AutopilotServer::last_contact_seconds`] reads it).
    #[serde(default)]
    pub last_contact: String,
    /// The raft term of its last log entry.
    #[serde(default)]
    pub last_term: u64,
    /// The raft index of its last log entry.
    #[serde(default)]
    pub last_index: u64,
    /// Autopilot's verdict: in contact, on the leader's term and not too far behind.
    #[serde(default)]
    pub healthy: bool,
    /// `leader`, `voter`, `non-voter` or `staging`.
    #[serde(default)]
    pub status: String,
    /// Since when it has been healthy without a break (RFC 3339).
    #[serde(default)]
    pub stable_since: String,
}

impl AutopilotServer {
    /// `last_contact` in seconds; `None` when it is not a duration Go would print.
    pub fn last_contact_seconds(&self) -> Option<f64> {
        go_duration_seconds(&self.last_contact)
    }
}

/// Reads a duration as Go's `time.Duration` prints it (`0s`, `850µs`, `1.5s`, `2m3.25s`, `1h0m0s`) into seconds.
fn go_duration_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Some(if negative { -total } else { total })
}

/// Autopilot's settings (`sys/storage/raft/autopilot/configuration`), the fields the toolkit sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfig {
    /// Whether servers that stopped answering are removed from the raft configuration.
    #[serde(default)]
    pub cleanup_dead_servers: bool,
    /// How long a server must have been silent before it counts as dead (a duration such as `24h`).
    #[serde(default)]
    pub dead_server_last_contact_threshold: String,
    /// Dead servers are never removed below this many voters.
    #[serde(default)]
    pub min_quorum: u32,
}

/// `sys/leader`: whether HA is on, whether this node is the active one, and the active node's address.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Leader {
    /// Whether HA is enabled (raft storage always is).
    #[serde(default)]
    pub ha_enabled: bool,
    /// Whether the node asked is the active one.
    #[serde(default)]
    pub is_self: bool,
    /// The active node's API address.
    #[serde(default)]
    pub leader_address: String,
}

impl Client {
    /// Starts streaming the raft snapshot: retried until the answer starts, never after. The stream yields the
    /// gzip'd archive as the server sends it.
    pub async fn raft_snapshot(&self) -> Result<SnapshotStream> {
        let response = self.get_stream(SNAPSHOT).await?;
        Ok(Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other))))
    }

    /// Restores a snapshot streamed from `snapshot`, which is sent as it is read (never held in memory). With
    /// `force` it goes to `snapshot-force`, which accepts a snapshot of another cluster (its keyring replaces
    /// the server's, which then seals itself). A stream that fails makes the upload fail: the server never
    /// applies a partial snapshot. Not retried, as the stream cannot be read twice.
    pub async fn raft_snapshot_restore<S>(&self, snapshot: S, force: bool) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let path = if force { SNAPSHOT_FORCE } else { SNAPSHOT };
        let op = Op::new("restore a snapshot into", path);
        let body = reqwest::Body::wrap_stream(snapshot);
        self.send_stream(Method::POST, path, body, "application/octet-stream", op).await?;
        // The restored data has its own raft index: asking for the one this client saw before would stall reads.
        self.read_index().forget();
        Ok(())
    }

    /// The raft cluster's members.
    pub async fn raft_peers(&self) -> Result<Vec<RaftPeer>> {
        #[derive(Deserialize)]
        struct Configuration {
            config: Servers,
        }
        #[derive(Deserialize)]
        struct Servers {
            #[serde(default)]
            servers: Vec<RaftPeer>,
        }
        let answer: Configuration = self.read_data(Method::GET, "sys/storage/raft/configuration", None).await?;
        Ok(answer.config.servers)
    }

    /// Autopilot's state of the raft cluster.
    pub async fn autopilot_state(&self) -> Result<AutopilotState> {
        const PATH: &str = "sys/storage/raft/autopilot/state";
        let answer = self.request(Method::GET, PATH, None).await?.unwrap_or_default();
        let data = answer.get("data").filter(|d| d.is_object()).unwrap_or(&answer).clone();
        serde_json::from_value(data)
            .map_err(|e| Error::Response { path: PATH.into(), detail: format!("unexpected answer: {e}") })
    }

    /// Autopilot's settings.
    pub async fn autopilot_config(&self) -> Result<AutopilotConfig> {
        self.read_data(Method::GET, AUTOPILOT_CONFIG, None).await
    }

    /// Sets autopilot's dead-server cleanup; other settings keep their values.
    pub async fn set_autopilot_config(&self, config: &AutopilotConfig) -> Result<()> {
        let body = serde_json::to_value(config)
            .map_err(|e| Error::Response { path: AUTOPILOT_CONFIG.into(), detail: e.to_string() })?;
        self.request(Method::POST, AUTOPILOT_CONFIG, Some(&body)).await.map(drop)
    }

    /// `sys/leader`, asked without a token. `None` when the server answers with an error status.
    pub async fn leader(&self) -> Result<Option<Leader>> {
        const PATH: &str = "sys/leader";
        let (status, body) = self.request_unchecked(Method::GET, PATH).await?;
        if !status.is_success() {
            return Ok(None);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Error::Response { path: PATH.into(), detail: format!("unexpected answer: {e}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_read_as_seconds() {
        assert_eq!(go_duration_seconds("0s"), Some(0.0));
        assert_eq!(go_duration_seconds("0"), Some(0.0));
        assert_eq!(go_duration_seconds("1.5s"), Some(1.5));
        assert_eq!(go_duration_seconds("250ms"), Some(0.25));
        assert_eq!(go_duration_seconds("2m3.5s"), Some(123.5));
        assert_eq!(go_duration_seconds("1h0m0s"), Some(3600.0));
        assert_eq!(go_duration_seconds("-2s"), Some(-2.0));
        assert!(go_duration_seconds("850µs").is_some_and(|s| (s - 0.00085).abs() < 1e-12));
        for bad in ["", "s", "1x", "1.2.3s", "abc"] {
            assert_eq!(go_duration_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lag_is_counted_from_the_leaders_index() {
        let answer = serde_json::json!({
            "healthy": false, "failure_tolerance": 0, "leader": "n1", "voters": ["n1", "n2", "n3"],
            "servers": {
                "n1": {"id": "n1", "name": "n1", "address": "127.0.0.1:8201", "node_status": "alive",
                       "last_contact": "0s", "last_term": 3, "last_index": 120, "healthy": true,
                       "stable_since": "2026-12-06T06:50:55Z", "status": "leader", "version": "2.7.2"},
                "n2": {"id": "n2", "last_index": 118, "healthy": true, "status": "voter", "last_contact": "12.5ms"},
                "n3": {"id": "n3", "last_index": 90, "healthy": false, "status": "voter", "last_contact": "14.2s"}
            }
        });
        let state: AutopilotState = serde_json::from_value(answer).unwrap();
        assert_eq!(state.leader_index(), Some(120));
        let lags: Vec<Option<u64>> = state.servers.values().map(|s| state.lag(s)).collect();
        assert_eq!(lags, [Some(0), Some(2), Some(30)]);
        assert_eq!(state.servers["n3"].last_contact_seconds(), Some(14.2));
        let no_leader = AutopilotState { leader: String::new(), ..state };
        assert_eq!(no_leader.lag(&no_leader.servers["n2"]), None);
    }
}
