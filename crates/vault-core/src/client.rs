//! The client: the one place the tools talk to Vault.
//!
//! It owns one TLS-configured `reqwest` client. Endpoints that `vaultrs` covers go through `vaultrs` on that
//! client; the rest (health with its status codes, KV patch, capabilities, audit-hash, snapshot streams) go
//! through [`Client::request`] and [`Client::get_stream`] on the same client, so there is one TLS stack and one
//! connection pool.
//!
//! Every call goes through `Client::execute`, which
//! - makes sure the token is usable first: looks a configured token up once to learn its TTL, renews it at half
//!   the TTL, logs in again with AppRole when renewal is refused or the token expires, and fails closed when it
//!   cannot (no request goes out with a token known to be dead);
//! - on `403` checks whether the token itself died (revoked) and, with AppRole, logs in again and retries once;
//! - retries connection errors, 5xx (not sealed, not uninitialised) and 429 with exponential backoff and jitter;
//! - maps every failure to a typed [`Error`] that says what to do.
//!
//! Redirects (a standby pointing at the active node) are followed up to three hops: "follow the leader".

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{VaultClient, VaultClientSettings};
use vaultrs::error::ClientError;

use crate::cache::Cache;
use crate::config::{AppRoleConfig, AuthConfig, Config};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// Declares a raw request method: crate-private, so that tools call typed methods and no endpoint path lives
/// outside vault-core. The `testing` feature, which only dev-dependencies turn on, makes them public so that
/// integration tests can set a server up (mount engines, write configuration) the typed API has no call for.
macro_rules! raw_request_method {
    ($(#[$meta:meta])* fn $name:ident $($rest:tt)*) => {
        $(#[$meta])*
        #[cfg(feature = "testing")]
        pub async fn $name $($rest)*
        $(#[$meta])*
        #[cfg(not(feature = "testing"))]
        pub(crate) async fn $name $($rest)*
    };
}

/// First backoff step; each retry doubles it, up to [`MAX_BACKOFF`], and waits a random 50–100 % of the step.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// The longest API path a request may have, in bytes. Vault sets no limit of its own, but the HTTP stack refuses
/// URLs near 64 KiB (and proxies far sooner); a path this long is a mistake, reported as invalid input before
/// anything is sent instead of as an unreachable server.
pub const MAX_PATH_LEN: usize = 8192;

/// A connection to one Vault server. Cheap to clone; clones share the connection pool, token and cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    /// Where requests go: the configured address, with the host replaced by the TLS server name when one is set.
    base: Url,
    /// The configured address as the user wrote it, for messages.
    address: String,
    session: RwLock<Arc<Session>>,
    /// Held while the token is looked up, renewed or replaced, so concurrent requests do it once.
    refresh: tokio::sync::Mutex<()>,
    cache: Option<Cache>,
    /// KV mount of each path prefix resolved so far.
    pub(crate) kv_mounts: Mutex<HashMap<String, crate::kv::MountInfo>>,
    /// When the whole command must be done by, if the tool set one: every call fails once it has passed.
    deadline: Mutex<Option<Instant>>,
}

/// The token in use and the `vaultrs` client that carries it.
pub(crate) struct Session {
    token: Option<SecretString>,
    vault: VaultClient,
    lease: Lease,
    /// The TTL the token had when obtained, to tell a capped renewal from a normal one.
    initial_ttl: Duration,
    generation: u64,
    /// Whether the token may look itself up; when not, a 403 cannot be told apart from a dead token.
    self_lookup: bool,
}

impl Session {
    pub(crate) fn vault(&self) -> &VaultClient {
        &self.vault
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lease {
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

/// What a call is doing, for error messages: the path as the user knows it and the operation.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// The path, e.g. `secret/app/db` or `sys/health`.
    pub path: &'a str,
    /// The operation, e.g. `read`, `write`, `list`.
    pub operation: &'a str,
}

impl<'a> Op<'a> {
    /// An operation on a path.
    pub fn new(operation: &'a str, path: &'a str) -> Self {
        Op { path, operation }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("address", &self.inner.address).finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    config: Config,
    cache_ttl: Option<Duration>,
}

impl ClientBuilder {
    /// Caches KV reads for `ttl` (invalidated by this client's own writes). Off by default: tools that must see
    /// the truth leave it off; pipeline reads turn it on.
    pub fn cache(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// Builds the client. No request is made until the first call.
    pub fn build(self) -> Result<Client> {
        let config = self.config;
        let (http, base) = http_client(&config)?;
        let address = config.address.as_str().trim_end_matches('/').to_owned();
        let token = match &config.auth {
            AuthConfig::Token { token, .. } => Some(token.clone()),
            AuthConfig::AppRole(_) | AuthConfig::None => None,
        };
        let lease = if matches!(config.auth, AuthConfig::None) { Lease::Forever } else { Lease::Unknown };
        let vault = vault_client(&http, &base, token.as_ref(), config.namespace.as_deref());
        let session = Session { token, vault, lease, initial_ttl: Duration::ZERO, generation: 0, self_lookup: true };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                address,
                session: RwLock::new(Arc::new(session)),
                refresh: tokio::sync::Mutex::new(()),
                cache: self.cache_ttl.map(Cache::new),
                kv_mounts: Mutex::new(HashMap::new()),
                deadline: Mutex::new(None),
                config,
            }),
        })
    }
}

impl Client {
    /// A client for `config`, without a cache.
    pub fn new(config: Config) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, to turn on the read cache.
    pub fn builder(config: Config) -> ClientBuilder {
        ClientBuilder { config, cache_ttl: None }
    }

    /// A client configured from the environment (see [`Config::resolve`]).
    pub fn from_env() -> Result<Self> {
        Self::new(Config::from_env()?)
    }

    /// The server's address as configured.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The read cache, when on.
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// Sets (or with `None` clears) the time by which every call must be done, retries, backoff and re-logins
    /// included; shared by all clones. One-shot commands set it so the whole command keeps to its time limit;
    /// without it each call is still bounded by the client timeout.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *self.inner.deadline.lock().expect("deadline lock poisoned") = deadline;
    }

    /// Sets the deadline `limit` from now.
    pub fn set_time_limit(&self, limit: Duration) {
        self.set_deadline(Some(Instant::now() + limit));
    }

    /// The deadline set with [`Client::set_deadline`], if any.
    pub fn deadline(&self) -> Option<Instant> {
        *self.inner.deadline.lock().expect("deadline lock poisoned")
    }

    /// Runs one call within its time budget: the client timeout, cut short by the deadline. Checks the path
    /// first, so input no server could accept is refused before anything is sent.
    async fn bounded<T>(&self, op: Op<'_>, call: impl Future<Output = Result<T>>) -> Result<T> {
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

    pub(crate) fn inner_mounts(&self) -> &Mutex<HashMap<String, crate::kv::MountInfo>> {
        &self.inner.kv_mounts
    }

    /// Runs `call` with a usable session, retrying and re-authenticating as the module documentation describes.
    pub(crate) async fn execute<T, F, Fut>(&self, op: Op<'_>, call: F) -> Result<T>
    where
        F: Fn(Arc<Session>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.bounded(op, self.execute_unbounded(op, call)).await
    }

    async fn execute_unbounded<T, F, Fut>(&self, op: Op<'_>, call: F) -> Result<T>
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
    async fn sealed_or_uninitialised(&self, sealed: Error) -> Error {
        match self.seal_status().await {
            Ok(status) if !status.initialized => Error::NotInitialized { address: self.inner.address.clone() },
            _ => sealed,
        }
    }

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

    fn current_session(&self) -> Arc<Session> {
        self.inner.session.read().expect("session lock poisoned").clone()
    }

    fn needs_refresh(&self, session: &Session) -> bool {
        match session.lease {
            Lease::Unknown => true,
            Lease::Forever => false,
            Lease::Expiring { renew_at, .. } => Instant::now() >= renew_at,
        }
    }

    /// Looks up, renews or replaces the token of `current`.
    async fn refresh(&self, current: &Session) -> Result<Session> {
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
                        Err(error @ (Error::Unreachable { .. } | Error::Tls { .. } | Error::Sealed { .. })) => {
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

    fn session_with(
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

    async fn login(&self, approle: &AppRoleConfig, generation: u64) -> Result<Session> {
        let path = format!("auth/{}/login", approle.mount);
        let op = Op::new("login", &path);
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

    async fn lookup_self(&self, session: &Session) -> Result<vaultrs::api::token::responses::LookupTokenResponse> {
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
    async fn token_is_dead(&self, session: &Session) -> bool {
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
    async fn token_accepted(&self, token: &SecretString) -> Result<bool> {
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
    async fn replace_dead_session(&self, dead: &Session) -> Result<()> {
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

    fn dead_token_error(&self) -> Error {
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

    fn is_approle(&self) -> bool {
        matches!(self.inner.config.auth, AuthConfig::AppRole(_))
    }

    raw_request_method! {
        /// Calls an endpoint that `vaultrs` does not cover, with the session's token, retries and error mapping.
        /// `api_path` is the path after `/v1/`. Returns the JSON body, or `None` for an empty (204) answer.
        fn request(
            &self,
            method: Method,
            api_path: &str,
            body: Option<&serde_json::Value>,
        ) -> Result<Option<serde_json::Value>> {
            let body = body.map(|b| serde_json::to_vec(b).expect("JSON values serialize"));
            let op = Op::new(verb(&method), api_path);
            self.request_bytes(method.clone(), api_path, body.as_deref(), "application/json", op).await
        }
    }

    raw_request_method! {
        /// Like [`Client::request`], with a raw body, content type and the operation to name in errors.
        fn request_bytes(
            &self,
            method: Method,
            api_path: &str,
            body: Option<&[u8]>,
            content_type: &'static str,
            op: Op<'_>,
        ) -> Result<Option<serde_json::Value>> {
            self.execute(op, |session| {
                let method = method.clone();
                async move {
                    let request = self.http_request(method, api_path, session.token.as_ref());
                    let request = match body {
                        Some(b) => request.header(CONTENT_TYPE, content_type).body(b.to_vec()),
                        None => request,
                    };
                    self.send_json(request, op).await
                }
            })
            .await
        }
    }

    raw_request_method! {
        /// Calls an unauthenticated endpoint (`sys/init`, `sys/unseal`) without a token, so it works on a sealed or
        /// uninitialised server whatever credentials the client has. Checks the status and retries like
        /// [`Client::request`].
        fn request_anonymous(
            &self,
            method: Method,
            api_path: &str,
            body: Option<&serde_json::Value>,
        ) -> Result<Option<serde_json::Value>> {
            let op = Op::new(verb(&method), api_path);
            let body = body.map(|b| serde_json::to_vec(b).expect("JSON values serialize"));
            self.retrying(op, || async {
                let mut request = self.http_request(method.clone(), api_path, None);
                if let Some(b) = &body {
                    request = request.header(CONTENT_TYPE, "application/json").body(b.clone());
                }
                self.send_json(request, op).await
            })
            .await
        }
    }

    /// Sends a request and reads its JSON answer: a non-2xx status is a typed error, an empty body is `None`.
    async fn send_json(&self, request: reqwest::RequestBuilder, op: Op<'_>) -> Result<Option<serde_json::Value>> {
        let response = request.send().await.map_err(|e| self.map_transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.map_transport(&e))?;
        if !status.is_success() {
            return Err(self.status_error(status, &bytes, op));
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Response { path: op.path.to_owned(), detail: format!("not JSON: {e}") })
    }

    raw_request_method! {
        /// Calls an endpoint and returns its status and body whatever the status, retrying only failed connections.
        /// For endpoints whose status codes are answers (`sys/health`).
        fn request_unchecked(&self, method: Method, api_path: &str) -> Result<(StatusCode, bytes::Bytes)> {
            let op = Op::new("read", api_path);
            self.retrying(op, || async {
                let response =
                    self.http_request(method.clone(), api_path, None).send().await.map_err(|e| self.map_transport(&e))?;
                let status = response.status();
                let bytes = response.bytes().await.map_err(|e| self.map_transport(&e))?;
                Ok((status, bytes))
            })
            .await
        }
    }

    raw_request_method! {
        /// Starts a GET whose body the caller streams (raft snapshots): retried until the response starts, never after.
        fn get_stream(&self, api_path: &str) -> Result<reqwest::Response> {
            let op = Op::new("read", api_path);
            self.execute(op, |session| async move {
                let response = self
                    .http_request(Method::GET, api_path, session.token.as_ref())
                    .send()
                    .await
                    .map_err(|e| self.map_transport(&e))?;
                if response.status().is_success() {
                    return Ok(response);
                }
                let status = response.status();
                let bytes = response.bytes().await.unwrap_or_default();
                Err(self.status_error(status, &bytes, op))
            })
            .await
        }
    }

    /// Sends a request whose body is a stream (a raft snapshot being restored), with the session's token. The
    /// body can be sent only once, so this is not retried: a failure is reported as it happened.
    pub(crate) async fn send_stream(
        &self,
        method: Method,
        api_path: &str,
        body: reqwest::Body,
        content_type: &'static str,
        op: Op<'_>,
    ) -> Result<Option<serde_json::Value>> {
        self.bounded(op, async {
            let session = match self.session().await {
                Ok(session) => session,
                Err(error @ Error::Sealed { .. }) => return Err(self.sealed_or_uninitialised(error).await),
                Err(error) => return Err(error),
            };
            let request = self
                .http_request(method, api_path, session.token.as_ref())
                .header(CONTENT_TYPE, content_type)
                .body(body);
            self.send_json(request, op).await
        })
        .await
    }

    raw_request_method! {
        /// Reads `data` from an endpoint's JSON answer into `T`.
        fn read_data<T: DeserializeOwned>(
            &self,
            method: Method,
            api_path: &str,
            body: Option<&serde_json::Value>,
        ) -> Result<T> {
            let answer = self.request(method, api_path, body).await?;
            let data = answer.and_then(|mut v| v.get_mut("data").map(serde_json::Value::take)).unwrap_or_default();
            serde_json::from_value(data)
                .map_err(|e| Error::Response { path: api_path.to_owned(), detail: format!("unexpected data: {e}") })
        }
    }

    fn http_request(&self, method: Method, api_path: &str, token: Option<&SecretString>) -> reqwest::RequestBuilder {
        let mut url = self.inner.base.clone();
        url.set_path(&format!("v1/{}", api_path.trim_start_matches('/')));
        let mut headers = HeaderMap::new();
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(token) = token
            && let Ok(mut value) = HeaderValue::from_str(token.expose())
        {
            value.set_sensitive(true);
            headers.insert("X-Vault-Token", value);
        }
        if let Some(ns) = &self.inner.config.namespace
            && let Ok(value) = HeaderValue::from_str(ns)
        {
            headers.insert("X-Vault-Namespace", value);
        }
        self.inner.http.request(method, url).headers(headers)
    }

    /// Maps a non-2xx answer to an [`Error`], reading Vault's `{"errors": [...]}` body.
    pub(crate) fn status_error(&self, status: StatusCode, body: &[u8], op: Op<'_>) -> Error {
        #[derive(serde::Deserialize)]
        struct Errors {
            #[serde(default)]
            errors: Vec<String>,
            #[serde(default)]
            data: Option<serde_json::Value>,
        }
        if status == StatusCode::BAD_REQUEST
            && String::from_utf8_lossy(body).contains("HTTP request to an HTTPS server")
        {
            return Error::Tls {
                address: self.inner.address.clone(),
                trust: self.inner.config.tls.trust_description(),
                detail: "the server speaks HTTPS: use https:// in the address".into(),
            };
        }
        let parsed = serde_json::from_slice::<Errors>(body).ok();
        // A soft-deleted KV v2 version answers 404 with its metadata in the body.
        let deleted = status == StatusCode::NOT_FOUND
            && parsed.as_ref().and_then(|p| p.data.as_ref()).is_some_and(|d| {
                d.pointer("/metadata/deletion_time").and_then(|t| t.as_str()).is_some_and(|t| !t.is_empty())
                    || d.pointer("/metadata/destroyed").and_then(|t| t.as_bool()) == Some(true)
            });
        if deleted {
            return Error::NotFound { path: op.path.to_owned(), deleted: true };
        }
        let errors = parsed.map(|p| p.errors).unwrap_or_default();
        Error::from_status(status.as_u16(), errors, &self.inner.address, op.path, op.operation)
    }

    /// Maps a `vaultrs` error.
    pub(crate) fn map_vaultrs(&self, error: ClientError, op: Op<'_>) -> Error {
        match error {
            ClientError::APIError { code, errors } => {
                Error::from_status(code, errors, &self.inner.address, op.path, op.operation)
            }
            ClientError::RestClientError { source } => match source {
                rustify::errors::ClientError::ServerResponseError { code, content } => {
                    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    self.status_error(status, content.as_deref().unwrap_or("").as_bytes(), op)
                }
                rustify::errors::ClientError::RequestError { source, .. } => self.map_transport(source.as_ref()),
                other => Error::Response { path: op.path.to_owned(), detail: other.to_string() },
            },
            ClientError::ResponseEmptyError | ClientError::ResponseDataEmptyError => {
                Error::Response { path: op.path.to_owned(), detail: "the answer had no data".into() }
            }
            other => Error::Response { path: op.path.to_owned(), detail: other.to_string() },
        }
    }

    /// Maps a failure to get an answer at all: a TLS failure or an unreachable server.
    pub(crate) fn map_transport(&self, error: &(dyn std::error::Error + 'static)) -> Error {
        let mut causes = Vec::new();
        let mut next = Some(error);
        while let Some(e) = next {
            causes.push(e.to_string());
            next = e.source();
        }
        let text = causes.join(": ").to_ascii_lowercase();
        let deepest = causes.iter().rev().find(|c| !c.is_empty()).cloned().unwrap_or_default();
        let tls_words = [
            "certificate",
            "tls",
            "handshake",
            "invalidcontenttype",
            "corrupt message",
            "unknownissuer",
            "peer misbehaved",
        ];
        if tls_words.iter().any(|w| text.contains(w)) {
            Error::Tls {
                address: self.inner.address.clone(),
                trust: self.inner.config.tls.trust_description(),
                detail: deepest,
            }
        } else {
            let detail = if text.contains("timed out") || text.contains("timeout") {
                format!("timed out after {}s ({deepest})", self.inner.config.timeout.as_secs())
            } else {
                deepest
            };
            Error::Unreachable { address: self.inner.address.clone(), detail }
        }
    }
}

/// Refuses an API path no server could take: too long, or holding control characters (which would end up in
/// the request line). The message shows the start of the path only.
pub fn check_path(path: &str) -> Result<()> {
    let why = if path.len() > MAX_PATH_LEN {
        format!("it is {} bytes long; at most {MAX_PATH_LEN} are accepted", path.len())
    } else if path.chars().any(char::is_control) {
        "it contains a control character".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput(format!("the path {} cannot be sent to Vault: {why}", shorten(path))))
}

/// A path fit for a one-line message: at most 80 characters, control characters escaped.
pub(crate) fn shorten(path: &str) -> String {
    const SHOWN: usize = 80;
    let mut shown: String = path.chars().take(SHOWN).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

/// The operation a method stands for, to name in errors.
fn verb(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "read",
        "LIST" => "list",
        "DELETE" => "delete",
        "PATCH" => "patch",
        _ => "write",
    }
}

fn backoff(attempt: u32) -> Duration {
    let step = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
    step.mul_f64(rand::random_range(0.5..=1.0))
}

/// The `vaultrs` client for a token, on our shared `reqwest` client.
fn vault_client(
    http: &reqwest::Client,
    base: &Url,
    token: Option<&SecretString>,
    namespace: Option<&str>,
) -> VaultClient {
    let token = token.map(|t| t.expose().to_owned()).unwrap_or_default();
    let namespace = namespace.map(str::to_owned);
    VaultClient {
        http: rustify::clients::reqwest::Client::new(base.as_str().trim_end_matches('/'), http.clone()),
        middle: EndpointMiddleware {
            token: token.clone(),
            version: "v1".into(),
            wrap: None,
            namespace: namespace.clone(),
        },
        settings: VaultClientSettings {
            address: base.clone(),
            ca_certs: Vec::new(),
            identity: None,
            timeout: None,
            token,
            verify: true,
            version: 1,
            wrapping: false,
            namespace,
            proxy: None,
        },
    }
}

/// The shared `reqwest` client: trust anchors, client certificate, server name, timeouts, redirects.
fn http_client(config: &Config) -> Result<(reqwest::Client, Url)> {
    let tls = &config.tls;
    let mut base = config.address.clone();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .read_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("vault-toolkit/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90));

    if base.scheme() == "http" {
        // Plain HTTP needs no trust store; loading the platform's can fail on minimal machines.
        builder = builder.tls_certs_only(Vec::new());
    } else {
        if tls.skip_verify {
            eprintln!(
                "warning: TLS certificate verification is OFF for {} (VAULT_SKIP_VERIFY / --tls-skip-verify): anyone on the network path can read and change what is sent, tokens and secrets included",
                config.address
            );
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let mut certs = Vec::new();
        if let Some(file) = &tls.ca_cert {
            certs.extend(read_certs(file)?);
        }
        if let Some(dir) = &tls.ca_path {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| Error::Config(format!("cannot read the CA folder {}: {e}", dir.display())))?;
            let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            for file in files {
                certs.extend(read_certs(&file)?);
            }
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_only(certs);
        }
        if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
            let mut pem = std::fs::read(cert)
                .map_err(|e| Error::Config(format!("cannot read the client certificate {}: {e}", cert.display())))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(key)
                    .map_err(|e| Error::Config(format!("cannot read the client key {}: {e}", key.display())))?,
            );
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Config(format!(
                    "the client certificate {} or key {} is not usable PEM: {e}",
                    cert.display(),
                    key.display()
                ))
            });
            zeroize::Zeroize::zeroize(&mut pem);
            builder = builder.identity(identity?);
        }
        if let Some(name) = tls.server_name.as_deref().filter(|n| Some(*n) != base.host_str()) {
            // Verify the certificate against `name` while connecting to the configured host: address the
            // request to `name` and resolve `name` to the configured host's addresses.
            let port = base.port_or_known_default().unwrap_or(443);
            let host = base.host_str().unwrap_or_default().trim_matches(['[', ']']).to_owned();
            let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| Error::Unreachable {
                    address: config.address.to_string(),
                    detail: format!("cannot resolve {host}: {e}"),
                })?
                .collect();
            base.set_host(Some(name))
                .map_err(|e| Error::Config(format!("VAULT_TLS_SERVER_NAME {name:?} is not a host name: {e}")))?;
            builder = builder.resolve_to_addrs(name, &addrs);
        }
    }
    let http = builder.build().map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?;
    Ok((http, base))
}

fn read_certs(file: &std::path::Path) -> Result<Vec<reqwest::Certificate>> {
    let pem =
        std::fs::read(file).map_err(|e| Error::Config(format!("cannot read the CA file {}: {e}", file.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Config(format!("the CA file {} is not PEM certificates: {e}", file.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("the CA file {} holds no certificate", file.display())));
    }
    Ok(certs)
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

    #[test]
    fn lease_halves_the_ttl() {
        assert_eq!(Lease::from_ttl(0, true), Lease::Forever);
        let Lease::Expiring { renew_at, expires_at, renewable } = Lease::from_ttl(60, true) else { panic!() };
        assert!(renewable);
        assert_eq!(expires_at - renew_at, Duration::from_secs(30));
    }
}
