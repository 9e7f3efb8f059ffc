//! Canary reads: the latency a pipeline sees when it reads a secret, as p50 and p99 over N reads of one KV v2
//! path.
//!
//! The reads go one after another, not in parallel: the point is the latency of one read, not the server's
//! throughput. The mount lookup that resolves the path comes first and is not timed, so the first timed read
//! does not pay for connection setup or token lookup. The secret's values are dropped (and zeroed) unread.

use std::time::{Duration, Instant};

use vault_core::output::human_duration;
use vault_core::{Client, Error};

use crate::Thresholds;
use crate::details::CanaryDetails;
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};

/// Reads `path` `reads` times and returns each read's latency.
pub(crate) async fn probe(client: &Client, path: &str, reads: usize) -> vault_core::Result<Vec<Duration>> {
    let path = client.kv_path(path).await?;
    let mut samples = Vec::with_capacity(reads);
    for _ in 0..reads {
        let start = Instant::now();
        drop(client.kv_read(&path, None).await?);
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Judges the p99 against the latency thresholds.
pub(crate) fn check(path: &str, samples: vault_core::Result<Vec<Duration>>, thresholds: &Thresholds) -> Check {
    let mut samples = match samples {
        Ok(samples) if !samples.is_empty() => samples,
        Ok(_) => return Check::new(CheckName::Canary, Status::Unknown, "no reads were made"),
        Err(error) => return failed(path, &error),
    };
    samples.sort_unstable();
    let p50 = percentile(&samples, 0.50);
    let p99 = percentile(&samples, 0.99);
    let max = samples[samples.len() - 1];
    let limits = Limits::above(thresholds.latency_warn.as_secs_f64(), thresholds.latency_crit.as_secs_f64());
    let status = limits.status(p99.as_secs_f64());
    let mut summary = format!("p50 {}, p99 {} over {} reads of {path}", precise(p50), precise(p99), samples.len());
    if status != Status::Ok {
        summary.push_str(&format!(
            " (p99 above {})",
            human_duration(if status == Status::Crit { thresholds.latency_crit } else { thresholds.latency_warn })
        ));
    }
    Check::new(CheckName::Canary, status, summary)
        .metric(Metric::seconds("canary_p50", p50, None))
        .metric(Metric::seconds("canary_p99", p99, Some(limits)))
        .details(Details::Canary(CanaryDetails {
            path: path.to_owned(),
            reads: samples.len(),
            p50_seconds: p50.as_secs_f64(),
            p99_seconds: p99.as_secs_f64(),
            max_seconds: max.as_secs_f64(),
            sum_seconds: samples.iter().sum::<Duration>().as_secs_f64(),
        }))
}

/// A read that failed. A denied read means this identity may not read the canary (only deploy's `health`
/// identity may): skipped, with the reason. A missing secret or a path that is not KV v2 mean the canary is set
/// up wrong: the check cannot tell how reads perform (unknown). Anything else is the server failing a read a
/// pipeline would make (critical).
fn failed(path: &str, error: &Error) -> Check {
    match error {
        Error::PermissionDenied { .. } => Check::skipped(
            CheckName::Canary,
            format!("this token may not read {path} (the health identity may): {error}"),
        ),
        Error::NotFound { .. } => Check::new(
            CheckName::Canary,
            Status::Unknown,
            format!("{error}: create the canary, e.g. `bao kv put {path} ok=1`"),
        ),
        Error::Auth { .. } | Error::Config(_) => Check::new(CheckName::Canary, Status::Unknown, error.to_string()),
        _ => Check::new(CheckName::Canary, Status::Crit, format!("reading {path} failed: {error}")),
    }
}

/// The nearest-rank percentile of sorted samples: the smallest sample with at least `p` of them at or below it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sub-millisecond latencies are normal on a local server, so show them with a fraction.
fn precise(d: Duration) -> String {
    if d < Duration::from_millis(10) { format!("{:.2}ms", d.as_secs_f64() * 1000.0) } else { human_duration(d) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        let twenty = ms(&(1..=20).collect::<Vec<_>>());
        assert_eq!(percentile(&twenty, 0.50), Duration::from_millis(10));
        assert_eq!(percentile(&twenty, 0.99), Duration::from_millis(20));
        let one = ms(&[7]);
        assert_eq!((percentile(&one, 0.5), percentile(&one, 0.99)), (one[0], one[0]));
        let hundred = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&hundred, 0.99), Duration::from_millis(99));
    }

    #[test]
    fn slow_reads_warn_and_missing_canaries_are_unknown() {
        let t = Thresholds::default();
        let slow = vec![Duration::from_millis(5); 19].into_iter().chain([Duration::from_millis(300)]).collect();
        let c = check("secret/health/canary", Ok(slow), &t);
        assert_eq!(c.status, Status::Warn, "{}", c.summary);
        assert!(c.summary.contains("p99 300ms"), "{}", c.summary);
        let missing = Err(Error::NotFound { path: "secret/health/canary".into(), deleted: false });
        let c = check("secret/health/canary", missing, &t);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.summary.contains("bao kv put secret/health/canary"), "{}", c.summary);
        let denied =
            Err(Error::PermissionDenied { path: "secret/data/health/canary".into(), operation: "read".into() });
        let c = check("secret/health/canary", denied, &t);
        assert_eq!(c.status, Status::Skipped, "{}", c.summary);
        assert!(c.summary.contains("may not read secret/health/canary"), "{}", c.summary);
        let down = Err(Error::Unreachable { address: "https://v".into(), detail: "refused".into() });
        assert_eq!(check("secret/x", down, &t).status, Status::Crit);
    }
}
