//! `deploy --join URL`: this host becomes one more node of the raft cluster whose node answers at URL (the
//! second and third VPS of a three-node cluster), instead of a deployment of its own.
//!
//! Before anything is written the run checks its input: URL is https, the leader answers and its certificate
//! verifies against `--tls-ca`, it is initialised and unsealed, and this host does not already hold a deployment
//! of its own (raft data from a config that joins nobody, or a server that serves another cluster). Then the
//! local pieces are written as for any node (folders, TLS, the config with a `retry_join` block naming URL and
//! `--tls-ca`, this node's own `node_id`, node 1's audit file paths, the server under systemd or supervised),
//! but nothing that belongs to the cluster: a joining node is never initialised, and the policies, AppRoles,
//! audit devices, KV mount and credentials replicate from the leader. Unsealing is when it joins: with plaintext
//! share files in the keys folder (as node 1 keeps them) the run unseals it, else it stops for the key holders.
//! Then it waits until the node is a raft voter, when the operator's credentials are on this host to ask, and
//! sets the one piece of cluster-wide setup that no other run does on hosts: autopilot's dead-server cleanup,
//! once the cluster has 3 live voters (after 24h, never below the live voters it has now: a dead node that
//! this one replaces is not counted). Without those credentials that step is skipped with a warning that names
//! the re-run or the command that sets it.
//!
//! With `--local DIR` (nodes on one machine, as the tests run them) `--leader-dir` names node 1's folder,
//! whose audit file paths this node takes; without it the run stops before anything is written.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::sys::NodeState;
use vault_core::sys::raft::{AutopilotServer, AutopilotState, RaftPeer};
use vault_core::{Client, Config, SecretString};

use super::cluster::{self, JoinState};
use super::{Args, Layout, Outcome, Step, server};

/// How long the leader may take to answer the check before anything is written.
const LEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node that serves may take to be counted as a voter (autopilot promotes a new server once it has
/// been healthy for its stabilisation time, 10 s by default).
const VOTER_TIMEOUT: Duration = Duration::from_secs(60);

/// What was checked before anything is written.
pub struct Plan {
    /// The leader's API address, as given.
    pub url: String,
    /// This node's raft node id.
    pub node_id: String,
}

/// Checks `--join`'s input and the leader, before anything changes. `api_addr` is this node's own address.
pub async fn check(args: &Args, layout: &Layout, api_addr: &str) -> anyhow::Result<Plan> {
    let url_text = args.join.as_deref().unwrap_or_default();
    if args.nodes > 1 {
        vault_core::usage_bail!("--join makes this host one node of an existing cluster: it does not go with --nodes");
    }
    if !args.pgp_keys.is_empty() {
        vault_core::usage_bail!("--pgp-keys is for the first node's init: a joining node is never initialised");
    }
    let url = match url::Url::parse(url_text) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() => url,
        _ => vault_core::usage_bail!(
            "--join {url_text:?} is not an https:// URL of the first node (like https://10.0.0.2:8200)"
        ),
    };
    let Some(ca) = args.tls_ca.as_deref() else {
        vault_core::usage_bail!("--join needs --tls-ca: the CA that signed the first node's certificate");
    };
    if args.tls_cert.is_none() && args.tls_ca_key.is_none() {
        vault_core::usage_bail!(
            "--join needs this node's certificate: --tls-cert and --tls-key, or --tls-ca-key to issue it here from --tls-ca"
        );
    }
    if let Some(key) = &args.tls_ca_key {
        super::tls::read_ca(ca, key)?;
    }
    check_leader_dir(args)?;
    let node_id = match &args.node_id {
        Some(id) if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => {
            vault_core::usage_bail!("--node-id {id:?}: use letters, digits, '-', '_' and '.'")
        }
        Some(id) => id.clone(),
        None => default_node_id(api_addr),
    };
    if node_id == "vault-1" {
        vault_core::usage_bail!("--node-id vault-1 is the first node's: give this node a name of its own");
    }
    let mut address = url.clone();
    address.set_path("");
    let leader = anonymous(address.as_str().trim_end_matches('/'), ca)?;
    let health = leader.health().await.with_context(|| {
        format!(
            "--join {url_text}: the first node does not answer, or its certificate does not verify against {}",
            ca.display()
        )
    })?;
    match health.state {
        NodeState::Active | NodeState::Standby | NodeState::PerformanceStandby => {}
        NodeState::Sealed => {
            return Err(vault_core::Error::Sealed { address: url_text.to_owned() })
                .context("--join: the node to join must be unsealed");
        }
        NodeState::Uninitialized => {
            return Err(vault_core::Error::NotInitialized { address: url_text.to_owned() })
                .context("--join: deploy the first node before joining it");
        }
        state => anyhow::bail!("--join {url_text}: the first node is {state:?}, not serving"),
    }
    let leader_cluster = health.body.cluster_id.unwrap_or_default();

    // This host must not already be a deployment of its own: raft data from a config that joins nobody, or a
    // server that serves another cluster.
    let config = std::fs::read_to_string(&layout.config_file).unwrap_or_default();
    if layout.data_dir.join("vault.db").exists() && !config.contains("retry_join") {
        vault_core::usage_bail!(
            "this host already holds a deployment of its own ({} has raft data, and {} joins no cluster): --join is for a new node",
            layout.data_dir.display(),
            layout.config_file.display()
        );
    }
    if let Some(local) = local_client(args, layout)
        && let Ok(mine) = local.health().await
        && mine.body.initialized
        && !mine.body.sealed
        && let Some(id) = mine.body.cluster_id.filter(|id| !id.is_empty())
        && !leader_cluster.is_empty()
        && id != leader_cluster
    {
        vault_core::usage_bail!(
            "this node is already initialised as another cluster ({id}), not the one at {url_text} ({leader_cluster})"
        );
    }
    Ok(Plan { url: url_text.trim_end_matches('/').to_owned(), node_id })
}

/// `--local DIR --join URL` needs `--leader-dir`: on a host every node's audit files have the same paths, but a
/// `--local` node's are under its own DIR, and OpenBao refuses to serve on a node whose configured audit devices
/// differ from the replicated audit table, so the join would only time out. There is no sound default: node 1's
/// folder is not derivable from the flags (`--tls-ca` may be a copy anywhere), and the leader's audit devices
/// are not readable without credentials a joining node may not have.
fn check_leader_dir(args: &Args) -> anyhow::Result<()> {
    if args.local.is_none() {
        return Ok(());
    }
    let Some(dir) = &args.leader_dir else {
        vault_core::usage_bail!(
            "--local with --join needs --leader-dir DIR (the first node's --local folder): the audit files this node \
             names must be node 1's, or it refuses to serve"
        );
    };
    if !dir.join("config/vault.hcl").is_file() {
        vault_core::usage_bail!(
            "--leader-dir {}: no config/vault.hcl there; give the first node's --local folder",
            dir.display()
        );
    }
    Ok(())
}

/// `vault-2.internal` for `https://vault-2.internal:8200`; the port is added when it is not 8200, so nodes on
/// one machine get names of their own.
fn default_node_id(api_addr: &str) -> String {
    let parsed = url::Url::parse(api_addr).ok();
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("vault").trim_matches(['[', ']']).replace(':', "-");
    match parsed.and_then(|u| u.port()) {
        Some(port) if port != 8200 => format!("{host}-{port}"),
        _ => host,
    }
}

/// A client of this host's own server when it runs (a re-run), for the checks before anything is written.
fn local_client(args: &Args, layout: &Layout) -> Option<Client> {
    let running = if layout.local { server::running_pid(layout) } else { server::systemd_main_pid("vault.service") };
    running?;
    let addr = match args.listen.ip() {
        ip if ip.is_unspecified() => format!("https://127.0.0.1:{}", args.listen.port()),
        _ => format!("https://{}", args.listen),
    };
    let mut config = Config::with_token(&addr, SecretString::default()).ok()?;
    config.auth = AuthConfig::None;
    // The CA a previous run installed; a server that does not verify against it cannot be asked, and the check
    // is skipped (the data check above still stands).
    config.tls.ca_cert = Some(layout.ca_file()).filter(|ca| ca.exists());
    config.max_retries = 0;
    config.timeout = LEADER_TIMEOUT;
    Client::new(config).ok()
}

fn anonymous(addr: &str, ca: &Path) -> anyhow::Result<Client> {
    let mut config = Config::with_token(addr, SecretString::default())?;
    config.auth = AuthConfig::None;
    config.tls.ca_cert = Some(ca.to_path_buf());
    config.max_retries = 1;
    config.timeout = LEADER_TIMEOUT;
    Ok(Client::new(config)?)
}

/// After the server runs: unseals it with the plaintext shares in the keys folder when they are there (which is
/// when it joins), then waits until it is a raft voter. `client` talks to this node, trusting the cluster's CA.
pub async fn converge(client: &Client, layout: &Layout, plan: &Plan) -> anyhow::Result<(Vec<Step>, bool)> {
    let mut steps = Vec::new();
    let mut shares = super::local_shares(layout, MAX_SHARES);
    // A node that joined before and restarted knows the threshold: too few shares here is the key holders' turn,
    // not something to offer until the join times out.
    if let Ok(status) = client.seal_status().await
        && status.initialized
        && status.sealed
        && (shares.len() as u32) < status.threshold
    {
        shares.clear();
    }
    let state = cluster::join(client, layout, &shares).await?;
    match state {
        JoinState::Sealed => {
            steps.push(Step::new(
                "join",
                Outcome::Pending,
                format!(
                    "sealed, not yet joined to {}: the key holders run scripts/vault/unseal against this node \
                     (unsealing is when it joins), or put plaintext shares in {} and run deploy again",
                    plan.url,
                    layout.keys_dir.display()
                ),
            ));
            return Ok((steps, false));
        }
        JoinState::Unsealed => steps.push(Step::changed(
            "join",
            format!(
                "unsealed with the shares in {}: joined {} as {}",
                layout.keys_dir.display(),
                plan.url,
                plan.node_id
            ),
        )),
        JoinState::Serving => {
            steps
                .push(Step::ok("join", format!("unsealed, a node of the cluster at {} as {}", plan.url, plan.node_id)));
        }
    }
    let voter = voter(client, layout, plan).await?;
    let failed = voter.outcome == Outcome::Failed;
    steps.push(voter);
    if !failed {
        steps.push(autopilot(client, layout).await?);
    }
    Ok((steps, true))
}

/// Unseal key share files looked for in the keys folder (`unseal-key-1` …).
const MAX_SHARES: u32 = 16;

/// Waits until this node is a raft voter, asking with the operator's AppRole credentials when they are on this
/// host (`APPROLE_DIR/operator`, copied from the first node); without them only the raft configuration's
/// readers can tell, so the step says where the node stands and how to check.
async fn voter(client: &Client, layout: &Layout, plan: &Plan) -> anyhow::Result<Step> {
    let operator = layout.operator_dir();
    if !super::roles::has_credentials(&operator) {
        let leader = client.leader().await.ok().flatten().map(|l| l.leader_address).unwrap_or_default();
        return Ok(Step::ok(
            "cluster",
            format!(
                "a standby following {leader}; whether it is a raft voter is for the operator to read \
                 (`bao operator raft list-peers`; with the first node's operator credentials copied to {} deploy checks it)",
                operator.display()
            ),
        ));
    }
    let admin = operator_client(client, layout)?;
    let deadline = Instant::now() + VOTER_TIMEOUT;
    loop {
        // Right after unsealing, a standby answers "active cluster node not found" until it has heard from the
        // leader: such answers are retried until the deadline.
        let peers = match admin.raft_peers().await {
            Ok(peers) => peers,
            Err(error) if Instant::now() >= deadline => {
                return Err(error).context("reading the raft configuration with the operator's credentials");
            }
            Err(_) => Vec::new(),
        };
        if peers.iter().any(|peer| peer.node_id == plan.node_id && peer.voter) {
            let voters = peers.iter().filter(|peer| peer.voter).count();
            let leader = peers.iter().find(|peer| peer.leader).map_or("none", |peer| peer.node_id.as_str());
            // Quorum is a majority of all voters, dead ones included; what can be lost is what the live ones
            // have beyond it (autopilot's state says which are dead; an older operator policy cannot read it).
            let live = live_voter_count(&admin, &peers).await.unwrap_or(voters);
            let counted = if live < voters { format!(" ({live} alive)") } else { String::new() };
            return Ok(Step::ok(
                "cluster",
                format!(
                    "{} is a raft voter; {voters} voters{counted}, leader {leader}; it can lose {} node(s)",
                    plan.node_id,
                    live.saturating_sub(voters / 2 + 1)
                ),
            ));
        }
        if Instant::now() >= deadline {
            return Ok(Step::fail(
                "cluster",
                format!("{} is not a raft voter after {}s", plan.node_id, VOTER_TIMEOUT.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A client of this node that logs in with the operator's AppRole credentials in `APPROLE_DIR/operator` (node
/// 1's, copied to this host); call only when they are there.
fn operator_client(client: &Client, layout: &Layout) -> anyhow::Result<Client> {
    let operator = layout.operator_dir();
    let role_id = std::fs::read_to_string(operator.join("role-id"))?.trim().to_owned();
    let auth = AuthConfig::AppRole(AppRoleConfig {
        mount: "approle".into(),
        role_id,
        secret_id: SecretIdSource::File(operator.join("secret-id")),
    });
    Ok(Client::new(Config { auth, ..client.config().clone() })?)
}

/// Autopilot's dead-server cleanup, which the cluster has no other run to set on hosts: with the operator's
/// credentials here, set once the cluster has 3 live voters, never below the live voters it has now (see
/// [`cluster::autopilot_for_voters`]). Without them this run can neither count the voters nor read autopilot's
/// configuration: the step is skipped (a warning, as a dead node then stays a voter until someone removes it),
/// naming what sets it.
async fn autopilot(client: &Client, layout: &Layout) -> anyhow::Result<Step> {
    let operator = layout.operator_dir();
    if !super::roles::has_credentials(&operator) {
        return Ok(Step::warn(
            "autopilot",
            format!(
                "skipped: dead servers are removed only once autopilot is told to, which needs the operator's \
                 credentials; once the cluster has 3 voters, copy the first node's operator credentials to {} and \
                 run this deploy again, or run `{}` with an operator token",
                operator.display(),
                cluster::autopilot_command(3)
            ),
        ));
    }
    let admin = operator_client(client, layout)?;
    let peers = admin.raft_peers().await.context("reading the raft configuration with the operator's credentials")?;
    match live_voter_count(&admin, &peers).await {
        Ok(live) => cluster::autopilot_for_voters(&admin, live).await,
        Err(error) => {
            // An operator policy from before deploy read autopilot's state: count every voter, as then.
            let voters = peers.iter().filter(|peer| peer.voter).count();
            let mut step = cluster::autopilot_for_voters(&admin, voters).await?;
            step.detail.push_str(&format!(
                "; counted every voter, a dead one too, since autopilot's state could not be read ({error}): \
                 re-run deploy on the first node to update the operator policy"
            ));
            Ok(step)
        }
    }
}

/// How many voters of `peers` are alive, by autopilot's state ([`live_voters`]); an error when the state cannot
/// be read (an operator policy from before deploy read it).
async fn live_voter_count(admin: &Client, peers: &[RaftPeer]) -> vault_core::Result<usize> {
    Ok(live_voters(peers, &admin.autopilot_state().await?))
}

/// The voters of the raft configuration that are not dead. A node that died stays a voter there until autopilot
/// removes it; counted, the replacement's join would raise the minimum quorum to include it, and autopilot could
/// then never remove it (nor any later dead node) without going below that minimum. Autopilot's state, which it
/// refreshes every few seconds, names the dead ones: not healthy and not heard from for [`DEAD_AFTER`]. A voter
/// it does not list yet (just promoted) or has heard from lately (catching up under load) counts as live.
fn live_voters(peers: &[RaftPeer], state: &AutopilotState) -> usize {
    let dead = |server: &AutopilotServer| {
        !server.healthy && server.last_contact_seconds().is_some_and(|s| s >= DEAD_AFTER.as_secs_f64())
    };
    peers.iter().filter(|peer| peer.voter && !state.servers.get(&peer.node_id).is_some_and(dead)).count()
}

/// How long a voter autopilot finds unhealthy must have been out of contact to count as dead.
const DEAD_AFTER: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::{default_node_id, live_voters};

    #[test]
    fn a_node_is_named_after_its_address() {
        assert_eq!(default_node_id("https://vault-2.internal:8200"), "vault-2.internal");
        assert_eq!(default_node_id("https://10.0.0.3:8200"), "10.0.0.3");
        assert_eq!(default_node_id("https://127.0.0.1:18202"), "127.0.0.1-18202");
    }

    #[test]
    fn a_dead_voter_is_not_counted_but_a_slow_or_new_one_is() {
        use vault_core::sys::raft::{AutopilotServer, AutopilotState, RaftPeer};
        let peer = |id: &str, voter: bool| RaftPeer { node_id: id.into(), voter, ..Default::default() };
        let server = |healthy: bool, last_contact: &str| AutopilotServer {
            healthy,
            last_contact: last_contact.into(),
            ..Default::default()
        };
        let peers =
            [peer("a", true), peer("b", true), peer("c", true), peer("d", true), peer("e", true), peer("f", false)];
        let mut state = AutopilotState::default();
        state.servers.insert("a".into(), server(true, "0s"));
        state.servers.insert("b".into(), server(true, "120ms"));
        state.servers.insert("c".into(), server(false, "3h12m5s")); // died; autopilot removes it after 24h
        state.servers.insert("d".into(), server(false, "14.5s")); // catching up under load
        // "e" was promoted a moment ago and autopilot's state does not list it yet; "f" is not a voter.
        state.servers.insert("f".into(), server(true, "80ms"));
        assert_eq!(live_voters(&peers, &state), 4);
    }
}
