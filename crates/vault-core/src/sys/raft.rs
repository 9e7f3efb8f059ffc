//! Raft storage: the snapshot streamed out (`sys/storage/raft/snapshot`) and back in (`…/snapshot` or
//! `…/snapshot-force`) without holding it in memory, the cluster's peers, autopilot's view of its health, and
//! `sys/leader` (which node is active).

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
        self.send_stream(Method::POST, path, body, "application/octet-stream", op).await.map(drop)
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
