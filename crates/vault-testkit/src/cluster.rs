//! A raft cluster of OpenBao nodes on loopback, for testing what must survive a leader change: every node has a TLS
//! listener signed by the cluster's own CA, joins the first through `retry_join`, and is unsealed with the real key
//! shares from one `sys/init`. A node can be killed, stopped, restarted (and unsealed) on its data, or frozen with
//! SIGSTOP, which is what a network partition looks like to its peers: it neither answers nor hangs up.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use rustix::process::Signal;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http;
use crate::install::bao_binary;
use crate::ports::Ports;
use crate::process::{self, ServerProcess};
use crate::tls::{hcl_string, write_certificates};
use crate::workdir::WorkDir;

const NAME: &str = "OpenBao cluster node";
/// How long a node's listener may take to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the cluster may take to elect a leader or to take a node back: raft elections on loopback with
/// `performance_multiplier = 1` take one to three seconds, a join a few more.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Raft takes 2.5–3.5 s to exit on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// One node of a [`Cluster`].
#[derive(Debug)]
struct Node {
    name: String,
    addr: String,
    dir: PathBuf,
    config_path: PathBuf,
    /// `None` once killed or stopped.
    process: Option<ServerProcess>,
}

/// A raft cluster of OpenBao (or Vault) nodes with TLS on free loopback ports; killed and removed on drop.
///
/// ```no_run
/// # async fn demo() -> vault_testkit::Result<()> {
/// let mut cluster = vault_testkit::Cluster::start(3).await?;
/// let leader = cluster.leader().await?;
/// cluster.kill(leader);
/// let next = cluster.wait_for_leader().await?;
/// assert_ne!(next, leader);
/// cluster.restart(leader).await?; // comes back unsealed and rejoins as a follower
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Cluster {
    // Fields drop in order: the processes must be gone before the directory is removed.
    nodes: Vec<Node>,
    dir: WorkDir,
    _ports: Ports,
    client: Client,
    ca_cert_path: PathBuf,
    bao: PathBuf,
    root_token: String,
    unseal_keys: Vec<String>,
}

impl Cluster {
    /// Starts `size` nodes (3 or 5 for a real quorum; 1 works too), initialises the first, unseals every node and
    /// returns once all of them are raft voters and the first is the active node.
    pub async fn start(size: usize) -> Result<Cluster> {
        if size == 0 {
            return Err(Error::Setup {
                problem: "a cluster needs at least one node".to_owned(),
                fix: "ask for 3".to_owned(),
            });
        }
        let bao = crate::blocking(bao_binary).await?;
        crate::start_with_retry(|| start_once(&bao, size)).await
    }

    /// How many nodes the cluster has (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes; never true for a started cluster.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The API address of node `index`, `https://127.0.0.1:PORT`.
    pub fn addr(&self, index: usize) -> &str {
        &self.nodes[index].addr
    }

    /// Every node's API address, in node order.
    pub fn addrs(&self) -> Vec<&str> {
        self.nodes.iter().map(|node| node.addr.as_str()).collect()
    }

    /// The raft node ID of node `index`: `node1`, `node2`, ….
    pub fn node_id(&self, index: usize) -> &str {
        &self.nodes[index].name
    }

    /// The directory of node `index`: `config.hcl`, `raft/`, `server.log`.
    pub fn node_dir(&self, index: usize) -> &Path {
        &self.nodes[index].dir
    }

    /// The CA certificate every node's certificate chains to; what `VAULT_CACERT` points at.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert_path
    }

    /// The root token from `sys/init`.
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The unseal keys from `sys/init` (base64).
    pub fn unseal_keys(&self) -> &[String] {
        &self.unseal_keys
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process ID of node `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].process.as_ref().map(ServerProcess::pid)
    }

    /// Whether node `index` runs (a frozen node runs).
    pub fn is_running(&self, index: usize) -> bool {
        self.nodes[index].process.as_ref().is_some_and(ServerProcess::is_running)
    }

    /// What node `index` printed so far, for failure messages.
    pub fn log(&self, index: usize) -> String {
        fs::read(self.nodes[index].dir.join("server.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// `VAULT_ADDR` (node `index`), `VAULT_CACERT` and `VAULT_TOKEN` (root) for a process that talks to the cluster
    /// through that node.
    pub fn env(&self, index: usize) -> Vec<(String, String)> {
        vec![
            ("VAULT_ADDR".to_owned(), self.nodes[index].addr.clone()),
            ("VAULT_CACERT".to_owned(), self.ca_cert_path.to_string_lossy().into_owned()),
            ("VAULT_TOKEN".to_owned(), self.root_token.clone()),
        ]
    }

    /// The index of the active node, asked of every running node: the one whose `sys/leader` says `is_self`.
    pub async fn leader(&self) -> Result<usize> {
        for (index, node) in self.nodes.iter().enumerate() {
            if node.process.is_none() {
                continue;
            }
            if let Ok(answer) = self.get(&node.addr, "/v1/sys/leader").await
                && answer["is_self"] == true
            {
                return Ok(index);
            }
        }
        Err(Error::Api {
            server: NAME,
            action: "GET /v1/sys/leader".to_owned(),
            detail: "no running node says it is the leader".to_owned(),
        })
    }

    /// Waits until some running node is active (`sys/health` 200) and returns its index.
    pub async fn wait_for_leader(&self) -> Result<usize> {
        let start = Instant::now();
        loop {
            for (index, node) in self.nodes.iter().enumerate() {
                if node.process.is_some() && self.health(&node.addr).await == Some(StatusCode::OK) {
                    return Ok(index);
                }
            }
            if start.elapsed() > CONVERGE_TIMEOUT {
                return Err(self.not_converged("no node became active", start));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every running node is unsealed and in the raft configuration as a voter, and one is active.
    pub async fn wait_until_healthy(&self) -> Result<usize> {
        let start = Instant::now();
        loop {
            if let Ok(leader) = self.leader().await
                && self.all_running_nodes_serve().await
                && self.voters().await.is_ok_and(|voters| {
                    self.nodes.iter().all(|node| node.process.is_none() || voters.contains(&node.name))
                })
            {
                return Ok(leader);
            }
            if start.elapsed() > CONVERGE_TIMEOUT {
                return Err(self.not_converged("the running nodes did not all become unsealed voters", start));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The node IDs raft counts as voters, from `sys/storage/raft/configuration` on the active node.
    pub async fn voters(&self) -> Result<Vec<String>> {
        let leader = self.leader().await?;
        let answer =
            self.api(&self.nodes[leader].addr, Method::GET, "/v1/sys/storage/raft/configuration", None).await?;
        let servers = answer["data"]["config"]["servers"].as_array().cloned().unwrap_or_default();
        Ok(servers
            .iter()
            .filter(|server| server["voter"] == true)
            .filter_map(|server| server["node_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// Kills node `index` with SIGKILL, as a crash or a pulled plug would; its data stays for [`restart`](Self::restart).
    pub fn kill(&mut self, index: usize) {
        // Dropping the process handle kills and reaps it.
        self.nodes[index].process = None;
    }

    /// Stops node `index` gracefully (SIGTERM, as systemd would), keeping its data.
    pub async fn stop(&mut self, index: usize) {
        if let Some(process) = self.nodes[index].process.take() {
            process.stop(Signal::TERM, STOP_GRACE).await;
        }
    }

    /// Freezes node `index` (SIGSTOP): its peers and clients see a node that accepts connections and never answers,
    /// like one cut off by a partition. [`resume`](Self::resume) thaws it.
    pub fn freeze(&self, index: usize) {
        if let Some(process) = &self.nodes[index].process {
            process.send(Signal::STOP);
        }
    }

    /// Thaws a node frozen by [`freeze`](Self::freeze).
    pub fn resume(&self, index: usize) {
        if let Some(process) = &self.nodes[index].process {
            process.send(Signal::CONT);
        }
    }

    /// Starts node `index` again on its data (stopping it first if it runs), unseals it, and waits until the
    /// cluster counts it as a voter again.
    pub async fn restart(&mut self, index: usize) -> Result<()> {
        self.stop(index).await;
        let node = &mut self.nodes[index];
        node.process = Some(spawn(&self.bao, &node.dir, &node.config_path)?);
        self.wait_for_listener(index).await?;
        self.unseal(index).await?;
        self.wait_until_healthy().await.map(drop)
    }

    /// Unseals node `index` with the stored keys.
    pub async fn unseal(&self, index: usize) -> Result<()> {
        let addr = &self.nodes[index].addr;
        for key in &self.unseal_keys {
            let answer = self.api(addr, Method::PUT, "/v1/sys/unseal", Some(json!({ "key": key }))).await?;
            if answer["sealed"] == false {
                break;
            }
        }
        Ok(())
    }

    async fn wait_for_listener(&self, index: usize) -> Result<()> {
        let node = &self.nodes[index];
        let process = node.process.as_ref().ok_or_else(|| Error::Setup {
            problem: format!("{} is not running", node.name),
            fix: "restart it first".to_owned(),
        })?;
        let health = format!("{}/v1/sys/health", node.addr);
        process.wait_for(LISTEN_TIMEOUT, || http::probe(&self.client, &health, |_| true)).await.map(drop)
    }

    async fn all_running_nodes_serve(&self) -> bool {
        for node in &self.nodes {
            if node.process.is_some()
                && !matches!(self.health(&node.addr).await, Some(StatusCode::OK | StatusCode::TOO_MANY_REQUESTS))
            {
                return false;
            }
        }
        true
    }

    /// `sys/health`'s status: 200 active, 429 standby, 503 sealed, 501 not initialised; `None` when unreachable.
    async fn health(&self, addr: &str) -> Option<StatusCode> {
        let request = self.client.get(format!("{addr}/v1/sys/health")).timeout(Duration::from_secs(2));
        request.send().await.ok().map(|response| response.status())
    }

    async fn get(&self, addr: &str, path: &str) -> Result<Value> {
        self.api(addr, Method::GET, path, None).await
    }

    /// One API call with the root token; any status but 2xx is an error carrying the body.
    async fn api(&self, addr: &str, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        http::api(&self.client, NAME, addr, method, path, Some(&self.root_token), body).await
    }

    fn not_converged(&self, what: &str, start: Instant) -> Error {
        let logs: Vec<String> = (0..self.nodes.len())
            .map(|index| format!("--- {} ---\n{}", self.nodes[index].name, crate::error::tail(&self.log(index), 15)))
            .collect();
        Error::NotReady { server: NAME, waited: start.elapsed(), reason: what.to_owned(), log_tail: logs.join("\n") }
    }
}

async fn start_once(bao: &Path, size: usize) -> Result<Cluster> {
    let ports = Ports::reserve(size, &[0, 1])?;
    let dir = WorkDir::new("cluster")?;
    let ca_pem = write_certificates(dir.path())?;
    let ca_cert_path = dir.path().join("ca.pem");
    let addrs: Vec<String> = (0..size).map(|index| format!("https://127.0.0.1:{}", ports.get(index))).collect();
    let mut nodes = Vec::with_capacity(size);
    for (index, addr) in addrs.iter().enumerate() {
        let name = format!("node{}", index + 1);
        let node_dir = dir.path().join(&name);
        let raft = node_dir.join("raft");
        fs::create_dir_all(&raft).map_err(|e| Error::io(format!("cannot create {}", raft.display()), e))?;
        let config_path = node_dir.join("config.hcl");
        let config = node_config(&name, ports.get(index), dir.path(), &node_dir, &addrs);
        fs::write(&config_path, config).map_err(|e| Error::io(format!("cannot write {}", config_path.display()), e))?;
        let process = spawn(bao, &node_dir, &config_path)?;
        nodes.push(Node { name, addr: addr.clone(), dir: node_dir, config_path, process: Some(process) });
    }
    let client = http::tls_client(NAME, ca_pem.as_bytes())?;
    let mut cluster = Cluster {
        nodes,
        dir,
        _ports: ports,
        client,
        ca_cert_path,
        bao: bao.to_owned(),
        root_token: String::new(),
        unseal_keys: Vec::new(),
    };
    for index in 0..size {
        cluster.wait_for_listener(index).await?;
    }
    let init = http::api(
        &cluster.client,
        NAME,
        &cluster.nodes[0].addr,
        Method::PUT,
        "/v1/sys/init",
        None,
        Some(json!({ "secret_shares": 1, "secret_threshold": 1 })),
    )
    .await?;
    let keys: Vec<String> = init["keys_base64"]
        .as_array()
        .map(|keys| keys.iter().filter_map(|key| key.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let Some(root_token) = init["root_token"].as_str().filter(|_| !keys.is_empty()) else {
        return Err(Error::Api {
            server: NAME,
            action: "PUT /v1/sys/init".to_owned(),
            detail: "the answer has no keys_base64 or root_token".to_owned(),
        });
    };
    cluster.root_token = root_token.to_owned();
    cluster.unseal_keys = keys;
    // The first node must lead before the others can join it.
    cluster.unseal(0).await?;
    cluster.wait_for_leader().await?;
    for index in 1..size {
        // A joining node answers "sealed" until retry_join has fetched the keyring; unseal once it has joined.
        cluster.unseal_when_joined(index).await?;
    }
    cluster.wait_until_healthy().await?;
    Ok(cluster)
}

impl Cluster {
    /// Unseals a node that `retry_join` is bringing in: the unseal call is refused while the join is still under
    /// way, so it is repeated until the node is unsealed.
    async fn unseal_when_joined(&self, index: usize) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.unseal(index).await.is_ok()
                && matches!(
                    self.health(&self.nodes[index].addr).await,
                    Some(StatusCode::OK | StatusCode::TOO_MANY_REQUESTS)
                )
            {
                return Ok(());
            }
            if start.elapsed() > CONVERGE_TIMEOUT {
                return Err(self.not_converged(&format!("{} did not join and unseal", self.nodes[index].name), start));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn node_config(name: &str, port: u16, cluster_dir: &Path, node_dir: &Path, addrs: &[String]) -> String {
    let cluster_port = port + 1;
    let raft = hcl_string(&node_dir.join("raft"));
    let cert = hcl_string(&cluster_dir.join("server.pem"));
    let key = hcl_string(&cluster_dir.join("server-key.pem"));
    let ca = hcl_string(&cluster_dir.join("ca.pem"));
    let own = format!("https://127.0.0.1:{port}");
    let joins: String = addrs
        .iter()
        .filter(|addr| **addr != own)
        .map(|addr| {
            format!("  retry_join {{\n    leader_api_addr = \"{addr}\"\n    leader_ca_cert_file = {ca}\n  }}\n")
        })
        .collect();
    format!(
        r#"api_addr = "{own}"
cluster_addr = "https://127.0.0.1:{cluster_port}"

storage "raft" {{
  path = {raft}
  node_id = "{name}"
  performance_multiplier = 1
{joins}}}

listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file = {cert}
  tls_key_file = {key}
  tls_min_version = "tls12"
}}
"#
    )
}

fn spawn(bao: &Path, dir: &Path, config_path: &Path) -> Result<ServerProcess> {
    let mut command = process::command(bao, None)?;
    command.arg("server").arg(format!("-config={}", config_path.display())).env("HOME", dir).current_dir(dir);
    process::scrub_env(&mut command, &["VAULT_", "BAO_"]);
    ServerProcess::spawn(NAME, command, &dir.join("server.log"), Signal::KILL)
}

impl Cluster {
    /// Starts node `index` again on its data (stopping it first if it runs) and waits for its listener only: the
    /// node stays sealed, for a test whose keys are no longer the cluster's (a snapshot of another cluster was
    /// restored into it, and the tool under test unseals it).
    pub async fn restart_sealed(&mut self, index: usize) -> Result<()> {
        self.stop(index).await;
        let node = &mut self.nodes[index];
        node.process = Some(spawn(&self.bao, &node.dir, &node.config_path)?);
        self.wait_for_listener(index).await
    }
}
