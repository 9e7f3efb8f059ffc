//! The report: each check's verdict, numbers and facts, in types that other tools (and the xtask) can read, plus
//! the overall verdict and the exit codes it maps to.
//!
//! Serialized field names are public API (the `json` and `jsonl` formats print these types as they are), so they
//! only ever grow.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use vault_core::Exit;
use vault_core::sys::NodeState;

use crate::details::{
    AuditDetails, BackupDetails, CanaryDetails, ClusterDetails, ReachabilityDetails, SealDetails, SkewDetails,
    StateDetails, TlsDetails, TokenDetails, VersionDetails,
};

/// A check's verdict.
///
/// Variants are ordered by how much they matter, so the overall status is the maximum: critical beats warning,
/// a warning beats "could not tell", and a skipped check never counts (the order of the monitoring-plugins'
/// `max_state_alt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not run: not asked for (no `--canary`), no token, or the server's state makes it pointless (sealed).
    Skipped,
    /// Healthy.
    Ok,
    /// The check ran but could not tell (permission denied, an answer it could not read).
    Unknown,
    /// Past the warning threshold.
    Warn,
    /// Past the critical threshold, or broken.
    Crit,
}

impl Status {
    /// The lowercase name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skipped => "skipped",
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Warn => "warn",
            Status::Crit => "crit",
        }
    }

    /// The Nagios plugin return code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A skipped check is OK.
    pub fn nagios_code(self) -> u8 {
        match self {
            Status::Skipped | Status::Ok => 0,
            Status::Warn => 1,
            Status::Crit => 2,
            Status::Unknown => 3,
        }
    }

    /// The Nagios state name.
    pub fn nagios_label(self) -> &'static str {
        match self {
            Status::Skipped | Status::Ok => "OK",
            Status::Warn => "WARNING",
            Status::Crit => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The checks, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// `sys/health` answered at all, and how fast.
    Reachability,
    /// The node's state from the `sys/health` status code, and its HA leader.
    State,
    /// Sealed or not, and unseal progress.
    Seal,
    /// The server's version.
    Version,
    /// The server's clock against this host's.
    ClockSkew,
    /// The certificate the listener serves.
    Tls,
    /// Read latency of a canary secret.
    Canary,
    /// Audit devices enabled.
    Audit,
    /// The caller's token TTL.
    Token,
    /// Age of the newest backup file.
    Backup,
    /// The raft cluster: peers, voters, leader, autopilot's health and failure tolerance.
    Cluster,
}

impl CheckName {
    /// Every check, in report order.
    pub const ALL: [CheckName; 11] = [
        CheckName::Reachability,
        CheckName::State,
        CheckName::Seal,
        CheckName::Version,
        CheckName::ClockSkew,
        CheckName::Tls,
        CheckName::Canary,
        CheckName::Audit,
        CheckName::Token,
        CheckName::Backup,
        CheckName::Cluster,
    ];

    /// The name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Reachability => "reachability",
            CheckName::State => "state",
            CheckName::Seal => "seal",
            CheckName::Version => "version",
            CheckName::ClockSkew => "clock_skew",
            CheckName::Tls => "tls",
            CheckName::Canary => "canary",
            CheckName::Audit => "audit",
            CheckName::Token => "token",
            CheckName::Backup => "backup",
            CheckName::Cluster => "cluster",
        }
    }
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of a [`Metric`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// A plain count.
    Count,
}

/// Which side of a threshold is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertWhen {
    /// Alert when the value is above the threshold (latency, clock skew, backup age).
    Above,
    /// Alert when the value is below the threshold (days to certificate expiry, token TTL, audit devices).
    Below,
}

/// Warning and critical thresholds of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// The warning threshold.
    pub warn: f64,
    /// The critical threshold.
    pub crit: f64,
    /// Which side of the thresholds is bad.
    pub alert_when: AlertWhen,
}

impl Limits {
    /// Alert when the value exceeds the thresholds.
    pub fn above(warn: f64, crit: f64) -> Self {
        Limits { warn, crit, alert_when: AlertWhen::Above }
    }

    /// Alert when the value falls below the thresholds.
    pub fn below(warn: f64, crit: f64) -> Self {
        Limits { warn, crit, alert_when: AlertWhen::Below }
    }

    /// The status `value` deserves.
    pub fn status(&self, value: f64) -> Status {
        let past = |limit: f64| match self.alert_when {
            AlertWhen::Above => value > limit,
            AlertWhen::Below => value < limit,
        };
        if past(self.crit) {
            Status::Crit
        } else if past(self.warn) {
            Status::Warn
        } else {
            Status::Ok
        }
    }
}

/// A number a check measured: Nagios perfdata, a JSON field, a Prometheus sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metric {
    /// A name unique across the report, e.g. `cert_expiry` (also the Nagios perfdata label).
    pub name: &'static str,
    /// The value, in `unit`.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// The thresholds it was judged by, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl Metric {
    /// A duration, in seconds.
    pub fn seconds(name: &'static str, value: Duration, limits: Option<Limits>) -> Self {
        Metric { name, value: value.as_secs_f64(), unit: Unit::Seconds, limits }
    }

    /// A count.
    pub fn count(name: &'static str, value: usize, limits: Option<Limits>) -> Self {
        Metric { name, value: value as f64, unit: Unit::Count, limits }
    }
}

/// What a check found besides its verdict; the variant matches the check's name.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// For [`CheckName::Reachability`].
    Reachability(ReachabilityDetails),
    /// For [`CheckName::State`].
    State(StateDetails),
    /// For [`CheckName::Seal`].
    Seal(SealDetails),
    /// For [`CheckName::Version`].
    Version(VersionDetails),
    /// For [`CheckName::ClockSkew`].
    ClockSkew(SkewDetails),
    /// For [`CheckName::Tls`].
    Tls(Box<TlsDetails>),
    /// For [`CheckName::Canary`].
    Canary(CanaryDetails),
    /// For [`CheckName::Audit`].
    Audit(AuditDetails),
    /// For [`CheckName::Token`].
    Token(TokenDetails),
    /// For [`CheckName::Backup`].
    Backup(BackupDetails),
    /// For [`CheckName::Cluster`].
    Cluster(ClusterDetails),
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// Its verdict.
    pub status: Status,
    /// One line for people, e.g. `certificate for localhost expires in 5 days (2026-11-20)`.
    pub summary: String,
    /// What it measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// What it found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

impl Check {
    /// A check with a verdict and a summary, and no numbers or facts yet.
    pub fn new(name: CheckName, status: Status, summary: impl Into<String>) -> Self {
        Check { name, status, summary: summary.into(), metrics: Vec::new(), details: None }
    }

    /// A check that did not run, and why.
    pub fn skipped(name: CheckName, why: impl Into<String>) -> Self {
        Check::new(name, Status::Skipped, why)
    }

    /// Adds a metric.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metrics.push(metric);
        self
    }

    /// Sets the details.
    pub fn details(mut self, details: Details) -> Self {
        self.details = Some(details);
        self
    }

    /// The metric called `name`.
    pub fn get_metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// How many checks ended in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Healthy.
    pub ok: usize,
    /// Past a warning threshold.
    pub warn: usize,
    /// Critical.
    pub crit: usize,
    /// Could not tell.
    pub unknown: usize,
    /// Not run.
    pub skipped: usize,
}

/// Everything one run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The worst status of any check.
    pub status: Status,
    /// The server's address, as configured.
    pub address: String,
    /// The node's state, when `sys/health` answered.
    pub state: Option<NodeState>,
    /// When the run started.
    pub checked_at: DateTime<Utc>,
    /// How long the run took.
    #[serde(rename = "duration_seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// Every check, in [`CheckName::ALL`] order.
    pub checks: Vec<Check>,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Report {
    /// Builds a report from its checks; the overall status is the worst of theirs.
    pub fn new(
        address: String,
        state: Option<NodeState>,
        checked_at: DateTime<Utc>,
        duration: Duration,
        checks: Vec<Check>,
    ) -> Self {
        let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Unknown).max(Status::Ok);
        Report { status, address, state, checked_at, duration, checks }
    }

    /// The check called `name`.
    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// How many checks ended in each status.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for check in &self.checks {
            *match check.status {
                Status::Ok => &mut counts.ok,
                Status::Warn => &mut counts.warn,
                Status::Crit => &mut counts.crit,
                Status::Unknown => &mut counts.unknown,
                Status::Skipped => &mut counts.skipped,
            } += 1;
        }
        counts
    }

    /// Whether the server cannot serve at all: unreachable (TLS failures included), sealed, not initialised.
    pub fn server_unavailable(&self) -> bool {
        !matches!(
            self.state,
            Some(NodeState::Active | NodeState::Standby | NodeState::PerformanceStandby | NodeState::DrSecondary)
        )
    }

    /// The exit code in the shared table: 3 when the server is unavailable, else 1 when any check is not OK,
    /// else 0. Nagios has its own table: [`Status::nagios_code`] of [`Report::status`].
    pub fn exit(&self) -> Exit {
        if self.server_unavailable() {
            Exit::Unavailable
        } else if self.status == Status::Ok {
            Exit::Ok
        } else {
            Exit::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_alert_on_the_right_side() {
        let latency = Limits::above(0.2, 1.0);
        assert_eq!(latency.status(0.1), Status::Ok);
        assert_eq!(latency.status(0.2), Status::Ok, "the threshold itself is still fine");
        assert_eq!(latency.status(0.5), Status::Warn);
        assert_eq!(latency.status(1.5), Status::Crit);
        let expiry = Limits::below(30.0, 7.0);
        assert_eq!(expiry.status(90.0), Status::Ok);
        assert_eq!(expiry.status(5.0), Status::Crit);
        assert_eq!(expiry.status(20.0), Status::Warn);
        assert_eq!(expiry.status(-1.0), Status::Crit);
    }

    fn report(state: Option<NodeState>, statuses: &[Status]) -> Report {
        let checks = statuses.iter().map(|s| Check::new(CheckName::Version, *s, "x")).collect();
        Report::new("https://v:8200".into(), state, Utc::now(), Duration::ZERO, checks)
    }

    #[test]
    fn the_worst_status_wins_and_skipped_never_counts() {
        let r = report(Some(NodeState::Active), &[Status::Ok, Status::Skipped]);
        assert_eq!((r.status, r.exit()), (Status::Ok, Exit::Ok));
        let r = report(Some(NodeState::Standby), &[Status::Ok, Status::Unknown, Status::Warn]);
        assert_eq!((r.status, r.exit()), (Status::Warn, Exit::No));
        let r = report(Some(NodeState::Active), &[Status::Unknown, Status::Skipped]);
        assert_eq!((r.status, r.exit(), r.status.nagios_code()), (Status::Unknown, Exit::No, 3));
        let r = report(Some(NodeState::Sealed), &[Status::Crit]);
        assert_eq!((r.exit(), r.status.nagios_code()), (Exit::Unavailable, 2));
        let r = report(None, &[Status::Crit, Status::Skipped]);
        assert_eq!(r.exit(), Exit::Unavailable);
        assert_eq!(r.counts(), Counts { crit: 1, skipped: 1, ..Counts::default() });
        let r = report(Some(NodeState::Active), &[Status::Skipped]);
        assert_eq!(r.status, Status::Ok, "nothing wrong when nothing ran");
    }
}
