//! Retries, backoff and time budgets: every call is bounded as a whole by the client timeout or the command's
//! deadline; connection errors, 5xx (not sealed, not uninitialised) and 429 are retried with exponential backoff
//! and jitter; a 403 caused by a dead token leads to one re-login and one retry.

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
        let mut attempt = 0;
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
                error if error.is_retryable() && attempt < self.inner.config.max_retries => {
                    tracing::debug!(%error, attempt, "retrying {} {}", op.operation, op.path);
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                error @ Error::Sealed { .. } => return Err(self.sealed_or_uninitialised(error).await),
                error => return Err(error),
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
            let mut attempt = 0;
            loop {
                match call().await {
                    Err(error) if error.is_retryable() && attempt < self.inner.config.max_retries => {
                        tracing::debug!(%error, attempt, "retrying {} {}", op.operation, op.path);
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                    result => return result,
                }
            }
        })
        .await
    }
}

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

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..20 {
            let d = backoff(attempt);
            let step = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }
}
