//! The session: the token in use and the `vaultrs` client that carries it. A configured token is looked up once
//! to learn its TTL and renewed at half of it; AppRole logs in (again when renewal is refused or the token
//! expires); a token known to be dead is never sent (fail closed). Also the background renewal of long runs and
//! the revocation of the client's own token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use vaultrs::client::VaultClient;

use super::*;
use crate::config::{AppRoleConfig, AuthConfig};
use crate::error::{Error, Result};
use crate::secret::SecretString;

impl Client {
    /// The current session, refreshed first when its token needs a lookup, renewal or login.
    pub(crate) async fn session(&self) -> Result<Arc<Session>> {
        let current = self.current_session();
        if !self.needs_refresh(&current) {
            return Ok(current);
        }
        let _guard = self.inner.refresh.lock().await;
        let current = self.current_session();
        if !self.needs_refresh(&current) {
            return Ok(current);
        }
        let next = Arc::new(self.refresh(&current).await?);
        *self.inner.session.write().expect("session lock poisoned") = next.clone();
        Ok(next)
    }

    pub(crate) fn current_session(&self) -> Arc<Session> {
        self.inner.session.read().expect("session lock poisoned").clone()
    }

    pub(crate) fn needs_refresh(&self, session: &Session) -> bool {
        match session.lease {
            Lease::Unknown => true,
            Lease::Forever => false,
            Lease::Expiring { renew_at, .. } => Instant::now() >= renew_at,
        }
    }

    /// Looks up, renews or replaces the token of `current`.
    pub(crate) async fn refresh(&self, current: &Session) -> Result<Session> {
        let approle = match &self.inner.config.auth {
            AuthConfig::AppRole(a) => Some(a),
            _ => None,
        };
        let Some(token) = &current.token else {
            return match approle {
                Some(a) => self.login(a, current.generation).await,
                None => Ok(self.session_with(None, Lease::Forever, Duration::ZERO, current.generation)),
            };
        };
        match current.lease {
            Lease::Unknown => match self.lookup_self(current).await {
                Ok(info) => {
                    let lease = Lease::from_ttl(info.ttl, info.renewable.unwrap_or(false));
                    Ok(self.session_with(Some(token.clone()), lease, Duration::from_secs(info.ttl), current.generation))
                }
                // A token whose policies leave out `default` may not look itself up, and the server answers a
                // dead token the same way: ask an endpoint every live token may call to tell them apart. A live
                // one is used as it is, without renewal; a dead one is an authentication failure now, not a
                // "permission denied" on the first request.
                Err(Error::Auth { .. }) => {
                    if !self.token_accepted(token).await? {
                        return match approle {
                            Some(a) => self.login(a, current.generation).await,
                            None => Err(self.dead_token_error()),
                        };
                    }
                    Ok(Session {
                        self_lookup: false,
                        ..self.session_with(Some(token.clone()), Lease::Forever, Duration::ZERO, current.generation)
                    })
                }
                Err(error) => Err(error),
            },
            Lease::Forever => unreachable!("a token that never expires is never refreshed"),
            Lease::Expiring { expires_at, renewable, .. } => {
                if renewable {
                    match self
                        .retrying(Op::new("renew", "auth/token/renew-self"), || async {
                            vaultrs::token::renew_self(&current.vault, None)
                                .await
                                .map_err(|e| self.map_vaultrs(e, Op::new("renew", "auth/token/renew-self")))
                        })
                        .await
                    {
                        // A renewal cut short by the token's max TTL means the end is near: with AppRole, start afresh.
                        Ok(auth)
                            if approle.is_none()
                                || Duration::from_secs(auth.lease_duration) * 2 >= current.initial_ttl =>
                        {
                            tracing::debug!("token renewed for {}s", auth.lease_duration);
                            let lease = Lease::from_ttl(auth.lease_duration, auth.renewable);
                            return Ok(self.session_with(
                                Some(token.clone()),
                                lease,
                                current.initial_ttl,
                                current.generation,
                            ));
                        }
                        Ok(_) => tracing::debug!("token renewal capped by its max TTL; logging in again"),
                        Err(
                            error @ (Error::Unreachable { .. }
                            | Error::NoActiveNode { .. }
                            | Error::Tls { .. }
                            | Error::Sealed { .. }),
                        ) => {
                            return Err(error);
                        }
                        Err(error) => tracing::debug!(%error, "token renewal refused"),
                    }
                }
                if let Some(a) = approle {
                    return self.login(a, current.generation).await;
                }
                if Instant::now() >= expires_at {
                    return Err(self.dead_token_error());
                }
                // Renewal is impossible; use the token until it expires and fail closed then.
                let lease = Lease::Expiring { renew_at: expires_at, expires_at, renewable: false };
                Ok(self.session_with(Some(token.clone()), lease, current.initial_ttl, current.generation))
            }
        }
    }

    pub(crate) fn session_with(
        &self,
        token: Option<SecretString>,
        lease: Lease,
        initial_ttl: Duration,
        generation: u64,
    ) -> Session {
        let vault =
            vault_client(&self.inner.http, &self.inner.base, token.as_ref(), self.inner.config.namespace.as_deref());
        Session { token, vault, lease, initial_ttl, generation, self_lookup: true }
    }

    pub(crate) async fn login(&self, approle: &AppRoleConfig, generation: u64) -> Result<Session> {
        let path = format!("auth/{}/login", approle.mount);
        // A login mints a token: retried only when it certainly had no effect.
        let op = Op::new("login", &path).once();
        let anonymous = vault_client(&self.inner.http, &self.inner.base, None, self.inner.config.namespace.as_deref());
        let auth = self
            .retrying(op, || async {
                let secret_id = approle.secret_id.read()?;
                vaultrs::auth::approle::login(&anonymous, &approle.mount, &approle.role_id, secret_id.expose())
                    .await
                    .map_err(|e| self.map_vaultrs(e, op))
            })
            .await
            .map_err(|error| match error {
                Error::InvalidRequest { errors, .. } | Error::Server { status: 400, errors, .. } => Error::Auth {
                    method: format!("AppRole at auth/{}", approle.mount),
                    detail: format!(
                        "the role_id or secret_id was refused ({}); check VAULT_ROLE_ID and the secret_id file",
                        errors.join("; ")
                    ),
                },
                Error::PermissionDenied { .. } | Error::NotFound { .. } => Error::Auth {
                    method: format!("AppRole at auth/{}", approle.mount),
                    detail: "the login was refused: is AppRole enabled at that mount and the role_id right?".into(),
                },
                other => other,
            })?;
        tracing::debug!("logged in with AppRole; token TTL {}s", auth.lease_duration);
        let token = SecretString::new(auth.client_token);
        let lease = Lease::from_ttl(auth.lease_duration, auth.renewable);
        Ok(self.session_with(Some(token), lease, Duration::from_secs(auth.lease_duration), generation + 1))
    }

    pub(crate) async fn lookup_self(
        &self,
        session: &Session,
    ) -> Result<vaultrs::api::token::responses::LookupTokenResponse> {
        let op = Op::new("lookup", "auth/token/lookup-self");
        self.retrying(op, || async {
            vaultrs::token::lookup_self(&session.vault).await.map_err(|e| self.map_vaultrs(e, op))
        })
        .await
        .map_err(|error| match error {
            Error::PermissionDenied { .. } => self.dead_token_error(),
            other => other,
        })
    }

    /// After a 403: is the token itself dead (revoked, expired) rather than merely not allowed?
    pub(crate) async fn token_is_dead(&self, session: &Session) -> bool {
        match &session.token {
            None => false,
            Some(_) if session.self_lookup => matches!(self.lookup_self(session).await, Err(Error::Auth { .. })),
            Some(token) => matches!(self.token_accepted(token).await, Ok(false)),
        }
    }

    /// Whether the server knows `token` at all, whatever its policies. `sys/internal/ui/mounts` needs no token,
    /// but when one is sent the server checks it: a live token gets the (filtered) mount list, an unknown,
    /// revoked or expired one gets 403. Any other answer cannot tell, and counts as alive (the request that
    /// follows then reports what it finds).
    pub(crate) async fn token_accepted(&self, token: &SecretString) -> Result<bool> {
        const PROBE: &str = "sys/internal/ui/mounts";
        let op = Op::new("check the token on", PROBE);
        self.retrying(op, || async {
            let response =
                self.http_request(Method::GET, PROBE, Some(token)).send().await.map_err(|e| self.map_transport(&e))?;
            let status = response.status();
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                let bytes = response.bytes().await.unwrap_or_default();
                return Err(self.status_error(status, &bytes, op));
            }
            Ok(status != StatusCode::FORBIDDEN)
        })
        .await
    }

    /// Replaces a dead token: AppRole logs in again (once, however many requests noticed); a static token fails.
    pub(crate) async fn replace_dead_session(&self, dead: &Session) -> Result<()> {
        let AuthConfig::AppRole(approle) = &self.inner.config.auth else {
            return Err(self.dead_token_error());
        };
        let _guard = self.inner.refresh.lock().await;
        if self.current_session().generation != dead.generation {
            return Ok(());
        }
        let next = Arc::new(self.login(approle, dead.generation).await?);
        *self.inner.session.write().expect("session lock poisoned") = next;
        Ok(())
    }

    pub(crate) fn dead_token_error(&self) -> Error {
        let source = match &self.inner.config.auth {
            AuthConfig::Token { source, .. } => source.clone(),
            AuthConfig::AppRole(a) => format!("the AppRole login at auth/{}", a.mount),
            AuthConfig::None => "nowhere".into(),
        };
        Error::Auth {
            method: "token".into(),
            detail: format!("the token from {source} was refused: it is invalid, revoked or expired; get a new one"),
        }
    }

    /// Keeps the token alive in the background for a long-running process: wakes at each renewal point and
    /// renews or logs in again. Stops when the client's last clone is dropped or when authentication fails
    /// for good (later requests then report why).
    pub fn spawn_renewal(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let client = Client { inner };
                let wait = match client.current_session().lease {
                    Lease::Unknown => Duration::ZERO,
                    Lease::Forever => return,
                    Lease::Expiring { renew_at, .. } => renew_at.saturating_duration_since(Instant::now()),
                };
                drop(client);
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(error) = (Client { inner }).session().await {
                    tracing::warn!("token renewal stopped: {error}");
                    return;
                }
            }
        })
    }

    /// Revokes the client's own token (when a run ends). Later calls log in again with AppRole, or fail closed
    /// with a static token. A client that never obtained a token does nothing.
    pub async fn revoke_self(&self) -> Result<()> {
        let session = self.current_session();
        if session.token.is_none() || session.lease == Lease::Unknown && session.generation == 0 && self.is_approle() {
            return Ok(());
        }
        let op = Op::new("revoke", "auth/token/revoke-self");
        self.retrying(op, || async {
            vaultrs::token::revoke_self(&session.vault).await.map_err(|e| self.map_vaultrs(e, op))
        })
        .await?;
        let lease = if self.is_approle() { Lease::Unknown } else { Lease::Forever };
        let next = self.session_with(None, lease, Duration::ZERO, session.generation);
        *self.inner.session.write().expect("session lock poisoned") = Arc::new(next);
        Ok(())
    }

    pub(crate) fn is_approle(&self) -> bool {
        matches!(self.inner.config.auth, AuthConfig::AppRole(_))
    }
}

/// The token in use and the `vaultrs` client that carries it.
pub(crate) struct Session {
    pub(crate) token: Option<SecretString>,
    pub(crate) vault: VaultClient,
    pub(crate) lease: Lease,
    /// The TTL the token had when obtained, to tell a capped renewal from a normal one.
    pub(crate) initial_ttl: Duration,
    pub(crate) generation: u64,
    /// Whether the token may look itself up; when not, a 403 cannot be told apart from a dead token.
    pub(crate) self_lookup: bool,
}

impl Session {
    pub(crate) fn vault(&self) -> &VaultClient {
        &self.vault
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lease {
    /// A configured token not looked up yet, or no login yet.
    Unknown,
    /// Never expires (root tokens), or there is no token at all.
    Forever,
    /// Expires at `expires_at`; from `renew_at` on it is renewed (if `renewable`) or replaced.
    Expiring { renew_at: Instant, expires_at: Instant, renewable: bool },
}

impl Lease {
    fn from_ttl(ttl_secs: u64, renewable: bool) -> Self {
        if ttl_secs == 0 {
            return Lease::Forever;
        }
        let now = Instant::now();
        let ttl = Duration::from_secs(ttl_secs);
        Lease::Expiring { renew_at: now + ttl / 2, expires_at: now + ttl, renewable }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_halves_the_ttl() {
        assert_eq!(Lease::from_ttl(0, true), Lease::Forever);
        let Lease::Expiring { renew_at, expires_at, renewable } = Lease::from_ttl(60, true) else { panic!() };
        assert!(renewable);
        assert_eq!(expires_at - renew_at, Duration::from_secs(30));
    }
}
