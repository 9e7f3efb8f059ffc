//! What the server says about itself on its unauthenticated endpoints (`sys/health`, `sys/seal-status`,
//! `sys/leader`), and the checks built on that: reachability, state, seal, version and clock skew.
//!
//! These work with no token and against a sealed or uninitialised server, which is exactly when they matter.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vault_core::Client;
use vault_core::config::AuthConfig;
use vault_core::output::human_duration;
use vault_core::sys::{Health, NodeState, SealStatus};

use crate::Thresholds;
use crate::details::{ReachabilityDetails, SealDetails, SkewDetails, StateDetails, VersionDetails};
use crate::report::{Check, CheckName, Details, Limits, Metric, Status, Unit};

/// `sys/health`'s answer, how long it took, and this host's clock when the server read its own.
#[derive(Debug)]
pub(crate) struct HealthProbe {
    pub(crate) health: Health,
    pub(crate) elapsed: Duration,
    /// The midpoint between sending and receiving: the best guess at when the server sampled its clock.
    pub(crate) local_mid: SystemTime,
}

/// Calls `sys/health`; only a failed connection (or TLS handshake) is an error.
pub(crate) async fn probe_health(client: &Client) -> vault_core::Result<HealthProbe> {
    let sent = SystemTime::now();
    let start = Instant::now();
    let health = client.health().await?;
    let elapsed = start.elapsed();
    Ok(HealthProbe { health, elapsed, local_mid: sent + elapsed / 2 })
}

/// `sys/leader`: who the active node is.
pub(crate) use vault_core::sys::raft::Leader;

/// Calls `sys/leader`. It only adds detail to the state check, so any failure is just "no answer".
pub(crate) async fn probe_leader(client: &Client) -> Option<Leader> {
    client.leader().await.ok().flatten()
}

/// How long the state check waits for the active node a standby names. A live node answers `sys/health` in
/// milliseconds; a dead one refuses at once, a frozen or cut-off one never answers, so waiting long only delays
/// the report.
const ACTIVE_NODE_WAIT: Duration = Duration::from_secs(2);

/// Asks the active node a standby names for its own `sys/health`, directly: a standby keeps naming a dead leader
/// until a new one is elected (and for ever once the quorum is lost), so its word alone does not say there is an
/// active node. Unauthenticated, once (no retries), with the same TLS settings and at most
/// [`ACTIVE_NODE_WAIT`]. `None` when there is nothing to ask: the node is not a standby or names no other node.
pub(crate) async fn probe_active_node(
    client: &Client,
    health: &vault_core::Result<HealthProbe>,
    leader: Option<&Leader>,
) -> Option<vault_core::Result<Health>> {
    let standby = health
        .as_ref()
        .is_ok_and(|probe| matches!(probe.health.state, NodeState::Standby | NodeState::PerformanceStandby));
    let address = leader.filter(|l| standby && !l.is_self && !l.leader_address.is_empty())?.leader_address.as_str();
    let mut config = client.config().clone();
    config.address = match url::Url::parse(address) {
        Ok(url) => url,
        Err(e) => {
            return Some(Err(vault_core::Error::Config(format!("the active node {address:?} is not a URL: {e}"))));
        }
    };
    config.auth = AuthConfig::None;
    config.max_retries = 0;
    config.timeout = config.timeout.min(ACTIVE_NODE_WAIT);
    let active = match Client::new(config) {
        Ok(active) => active,
        Err(e) => return Some(Err(e)),
    };
    let wait = Instant::now() + ACTIVE_NODE_WAIT;
    active.set_deadline(Some(client.deadline().map_or(wait, |deadline| deadline.min(wait))));
    Some(active.health().await)
}

/// Why checks that need a serving node cannot run, or `None` when the node serves client requests.
pub(crate) fn not_serving(health: &vault_core::Result<HealthProbe>) -> Option<String> {
    let Ok(probe) = health else {
        return Some("the server is unreachable".into());
    };
    match probe.health.state {
        NodeState::Active | NodeState::Standby | NodeState::PerformanceStandby => None,
        NodeState::Sealed => Some("the server is sealed".into()),
        NodeState::Uninitialized => Some("the server is not initialised".into()),
        NodeState::DrSecondary => Some("a DR secondary does not serve client requests".into()),
        NodeState::Unknown => Some(format!("sys/health answered HTTP {}", probe.health.status)),
    }
}

/// `sys/health` answered at all; its round trip is the metric `response_time`.
pub(crate) fn reachability(health: &vault_core::Result<HealthProbe>) -> Check {
    match health {
        Ok(probe) => Check::new(
            CheckName::Reachability,
            Status::Ok,
            format!("sys/health answered HTTP {} in {}", probe.health.status, human_duration(probe.elapsed)),
        )
        .metric(Metric::seconds("response_time", probe.elapsed, None))
        .details(Details::Reachability(ReachabilityDetails { http_status: probe.health.status })),
        // The error names the address and what to do; it never carries a token.
        Err(error) => Check::new(CheckName::Reachability, Status::Crit, error.to_string()),
    }
}

/// The node's state. An active node, a standby and a performance standby are healthy (a cluster has standbys on
/// purpose); so is a DR secondary, which is a replica by design. Sealed, uninitialised and unexpected answers
/// are critical. An HA node that knows no active node is a warning: requests have nowhere to go; so is a standby
/// whose active node (`active`: [`probe_active_node`]'s answer) does not answer, or answers as something else.
pub(crate) fn state(
    health: &vault_core::Result<HealthProbe>,
    leader: Option<&Leader>,
    active: Option<&vault_core::Result<Health>>,
) -> Check {
    let Ok(probe) = health else {
        return Check::skipped(CheckName::State, "the server is unreachable");
    };
    let body = &probe.health.body;
    let state = probe.health.state;
    let leader_address = leader.map(|l| l.leader_address.clone()).filter(|a| !a.is_empty());
    let no_leader = leader.is_some_and(|l| l.ha_enabled) && leader_address.is_none();
    let active_node = match &leader_address {
        Some(address) => format!("; the active node is {address}"),
        None => String::new(),
    };
    let (status, summary) = match state {
        NodeState::Active if leader.is_some_and(|l| l.ha_enabled) => (Status::Ok, "active (HA leader)".to_owned()),
        NodeState::Active => (Status::Ok, "active".to_owned()),
        NodeState::Standby | NodeState::PerformanceStandby if no_leader => {
            (Status::Warn, "standby, but no active node is known: requests cannot be served".to_owned())
        }
        NodeState::Standby | NodeState::PerformanceStandby => {
            let kind = if state == NodeState::Standby { "" } else { "performance " };
            let named = leader_address.as_deref().unwrap_or_default();
            match active {
                Some(Err(_)) => (
                    Status::Warn,
                    format!(
                        "{kind}standby, but the active node it names, {named}, does not answer: a leader election \
                         is under way or the cluster has lost its quorum"
                    ),
                ),
                Some(Ok(answer)) if answer.state != NodeState::Active => (
                    Status::Warn,
                    format!(
                        "{kind}standby, but the node it names as active, {named}, answers as {}: a leader \
                         election is under way",
                        crate::output::state_name(Some(answer.state))
                    ),
                ),
                _ => (Status::Ok, format!("{kind}standby{active_node}")),
            }
        }
        NodeState::DrSecondary => {
            (Status::Ok, "DR secondary: replicates the primary and does not serve client requests".to_owned())
        }
        NodeState::Sealed => (Status::Crit, "sealed: unseal it with a threshold of key shares".to_owned()),
        NodeState::Uninitialized => {
            (Status::Crit, "not initialised: run `cargo xtask deploy` or `bao operator init`".to_owned())
        }
        NodeState::Unknown => (Status::Crit, format!("unexpected sys/health answer HTTP {}", probe.health.status)),
    };
    Check::new(CheckName::State, status, summary).details(Details::State(StateDetails {
        state,
        initialized: body.initialized,
        sealed: body.sealed,
        standby: body.standby,
        performance_standby: body.performance_standby,
        replication_dr_mode: body.replication_dr_mode.clone(),
        ha_enabled: leader.map(|l| l.ha_enabled),
        is_self: leader.map(|l| l.is_self),
        leader_address,
    }))
}

/// Sealed or not, and how far an unseal has got.
pub(crate) fn seal(health: &vault_core::Result<HealthProbe>, status: &vault_core::Result<SealStatus>) -> Check {
    let seal = match status {
        Ok(seal) => seal,
        Err(_) if health.is_err() => return Check::skipped(CheckName::Seal, "the server is unreachable"),
        Err(error) => return Check::new(CheckName::Seal, Status::Unknown, format!("sys/seal-status: {error}")),
    };
    if !seal.initialized {
        return Check::skipped(CheckName::Seal, "the server is not initialised: there is nothing to unseal yet");
    }
    let details = SealDetails {
        seal_type: seal.seal_type.clone(),
        initialized: seal.initialized,
        sealed: seal.sealed,
        threshold: seal.threshold,
        shares: seal.shares,
        progress: seal.progress,
    };
    let (status, summary) = if seal.sealed {
        (
            Status::Crit,
            format!("sealed: {} of {} key shares entered ({} exist)", seal.progress, seal.threshold, seal.shares),
        )
    } else {
        (
            Status::Ok,
            format!("unsealed ({}: {} of {} key shares unseal it)", seal.seal_type, seal.threshold, seal.shares),
        )
    };
    Check::new(CheckName::Seal, status, summary).details(Details::Seal(details))
}

/// The server's version, for the record (and for Prometheus's `vault_health_info`).
pub(crate) fn version(health: &vault_core::Result<HealthProbe>) -> Check {
    let Ok(probe) = health else {
        return Check::skipped(CheckName::Version, "the server is unreachable");
    };
    let body = &probe.health.body;
    match body.version.as_deref().filter(|v| !v.is_empty()) {
        Some(version) => {
            let cluster = body.cluster_name.as_deref().map(|n| format!(" (cluster {n})")).unwrap_or_default();
            Check::new(CheckName::Version, Status::Ok, format!("{version}{cluster}")).details(Details::Version(
                VersionDetails {
                    version: version.to_owned(),
                    cluster_name: body.cluster_name.clone(),
                    cluster_id: body.cluster_id.clone(),
                },
            ))
        }
        None => Check::new(CheckName::Version, Status::Unknown, "sys/health did not report a version"),
    }
}

/// The server's clock against this host's. Token TTLs, certificate validity and raft timeouts all assume clocks
/// agree; a drifting server expires tokens early or late and can flap leadership.
///
/// `server_time_utc` is whole seconds, so the server's true time is taken as its middle (+0.5 s), compared with
/// this host's clock halfway through the request: the result is good to about half a second plus half the
/// round trip, which is why the default thresholds are seconds, not milliseconds.
pub(crate) fn clock_skew(health: &vault_core::Result<HealthProbe>, thresholds: &Thresholds) -> Check {
    let Ok(probe) = health else {
        return Check::skipped(CheckName::ClockSkew, "the server is unreachable");
    };
    let Some(server_time) = probe.health.body.server_time_utc else {
        return Check::new(CheckName::ClockSkew, Status::Unknown, "sys/health did not report server_time_utc");
    };
    let local = probe.local_mid.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let skew = skew_seconds(server_time, local);
    let limits = Limits::above(thresholds.skew_warn.as_secs_f64(), thresholds.skew_crit.as_secs_f64());
    let status = limits.status(skew.abs());
    let magnitude = human_duration(Duration::from_secs_f64(skew.abs()));
    let summary = if skew.abs() < 1.0 {
        format!("in step with this host (within {magnitude}; resolution ±0.5s)")
    } else if skew > 0.0 {
        format!("server clock {magnitude} ahead of this host's")
    } else {
        format!("server clock {magnitude} behind this host's")
    };
    Check::new(CheckName::ClockSkew, status, summary)
        .metric(Metric { name: "clock_skew", value: skew.abs(), unit: Unit::Seconds, limits: Some(limits) })
        .details(Details::ClockSkew(SkewDetails {
            server_time_utc: server_time,
            local_time_utc: local,
            skew_seconds: skew,
        }))
}

/// Server minus local seconds, taking the whole-second server time as the middle of its second.
fn skew_seconds(server_time_utc: i64, local_unix: f64) -> f64 {
    server_time_utc as f64 + 0.5 - local_unix
}

#[cfg(test)]
mod tests {
    use vault_core::sys::HealthBody;

    use super::*;

    fn probe(status: u16) -> vault_core::Result<HealthProbe> {
        let body = HealthBody { initialized: status != 501, sealed: status == 503, ..HealthBody::default() };
        let health = Health { status, state: NodeState::from_status(status), body };
        Ok(HealthProbe { health, elapsed: Duration::from_millis(1), local_mid: SystemTime::now() })
    }

    fn leader(ha_enabled: bool, address: &str) -> Leader {
        Leader { ha_enabled, is_self: false, leader_address: address.to_owned() }
    }

    #[test]
    fn every_state_maps_to_a_verdict() {
        let cluster = leader(true, "https://10.0.0.1:8200");
        let standby = state(&probe(429), Some(&cluster), None);
        assert_eq!(
            (standby.status, standby.summary.as_str()),
            (Status::Ok, "standby; the active node is https://10.0.0.1:8200")
        );
        let perf = state(&probe(473), Some(&cluster), None);
        assert_eq!(
            (perf.status, perf.summary.as_str()),
            (Status::Ok, "performance standby; the active node is https://10.0.0.1:8200")
        );
        // The active node the standby names is asked too: dead, or no longer active, is a warning.
        let dead = Err(vault_core::Error::Unreachable { address: "https://10.0.0.1:8200".into(), detail: "".into() });
        let stale = state(&probe(429), Some(&cluster), Some(&dead));
        assert_eq!(
            (stale.status, stale.summary.as_str()),
            (
                Status::Warn,
                "standby, but the active node it names, https://10.0.0.1:8200, does not answer: a leader election \
                 is under way or the cluster has lost its quorum"
            )
        );
        let stepped_down = probe(429).map(|p| p.health);
        let stale = state(&probe(473), Some(&cluster), Some(&stepped_down));
        assert_eq!(
            (stale.status, stale.summary.as_str()),
            (
                Status::Warn,
                "performance standby, but the node it names as active, https://10.0.0.1:8200, answers as standby: a \
                 leader election is under way"
            )
        );
        let alive = probe(200).map(|p| p.health);
        assert_eq!(state(&probe(429), Some(&cluster), Some(&alive)).summary, standby.summary);
        let orphan = state(&probe(429), Some(&leader(true, "")), None);
        assert_eq!(orphan.status, Status::Warn, "{}", orphan.summary);
        assert_eq!(state(&probe(200), Some(&leader(false, "")), None).summary, "active");
        assert_eq!(state(&probe(200), Some(&cluster), None).summary, "active (HA leader)");
        assert_eq!(state(&probe(472), None, None).status, Status::Ok, "a DR secondary is a replica by design");
        assert_eq!(state(&probe(503), None, None).status, Status::Crit);
        assert_eq!(state(&probe(501), None, None).status, Status::Crit);
        let odd = state(&probe(418), None, None);
        assert_eq!((odd.status, odd.summary.as_str()), (Status::Crit, "unexpected sys/health answer HTTP 418"));

        assert_eq!(not_serving(&probe(429)), None, "a standby serves requests (it forwards them)");
        assert_eq!(not_serving(&probe(472)).as_deref(), Some("a DR secondary does not serve client requests"));
        assert_eq!(not_serving(&probe(503)).as_deref(), Some("the server is sealed"));
        let down = Err(vault_core::Error::Unreachable { address: "https://v".into(), detail: "refused".into() });
        assert_eq!(state(&down, None, None).status, Status::Skipped);
        assert_eq!(reachability(&down).status, Status::Crit);
    }

    #[test]
    fn skew_uses_the_middle_of_the_servers_second() {
        assert_eq!(skew_seconds(100, 100.5), 0.0);
        assert_eq!(skew_seconds(110, 100.5), 10.0);
        assert_eq!(skew_seconds(95, 100.5), -5.0);
    }
}
