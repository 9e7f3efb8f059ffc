//! The raft cluster: who its peers are (`sys/storage/raft/configuration`), which of them vote and lead, and
//! autopilot's view of it (`sys/storage/raft/autopilot/state`): each server's health, last contact and log
//! index, the cluster's health and how many voters it can lose before it loses its quorum.
//!
//! Both endpoints need a token (deploy's `health` identity may read them) and are forwarded by a standby to the
//! active node, so every node of a cluster gives the same answer. Storage that is not raft answers 404: the check
//! is then skipped, as not applicable.
//!
//! The verdict: no leader, fewer healthy voters than a quorum, or raft state that cannot be read through a node
//! that answers (its leader is gone), is critical; autopilot calling the cluster
//! unhealthy, or a failure tolerance under `--min-failure-tolerance` (default 1), is a warning. A single voter
//! tolerates no failure by design — it is what `cargo xtask deploy` sets up on one box, and must be green right
//! after deploy — so the default threshold only judges clusters of two or more voters; given explicitly, the
//! flag judges every cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use vault_core::Client;
use vault_core::output::human_duration;
use vault_core::sys::raft::{AutopilotState, Leader, RaftPeer};

use crate::Thresholds;
use crate::details::{ClusterDetails, PeerDetails};
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};

/// What the two endpoints answered.
pub(crate) type Probe = vault_core::Result<(Vec<RaftPeer>, AutopilotState)>;

/// Reads the raft configuration and autopilot's state together.
pub(crate) async fn probe(client: &Client) -> Probe {
    let (peers, autopilot) = tokio::join!(client.raft_peers(), client.autopilot_state());
    Ok((peers?, autopilot?))
}

/// Judges the cluster; `leader` (`sys/leader`) tells a cluster without a leader from an endpoint that failed.
pub(crate) fn check(probe: Probe, leader: Option<&Leader>, thresholds: &Thresholds) -> Check {
    let (config, autopilot) = match probe {
        Ok(answers) => answers,
        Err(vault_core::Error::NotFound { .. }) => {
            return Check::skipped(CheckName::Cluster, "not applicable: the server's storage is not raft");
        }
        Err(vault_core::Error::PermissionDenied { path, .. }) => {
            return Check::skipped(
                CheckName::Cluster,
                format!("this token may not read {path} (the health identity may)"),
            );
        }
        Err(error) if leader.is_some_and(|l| l.ha_enabled && l.leader_address.is_empty()) => {
            return Check::new(
                CheckName::Cluster,
                Status::Crit,
                format!("no leader: the cluster has lost its quorum or is electing a leader ({error})"),
            );
        }
        // The node answered `sys/health` (the check only runs when it did), so a connection that fails now, or a
        // server error, is the active node it sends the request on to: a standby keeps naming a dead leader
        // until a new one is elected, which never happens once the quorum is gone.
        Err(error @ (vault_core::Error::Unreachable { .. } | vault_core::Error::Server { status: 500.., .. })) => {
            let named = leader
                .map(|l| l.leader_address.as_str())
                .filter(|a| !a.is_empty())
                .map(|a| format!(" (this node names {a})"))
                .unwrap_or_default();
            return Check::new(
                CheckName::Cluster,
                Status::Crit,
                format!(
                    "no leader answers{named}: the cluster has lost its quorum or is electing a leader; the raft \
                     state could not be read ({error})"
                ),
            );
        }
        Err(error) => return Check::new(CheckName::Cluster, Status::Unknown, error.to_string()),
    };
    let details = details(&config, &autopilot);
    judge(details, thresholds)
}

/// Joins the raft configuration (who is a member, who votes) with autopilot's view of each server.
fn details(config: &[RaftPeer], autopilot: &AutopilotState) -> ClusterDetails {
    let mut peers: BTreeMap<&str, PeerDetails> = BTreeMap::new();
    for peer in config {
        peers.insert(
            &peer.node_id,
            PeerDetails {
                node_id: peer.node_id.clone(),
                address: peer.address.clone(),
                voter: peer.voter,
                leader: peer.leader,
                ..PeerDetails::default()
            },
        );
    }
    for (id, server) in &autopilot.servers {
        let peer = peers.entry(id).or_insert_with(|| PeerDetails {
            node_id: id.clone(),
            address: server.address.clone(),
            voter: autopilot.voters.contains(id),
            leader: autopilot.leader == *id,
            ..PeerDetails::default()
        });
        let some = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
        peer.healthy = Some(server.healthy);
        peer.status = some(&server.status);
        peer.node_status = some(&server.node_status);
        peer.last_contact_seconds = server.last_contact_seconds();
        peer.last_term = Some(server.last_term);
        peer.last_index = Some(server.last_index);
        peer.lag = autopilot.lag(server);
        peer.stable_since = some(&server.stable_since);
    }
    let peers: Vec<PeerDetails> = peers.into_values().collect();
    let voters = peers.iter().filter(|p| p.voter).count();
    let healthy_voters = peers.iter().filter(|p| p.voter && p.healthy == Some(true)).count();
    let leader_id = Some(autopilot.leader.clone())
        .filter(|l| !l.is_empty())
        .or_else(|| peers.iter().find(|p| p.leader).map(|p| p.node_id.clone()))
        .unwrap_or_default();
    ClusterDetails {
        leader_id,
        leader_index: autopilot.leader_index(),
        voters,
        healthy_voters,
        quorum: voters / 2 + 1,
        healthy: autopilot.healthy,
        failure_tolerance: autopilot.failure_tolerance,
        peers,
    }
}

/// "1 node", "2 nodes".
fn nodes(n: u32) -> String {
    if n == 1 { "1 node".to_owned() } else { format!("{n} nodes") }
}

/// The verdict, summary and metrics from the facts.
fn judge(details: ClusterDetails, thresholds: &Thresholds) -> Check {
    let d = &details;
    let judged = d.voters > 1 || thresholds.failure_tolerance_single_voter;
    let min = thresholds.min_failure_tolerance;
    let non_voters = d.peers.len() - d.voters;
    let mut head = if d.voters == 1 { "1 voter".to_owned() } else { format!("{} voters", d.voters) };
    if non_voters > 0 {
        head.push_str(&format!(" and {non_voters} non-voter{}", if non_voters == 1 { "" } else { "s" }));
    }
    if !d.leader_id.is_empty() {
        head.push_str(&format!(", leader {}", d.leader_id));
    }
    let unhealthy: Vec<String> = d
        .peers
        .iter()
        .filter(|p| p.healthy != Some(true))
        .map(|p| {
            let mut why = Vec::new();
            if let Some(contact) = p.last_contact_seconds.filter(|s| *s >= 1.0) {
                why.push(format!("last contact {} ago", human_duration(Duration::from_secs_f64(contact))));
            }
            if let Some(lag) = p.lag.filter(|l| *l > 0) {
                why.push(format!("{lag} entries behind"));
            }
            if p.healthy.is_none() {
                why.push("unknown to autopilot".to_owned());
            }
            match why.is_empty() {
                true => p.node_id.clone(),
                false => format!("{}: {}", p.node_id, why.join(", ")),
            }
        })
        .collect();
    let health = if d.healthy && unhealthy.is_empty() {
        "autopilot healthy".to_owned()
    } else if unhealthy.is_empty() {
        "autopilot unhealthy".to_owned()
    } else {
        format!("autopilot unhealthy ({})", unhealthy.join("; "))
    };
    let tolerance = format!("can lose {}", nodes(d.failure_tolerance));
    let (status, summary) = if d.leader_id.is_empty() {
        (Status::Crit, format!("{head}, no leader: the cluster cannot serve requests; {health}"))
    } else if d.healthy_voters < d.quorum {
        (
            Status::Crit,
            format!(
                "{head}, quorum lost: {} of {} voters healthy, {} needed; {health}",
                d.healthy_voters, d.voters, d.quorum
            ),
        )
    } else if judged && d.failure_tolerance < min {
        let more = if d.voters == 1 { "; a single node: add two more for one that survives a failure" } else { "" };
        (Status::Warn, format!("{head}, {health}: {tolerance}, fewer than {min}{more}"))
    } else if !d.healthy || !unhealthy.is_empty() {
        (Status::Warn, format!("{head}, {health}: {tolerance}"))
    } else if d.voters == 1 {
        (Status::Ok, format!("{head}, {health}: {tolerance} (a single node)"))
    } else {
        (Status::Ok, format!("{head}, {health}: {tolerance}"))
    };
    let limits = judged.then(|| Limits::below(f64::from(min), 0.0));
    let max_lag = d.peers.iter().filter_map(|p| p.lag).max().unwrap_or(0);
    Check::new(CheckName::Cluster, status, summary)
        .metric(Metric::count("raft_peers", d.peers.len(), None))
        .metric(Metric::count("raft_voters", d.voters, None))
        .metric(Metric::count("raft_healthy_voters", d.healthy_voters, None))
        .metric(Metric::count("raft_failure_tolerance", d.failure_tolerance as usize, limits))
        .metric(Metric::count("raft_max_lag", max_lag as usize, None))
        .details(Details::Cluster(details))
}

#[cfg(test)]
mod tests {
    use vault_core::sys::raft::AutopilotServer;

    use super::*;

    fn peer(id: &str, voter: bool, leader: bool) -> RaftPeer {
        RaftPeer { node_id: id.into(), address: format!("10.0.0.{}:8201", id.len()), leader, voter }
    }

    fn server(id: &str, status: &str, healthy: bool, index: u64, contact: &str) -> (String, AutopilotServer) {
        let server = AutopilotServer {
            id: id.into(),
            name: id.into(),
            last_index: index,
            healthy,
            status: status.into(),
            last_contact: contact.into(),
            node_status: "alive".into(),
            ..AutopilotServer::default()
        };
        (id.to_owned(), server)
    }

    fn three(n3_healthy: bool, tolerance: u32) -> Probe {
        let config = vec![peer("n1", true, true), peer("n2", true, false), peer("n3", true, false)];
        let autopilot = AutopilotState {
            healthy: n3_healthy,
            failure_tolerance: tolerance,
            leader: "n1".into(),
            voters: vec!["n1".into(), "n2".into(), "n3".into()],
            servers: [
                server("n1", "leader", true, 120, "0s"),
                server("n2", "voter", true, 120, "3ms"),
                server("n3", "voter", n3_healthy, if n3_healthy { 119 } else { 90 }, "14.2s"),
            ]
            .into(),
        };
        Ok((config, autopilot))
    }

    fn single(thresholds: &Thresholds) -> Check {
        let autopilot = AutopilotState {
            healthy: true,
            failure_tolerance: 0,
            leader: "n1".into(),
            voters: vec!["n1".into()],
            servers: [server("n1", "leader", true, 29, "0s")].into(),
        };
        check(Ok((vec![peer("n1", true, true)], autopilot)), None, thresholds)
    }

    #[test]
    fn a_healthy_cluster_can_lose_one_of_three() {
        let c = check(three(true, 1), None, &Thresholds::default());
        assert_eq!(
            (c.status, c.summary.as_str()),
            (Status::Ok, "3 voters, leader n1, autopilot healthy: can lose 1 node")
        );
        let Some(Details::Cluster(d)) = &c.details else { panic!("{c:?}") };
        assert_eq!((d.voters, d.healthy_voters, d.quorum, d.leader_index), (3, 3, 2, Some(120)));
        let lags: Vec<Option<u64>> = d.peers.iter().map(|p| p.lag).collect();
        assert_eq!(lags, [Some(0), Some(0), Some(1)]);
        assert_eq!(c.get_metric("raft_failure_tolerance").unwrap().limits, Some(Limits::below(1.0, 0.0)));
    }

    #[test]
    fn a_lost_follower_leaves_no_tolerance_and_warns() {
        let c = check(three(false, 0), None, &Thresholds::default());
        assert_eq!(c.status, Status::Warn, "{}", c.summary);
        assert_eq!(
            c.summary,
            "3 voters, leader n1, autopilot unhealthy (n3: last contact 14.2s ago, 30 entries behind): can lose 0 \
             nodes, fewer than 1"
        );
        let lenient = Thresholds { min_failure_tolerance: 0, ..Thresholds::default() };
        assert_eq!(check(three(false, 0), None, &lenient).status, Status::Warn, "autopilot's verdict still counts");
    }

    #[test]
    fn a_single_node_is_green_unless_asked_to_tolerate_a_failure() {
        let c = single(&Thresholds::default());
        assert_eq!(
            (c.status, c.summary.as_str()),
            (Status::Ok, "1 voter, leader n1, autopilot healthy: can lose 0 nodes (a single node)")
        );
        assert_eq!(c.get_metric("raft_failure_tolerance").unwrap().limits, None, "not judged");
        let strict = Thresholds { failure_tolerance_single_voter: true, ..Thresholds::default() };
        assert_eq!(single(&strict).status, Status::Warn);
    }

    #[test]
    fn no_leader_or_no_quorum_is_critical() {
        let Ok((config, mut autopilot)) = three(true, 1) else { unreachable!() };
        for id in ["n2", "n3"] {
            autopilot.servers.get_mut(id).unwrap().healthy = false;
        }
        let c = check(Ok((config.clone(), autopilot.clone())), None, &Thresholds::default());
        assert_eq!(c.status, Status::Crit, "{}", c.summary);
        assert!(
            c.summary.starts_with("3 voters, leader n1, quorum lost: 1 of 3 voters healthy, 2 needed"),
            "{}",
            c.summary
        );
        let config: Vec<RaftPeer> = config.into_iter().map(|p| RaftPeer { leader: false, ..p }).collect();
        autopilot.leader.clear();
        assert_eq!(check(Ok((config, autopilot)), None, &Thresholds::default()).status, Status::Crit);

        let orphan = Leader { ha_enabled: true, is_self: false, leader_address: String::new() };
        let failed = || {
            Err(vault_core::Error::Server {
                status: 500,
                path: "sys/storage/raft/configuration".into(),
                errors: vec![],
            })
        };
        assert_eq!(check(failed(), Some(&orphan), &Thresholds::default()).status, Status::Crit);
        assert_eq!(check(failed(), None, &Thresholds::default()).status, Status::Crit);
        // A standby that still names the dead leader: the request it passes on finds nobody.
        let stale = Leader { ha_enabled: true, is_self: false, leader_address: "https://10.0.0.1:8200".into() };
        let refused = Err(vault_core::Error::Unreachable { address: "https://v".into(), detail: "refused".into() });
        let c = check(refused, Some(&stale), &Thresholds::default());
        assert_eq!(c.status, Status::Crit);
        assert!(c.summary.starts_with("no leader answers (this node names https://10.0.0.1:8200): "), "{}", c.summary);
        let odd =
            Err(vault_core::Error::Response { path: "sys/storage/raft/configuration".into(), detail: "?".into() });
        assert_eq!(check(odd, Some(&stale), &Thresholds::default()).status, Status::Unknown, "could not tell");
    }

    #[test]
    fn other_storage_and_other_identities_skip() {
        let not_raft =
            Err(vault_core::Error::NotFound { path: "sys/storage/raft/configuration".into(), deleted: false });
        let c = check(not_raft, None, &Thresholds::default());
        assert_eq!(
            (c.status, c.summary.as_str()),
            (Status::Skipped, "not applicable: the server's storage is not raft")
        );
        let denied = Err(vault_core::Error::PermissionDenied {
            path: "sys/storage/raft/configuration".into(),
            operation: "read".into(),
        });
        let c = check(denied, None, &Thresholds::default());
        assert_eq!(c.status, Status::Skipped);
        assert!(c.summary.contains("the health identity may"), "{}", c.summary);
    }
}
