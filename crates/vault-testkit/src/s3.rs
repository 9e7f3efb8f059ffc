//! An S3-compatible store for backup tests: SeaweedFS's single-process `weed mini`, with generated credentials and
//! a `backups` bucket. It enforces SigV4 like Hetzner Object Storage and AWS do.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use rustix::process::Signal;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http;
use crate::install::weed_binary;
use crate::ports::Ports;
use crate::process::{self, ServerProcess};
use crate::workdir::WorkDir;

const NAME: &str = "SeaweedFS S3 server";
const BUCKET: &str = "backups";
const REGION: &str = "us-east-1";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A SeaweedFS S3 endpoint on free loopback ports, with its own access key and a `backups` bucket.
///
/// Killed and its directory removed on drop.
#[derive(Debug)]
pub struct S3Server {
    // Fields drop in order: the process must be gone before its directory is removed.
    process: ServerProcess,
    dir: WorkDir,
    _ports: Ports,
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3Server {
    /// Starts the store and returns once `GET /healthz` answers 200.
    pub async fn start() -> Result<S3Server> {
        let weed = crate::blocking(weed_binary).await?;
        crate::start_with_retry(|| Self::start_once(&weed)).await
    }

    async fn start_once(weed: &Path) -> Result<S3Server> {
        // `weed mini` runs a master, a volume server, a filer, the S3 gateway and an admin server, and each of them
        // also listens for gRPC on its port + 10000.
        let ports = Ports::reserve(5, &[0, 10_000])?;
        let [s3, master, volume, filer, admin] = [0, 1, 2, 3, 4].map(|index| ports.get(index));
        let dir = WorkDir::new("s3")?;
        let path = |name: &str| dir.path().join(name);

        let access_key = crate::random_string(20);
        let secret_key = crate::random_string(40);
        let identities = json!({ "identities": [{
            "name": "admin",
            "credentials": [{ "accessKey": access_key, "secretKey": secret_key }],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]});
        std::fs::write(path("s3.json"), identities.to_string())
            .map_err(|e| Error::io(format!("cannot write {}", path("s3.json").display()), e))?;
        std::fs::create_dir(path("data"))
            .map_err(|e| Error::io(format!("cannot create {}", path("data").display()), e))?;

        let mut command = process::command(weed, None)?;
        command
            .arg("mini")
            .arg(format!("-dir={}", path("data").display()))
            // Both: `-ip` alone still binds 0.0.0.0.
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.config={}", path("s3.json").display()))
            .arg(format!("-bucket={BUCKET}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-admin.port={admin}"))
            .args(["-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg("-master.volumeSizeLimitMB=64")
            // No reports to seaweedfs.com, and the Unix sockets in our directory instead of a shared /tmp.
            .arg("-master.telemetry=false")
            .arg(format!("-filer.localSocket={}", path("filer.sock").display()))
            .arg(format!("-s3.localSocket={}", path("s3.sock").display()))
            .env("HOME", dir.path())
            .current_dir(dir.path());
        process::scrub_env(&mut command, &["AWS_", "S3_", "WEED_"]);
        let process = ServerProcess::spawn(NAME, command, &path("server.log"), Signal::KILL)?;

        let endpoint = format!("http://127.0.0.1:{s3}");
        let client = http::plain_client(NAME)?;
        let healthz = format!("{endpoint}/healthz");
        process.wait_for(START_TIMEOUT, || http::probe(&client, &healthz, |status| status == StatusCode::OK)).await?;
        Ok(S3Server { process, dir, _ports: ports, endpoint, access_key, secret_key })
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`; use path-style addressing.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The access key ID the store accepts.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret access key that goes with [`access_key`](Self::access_key).
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The bucket created at start, `backups`.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The region to sign for, `us-east-1`.
    pub fn region(&self) -> &str {
        REGION
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `AWS_ENDPOINT_URL` for a process that should
    /// use this store.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), self.secret_key.clone()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()),
        ]
    }

    /// The server's own directory, with its log (`server.log`) and data.
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

    /// Stops the store (SIGTERM, then SIGKILL after 10 s). Its ports stay reserved until the value is dropped.
    pub async fn stop(&mut self) {
        self.process.stop(Signal::TERM, Duration::from_secs(10)).await;
    }
}
