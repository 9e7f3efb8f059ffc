//! Transport: the one TLS-configured `reqwest` client (trust anchors, client certificate, server name, timeouts,
//! redirects), the `vaultrs` client built on it, the crate-private raw request methods the typed endpoint
//! modules call, and the mapping of HTTP answers and transport failures to [`Error`].

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use vaultrs::api::EndpointMiddleware;
use vaultrs::client::{VaultClient, VaultClientSettings};
use vaultrs::error::ClientError;

use super::*;
use crate::config::Config;
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

impl Client {
    /// Sends a request and reads its JSON answer: a non-2xx status is a typed error, an empty body is `None`.
    pub(crate) async fn send_json(
        &self,
        request: reqwest::RequestBuilder,
        op: Op<'_>,
    ) -> Result<Option<serde_json::Value>> {
        let bytes = self.send_for_body(request, op).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Response { path: op.path.to_owned(), detail: format!("not JSON: {e}") })
    }

    /// Sends a request and reads the `data` of its JSON answer straight into `T`, with no JSON tree in between
    /// (the hot path of a secret read). The body, which holds the secret's values, is zeroed once read when no
    /// other copy of it is alive.
    pub(crate) async fn send_for_data<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        op: Op<'_>,
    ) -> Result<T> {
        #[derive(serde::Deserialize)]
        struct Answer<T> {
            data: T,
        }
        let bytes = self.send_for_body(request, op).await?;
        let data = serde_json::from_slice::<Answer<T>>(&bytes)
            .map(|answer| answer.data)
            // Where, not what: serde's own message can quote the value it could not take.
            .map_err(|e| Error::Response {
                path: op.path.to_owned(),
                detail: format!("unexpected answer ({:?} at line {}, column {})", e.classify(), e.line(), e.column()),
            });
        if let Ok(mut body) = bytes.try_into_mut() {
            zeroize::Zeroize::zeroize(body.as_mut());
        }
        data
    }

    /// Sends a request and returns the body of a successful answer; a non-2xx status is a typed error. The raft
    /// index an answer to a write states is noted for reading one's own writes.
    async fn send_for_body(&self, request: reqwest::RequestBuilder, op: Op<'_>) -> Result<bytes::Bytes> {
        let (http, request) = request.build_split();
        let request = request.map_err(|e| self.map_transport(&e))?;
        let write = !matches!(request.method().as_str(), "GET" | "HEAD" | "LIST");
        let response = http.execute(request).await.map_err(|e| self.map_transport(&e))?;
        if write {
            self.read_index().note(response.headers());
        }
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.map_transport(&e))?;
        if !status.is_success() {
            return Err(self.status_error(status, &bytes, op));
        }
        Ok(bytes)
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

    pub(crate) fn http_request(
        &self,
        method: Method,
        api_path: &str,
        token: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
        self.http_request_to(method, self.api_url(api_path), token)
    }

    /// The URL of an API path (the path after `/v1/`), percent-encoded as a path, with no query.
    pub(crate) fn api_url(&self, api_path: &str) -> Url {
        let mut url = self.inner.base.clone();
        url.set_path(&format!("v1/{}", api_path.trim_start_matches('/')));
        url
    }

    /// A request to `url` (from [`Client::api_url`]) with the headers every request carries: the token, the
    /// namespace, and the raft index this client must read at.
    pub(crate) fn http_request_to(
        &self,
        method: Method,
        url: Url,
        token: Option<&SecretString>,
    ) -> reqwest::RequestBuilder {
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
        // Authenticated requests only: the unauthenticated ones are status probes (health, leader, seal status),
        // which must answer for the node as it is.
        if token.is_some()
            && let Some(index) = self.read_index().header()
        {
            headers.insert(super::consistency::INDEX_HEADER, index);
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

    /// Maps a failure to get an answer at all: a TLS failure or an unreachable server, or, when the configured
    /// node redirected the request (a standby pointing at the active node) and the redirects went round in a loop
    /// or led to a node that is gone, a cluster without an active node.
    pub(crate) fn map_transport(&self, error: &(dyn std::error::Error + 'static)) -> Error {
        if let Some(error) = self.leaderless(error) {
            return error;
        }
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

    /// A transport failure that shows the cluster has no active node: the standbys sent the request round in
    /// redirects (during an election each may point at another).
    fn leaderless(&self, error: &(dyn std::error::Error + 'static)) -> Option<Error> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(http) = e.downcast_ref::<reqwest::Error>() {
                return http.is_redirect().then(|| Error::NoActiveNode {
                    address: self.inner.address.clone(),
                    detail: "the standbys sent the request round in redirects".into(),
                });
            }
            next = e.source();
        }
        None
    }

    /// A refused connection may come from the configured node or, when that node is a standby that redirected
    /// the request, from the active node it named, which is gone (killed, or an election is under way). Asks the
    /// configured node (`sys/leader`, answered by every node itself, not followed anywhere): when it answers, the
    /// refusal came from the leader it redirected to, and the cluster has no active node for now.
    pub(crate) async fn refine_refused(&self, error: Error) -> Error {
        let refused = matches!(&error, Error::Unreachable { detail, .. } if detail.to_ascii_lowercase().contains("connection refused"));
        if !refused {
            return error;
        }
        let probe = self.http_request(Method::GET, "sys/leader", None).timeout(Duration::from_secs(2)).send();
        let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(3), probe).await else {
            return error;
        };
        #[derive(serde::Deserialize)]
        struct Leader {
            #[serde(default)]
            is_self: bool,
            #[serde(default)]
            leader_address: String,
        }
        match response.json::<Leader>().await {
            Ok(leader) if !leader.is_self => Error::NoActiveNode {
                address: self.inner.address.clone(),
                detail: if leader.leader_address.is_empty() {
                    "it knows of no active node".to_owned()
                } else {
                    format!(
                        "it redirected the request to the active node it knows, {}, which refused the connection",
                        leader.leader_address
                    )
                },
            },
            _ => error,
        }
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

/// The operation a method stands for, to name in errors.
pub(crate) fn verb(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "read",
        "LIST" => "list",
        "DELETE" => "delete",
        "PATCH" => "patch",
        _ => "write",
    }
}

/// The `vaultrs` client for a token, on our shared `reqwest` client.
pub(crate) fn vault_client(
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
pub(crate) fn http_client(config: &Config) -> Result<(reqwest::Client, Url)> {
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
        for (file, cert) in tls.trusted_ca_certs()? {
            certs.push(reqwest::Certificate::from_der(&cert).map_err(|e| {
                Error::Config(format!("the CA file {} holds an unusable certificate: {e}", file.display()))
            })?);
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
