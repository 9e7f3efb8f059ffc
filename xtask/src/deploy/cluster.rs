//! `deploy --local DIR --nodes N`: a raft cluster of N nodes on one machine, for trying a cluster out and for the
//! tests of what must survive a leader change.
//!
//! Node 1 is the deployment `--local DIR` makes on its own (its folders, keys, AppRole credentials and job units
//! stay where a single node keeps them, so `--nodes 1` is today's deployment and a re-run with `--nodes 3` grows
//! it). Node K lives in `DIR/nodes/nodeK` with its own config, data and server log, listens on the
//! listen port + 2(K−1) (and the port after it for raft), presents node 1's certificate (issued for the loopback
//! names), writes node 1's audit files (the audit table is replicated, and a node whose configured devices differ
//! from it refuses to serve), and joins through `retry_join` blocks that name every other node with node 1's CA.
//! Node 1 is initialised and set up as usual; each other node is unsealed with the same shares, which is when it joins.
//! Autopilot then removes dead servers, but never below N voters, so a node that is down is waited for rather
//! than forgotten, while one that was replaced is cleaned up. `DIR/cluster.json` lists the nodes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use vault_core::sys::NodeState;
use vault_core::sys::raft::AutopilotConfig;
use vault_core::{Client, Config, SecretString};

use super::{Flavor, Layout, Outcome, Step, files, render, server};

/// How long a joining node may take to be unsealed and counted: a join is a few seconds on loopback.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// One node of a local cluster.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub layout: Layout,
    pub listen: SocketAddr,
    pub api_addr: String,
}

/// The nodes of a local deployment under `dir` whose first node listens on `listen`; node 1 is `primary`.
pub fn nodes(primary: &Layout, dir: &Path, listen: SocketAddr, host: &str, count: usize) -> anyhow::Result<Vec<Node>> {
    (1..=count)
        .map(|k| {
            let port = u16::try_from(usize::from(listen.port()) + 2 * (k - 1))
                .ok()
                .filter(|port| *port < u16::MAX)
                .with_context(|| format!("node{k} would listen past port 65534: choose a lower --listen port"))?;
            let layout = if k == 1 {
                primary.clone()
            } else {
                // The audit table is replicated: OpenBao refuses to serve when a node's configured audit devices
                // differ from it, so every node names node 1's files (on one machine they append to the same
                // files, a line per write; on separate hosts the paths are the same anyway).
                Layout {
                    audit_dir: primary.audit_dir.clone(),
                    audit_secondary_dir: primary.audit_secondary_dir.clone(),
                    ..Layout::local(&dir.join("nodes").join(format!("node{k}")))
                }
            };
            Ok(Node {
                name: format!("vault-{k}"),
                layout,
                listen: SocketAddr::new(listen.ip(), port),
                api_addr: format!("https://{host}:{port}"),
            })
        })
        .collect()
}

/// The `retry_join` addresses of node `index`: every other node.
pub fn peers(nodes: &[Node], index: usize) -> Vec<String> {
    nodes.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, node)| node.api_addr.clone()).collect()
}

/// Brings nodes 2..N up next to an unsealed node 1: folders, node 1's certificate, config, server, unseal (which
/// joins it), then waits until the node serves as a standby. `shares` are node 1's unseal keys; when they are
/// encrypted to key holders (empty here), the nodes are left sealed for them.
pub async fn converge_followers(
    nodes: &[Node],
    bin: &Path,
    flavor: Flavor,
    ui: bool,
    shares: &[SecretString],
) -> anyhow::Result<Vec<Step>> {
    let primary = &nodes[0].layout;
    let mut steps = Vec::new();
    for (index, node) in nodes.iter().enumerate().skip(1) {
        let layout = &node.layout;
        for (dir, mode) in [
            (layout.config_file.parent().expect("config has a folder").to_path_buf(), 0o750),
            (layout.tls_dir.clone(), 0o750),
            (layout.data_dir.clone(), 0o700),
            (layout.log_file.parent().expect("log has a folder").to_path_buf(), 0o750),
        ] {
            files::ensure_dir(&dir, mode)?;
        }
        let mut changed = false;
        for (name, mode) in [("ca.pem", 0o644), ("server.pem", 0o644), ("server-key.pem", 0o600)] {
            let source = primary.tls_dir.join(name);
            let bytes = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
            changed |= files::write_if_changed(&layout.tls_dir.join(name), &bytes, mode)?;
        }
        let settings = render::ServerSettings {
            flavor,
            listen: node.listen,
            api_addr: &node.api_addr,
            ui,
            node_id: &node.name,
            retry_join: peers(nodes, index),
            leader_ca: Some(primary.ca_file()),
        };
        let config = render::render(layout, &settings);
        changed |= files::write_if_changed(&layout.config_file, config.as_bytes(), 0o640)?;

        let (verb, pid) = match server::running_pid(layout) {
            Some(pid) if !changed => ("running", pid),
            running => {
                if running.is_some() {
                    server::stop_local(layout)?;
                }
                let verb = if running.is_some() { "restarted with the new config" } else { "started" };
                (verb, server::start_local(layout, bin)?)
            }
        };
        let client = node_client(node, primary)?;
        let state = join(&client, layout, shares).await?;
        let detail = format!("{verb} (pid {pid}, {}, log {}): {state}", node.api_addr, layout.log_file.display());
        let outcome = match state {
            JoinState::Sealed => Outcome::Pending,
            _ if verb != "running" => Outcome::Changed,
            JoinState::Unsealed => Outcome::Changed,
            JoinState::Serving => Outcome::Ok,
        };
        steps.push(Step::new(&format!("node {}", node.name), outcome, detail));
    }
    Ok(steps)
}

/// Where a joining node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinState {
    /// It already served (unsealed standby or active).
    Serving,
    /// This run unsealed it, and it serves.
    Unsealed,
    /// Sealed, and the shares are not here to unseal it.
    Sealed,
}

impl std::fmt::Display for JoinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinState::Serving => "serving",
            JoinState::Unsealed => "unsealed, joined",
            JoinState::Sealed => "sealed: its key holders must unseal it (scripts/vault/unseal with its address)",
        })
    }
}

/// Unseals a node that `retry_join` brings in. Until the join has fetched the keyring the node says it is not
/// initialised and refuses unseal keys, so the keys are offered again until it serves.
pub(super) async fn join(client: &Client, layout: &Layout, shares: &[SecretString]) -> anyhow::Result<JoinState> {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    let mut unsealed = false;
    loop {
        let state = match client.health().await {
            Ok(health) => health.state,
            Err(vault_core::Error::Unreachable { .. }) => NodeState::Unknown,
            Err(error) => return Err(error).context("asking a joining node for its health"),
        };
        match state {
            NodeState::Active | NodeState::Standby | NodeState::PerformanceStandby => {
                return Ok(if unsealed { JoinState::Unsealed } else { JoinState::Serving });
            }
            NodeState::Sealed | NodeState::Uninitialized if shares.is_empty() => return Ok(JoinState::Sealed),
            // Refused while the join is under way: the next round offers the keys again.
            NodeState::Sealed | NodeState::Uninitialized => unsealed |= client.unseal_with(shares).await.is_ok(),
            _ => {}
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "{} did not join the cluster within {}s; its log ends:\n{}",
                layout.config_file.display(),
                JOIN_TIMEOUT.as_secs(),
                server::log_tail(layout, 15)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An anonymous client for one node, trusting node 1's CA.
fn node_client(node: &Node, primary: &Layout) -> anyhow::Result<Client> {
    let addr = match node.listen.ip() {
        ip if ip.is_unspecified() => format!("https://127.0.0.1:{}", node.listen.port()),
        _ => format!("https://{}", node.listen),
    };
    let mut config = Config::with_token(&addr, SecretString::default())?;
    config.auth = vault_core::config::AuthConfig::None;
    config.tls.ca_cert = Some(primary.ca_file());
    Ok(Client::new(config)?)
}

/// How long autopilot waits before it removes a server that stopped answering.
const DEAD_SERVER_THRESHOLD: &str = "24h";

/// Autopilot: dead servers are removed, but never below `nodes` voters (from 3 nodes on).
pub async fn autopilot(admin: &Client, nodes: usize) -> anyhow::Result<Step> {
    // The server refuses dead-server cleanup with a minimum quorum under 3 (and two nodes have no fault
    // tolerance to protect anyway): left as it is.
    if nodes < 3 {
        return Ok(Step::ok("autopilot", format!("dead servers are not removed automatically with {nodes} nodes")));
    }
    let current = admin.autopilot_config().await.context("reading autopilot's configuration")?;
    converge_autopilot(admin, &current, u32::try_from(nodes)?).await
}

/// Autopilot after a node joined a cluster on hosts (`--join`): dead servers are removed once the cluster has
/// 3 voters, never below the voters it has now, nor below a minimum quorum the cluster already has (a re-run
/// on a node of a cluster that has since grown, or an operator's higher setting, is never undone).
pub async fn autopilot_for_voters(admin: &Client, voters: usize) -> anyhow::Result<Step> {
    if voters < 3 {
        return Ok(Step::ok(
            "autopilot",
            format!(
                "dead servers are not removed automatically with {voters} voter(s): the join that makes 3 voters sets it"
            ),
        ));
    }
    let current = admin.autopilot_config().await.context("reading autopilot's configuration")?;
    let min_quorum = u32::try_from(voters)?.max(current.min_quorum);
    converge_autopilot(admin, &current, min_quorum).await
}

/// The command an operator runs to set what [`autopilot_for_voters`] sets, for a cluster of `min_quorum` voters.
pub fn autopilot_command(min_quorum: usize) -> String {
    format!(
        "bao operator raft autopilot set-config -cleanup-dead-servers=true \
         -dead-server-last-contact-threshold={DEAD_SERVER_THRESHOLD} -min-quorum={min_quorum}"
    )
}

/// Sets dead-server cleanup after [`DEAD_SERVER_THRESHOLD`] with `min_quorum` (at least 3) unless `current`
/// already says so.
async fn converge_autopilot(admin: &Client, current: &AutopilotConfig, min_quorum: u32) -> anyhow::Result<Step> {
    let wanted = AutopilotConfig {
        cleanup_dead_servers: true,
        dead_server_last_contact_threshold: DEAD_SERVER_THRESHOLD.to_owned(),
        min_quorum,
    };
    let detail = format!("dead servers are removed after {DEAD_SERVER_THRESHOLD}, never below {min_quorum} voters");
    let threshold = |text: &str| vault_core::config::parse_duration(text);
    if current.cleanup_dead_servers
        && current.min_quorum == wanted.min_quorum
        && threshold(&current.dead_server_last_contact_threshold) == threshold(DEAD_SERVER_THRESHOLD)
    {
        return Ok(Step::ok("autopilot", detail));
    }
    admin.set_autopilot_config(&wanted).await.context("configuring autopilot")?;
    Ok(Step::changed("autopilot", detail))
}

/// Waits until every node is a raft voter, and reports them.
pub async fn voters(admin: &Client, nodes: &[Node]) -> anyhow::Result<Step> {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    loop {
        let peers = admin.raft_peers().await.context("reading the raft configuration")?;
        let missing: Vec<&str> = nodes
            .iter()
            .filter(|node| !peers.iter().any(|peer| peer.node_id == node.name && peer.voter))
            .map(|node| node.name.as_str())
            .collect();
        if missing.is_empty() {
            let leader = peers.iter().find(|peer| peer.leader).map_or("none", |peer| peer.node_id.as_str());
            let voters = peers.iter().filter(|peer| peer.voter).count();
            return Ok(Step::ok(
                "cluster",
                format!("{voters} voters, leader {leader}; it can lose {} node(s)", voters.saturating_sub(1) / 2),
            ));
        }
        if Instant::now() >= deadline {
            return Ok(Step::fail(
                "cluster",
                format!("not raft voters after {}s: {}", JOIN_TIMEOUT.as_secs(), missing.join(", ")),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `DIR/cluster.json`: what a test or an operator needs to find each node.
#[derive(Serialize)]
struct ClusterFile<'a> {
    nodes: Vec<NodeEntry<'a>>,
}

#[derive(Serialize)]
struct NodeEntry<'a> {
    name: &'a str,
    api_addr: &'a str,
    pid: Option<u32>,
    data_dir: &'a Path,
}

pub fn write_cluster_file(dir: &Path, nodes: &[Node]) -> anyhow::Result<PathBuf> {
    let file = ClusterFile {
        nodes: nodes
            .iter()
            .map(|node| NodeEntry {
                name: &node.name,
                api_addr: &node.api_addr,
                pid: server::running_pid(&node.layout),
                data_dir: &node.layout.data_dir,
            })
            .collect(),
    };
    let path = dir.join("cluster.json");
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    files::write_if_changed(&path, text.as_bytes(), 0o644)?;
    Ok(path)
}

/// The folders of nodes 2..N under a local deployment, for stopping them.
pub fn follower_layouts(dir: &Path) -> Vec<Layout> {
    let Ok(entries) = std::fs::read_dir(dir.join("nodes")) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.iter().map(|d| Layout::local(d)).collect()
}
