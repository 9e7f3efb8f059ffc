//! vault-health: is this Vault (or OpenBao) server healthy, and if not, what is wrong?
//!
//! [`check`] runs every check against one server and returns a typed [`Report`]; it never fails, because a
//! health check's failures are its answers. The `vault-health` binary prints that report as a table, JSON, JSON
//! Lines, a Nagios line or a Prometheus textfile; other tools (and `cargo xtask deploy`) call [`check`] directly.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let client = vault_core::Client::from_env()?;
//! let report = vault_health::check(&client, &vault_health::Options::default()).await;
//! if report.status != vault_health::Status::Ok {
//!     for check in &report.checks {
//!         eprintln!("{}: {} {}", check.name, check.status, check.summary);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The checks, in report order: `reachability`, `state` (active, standby, performance standby, DR secondary,
//! sealed, uninitialised; HA leader; a standby whose named active node does not answer), `seal` (unseal progress),
//! `version`, `clock_skew`, `tls` (the certificate the listener serves), `canary` (read latency p50/p99), `audit`
//! (devices enabled), `token` (the caller's TTL), `backup` (age of the newest backup file) and `cluster` (raft
//! peers, voters, leader, autopilot's health and failure tolerance; skipped on storage that is not raft). The first
//! six need no token. The independent ones run concurrently: `sys/health` and the TLS handshake first, then
//! `sys/seal-status`, `sys/leader` (on a standby followed by the `sys/health` of the active node it names) and,
//! when the node serves requests, the token lookup, the audit listing, the canary reads and the raft configuration
//! and autopilot state, all together over the connection `sys/health` opened.

mod audit;
mod backup;
mod canary;
pub mod cli;
mod cluster;
mod details;
pub mod output;
mod report;
mod server;
mod tls;
mod token;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use vault_core::Client;
use vault_core::config::AuthConfig;

pub use details::{
    AuditDetails, AuditDevice, BackupDetails, CanaryDetails, CertFileDetails, ClusterDetails, PeerDetails,
    ReachabilityDetails, SealDetails, SkewDetails, StateDetails, TlsDetails, TokenDetails, VersionDetails,
};
pub use report::{AlertWhen, Check, CheckName, Counts, Details, Limits, Metric, Report, Status, Unit};

/// The backup file-name glob vault-backup's files match: `.snap`, `.snap.gz`, `.snap.gz.age` and the like.
pub const DEFAULT_BACKUP_PATTERN: &str = "*.snap*";
/// How many canary reads are timed unless told otherwise.
pub const DEFAULT_CANARY_READS: usize = 20;

/// What to check beyond the defaults, and the thresholds to judge by.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Warning and critical thresholds.
    pub thresholds: Thresholds,
    /// Time reads of a KV v2 secret; skipped when `None`.
    pub canary: Option<CanaryOptions>,
    /// Compare the served certificate with this PEM file.
    pub cert_file: Option<PathBuf>,
    /// Check the age of the newest backup; skipped when `None`.
    pub backup: Option<BackupOptions>,
}

/// The canary secret and how many reads to time.
#[derive(Clone, Debug)]
pub struct CanaryOptions {
    /// A KV v2 path as users write it, e.g. `secret/health/canary`.
    pub path: String,
    /// Reads to time (at least 1).
    pub reads: usize,
}

/// Where backups are and what their files are called.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// The folder vault-backup writes to.
    pub dir: PathBuf,
    /// A glob on file names, e.g. [`DEFAULT_BACKUP_PATTERN`].
    pub pattern: String,
}

/// Warning and critical thresholds. For "remaining time" values (certificate, token) the warning threshold is the
/// larger one; for "elapsed" values (skew, latency, backup age) the smaller one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Warn when the certificate expires within this (default 30 days).
    pub cert_warn: Duration,
    /// Critical when the certificate expires within this (default 3 days: a certificate with 5 days left is a
    /// warning, renewal is still routine).
    pub cert_crit: Duration,
    /// Warn when the server's clock is off by more than this (default 2 s).
    pub skew_warn: Duration,
    /// Critical when the server's clock is off by more than this (default 10 s).
    pub skew_crit: Duration,
    /// Warn when the canary's p99 read latency is above this (default 200 ms).
    pub latency_warn: Duration,
    /// Critical when the canary's p99 read latency is above this (default 1 s).
    pub latency_crit: Duration,
    /// Warn when the caller's token has less than this left (default 1 h; with `token_ttl_relative`, or less
    /// than a quarter of the TTL it was created with when that is smaller).
    pub token_ttl_warn: Duration,
    /// Critical when the caller's token has less than this left (default 5 min; with `token_ttl_relative`, or
    /// less than a tenth of its creation TTL when that is smaller).
    pub token_ttl_crit: Duration,
    /// Scale the token thresholds down to the token's creation TTL (default true; the CLI turns it off when
    /// either token flag is given, which is then taken literally).
    pub token_ttl_relative: bool,
    /// Warn when the newest backup is older than this (default 26 h: a daily backup, plus slack).
    pub backup_warn: Duration,
    /// Critical when the newest backup is older than this (default 50 h: two daily backups missed).
    pub backup_crit: Duration,
    /// Warn when fewer audit devices than this are enabled (default 2); none at all is always critical.
    pub audit_min_devices: usize,
    /// Warn when the raft cluster can lose fewer nodes than this before it loses its quorum (default 1).
    pub min_failure_tolerance: u32,
    /// Judge a cluster of one voter by `min_failure_tolerance` too (default false: one node cannot tolerate any
    /// loss by design, and is what `cargo xtask deploy` sets up; the CLI turns it on when
    /// `--min-failure-tolerance` is given, which is then taken literally).
    pub failure_tolerance_single_voter: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        Thresholds {
            cert_warn: Duration::from_secs(30 * DAY),
            cert_crit: Duration::from_secs(3 * DAY),
            skew_warn: Duration::from_secs(2),
            skew_crit: Duration::from_secs(10),
            latency_warn: Duration::from_millis(200),
            latency_crit: Duration::from_secs(1),
            token_ttl_warn: Duration::from_secs(HOUR),
            token_ttl_crit: Duration::from_secs(5 * 60),
            token_ttl_relative: true,
            backup_warn: Duration::from_secs(26 * HOUR),
            backup_crit: Duration::from_secs(50 * HOUR),
            audit_min_devices: 2,
            min_failure_tolerance: 1,
            failure_tolerance_single_voter: false,
        }
    }
}

/// Options that cannot work: the message names the flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOptions(String);

impl Options {
    /// Checks that thresholds are ordered the right way round, counts are positive and the backup glob parses.
    pub fn validate(&self) -> Result<(), InvalidOptions> {
        let t = &self.thresholds;
        let bad = |text: String| Err(InvalidOptions(text));
        let days = |d: Duration| d.as_secs() / 86_400;
        if t.cert_warn < t.cert_crit {
            return bad(format!(
                "--cert-warn-days ({}) must be at least --cert-crit-days ({})",
                days(t.cert_warn),
                days(t.cert_crit)
            ));
        }
        if t.token_ttl_warn < t.token_ttl_crit {
            return bad("--token-ttl-warn must be at least --token-ttl-crit".into());
        }
        for (warn, crit, what) in [
            (t.skew_warn, t.skew_crit, "--skew-warn must not exceed --skew-crit"),
            (t.latency_warn, t.latency_crit, "--latency-warn must not exceed --latency-crit"),
            (t.backup_warn, t.backup_crit, "--backup-warn must not exceed --backup-crit"),
        ] {
            if warn > crit {
                return bad(what.into());
            }
        }
        if t.audit_min_devices == 0 {
            return bad("--audit-min-devices must be at least 1".into());
        }
        if let Some(canary) = &self.canary
            && canary.reads == 0
        {
            return bad("--canary-reads must be at least 1".into());
        }
        if let Some(backup) = &self.backup
            && let Err(e) = globset::Glob::new(&backup.pattern)
        {
            return bad(format!("--backup-pattern {:?}: {e}", backup.pattern));
        }
        Ok(())
    }
}

/// Runs every check against the server `client` talks to.
pub async fn check(client: &Client, options: &Options) -> Report {
    let started = Instant::now();
    let checked_at = Utc::now();
    let thresholds = &options.thresholds;

    // `sys/health` goes first, alone but for our own TLS handshake: it opens the HTTP client's connection (HTTP/2
    // over TLS), which everything after it then shares instead of each request paying for a handshake of its own.
    let (health, tls) = tokio::join!(server::probe_health(client), tls::probe(client.config(), client.deadline()));

    // Checks that need a token need a node that serves requests, and a token.
    let blocked = server::not_serving(&health).or_else(|| {
        matches!(client.config().auth, AuthConfig::None)
            .then(|| "no token: set VAULT_TOKEN, pass --token-file, or configure AppRole".to_owned())
    });
    let with_token = async {
        if let Some(why) = &blocked {
            let canary = match &options.canary {
                Some(_) => Check::skipped(CheckName::Canary, why.clone()),
                None => Check::skipped(CheckName::Canary, "no --canary path given"),
            };
            return (
                Check::skipped(CheckName::Token, why.clone()),
                Check::skipped(CheckName::Audit, why.clone()),
                canary,
                None,
            );
        }
        let canary = async {
            match &options.canary {
                Some(c) => canary::check(&c.path, canary::probe(client, &c.path, c.reads).await, thresholds),
                None => Check::skipped(CheckName::Canary, "no --canary path given"),
            }
        };
        let (token, audit, canary, cluster) =
            tokio::join!(token::probe(client), audit::probe(client), canary, cluster::probe(client));
        (token::check(token, thresholds), audit::check(audit, thresholds), canary, Some(cluster))
    };
    // A standby's word on who is active is checked with the active node itself, alongside the other checks.
    let leader_and_active = async {
        let leader = server::probe_leader(client).await;
        let active = server::probe_active_node(client, &health, leader.as_ref()).await;
        (leader, active)
    };
    let (seal, (leader, active), (token, audit, canary, cluster)) =
        tokio::join!(client.seal_status(), leader_and_active, with_token);
    let cluster = match (cluster, &blocked) {
        (Some(probe), _) => cluster::check(probe, leader.as_ref(), thresholds),
        (None, why) => Check::skipped(CheckName::Cluster, why.clone().unwrap_or_default()),
    };
    let backup = match &options.backup {
        Some(backup) => backup::check(backup, thresholds, SystemTime::now()),
        None => Check::skipped(CheckName::Backup, "no --backup-dir given"),
    };

    let state = health.as_ref().ok().map(|probe| probe.health.state);
    let checks = vec![
        server::reachability(&health),
        server::state(&health, leader.as_ref(), active.as_ref()),
        server::seal(&health, &seal),
        server::version(&health),
        server::clock_skew(&health, thresholds),
        tls::check(tls, health.is_ok(), options.cert_file.as_deref(), thresholds, checked_at),
        canary,
        audit,
        token,
        backup,
        cluster,
    ];
    Report::new(client.address().to_owned(), state, checked_at, started.elapsed(), checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_must_be_the_right_way_round() {
        assert!(Options::default().validate().is_ok());
        let t = |thresholds| Options { thresholds, ..Options::default() }.validate().unwrap_err().to_string();
        let base = Thresholds::default();
        assert!(t(Thresholds { cert_warn: Duration::from_secs(86_400), ..base }).contains("--cert-warn-days (1)"));
        assert!(t(Thresholds { skew_warn: Duration::from_secs(60), ..base }).contains("--skew-warn"));
        assert!(t(Thresholds { audit_min_devices: 0, ..base }).contains("--audit-min-devices"));
        let glob =
            Options { backup: Some(BackupOptions { dir: "/b".into(), pattern: "[".into() }), ..Options::default() };
        assert!(glob.validate().unwrap_err().to_string().contains("--backup-pattern"));
    }
}
