//! The client: the one place the tools talk to Vault.
//!
//! It owns one TLS-configured `reqwest` client (`transport`). Endpoints that `vaultrs` covers go through
//! `vaultrs` on that client; the rest go through the crate-private raw request methods on the same client, so
//! there is one TLS stack and one connection pool. The tools call the typed methods of the endpoint modules
//! (`kv`, `sys`, `token`, `approle`, `database`), never a path.
//!
//! Every call goes through `Client::execute` (`retry`, with the token handling of `session`), which
//! - makes sure the token is usable first: looks a configured token up once to learn its TTL, renews it at half
//!   the TTL, logs in again with AppRole when renewal is refused or the token expires, and fails closed when it
//!   cannot (no request goes out with a token known to be dead);
//! - on `403` checks whether the token itself died (revoked) and, with AppRole, logs in again and retries once;
//! - retries connection errors, 5xx (not sealed, not uninitialised) and 429 with exponential backoff and jitter,
//!   `--max-retries` times; when a cluster has no active node (a standby answers "local node not active", sends
//!   the request round in redirects, or redirects it to a leader that is gone) it keeps retrying for up to
//!   [`FAILOVER_WAIT`] to wait out the election, so reads and writes go on through a leader change;
//! - retries a call that must not run twice (token and secret_id minting, logins) only after failures that prove
//!   it had no effect, never after an ambiguous one (a dropped connection, a timeout, a generic 500);
//! - maps every failure to a typed [`Error`](crate::Error) that says what to do.
//!
//! Redirects (a standby pointing at the active node) are followed up to three hops: "follow the leader". A
//! standby answers reads itself and forwards or redirects writes to the active node; every request carries the
//! highest raft index (`X-Vault-Index`) the client has been told of, so a standby answers only once it has
//! caught up with it and a tool reads what it wrote even through a standby that trails the active node
//! (`consistency`).

pub(crate) mod consistency;
mod retry;
mod session;
mod transport;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use url::Url;

use crate::cache::Cache;
use crate::config::{AuthConfig, Config};
use crate::error::Result;

use session::Lease;
pub(crate) use session::Session;
pub use transport::check_path;
pub(crate) use transport::shorten;
use transport::{http_client, vault_client};

/// How long a call keeps retrying while its cluster has no active node, from the first such failure: long
/// enough for a raft election after the leader dies (2–6 s measured on three nodes), bounded so that a cluster
/// that has lost quorum is reported as unavailable. The client timeout and the command's deadline still bound it.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(20);

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
    /// The highest raft index an answer stated, sent with every request (read your writes through a standby).
    read_index: consistency::ReadIndex,
}

/// What a call is doing, for error messages: the path as the user knows it and the operation.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// The path, e.g. `secret/app/db` or `sys/health`.
    pub path: &'a str,
    /// The operation, e.g. `read`, `write`, `list`.
    pub operation: &'a str,
    /// Whether running it twice does no harm (reads, lists, KV writes of the same data, check-and-set writes,
    /// configuration writes). A call that is not (minting a token or a secret_id, logging in) is retried only
    /// after failures that prove it had no effect ([`Error::is_unapplied`](crate::Error::is_unapplied)).
    pub idempotent: bool,
}

impl<'a> Op<'a> {
    /// An operation on a path, safe to repeat.
    pub fn new(operation: &'a str, path: &'a str) -> Self {
        Op { path, operation, idempotent: true }
    }

    /// The same operation, marked as one that must not run twice.
    pub fn once(self) -> Self {
        Op { idempotent: false, ..self }
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
                read_index: consistency::ReadIndex::default(),
                config,
            }),
        })
    }
}

impl Client {
    /// The raft index this client asks every node to have reached (see `consistency`).
    pub(crate) fn read_index(&self) -> &consistency::ReadIndex {
        &self.inner.read_index
    }

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

    pub(crate) fn inner_mounts(&self) -> &Mutex<HashMap<String, crate::kv::MountInfo>> {
        &self.inner.kv_mounts
    }
}

impl Client {
    /// A client for another node of the same cluster (e.g. the active node named by `sys/leader`): the same TLS
    /// settings, namespace and time limit, authenticated with this client's current token (so an AppRole is not
    /// logged in a second time). The token is not renewed by the new client: meant for a call or a few.
    pub async fn for_node(&self, address: &str) -> Result<Client> {
        let mut config = self.inner.config.clone();
        config.address = Url::parse(address)
            .map_err(|e| crate::Error::Config(format!("the node address {address:?} is not a URL: {e}")))?;
        if !matches!(config.auth, AuthConfig::None) {
            let session = self.session().await?;
            config.auth = match &session.token {
                Some(token) => {
                    AuthConfig::Token { token: token.clone(), source: format!("the token used for {}", self.address()) }
                }
                None => AuthConfig::None,
            };
        }
        let client = Client::new(config)?;
        client.set_deadline(self.deadline());
        Ok(client)
    }
}
