//! The report as people, scripts, Nagios and Prometheus read it.
//!
//! - human: a heading line and an aligned table; colour only when asked for (the caller decides from the terminal,
//!   `--color` and `NO_COLOR`).
//! - `json`: the [`Report`] as one document.
//! - `jsonl`: one `{"type":"check",…}` record per check, then one `{"type":"summary",…}`.
//! - `nagios`: one line, `VAULT WARNING - problems | perfdata`, per the Nagios plugin guidelines.
//! - `prometheus`: the node_exporter textfile-collector format, every sample labelled with the server's address.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;
use vault_core::output::{human_duration, write_json, write_record};
use vault_core::sys::NodeState;

use crate::details::ClusterDetails;
use crate::report::{AlertWhen, Check, CheckName, Counts, Details, Report, Status, Unit};

/// Writes the heading and the table.
pub fn write_human<W: Write + ?Sized>(report: &Report, out: &mut W, color: bool) -> io::Result<()> {
    let paint = |status: Status, text: &str| {
        if !color {
            return text.to_owned();
        }
        let code = match status {
            Status::Ok => "32",
            Status::Warn => "33",
            Status::Crit => "31",
            Status::Unknown => "35",
            Status::Skipped => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let mut context = vec![state_name(report.state).to_owned()];
    if let Some(Details::Version(v)) = report.check(CheckName::Version).and_then(|c| c.details.as_ref()) {
        context.push(format!("version {}", v.version));
    }
    context.push(format!("checked in {}", human_duration(report.duration)));
    writeln!(
        out,
        "{}: {} ({})",
        report.address,
        paint(report.status, &report.status.as_str().to_uppercase()),
        context.join(", ")
    )?;
    writeln!(out)?;

    // Aligned on the visible text: colour codes would throw a width count off, so padding comes first.
    let name_width = report.checks.iter().map(|c| c.name.as_str().len()).chain(["CHECK".len()]).max().unwrap_or(0);
    let status_width = report.checks.iter().map(|c| c.status.as_str().len()).chain(["STATUS".len()]).max().unwrap_or(0);
    let header = format!("{:name_width$}  {:status_width$}  SUMMARY", "CHECK", "STATUS");
    if color {
        writeln!(out, "\x1b[1m{header}\x1b[0m")?;
    } else {
        writeln!(out, "{header}")?;
    }
    for check in &report.checks {
        let status = format!("{:status_width$}", check.status.as_str());
        writeln!(out, "{:name_width$}  {}  {}", check.name.as_str(), paint(check.status, &status), check.summary)?;
    }
    if let Some(Details::Cluster(cluster)) = report.check(CheckName::Cluster).and_then(|c| c.details.as_ref()) {
        write_peers(cluster, out, color)?;
    }
    Ok(())
}

/// The raft peers under the checks: one aligned row per node, then how many nodes the cluster can lose.
fn write_peers<W: Write + ?Sized>(cluster: &ClusterDetails, out: &mut W, color: bool) -> io::Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let header = ["NODE", "ADDRESS", "STATUS", "VOTER", "HEALTHY", "LAST CONTACT", "LAG"];
    let rows: Vec<[String; 7]> = cluster
        .peers
        .iter()
        .map(|p| {
            let status = match (&p.status, p.leader) {
                (Some(status), _) => status.clone(),
                (None, true) => "leader".to_owned(),
                (None, false) => String::new(),
            };
            let contact = match p.last_contact_seconds {
                _ if p.leader => "-".to_owned(),
                Some(seconds) => human_duration(std::time::Duration::from_secs_f64(seconds.max(0.0))),
                None => "?".to_owned(),
            };
            [
                p.node_id.clone(),
                p.address.clone(),
                status,
                yes_no(p.voter).to_owned(),
                p.healthy.map_or("?", yes_no).to_owned(),
                contact,
                p.lag.map_or_else(|| "?".to_owned(), |l| l.to_string()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out)?;
    let heading = line(&header);
    if color {
        writeln!(out, "\x1b[1m{heading}\x1b[0m")?;
    } else {
        writeln!(out, "{heading}")?;
    }
    for row in &rows {
        writeln!(out, "{}", line(&row.each_ref().map(String::as_str)))?;
    }
    let n = cluster.failure_tolerance;
    writeln!(
        out,
        "\n{} voter{}, quorum {}: can lose {n} node{}",
        cluster.voters,
        if cluster.voters == 1 { "" } else { "s" },
        cluster.quorum,
        if n == 1 { "" } else { "s" }
    )
}

/// The state as a word for headings.
pub(crate) fn state_name(state: Option<NodeState>) -> &'static str {
    match state {
        None => "unreachable",
        Some(NodeState::Active) => "active",
        Some(NodeState::Standby) => "standby",
        Some(NodeState::PerformanceStandby) => "performance standby",
        Some(NodeState::DrSecondary) => "DR secondary",
        Some(NodeState::Sealed) => "sealed",
        Some(NodeState::Uninitialized) => "not initialised",
        Some(NodeState::Unknown) => "unknown state",
    }
}

/// Writes the report as one JSON document.
pub fn write_report_json<W: Write + ?Sized>(report: &Report, out: &mut W) -> io::Result<()> {
    write_json(out, report)
}

/// The last JSON Lines record.
#[derive(Serialize)]
struct Summary<'a> {
    status: Status,
    address: &'a str,
    state: Option<NodeState>,
    checked_at: DateTime<Utc>,
    duration_seconds: f64,
    counts: Counts,
}

/// Writes one `check` record per check, then a `summary` record.
pub fn write_jsonl<W: Write + ?Sized>(report: &Report, out: &mut W) -> io::Result<()> {
    for check in &report.checks {
        write_record(out, "check", check)?;
    }
    let summary = Summary {
        status: report.status,
        address: &report.address,
        state: report.state,
        checked_at: report.checked_at,
        duration_seconds: report.duration.as_secs_f64(),
        counts: report.counts(),
    };
    write_record(out, "summary", &summary)
}

/// The Nagios plugin line: `VAULT <STATE> - <text> | <perfdata>`. The text names every check that is not OK,
/// worst first; when all are OK it says the node's state and version. Perfdata carries every metric with its
/// thresholds in Nagios range syntax (`30:` = alert below 30).
pub fn nagios_line(report: &Report) -> String {
    let mut problems: Vec<&Check> =
        report.checks.iter().filter(|c| matches!(c.status, Status::Warn | Status::Crit | Status::Unknown)).collect();
    problems.sort_by_key(|c| std::cmp::Reverse(c.status));
    let text = if problems.is_empty() {
        let counts = report.counts();
        let mut words = vec![state_name(report.state).to_owned()];
        if let Some(Details::Version(v)) = report.check(CheckName::Version).and_then(|c| c.details.as_ref()) {
            words.push(format!("version {}", v.version));
        }
        words.push(format!("{} checks OK, {} skipped", counts.ok, counts.skipped));
        words.join(", ")
    } else {
        problems.iter().map(|c| format!("{}: {}", c.name, c.summary)).collect::<Vec<_>>().join("; ")
    };
    // `|` starts perfdata and a newline starts long output: neither may appear in the text.
    let text = text.replace('|', "/").replace(['\n', '\r'], " ");
    let perfdata: Vec<String> = report
        .checks
        .iter()
        .flat_map(|c| &c.metrics)
        .map(|m| {
            let unit = match m.unit {
                Unit::Seconds => "s",
                Unit::Count => "",
            };
            let (warn, crit) = match m.limits {
                Some(l) => {
                    let range = |v: f64| match l.alert_when {
                        AlertWhen::Above => number(v),
                        AlertWhen::Below => format!("{}:", number(v)),
                    };
                    (range(l.warn), range(l.crit))
                }
                None => (String::new(), String::new()),
            };
            let item = format!("{}={}{unit};{warn};{crit}", m.name, number(m.value));
            item.trim_end_matches(';').to_owned()
        })
        .collect();
    let mut line = format!("VAULT {} - {text}", report.status.nagios_label());
    if !perfdata.is_empty() {
        line.push_str(" | ");
        line.push_str(&perfdata.join(" "));
    }
    line
}

/// A number without float noise: integers bare, fractions to microsecond precision.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let text = format!("{v:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// One metric family of the textfile.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family { name, help, kind, samples: Vec::new() }
    }

    /// Adds a sample with extra labels (`name="value"` pairs) after the address; `suffix` is for summaries'
    /// `_sum` and `_count`.
    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let mut text = format!("{}{suffix}", self.name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
            text.push('{');
            text.push_str(&pairs.join(","));
            text.push('}');
        }
        self.samples.push((text, value));
        self
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The report in the Prometheus text exposition format, for node_exporter's textfile collector. Families only
/// appear when the run measured them (no certificate metrics on plain HTTP, no canary without `--canary`), and
/// `vault_health_check_status` leaves out skipped checks.
pub fn prometheus(report: &Report) -> String {
    let address = report.address.as_str();
    let at = [("address", address)];
    let mut families = Vec::new();

    let mut up = Family::new(
        "vault_health_up",
        "gauge",
        "Whether sys/health answered (1) or the server could not be reached (0).",
    );
    up.sample("", &at, flag(report.state.is_some()));
    families.push(up);
    let mut overall = Family::new(
        "vault_health_status",
        "gauge",
        "Overall status in Nagios numbering: 0 ok, 1 warning, 2 critical, 3 unknown.",
    );
    overall.sample("", &at, f64::from(report.status.nagios_code()));
    families.push(overall);
    let mut per_check = Family::new(
        "vault_health_check_status",
        "gauge",
        "Status of each check that ran, in Nagios numbering: 0 ok, 1 warning, 2 critical, 3 unknown.",
    );
    for check in report.checks.iter().filter(|c| c.status != Status::Skipped) {
        per_check.sample(
            "",
            &[("address", address), ("check", check.name.as_str())],
            f64::from(check.status.nagios_code()),
        );
    }
    families.push(per_check);

    let mut info = Family::new("vault_health_info", "gauge", "The node's state and version, as labels; always 1.");
    let mut initialized = Family::new("vault_health_initialized", "gauge", "Whether the server is initialised.");
    let mut sealed = Family::new("vault_health_sealed", "gauge", "Whether the server is sealed.");
    let mut standby = Family::new("vault_health_standby", "gauge", "Whether the node is a standby.");
    let mut response = Family::new("vault_health_response_seconds", "gauge", "Round trip of sys/health.");
    let mut seal_progress = Family::new("vault_health_seal_progress", "gauge", "Unseal key shares entered so far.");
    let mut seal_threshold = Family::new("vault_health_seal_threshold", "gauge", "Unseal key shares needed to unseal.");
    let mut skew = Family::new(
        "vault_health_clock_skew_seconds",
        "gauge",
        "Server clock minus this host's clock (positive: the server is ahead).",
    );
    let mut cert_expiry =
        Family::new("vault_health_cert_expiry_seconds", "gauge", "Seconds until the served certificate expires.");
    let mut cert_not_after = Family::new(
        "vault_health_cert_not_after_timestamp_seconds",
        "gauge",
        "When the served certificate expires, Unix time.",
    );
    let mut cert_chain = Family::new(
        "vault_health_cert_chain_length",
        "gauge",
        "Certificates the server sends (its own plus intermediates).",
    );
    let mut cert_verified = Family::new(
        "vault_health_cert_verified",
        "gauge",
        "Whether the served chain verifies against the trusted CAs.",
    );
    let mut cert_san = Family::new(
        "vault_health_cert_san_match",
        "gauge",
        "Whether the served certificate's SANs cover the server name.",
    );
    let mut cert_file = Family::new(
        "vault_health_cert_file_match",
        "gauge",
        "Whether --cert-file holds the served certificate (0: reload the server with SIGHUP).",
    );
    let mut canary = Family::new("vault_health_canary_latency_seconds", "summary", "Latency of canary secret reads.");
    let mut audit = Family::new("vault_health_audit_devices", "gauge", "Audit devices enabled.");
    let mut token_ttl = Family::new(
        "vault_health_token_ttl_seconds",
        "gauge",
        "Seconds the caller's token has left (0: never expires).",
    );
    let mut backup_age = Family::new("vault_health_backup_age_seconds", "gauge", "Age of the newest backup file.");
    let mut backup_time = Family::new(
        "vault_health_backup_timestamp_seconds",
        "gauge",
        "Modification time of the newest backup file, Unix time.",
    );

    let mut raft_peers = Family::new("vault_health_raft_peers", "gauge", "Raft peers (voters and non-voters).");
    let mut raft_voters = Family::new("vault_health_raft_voters", "gauge", "Raft peers that vote.");
    let mut raft_healthy_voters =
        Family::new("vault_health_raft_healthy_voters", "gauge", "Raft voters autopilot counts as healthy.");
    let mut raft_tolerance = Family::new(
        "vault_health_raft_failure_tolerance",
        "gauge",
        "Voters the raft cluster can lose before it loses its quorum.",
    );
    let mut raft_healthy = Family::new(
        "vault_health_raft_autopilot_healthy",
        "gauge",
        "Whether autopilot calls the raft cluster healthy.",
    );
    let mut raft_leader = Family::new("vault_health_raft_node_leader", "gauge", "Whether the raft node leads.");
    let mut raft_voter = Family::new("vault_health_raft_node_voter", "gauge", "Whether the raft node votes.");
    let mut raft_node_healthy =
        Family::new("vault_health_raft_node_healthy", "gauge", "Whether autopilot calls the raft node healthy.");
    let mut raft_lag = Family::new(
        "vault_health_raft_node_lag_index",
        "gauge",
        "Raft log entries the node is behind the leader (leader's last index minus the node's).",
    );
    let mut raft_contact = Family::new(
        "vault_health_raft_node_last_contact_seconds",
        "gauge",
        "Seconds since the leader last heard from the raft node.",
    );

    for check in &report.checks {
        let Some(details) = &check.details else { continue };
        match details {
            Details::Reachability(_) => {
                if let Some(m) = check.get_metric("response_time") {
                    response.sample("", &at, m.value);
                }
            }
            Details::State(s) => {
                let state = serde_json::to_value(s.state).ok();
                let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or("unknown");
                let version = match report.check(CheckName::Version).and_then(|c| c.details.as_ref()) {
                    Some(Details::Version(v)) => v.version.as_str(),
                    _ => "",
                };
                info.sample("", &[("address", address), ("state", state), ("version", version)], 1.0);
                initialized.sample("", &at, flag(s.initialized));
                sealed.sample("", &at, flag(s.sealed));
                standby.sample("", &at, flag(s.standby || s.performance_standby));
            }
            Details::Seal(s) => {
                seal_progress.sample("", &at, f64::from(s.progress));
                seal_threshold.sample("", &at, f64::from(s.threshold));
            }
            Details::ClockSkew(s) => {
                skew.sample("", &at, s.skew_seconds);
            }
            Details::Tls(t) => {
                cert_expiry.sample("", &at, t.expires_in_seconds as f64);
                cert_not_after.sample("", &at, t.not_after.timestamp() as f64);
                cert_chain.sample("", &at, t.chain_length as f64);
                cert_verified.sample("", &at, flag(t.verified));
                cert_san.sample("", &at, flag(t.san_matches));
                if let Some(file) = &t.cert_file {
                    cert_file.sample("", &at, flag(file.matches_served));
                }
            }
            Details::Canary(c) => {
                canary
                    .sample("", &[("address", address), ("quantile", "0.5")], c.p50_seconds)
                    .sample("", &[("address", address), ("quantile", "0.99")], c.p99_seconds)
                    .sample("_sum", &at, c.sum_seconds)
                    .sample("_count", &at, c.reads as f64);
            }
            Details::Audit(a) => {
                audit.sample("", &at, a.devices.len() as f64);
            }
            Details::Token(t) => {
                token_ttl.sample("", &at, t.ttl_seconds as f64);
            }
            Details::Backup(b) => {
                if let (Some(age), Some(modified)) = (b.age_seconds, b.modified) {
                    backup_age.sample("", &at, age);
                    backup_time.sample("", &at, modified.timestamp() as f64);
                }
            }
            Details::Cluster(c) => {
                raft_peers.sample("", &at, c.peers.len() as f64);
                raft_voters.sample("", &at, c.voters as f64);
                raft_healthy_voters.sample("", &at, c.healthy_voters as f64);
                raft_tolerance.sample("", &at, f64::from(c.failure_tolerance));
                raft_healthy.sample("", &at, flag(c.healthy));
                for peer in &c.peers {
                    let labels = [("address", address), ("node", peer.node_id.as_str())];
                    raft_leader.sample("", &labels, flag(peer.leader));
                    raft_voter.sample("", &labels, flag(peer.voter));
                    if let Some(healthy) = peer.healthy {
                        raft_node_healthy.sample("", &labels, flag(healthy));
                    }
                    if let Some(lag) = peer.lag {
                        raft_lag.sample("", &labels, lag as f64);
                    }
                    if let Some(contact) = peer.last_contact_seconds {
                        raft_contact.sample("", &labels, contact);
                    }
                }
            }
            Details::Version(_) => {}
        }
    }
    families.extend([
        info,
        initialized,
        sealed,
        standby,
        response,
        seal_progress,
        seal_threshold,
        skew,
        cert_expiry,
        cert_not_after,
        cert_chain,
        cert_verified,
        cert_san,
        cert_file,
        canary,
        audit,
        token_ttl,
        backup_age,
        backup_time,
        raft_peers,
        raft_voters,
        raft_healthy_voters,
        raft_tolerance,
        raft_healthy,
        raft_leader,
        raft_voter,
        raft_node_healthy,
        raft_lag,
        raft_contact,
    ]);
    let mut duration = Family::new("vault_health_duration_seconds", "gauge", "How long the vault-health run took.");
    duration.sample("", &at, report.duration.as_secs_f64());
    let mut last_run = Family::new(
        "vault_health_last_run_timestamp_seconds",
        "gauge",
        "When vault-health ran, Unix time: alert when this file goes stale.",
    );
    last_run.sample("", &at, report.checked_at.timestamp() as f64);
    families.extend([duration, last_run]);

    let mut text = String::new();
    for family in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (sample, value) in &family.samples {
            let _ = writeln!(text, "{sample} {value}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Limits, Metric};

    fn report(checks: Vec<Check>, state: Option<NodeState>) -> Report {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Report::new("https://vault:8200".into(), state, at, Duration::from_millis(12), checks)
    }

    #[test]
    fn nagios_names_problems_worst_first_with_perfdata() {
        let checks = vec![
            Check::new(CheckName::Reachability, Status::Ok, "fine").metric(Metric::seconds(
                "response_time",
                Duration::from_micros(1500),
                None,
            )),
            Check::new(CheckName::Audit, Status::Warn, "1 audit device | one"),
            Check::new(CheckName::Tls, Status::Crit, "certificate expired").metric(Metric {
                name: "cert_expiry",
                value: -86_400.0,
                unit: Unit::Seconds,
                limits: Some(Limits::below(2_592_000.0, 604_800.0)),
            }),
            Check::skipped(CheckName::Backup, "no --backup-dir given"),
        ];
        let line = nagios_line(&report(checks, Some(NodeState::Active)));
        assert_eq!(
            line,
            "VAULT CRITICAL - tls: certificate expired; audit: 1 audit device / one | response_time=0.0015s cert_expiry=-86400s;2592000:;604800:"
        );
        let ok = nagios_line(&report(vec![Check::new(CheckName::Seal, Status::Ok, "x")], Some(NodeState::Standby)));
        assert_eq!(ok, "VAULT OK - standby, 1 checks OK, 0 skipped");
    }

    #[test]
    fn prometheus_families_are_declared_once_and_labels_escaped() {
        let text = prometheus(&report(
            vec![
                Check::new(CheckName::Reachability, Status::Crit, "cannot reach"),
                Check::skipped(CheckName::Canary, "no --canary path given"),
            ],
            None,
        ));
        assert!(
            text.contains("# TYPE vault_health_up gauge\nvault_health_up{address=\"https://vault:8200\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("vault_health_check_status{address=\"https://vault:8200\",check=\"reachability\"} 2\n"));
        assert!(!text.contains("check=\"canary\""), "skipped checks are left out");
        assert!(text.contains("vault_health_last_run_timestamp_seconds{address=\"https://vault:8200\"} 1800000000\n"));
        assert!(!text.contains("vault_health_sealed"), "nothing is known about the seal of an unreachable server");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn the_raft_peers_follow_the_checks_and_become_gauges_per_node() {
        use crate::details::{ClusterDetails, PeerDetails};
        let peer =
            |id: &str, leader: bool, healthy: Option<bool>, contact: Option<f64>, lag: Option<u64>| PeerDetails {
                node_id: id.into(),
                address: format!("10.0.0.{}:8201", id.len()),
                voter: true,
                leader,
                healthy,
                status: Some(if leader { "leader" } else { "voter" }.into()),
                node_status: Some("alive".into()),
                last_contact_seconds: contact,
                last_term: Some(3),
                last_index: Some(120),
                lag,
                stable_since: None,
            };
        let details = ClusterDetails {
            leader_id: "vault-1".into(),
            leader_index: Some(120),
            voters: 3,
            healthy_voters: 2,
            quorum: 2,
            healthy: false,
            failure_tolerance: 0,
            peers: vec![
                peer("vault-1", true, Some(true), Some(0.0), Some(0)),
                peer("vault-2", false, Some(true), Some(0.048), Some(0)),
                peer("vault-3x", false, None, None, None),
            ],
        };
        let r = report(
            vec![Check::new(CheckName::Cluster, Status::Warn, "x").details(Details::Cluster(details))],
            Some(NodeState::Standby),
        );
        let mut human = Vec::new();
        write_human(&r, &mut human, false).unwrap();
        let human = String::from_utf8(human).unwrap();
        assert!(
            human.ends_with(
                "\n\nNODE      ADDRESS        STATUS  VOTER  HEALTHY  LAST CONTACT  LAG\n\
                 vault-1   10.0.0.7:8201  leader  yes    yes      -             0\n\
                 vault-2   10.0.0.7:8201  voter   yes    yes      48ms          0\n\
                 vault-3x  10.0.0.8:8201  voter   yes    ?        ?             ?\n\
                 \n3 voters, quorum 2: can lose 0 nodes\n"
            ),
            "{human}"
        );
        let text = prometheus(&r);
        let at = "address=\"https://vault:8200\"";
        for line in [
            format!("vault_health_raft_failure_tolerance{{{at}}} 0"),
            format!("vault_health_raft_autopilot_healthy{{{at}}} 0"),
            format!("vault_health_raft_node_leader{{{at},node=\"vault-1\"}} 1"),
            format!("vault_health_raft_node_lag_index{{{at},node=\"vault-1\"}} 0"),
            format!("vault_health_raft_node_last_contact_seconds{{{at},node=\"vault-2\"}} 0.048"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("vault_health_raft_node_healthy{address=\"https://vault:8200\",node=\"vault-3x\"}"));
    }

    #[test]
    fn numbers_have_no_float_noise() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.0015), "0.0015");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(-2.5), "-2.5");
    }
}
