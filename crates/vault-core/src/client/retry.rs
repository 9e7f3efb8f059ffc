//! Retries, backoff and time budgets: every call is bounded as a whole by the client timeout or the command's
//! deadline; connection errors, 5xx (not sealed, not uninitialised) and 429 are retried with exponential backoff
//! and jitter, `max_retries` times, and for up to [`FAILOVER_WAIT`] while the cluster has no active node; a call
//! that must not run twice is retried only after failures that prove it had no effect; a 403 caused by a dead
//! token leads to one re-login and one retry.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::error::{Error, Result};

impl Client {
    /// Runs one call within its time budget: the client timeout, cut short by the deadline. Checks the path
    /// first, so input no server could accept is refused before anything is sent.
    pub(crate) async fn bounded<T>(&self, op: Op<'_>, call: impl Future<Output = Result<T>>) -> Result<T> {
        check_path(op.path)?;
        let timeout = self.inner.config.timeout;
        let (budget, why) = match self.deadline() {
            Some(deadline) if deadline.saturating_duration_since(Instant::now()) < timeout => {
                (deadline.saturating_duration_since(Instant::now()), "the command's time limit")
            }
            _ => (timeout, "the client timeout (--client-timeout, VAULT_CLIENT_TIMEOUT)"),
        };
        let error = || Error::Unreachable {
            address: self.inner.address.clone(),
            detail: format!("no answer to {} {} within {} ({why})", op.operation, op.path, show_duration(budget)),
        };
        if budget.is_zero() {
            return Err(error());
        }
        tokio::time::timeout(budget, call).await.unwrap_or_else(|_| Err(error()))
    }

    /// Runs `call` with a usable session, retrying and re-authenticating as the module documentation describes.
    pub(crate) async fn execute<T, F, Fut>(&self, op: Op<'_>, call: F) -> Result<T>
    where
        F: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.bounded(op, self.execute_unbounded(op, call)).await
    }

    pub(crate) async fn execute_unbounded<T, F, Fut>(&self, op: Op<'_>, call: F) -> Result<T>
    where
        F: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = Retries::default();
        let mut reauthenticated = false;
        loop {
            let session = match self.session().await {
                Ok(session) => session,
                Err(error @ Error::Sealed { .. }) => return Err(self.sealed_or_uninitialised(error).await),
                Err(error) => return Err(error),
            };
            let error = match call(session.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match error {
                Error::PermissionDenied { .. } if session.token.is_none() => {
                    return Err(Error::Auth {
                        method: "none".into(),
                        detail: format!(
                            "no credentials for {} {}: set VAULT_TOKEN, pass --token-file, or configure AppRole (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)",
                            op.operation, op.path
                        ),
                    });
                }
                Error::PermissionDenied { .. } if !reauthenticated && self.token_is_dead(&session).await => {
                    reauthenticated = true;
                    self.replace_dead_session(&session).await?;
                }
                error @ Error::Sealed { .. } => return Err(self.sealed_or_uninitialised(error).await),
                error => match retries.next(
                    op,
                    self.catch_up(&retries, self.refine_refused(error).await),
                    self.inner.config.max_retries,
                ) {
                    Ok(wait) => tokio::time::sleep(wait).await,
                    Err(error) => return Err(error),
                },
            }
        }
    }

    /// A server that was never initialised also answers "sealed"; ask which it is, since the remedies differ.
    pub(crate) async fn sealed_or_uninitialised(&self, sealed: Error) -> Error {
        match self.seal_status().await {
            Ok(status) if !status.initialized => Error::NotInitialized { address: self.inner.address.clone() },
            _ => sealed,
        }
    }

    /// Retries `call` on retryable errors with backoff, without touching the session.
    pub(crate) async fn retrying<T, F, Fut>(&self, op: Op<'_>, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.bounded(op, async {
            let mut retries = Retries::default();
            loop {
                match call().await {
                    Ok(value) => return Ok(value),
                    Err(error) => {
                        let error = self.catch_up(&retries, self.refine_refused(error).await);
                        match retries.next(op, error, self.inner.config.max_retries) {
                            Ok(wait) => tokio::time::sleep(wait).await,
                            Err(error) => return Err(error),
                        }
                    }
                }
            }
        })
        .await
    }
}

impl Client {
    /// A standby that still has not reached the raft index this client asks for after [`CATCH_UP_WAIT`] will not:
    /// the cluster's data was replaced since (a snapshot restored by another process), so the index is forgotten
    /// and the next try asks for none.
    fn catch_up(&self, retries: &Retries, error: Error) -> Error {
        if matches!(&error, Error::Server { status: 429, errors, .. } if errors.is_empty())
            && retries.catching_up_since.is_some_and(|since| since.elapsed() >= CATCH_UP_WAIT)
        {
            tracing::debug!("a standby did not reach this client's raft index in time; asking for none");
            self.read_index().forget();
        }
        error
    }
}

/// The first pause before asking a standby again that had not yet applied the raft index asked for.
pub(crate) const CATCH_UP_STEP: Duration = Duration::from_millis(5);

/// How long a standby may take to apply the writes this client saw before the index it is asked for is given up.
pub(crate) const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// The retry state of one call: how many retries were made, since when the cluster has been in transition, and
/// since when a standby has been asked to catch up with this client's raft index. The two clocks are apart: a
/// call that waited out an election still gives the standby its full [`CATCH_UP_WAIT`] to apply the new
/// leader's entries (which it learns of only after the election) before the index is given up.
#[derive(Default)]
pub(crate) struct Retries {
    attempt: u32,
    leaderless_since: Option<Instant>,
    catching_up_since: Option<Instant>,
}

impl Retries {
    /// Decides what to do after `error`: `Ok(wait)` to try again after `wait`, or `Err` with the error to report.
    ///
    /// - A failure that retrying cannot mend is reported at once.
    /// - A call that must not run twice ([`Op::once`]) is retried only when the failure proves it had no effect.
    /// - A cluster in transition ([`Error::is_transition`]: an election, a KV mount being upgraded) is retried, at most every [`LEADERLESS_STEP`], for up to [`FAILOVER_WAIT`]
    ///   after it was first seen, as long as retries are on at all (`max_retries` > 0); then it is reported
    ///   with the time waited.
    /// - Anything else retryable is retried `max_retries` times with exponential backoff.
    pub(crate) fn next(&mut self, op: Op<'_>, error: Error, max_retries: u32) -> Result<Duration, Error> {
        if !error.is_retryable() || (!op.idempotent && !error.is_unapplied()) || max_retries == 0 {
            return Err(error);
        }
        let wait = if error.is_transition() {
            let since = *self.leaderless_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= FAILOVER_WAIT {
                let waited = format!("still so after waiting {}", show_duration(since.elapsed()));
                return Err(match error {
                    Error::NoActiveNode { address, detail } => {
                        Error::NoActiveNode { address, detail: format!("{detail}; {waited}") }
                    }
                    other => other,
                });
            }
            tracing::debug!(%error, "the cluster is in transition; retrying {} {}", op.operation, op.path);
            if matches!(&error, Error::Server { status: 429, .. }) {
                self.catching_up_since.get_or_insert_with(Instant::now);
                // A standby catching up applies the index with its next message from the leader: soon.
                CATCH_UP_STEP.saturating_mul(1 << self.attempt.min(4)).min(LEADERLESS_STEP)
            } else {
                backoff(self.attempt).min(LEADERLESS_STEP)
            }
        } else {
            if self.attempt >= max_retries {
                return Err(error);
            }
            tracing::debug!(%error, attempt = self.attempt, "retrying {} {}", op.operation, op.path);
            backoff(self.attempt)
        };
        self.attempt = self.attempt.saturating_add(1);
        Ok(wait)
    }
}

/// The longest pause between tries while a cluster has no active node, so a new leader is found soon after it
/// is elected.
pub(crate) const LEADERLESS_STEP: Duration = Duration::from_millis(500);

/// First backoff step; each retry doubles it, up to [`MAX_BACKOFF`], and waits a random 50–100 % of the step.
pub(crate) const BASE_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(3);

pub(crate) fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    let step = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
    step.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, errors: &[&str]) -> Error {
        Error::from_status(status, errors.iter().map(|e| e.to_string()).collect(), "https://v", "secret/a", "write")
    }

    #[test]
    fn an_election_is_waited_out_beyond_max_retries_but_not_forever() {
        let op = Op::new("write", "secret/a");
        let mut retries = Retries::default();
        for _ in 0..10 {
            let wait = retries.next(op, error(500, &["local node not active but active cluster node not found"]), 2);
            assert!(wait.is_ok_and(|w| w <= LEADERLESS_STEP));
        }
        // Other failures still stop after max_retries.
        let mut retries = Retries::default();
        assert!(retries.next(op, error(502, &[]), 2).is_ok());
        assert!(retries.next(op, error(502, &[]), 2).is_ok());
        assert!(matches!(retries.next(op, error(502, &[]), 2), Err(Error::Server { status: 502, .. })));
        // The wait is bounded: once FAILOVER_WAIT has passed, the error is reported with the time waited.
        let mut retries = Retries {
            attempt: 3,
            leaderless_since: Some(Instant::now() - FAILOVER_WAIT - Duration::from_secs(1)),
            ..Default::default()
        };
        let given_up = retries.next(op, error(500, &["local node not active"]), 2).unwrap_err();
        assert!(given_up.to_string().contains("still so after waiting 21"), "{given_up}");
        assert_eq!(given_up.exit(), crate::Exit::Unavailable);
        // No retries at all when they are turned off.
        assert!(Retries::default().next(op, error(500, &["local node not active"]), 0).is_err());
    }

    #[test]
    fn a_standby_catching_up_after_an_election_gets_its_own_wait() {
        let op = Op::new("read", "secret/data/a");
        let mut retries = Retries::default();
        // An election long enough to use up the catch-up wait on its own…
        retries.next(op, error(500, &["local node not active but active cluster node not found"]), 2).unwrap();
        retries.leaderless_since = Some(Instant::now() - CATCH_UP_WAIT - Duration::from_secs(1));
        // …then the standby has not applied the new leader's entries yet: its wait starts now.
        retries.next(op, error(429, &[]), 2).unwrap();
        let since = retries.catching_up_since.expect("the catch-up clock started");
        assert!(since.elapsed() < CATCH_UP_WAIT);
        retries.next(op, error(429, &[]), 2).unwrap();
        assert_eq!(retries.catching_up_since, Some(since), "the clock starts once per call");
    }

    #[test]
    fn a_call_that_must_not_run_twice_is_retried_only_when_it_had_no_effect() {
        let op = Op::new("create", "auth/token/create").once();
        let refused =
            Error::Unreachable { address: "https://v".into(), detail: "Connection refused (os error 111)".into() };
        let reset = Error::Unreachable { address: "https://v".into(), detail: "connection reset by peer".into() };
        assert!(Retries::default().next(op, refused, 2).is_ok());
        assert!(Retries::default().next(op, error(500, &["local node not active"]), 2).is_ok());
        assert!(Retries::default().next(op, reset, 2).is_err(), "the token may have been made");
        assert!(Retries::default().next(op, error(500, &["internal error"]), 2).is_err());
        assert!(Retries::default().next(op, error(502, &[]), 2).is_err());
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..20 {
            let d = backoff(attempt);
            let step = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }
}
