//! `bao server -dev`: in memory, plain HTTP, unsealed, `secret/` mounted as KV v2. The quickest real Vault API.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use rustix::process::Signal;

use crate::error::Result;
use crate::http;
use crate::install::bao_binary;
use crate::ports::Ports;
use crate::process::{self, ServerProcess};
use crate::workdir::WorkDir;

const NAME: &str = "OpenBao dev server";
const ROOT_TOKEN: &str = "root";
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// An OpenBao (or Vault) dev-mode server on a free loopback port, with root token `root`.
///
/// Killed and its directory removed on drop.
#[derive(Debug)]
pub struct DevServer {
    // Fields drop in order: the process must be gone before its directory is removed.
    process: ServerProcess,
    dir: WorkDir,
    _ports: Ports,
    port: u16,
    addr: String,
}

impl DevServer {
    /// Starts a dev server and returns once `GET /v1/sys/health` answers 200.
    pub async fn start() -> Result<DevServer> {
        let bao = crate::blocking(bao_binary).await?;
        crate::start_with_retry(|| Self::start_once(&bao)).await
    }

    async fn start_once(bao: &Path) -> Result<DevServer> {
        let ports = Ports::reserve(1, &[0])?;
        let port = ports.get(0);
        let dir = WorkDir::new("dev")?;
        let mut command = process::command(bao, None)?;
        command
            .arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg("-dev-no-store-token")
            // The CLI's token helper writes ~/.vault-token; keep it in the server's own directory.
            .env("HOME", dir.path())
            .current_dir(dir.path());
        process::scrub_env(&mut command, &["VAULT_", "BAO_"]);
        let process = ServerProcess::spawn(NAME, command, &dir.path().join("server.log"), Signal::KILL)?;

        let addr = format!("http://127.0.0.1:{port}");
        let client = http::plain_client(NAME)?;
        let health = format!("{addr}/v1/sys/health");
        process.wait_for(START_TIMEOUT, || http::probe(&client, &health, |status| status == StatusCode::OK)).await?;
        // Dev mode mounts `secret/` as KV v1 and upgrades it to v2 in the background; until that finishes, every
        // request to it answers 400 "Upgrading from non-versioned to versioned data". Tests start writing at once.
        let kv_config = format!("{addr}/v1/secret/config");
        process
            .wait_for(START_TIMEOUT, || async {
                match client.get(&kv_config).header("X-Vault-Token", ROOT_TOKEN).send().await {
                    Ok(response) if response.status() == StatusCode::OK => Ok(()),
                    Ok(response) => Err(format!("GET {kv_config} answered {}", response.status())),
                    Err(e) => Err(format!("GET {kv_config}: {e}")),
                }
            })
            .await?;
        Ok(DevServer { process, dir, _ports: ports, port, addr })
    }

    /// The server's address, `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The root token, `root`.
    pub fn root_token(&self) -> &str {
        ROOT_TOKEN
    }

    /// `VAULT_ADDR` and `VAULT_TOKEN` for a process that should talk to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("VAULT_ADDR".to_owned(), self.addr.clone()), ("VAULT_TOKEN".to_owned(), ROOT_TOKEN.to_owned())]
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's own directory: its log (`server.log`), and its `HOME`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything the server printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// A token the server issued (policy `default`, 1 h) and then revoked: what a tool meets when its token died
    /// before it started.
    pub async fn revoked_token(&self) -> Result<String> {
        let client = crate::http::plain_client("OpenBao")?;
        let failed = |action: &str, detail: String| crate::error::Error::Api {
            server: "OpenBao",
            action: action.to_owned(),
            detail,
        };
        let call = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{}/v1/{path}", self.addr()))
                .header("X-Vault-Token", self.root_token())
                .json(&body)
                .send()
        };
        let created = call("auth/token/create", serde_json::json!({ "policies": ["default"], "ttl": "1h" }))
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| failed("creating a token", crate::error::chain(&e)))?;
        let answer: serde_json::Value =
            created.json().await.map_err(|e| failed("reading the new token", crate::error::chain(&e)))?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .ok_or_else(|| failed("reading the new token", "no auth.client_token in the answer".to_owned()))?
            .to_owned();
        call("auth/token/revoke", serde_json::json!({ "token": token }))
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| failed("revoking the token", crate::error::chain(&e)))?;
        Ok(token)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s). Its port stays reserved until the value is dropped, so a
    /// test can go on checking what its tool does when the server is down.
    pub async fn stop(&mut self) {
        self.process.stop(Signal::TERM, Duration::from_secs(10)).await;
    }
}
