//! A production-like OpenBao: raft storage, a TLS listener with a CA of its own, initialised and unsealed with real
//! key shares. It can be sealed, unsealed, stopped and restarted on the same data, which is what backup, unseal and
//! health tools need to be tested against.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use reqwest::{Client, Method, StatusCode};
use rustix::process::Signal;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http;
use crate::install::bao_binary;
use crate::ports::Ports;
use crate::process::{self, ServerProcess};
use crate::workdir::WorkDir;

const NAME: &str = "OpenBao TLS server";
/// How long the listener may take to come up; raft alone is ready in 0.2 s.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long an unsealed server may take to become active: leader election after a restart takes a few seconds.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Raft takes 2.5–3.5 s to exit on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Settings for a [`TlsServer`]; from [`TlsServer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct TlsServerBuilder {
    shares: u8,
    threshold: u8,
    audit_file: bool,
    initialize: bool,
    extra_config: String,
}

impl Default for TlsServerBuilder {
    fn default() -> Self {
        TlsServerBuilder { shares: 1, threshold: 1, audit_file: false, initialize: true, extra_config: String::new() }
    }
}

impl TlsServerBuilder {
    /// How many unseal key shares `sys/init` makes (default 1, the fastest).
    pub fn shares(mut self, shares: u8) -> Self {
        self.shares = shares;
        self
    }

    /// How many shares unseal the server (default 1). OpenBao wants at least 2 when there are several shares.
    pub fn threshold(mut self, threshold: u8) -> Self {
        self.threshold = threshold;
        self
    }

    /// Adds a file audit device named `file` to the config (default off). OpenBao enables audit devices only from
    /// its config; the log is [`TlsServer::audit_log_path`].
    pub fn audit_file(mut self, enabled: bool) -> Self {
        self.audit_file = enabled;
        self
    }

    /// Whether to initialise and unseal the server (default true). When false it answers 501 on `sys/health`, for
    /// testing tools that initialise a server themselves.
    pub fn initialize(mut self, initialize: bool) -> Self {
        self.initialize = initialize;
        self
    }

    /// HCL appended to the generated config.
    pub fn extra_config(mut self, hcl: impl Into<String>) -> Self {
        self.extra_config = hcl.into();
        self
    }

    /// Starts the server; when initialising, returns once it is unsealed and `sys/health` answers 200.
    pub async fn start(self) -> Result<TlsServer> {
        let bao = crate::blocking(bao_binary).await?;
        crate::start_with_retry(|| self.start_once(&bao)).await
    }

    async fn start_once(&self, bao: &Path) -> Result<TlsServer> {
        let ports = Ports::reserve(1, &[0, 1])?;
        let port = ports.get(0);
        let dir = WorkDir::new("tls")?;
        let ca_pem = write_certificates(dir.path())?;
        let audit_log_path = self.audit_file.then(|| dir.path().join("audit.log"));
        let config_path = dir.path().join("config.hcl");
        let raft_path = dir.path().join("raft");
        fs::create_dir(&raft_path).map_err(|e| Error::io(format!("cannot create {}", raft_path.display()), e))?;
        let config = self.config(dir.path(), port, audit_log_path.as_deref());
        fs::write(&config_path, config).map_err(|e| Error::io(format!("cannot write {}", config_path.display()), e))?;

        let process = spawn(bao, dir.path(), &config_path)?;
        let mut server = TlsServer {
            process,
            client: http::tls_client(NAME, ca_pem.as_bytes())?,
            addr: format!("https://127.0.0.1:{port}"),
            ca_cert_path: dir.path().join("ca.pem"),
            config_path,
            audit_log_path,
            bao: bao.to_owned(),
            root_token: None,
            unseal_keys: Vec::new(),
            threshold: self.threshold.into(),
            dir,
            _ports: ports,
        };
        server.wait_for_listener().await?;
        if self.initialize {
            server.init(self.shares, self.threshold).await?;
            server.unseal().await?;
        }
        Ok(server)
    }

    fn config(&self, dir: &Path, port: u16, audit_log: Option<&Path>) -> String {
        let cluster_port = port + 1;
        let raft = hcl_string(&dir.join("raft"));
        let cert = hcl_string(&dir.join("server.pem"));
        let key = hcl_string(&dir.join("server-key.pem"));
        // No `disable_mlock`: OpenBao does not know it.
        let mut config = format!(
            r#"api_addr = "https://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"

storage "raft" {{
  path = {raft}
  node_id = "node1"
  performance_multiplier = 1
}}

listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file = {cert}
  tls_key_file = {key}
  tls_min_version = "tls12"
}}
"#
        );
        if let Some(audit_log) = audit_log {
            config.push_str(&format!(
                "\naudit \"file\" \"file\" {{\n  options {{\n    file_path = {}\n  }}\n}}\n",
                hcl_string(audit_log)
            ));
        }
        if !self.extra_config.is_empty() {
            config.push('\n');
            config.push_str(&self.extra_config);
            config.push('\n');
        }
        config
    }
}

/// A quoted HCL string; JSON's escaping is valid HCL.
pub(crate) fn hcl_string(path: &Path) -> String {
    Value::from(path.to_string_lossy()).to_string()
}

/// Writes `ca.pem`, `server.pem` and `server-key.pem` into `dir` and returns the CA's PEM. The CA and the leaf
/// are EC P-256; the leaf is for `localhost` and `127.0.0.1`, for server authentication only, as rustls demands.
pub(crate) fn write_certificates(dir: &Path) -> Result<String> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "vault-testkit CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_pem = leaf.signed_by(&leaf_key, &issuer)?.pem();

    let write = |name: &str, contents: &str, mode: u32| {
        let path = dir.join(name);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, contents.as_bytes()))
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
    };
    write("ca.pem", &ca_pem, 0o644)?;
    write("server.pem", &leaf_pem, 0o644)?;
    write("server-key.pem", &leaf_key.serialize_pem(), 0o600)?;
    Ok(ca_pem)
}

fn spawn(bao: &Path, dir: &Path, config_path: &Path) -> Result<ServerProcess> {
    let mut command = process::command(bao, None)?;
    command.arg("server").arg(format!("-config={}", config_path.display())).env("HOME", dir).current_dir(dir);
    process::scrub_env(&mut command, &["VAULT_", "BAO_"]);
    ServerProcess::spawn(NAME, command, &dir.join("server.log"), Signal::KILL)
}

/// A production-like OpenBao (or Vault) server: raft storage and TLS on free loopback ports, with its own CA.
///
/// By default it is initialised with one key share and unsealed. Killed and its directory removed on drop.
#[derive(Debug)]
pub struct TlsServer {
    // Fields drop in order: the process must be gone before its directory is removed.
    process: ServerProcess,
    dir: WorkDir,
    _ports: Ports,
    client: Client,
    addr: String,
    ca_cert_path: PathBuf,
    config_path: PathBuf,
    audit_log_path: Option<PathBuf>,
    bao: PathBuf,
    root_token: Option<String>,
    unseal_keys: Vec<String>,
    threshold: usize,
}

impl TlsServer {
    /// Settings for a server; [`TlsServerBuilder::start`] starts it.
    pub fn builder() -> TlsServerBuilder {
        TlsServerBuilder::default()
    }

    /// Starts a server with the default settings: initialised with one key share, unsealed, no audit device.
    pub async fn start() -> Result<TlsServer> {
        Self::builder().start().await
    }

    /// The server's address, `https://127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The CA certificate (PEM) that signed the server's certificate; what `VAULT_CACERT` points at.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert_path
    }

    /// The root token from `sys/init`.
    ///
    /// # Panics
    /// When the server was started with `initialize(false)`: it has no root token.
    pub fn root_token(&self) -> &str {
        self.root_token.as_deref().expect("this TlsServer was started with initialize(false) and has no root token")
    }

    /// The unseal keys from `sys/init` (base64), as many as the builder's `shares`; empty when not initialised.
    pub fn unseal_keys(&self) -> &[String] {
        &self.unseal_keys
    }

    /// The server's directory: `config.hcl`, `ca.pem`, `server.pem`, `server-key.pem`, `raft/`, `server.log` and
    /// `audit.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file audit device's log, when the builder asked for one.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log_path.as_deref()
    }

    /// `VAULT_ADDR`, `VAULT_CACERT` and, when initialised, `VAULT_TOKEN` for a process that should talk to this
    /// server.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("VAULT_ADDR".to_owned(), self.addr.clone()),
            ("VAULT_CACERT".to_owned(), self.ca_cert_path.to_string_lossy().into_owned()),
        ];
        if let Some(token) = &self.root_token {
            env.push(("VAULT_TOKEN".to_owned(), token.clone()));
        }
        env
    }

    /// The server's process ID (a new one after [`restart`](Self::restart)).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// Everything the server printed so far, across restarts, for failure messages.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Seals the server (`PUT /v1/sys/seal` with the root token); `sys/health` then answers 503.
    pub async fn seal(&self) -> Result<()> {
        let token = self.token("seal")?;
        self.api(Method::PUT, "/v1/sys/seal", Some(token), json!({})).await.map(drop)
    }

    /// Unseals the server with the stored keys, then waits until it is active (`sys/health` answers 200; it
    /// answers 429 for a moment after unsealing, longer after a restart while raft elects itself leader).
    pub async fn unseal(&self) -> Result<()> {
        if self.unseal_keys.is_empty() {
            return Err(not_initialized("unseal"));
        }
        for key in self.unseal_keys.iter().take(self.threshold) {
            let answer = self.api(Method::PUT, "/v1/sys/unseal", None, json!({ "key": key })).await?;
            if answer["sealed"] == false {
                break;
            }
        }
        self.wait_for_health(ACTIVE_TIMEOUT, |status| status == StatusCode::OK).await.map(drop)
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited after 10 s (raft takes about 3 s). The ports stay
    /// reserved for [`restart`](Self::restart); connections are refused meanwhile.
    pub async fn stop(&mut self) {
        self.process.stop(Signal::TERM, STOP_GRACE).await;
    }

    /// Stops the server if it runs, and starts it again on the same config, data and ports. It comes back sealed
    /// (503) and stays so until [`unseal`](Self::unseal).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        self.process = spawn(&self.bao, self.dir.path(), &self.config_path)?;
        self.wait_for_listener().await
    }

    fn token(&self, action: &str) -> Result<&str> {
        self.root_token.as_deref().ok_or_else(|| not_initialized(action))
    }

    /// Waits until the listener answers `sys/health` at all: 501 when not initialised, 503 when sealed.
    async fn wait_for_listener(&self) -> Result<()> {
        self.wait_for_health(LISTEN_TIMEOUT, |_| true).await.map(drop)
    }

    async fn wait_for_health(&self, timeout: Duration, ready: fn(StatusCode) -> bool) -> Result<StatusCode> {
        let health = format!("{}/v1/sys/health", self.addr);
        self.process.wait_for(timeout, || http::probe(&self.client, &health, ready)).await
    }

    async fn init(&mut self, shares: u8, threshold: u8) -> Result<()> {
        let body = json!({ "secret_shares": shares, "secret_threshold": threshold });
        let answer = self.api(Method::PUT, "/v1/sys/init", None, body).await?;
        let keys: Option<Vec<String>> = answer["keys_base64"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|key| key.as_str().map(str::to_owned)).collect());
        match (keys, answer["root_token"].as_str()) {
            (Some(keys), Some(token)) if !keys.is_empty() => {
                self.unseal_keys = keys;
                self.root_token = Some(token.to_owned());
                Ok(())
            }
            _ => Err(Error::Api {
                server: NAME,
                action: "PUT /v1/sys/init".to_owned(),
                detail: format!("the answer has no keys_base64 or root_token: {answer}"),
            }),
        }
    }

    /// One API call; any status but 2xx is an error carrying the body, which says what OpenBao objected to.
    async fn api(&self, method: Method, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        http::api(&self.client, NAME, &self.addr, method, path, token, Some(body)).await
    }
}

fn not_initialized(action: &str) -> Error {
    Error::Setup {
        problem: format!(
            "cannot {action}: this TlsServer was started with initialize(false), so the kit has no keys or token"
        ),
        fix: "start it with TlsServer::builder().initialize(true), or use the keys from your own sys/init".to_owned(),
    }
}
