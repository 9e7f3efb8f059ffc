//! `cargo xtask demo`: the main job on an embedded default. Brings up a local production-like Vault under
//! `.demo/` — raft storage, TLS with its own CA, initialised with 5 key shares (threshold 3) written 0600, unsealed,
//! KV v2 at `secret/` — then writes and reads a secret through vault-core and prints how to point the tools at it.
//!
//! Re-running reuses what is there: a running server is left running, a stopped one is started and unsealed
//! from the key files, an initialised one is never initialised again. `--stop` stops it.
//!
//! This is a demonstration on one machine, so the key shares sit beside the server; a real deployment hands each
//! share to a different person.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Method;
use vault_core::config::AuthConfig;
use vault_core::sys::NodeState;
use vault_core::{Client, Config, Error, KvPath, SecretMap, SecretString};

const SHARES: u32 = 5;
const THRESHOLD: u32 = 3;

#[derive(clap::Args)]
pub struct Args {
    /// Folder for the server's config, data, certificates, keys and log.
    #[arg(long, default_value = ".demo")]
    dir: PathBuf,
    /// API port (the cluster port is the next one).
    #[arg(long, default_value_t = 18200)]
    port: u16,
    /// Stop the local server and exit.
    #[arg(long)]
    stop: bool,
}

/// The files of the local server.
struct Layout {
    dir: PathBuf,
    port: u16,
}

impl Layout {
    fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }
    fn config(&self) -> PathBuf {
        self.dir.join("bao.hcl")
    }
    fn pid(&self) -> PathBuf {
        self.dir.join("server.pid")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("logs/server.log")
    }
    fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }
    fn root_token(&self) -> PathBuf {
        self.keys().join("root-token")
    }
    fn addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let dir = if args.dir.is_absolute() { args.dir.clone() } else { crate::workspace_root().join(&args.dir) };
    let layout = Layout { dir, port: args.port };
    if args.stop {
        return stop(&layout);
    }
    let bao = vault_testkit::bao_binary().context("finding or installing the OpenBao binary")?;
    prepare(&layout)?;
    crate::runtime()?.block_on(drive(&layout, &bao))
}

/// Folders with tight permissions, TLS material and the server config.
fn prepare(layout: &Layout) -> anyhow::Result<()> {
    for (sub, mode) in [("", 0o700), ("tls", 0o755), ("keys", 0o700), ("data", 0o700), ("logs", 0o750)] {
        let path = layout.dir.join(sub);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    let tls = layout.dir.join("tls");
    if !tls.join("server.pem").exists() {
        generate_tls(&tls)?;
        println!("generated a CA and a server certificate for localhost/127.0.0.1 in {}", tls.display());
    }
    let config = format!(
        r#"ui = false
api_addr = "https://127.0.0.1:{port}"
cluster_addr = "https://127.0.0.1:{cluster}"

storage "raft" {{
  path = "{data}"
  node_id = "demo-1"
  performance_multiplier = 1
}}

listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_cert_file = "{tls}/server.pem"
  tls_key_file = "{tls}/server-key.pem"
  tls_min_version = "tls12"
}}
"#,
        port = layout.port,
        cluster = layout.port + 1,
        data = layout.dir.join("data").display(),
        tls = tls.display(),
    );
    write_file(&layout.config(), config.as_bytes(), 0o640)
}

/// A self-signed EC P-256 CA and a server certificate for `localhost` and `127.0.0.1` signed by it.
fn generate_tls(dir: &Path) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "vault-toolkit demo CA");
    ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()])?;
    leaf.subject_alt_names.push(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_after = rcgen::date_time_ymd(2028, 1, 1);
    let cert = leaf.signed_by(&key, &issuer)?;

    write_file(&dir.join("ca.pem"), ca_cert.pem().as_bytes(), 0o644)?;
    write_file(&dir.join("server.pem"), format!("{}{}", cert.pem(), ca_cert.pem()).as_bytes(), 0o644)?;
    write_file(&dir.join("server-key.pem"), key.serialize_pem().as_bytes(), 0o600)
}

/// Writes a file atomically with `mode` from the start (never briefly world-readable).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))
}

async fn drive(layout: &Layout, bao: &Path) -> anyhow::Result<()> {
    let mut config = Config::with_token(&layout.addr(), SecretString::default())?;
    config.auth = AuthConfig::None;
    config.tls.ca_cert = Some(layout.ca());
    config.max_retries = 0;
    let anonymous = Client::new(config.clone())?;

    let health = match anonymous.health().await {
        Ok(health) => {
            println!("reusing the local server at {}", layout.addr());
            health
        }
        Err(Error::Unreachable { .. }) => {
            start(layout, bao)?;
            wait_for_listener(&anonymous, layout).await?
        }
        Err(other) => {
            return Err(other).context(format!(
                "something else answers on port {}; stop it or pick another with --port",
                layout.port
            ));
        }
    };

    if health.state == NodeState::Uninitialized {
        let init = anonymous.init(SHARES, THRESHOLD, &[]).await.context("initialising")?;
        for (i, key) in init.keys_base64.iter().enumerate() {
            write_file(&layout.keys().join(format!("unseal-key-{}", i + 1)), key.expose().as_bytes(), 0o600)?;
        }
        write_file(&layout.root_token(), init.root_token.expose().as_bytes(), 0o600)?;
        println!(
            "initialised: {SHARES} key shares (threshold {THRESHOLD}) and the root token written 0600 to {}",
            layout.keys().display()
        );
    }
    let status = anonymous.seal_status().await?;
    if status.sealed {
        for i in 1..=THRESHOLD {
            let key =
                vault_core::config::read_secret_file(&layout.keys().join(format!("unseal-key-{i}")), "unseal key")
                    .context("the server is sealed and its key shares are missing")?;
            anonymous.unseal(&key).await?;
        }
        println!("unsealed with {THRESHOLD} of {SHARES} key shares");
    }
    wait_active(&anonymous).await?;

    let mut root_config = config;
    root_config.auth = AuthConfig::Token {
        token: vault_core::config::read_secret_file(&layout.root_token(), "root token")?,
        source: layout.root_token().display().to_string(),
    };
    root_config.max_retries = 2;
    let root = Client::new(root_config)?;
    let mounts = root.request(Method::GET, "sys/mounts", None).await?.unwrap_or_default();
    if mounts.get("secret/").is_none() && mounts.pointer("/data/secret~1").is_none() {
        let kv = serde_json::json!({ "type": "kv", "options": { "version": "2" } });
        root.request(Method::POST, "sys/mounts/secret", Some(&kv)).await?;
        println!("enabled KV version 2 at secret/");
    }

    let path = KvPath::parse("secret/demo/hello")?;
    let mut data = SecretMap::new();
    data.insert("greeting".into(), SecretString::from("hello from vault-core"));
    data.insert("written_at".into(), SecretString::from(unix_now().as_str()));
    let written = root.kv_write(&path, &data, None).await?;
    let read = root.kv_read(&path, None).await?;
    if read.data != data {
        bail!("read back {path} and it differs from what was written");
    }
    println!("wrote {path} (version {}) through vault-core and read it back: values match", written.version);

    println!();
    println!("The local Vault is up. Point the tools at it with:");
    println!("  export VAULT_ADDR={} VAULT_CACERT={}", layout.addr(), layout.ca().display());
    println!("  export VAULT_TOKEN=\"$(cat {})\"", layout.root_token().display());
    println!("Stop it with: cargo xtask demo --stop");
    Ok(())
}

fn unix_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{secs}")
}

/// Starts the server in its own process group so it outlives this command and ignores the terminal's Ctrl-C.
fn start(layout: &Layout, bao: &Path) -> anyhow::Result<()> {
    let log = fs::OpenOptions::new().create(true).append(true).mode(0o640).open(layout.log())?;
    let child = Command::new(bao)
        .arg("server")
        .arg(format!("-config={}", layout.config().display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", bao.display()))?;
    write_file(&layout.pid(), child.id().to_string().as_bytes(), 0o644)?;
    println!(
        "started OpenBao ({}) at {}, pid {}, log {}",
        bao.display(),
        layout.addr(),
        child.id(),
        layout.log().display()
    );
    Ok(())
}

async fn wait_for_listener(client: &Client, layout: &Layout) -> anyhow::Result<vault_core::sys::Health> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.health().await {
            Ok(health) => return Ok(health),
            Err(Error::Unreachable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                let log = fs::read_to_string(layout.log()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(error).context(format!("the server did not come up; its log ends:\n{}", tail.join("\n")));
            }
        }
    }
}

/// Right after unseal a node answers 429 for a moment while it becomes active.
async fn wait_active(client: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client.health().await?;
        if health.state == NodeState::Active {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the server is {:?} after unsealing, not active", health.state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(layout: &Layout) -> anyhow::Result<()> {
    let Ok(pid) = fs::read_to_string(layout.pid()) else {
        println!("no local server recorded in {}", layout.dir.display());
        return Ok(());
    };
    let pid = pid.trim();
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if !proc.exists() {
        println!("the local server (pid {pid}) is not running");
        fs::remove_file(layout.pid())?;
        return Ok(());
    }
    Command::new("kill").args(["-TERM", pid]).status().context("sending SIGTERM")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while proc.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if proc.exists() {
        bail!("the local server (pid {pid}) did not stop within 15 s");
    }
    fs::remove_file(layout.pid())?;
    println!("stopped the local server (pid {pid}); its data stays in {}", layout.dir.display());
    Ok(())
}
