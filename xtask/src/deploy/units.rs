//! The scheduled jobs: backup, restore drill, health check, rotation and audit retention, each a oneshot service
//! with a timer. The unit files in `systemd/` are templates with `@NAME@` placeholders, embedded in the binary at
//! build time (a deploy on a VPS never reads the build machine's checkout), and rendered here for a layout:
//!
//! - systemd mode: the service users and the folders the units need are created, the units are installed in
//!   `/etc/systemd/system`, systemd reloads them, and the timers are enabled and started;
//! - `--local DIR`: the same text rendered with the local layout into `DIR/systemd/`, installed nowhere; `cargo
//!   xtask job run` runs a unit from there the way systemd would.
//!
//! Both converge: a re-run that finds everything as it should be changes nothing.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::files::{User, write_if_changed};
use super::{Layout, Step};

/// The job units and timers, as shipped in `systemd/` (the server's own unit is `server.rs`'s).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("vault-backup.service", include_str!("../../../systemd/vault-backup.service")),
    ("vault-backup.timer", include_str!("../../../systemd/vault-backup.timer")),
    ("vault-backup-drill.service", include_str!("../../../systemd/vault-backup-drill.service")),
    ("vault-backup-drill.timer", include_str!("../../../systemd/vault-backup-drill.timer")),
    ("vault-health.service", include_str!("../../../systemd/vault-health.service")),
    ("vault-health.timer", include_str!("../../../systemd/vault-health.timer")),
    ("secret-rotate.service", include_str!("../../../systemd/secret-rotate.service")),
    ("secret-rotate.timer", include_str!("../../../systemd/secret-rotate.timer")),
    ("audit-retention.service", include_str!("../../../systemd/audit-retention.service")),
    ("audit-retention.timer", include_str!("../../../systemd/audit-retention.timer")),
];

/// Where the unit files install on a systemd host.
pub const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// The folders the job units name, for a layout.
#[derive(Clone, Debug)]
pub struct JobPaths {
    /// Backups (vault-backup writes, the drill and the health check read).
    pub backup_dir: PathBuf,
    /// The Prometheus textfile folder vault-health writes into.
    pub health_dir: PathBuf,
    /// vault-backup's optional environment file and S3 credentials.
    pub backup_config_dir: PathBuf,
    /// secret-rotate's policy file and optional environment file.
    pub rotate_config_dir: PathBuf,
    /// secret-rotate's history and lock.
    pub rotate_state_dir: PathBuf,
    /// Where the rendered units go.
    pub unit_dir: PathBuf,
}

impl JobPaths {
    pub fn for_layout(layout: &Layout) -> Self {
        if layout.local {
            // Layout::local puts every folder directly under the deployment's folder.
            let root = layout.approle_dir.parent().unwrap_or(Path::new(".")).to_path_buf();
            Self::local(&root)
        } else {
            JobPaths {
                backup_dir: "/var/backups/vault".into(),
                health_dir: "/var/lib/prometheus/node-exporter".into(),
                backup_config_dir: "/etc/vault-backup".into(),
                rotate_config_dir: "/etc/secret-rotate".into(),
                rotate_state_dir: "/var/lib/secret-rotate".into(),
                unit_dir: SYSTEM_UNIT_DIR.into(),
            }
        }
    }

    /// The folders of a `--local DIR` deployment.
    pub fn local(root: &Path) -> Self {
        JobPaths {
            backup_dir: root.join("backups"),
            health_dir: root.join("health"),
            backup_config_dir: root.join("vault-backup"),
            rotate_config_dir: root.join("secret-rotate"),
            rotate_state_dir: root.join("secret-rotate/state"),
            unit_dir: root.join("systemd"),
        }
    }
}

/// Everything a template's placeholders stand for.
#[derive(Clone, Debug)]
pub struct UnitSettings {
    /// The folder of the installed tools (`PREFIX/bin`).
    pub bin_dir: PathBuf,
    /// The server binary (the drill starts a throw-away server with it).
    pub server_bin: PathBuf,
    pub approle_dir: PathBuf,
    pub ca_file: PathBuf,
    pub keys_dir: PathBuf,
    pub audit_dir: PathBuf,
    pub audit_secondary_dir: PathBuf,
    /// The address the jobs use: the local listener.
    pub vault_addr: String,
    /// The IP address behind `vault_addr` (the units' IP allow lists).
    pub vault_ip: String,
    /// The name to verify the server certificate against.
    pub tls_server_name: String,
    /// The unseal key share files the drill is handed (empty: the drill cannot run here).
    pub drill_keys: Vec<PathBuf>,
    pub paths: JobPaths,
}

impl UnitSettings {
    /// The settings for a deployment: `vault_addr` is the local listener's URL and `api_addr` the one clients use
    /// (its host name, when it has one, is what the certificate is verified against).
    pub fn new(
        layout: &Layout,
        bin_dir: &Path,
        server_bin: &Path,
        vault_addr: &str,
        api_addr: &str,
        threshold: u32,
    ) -> Self {
        let host = |addr: &str| url::Url::parse(addr).ok().and_then(|u| u.host_str().map(str::to_owned));
        let vault_ip = host(vault_addr).unwrap_or_else(|| "127.0.0.1".into()).trim_matches(['[', ']']).to_owned();
        let tls_server_name = host(api_addr)
            .filter(|name| name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_err())
            .unwrap_or_else(|| vault_ip.clone());
        // The first `threshold` plaintext shares; none when they were encrypted to PGP keys.
        let drill_keys: Vec<PathBuf> = (1..=threshold as usize).map(|n| layout.share_file(n, false)).collect();
        let drill_keys = if drill_keys.iter().all(|f| f.is_file()) { drill_keys } else { Vec::new() };
        UnitSettings {
            bin_dir: bin_dir.to_path_buf(),
            server_bin: server_bin.to_path_buf(),
            approle_dir: layout.approle_dir.clone(),
            ca_file: layout.ca_file(),
            keys_dir: layout.keys_dir.clone(),
            audit_dir: layout.audit_dir.clone(),
            audit_secondary_dir: layout.audit_secondary_dir.clone(),
            vault_addr: vault_addr.to_owned(),
            vault_ip,
            tls_server_name,
            drill_keys,
            paths: JobPaths::for_layout(layout),
        }
    }
}

/// The settings of a systemd host, for `job render`: the shares up to `threshold` whether or not they exist here.
pub fn system_settings(
    bin_dir: &Path,
    server_bin: &Path,
    listen: std::net::SocketAddr,
    threshold: u32,
) -> UnitSettings {
    let layout = Layout::system();
    let addr = format!("https://{listen}");
    let mut settings = UnitSettings::new(&layout, bin_dir, server_bin, &addr, &addr, threshold);
    settings.drill_keys = (1..=threshold as usize).map(|n| layout.share_file(n, false)).collect();
    settings
}

/// Fills in a template's placeholders. A placeholder left over (a template and this function out of step) is an
/// error, never a unit with `@NAME@` in it.
pub fn render(template: &str, s: &UnitSettings) -> anyhow::Result<String> {
    let p = |path: &Path| path.display().to_string();
    if let Some(file) = s.drill_keys.iter().find(|f| f.display().to_string().chars().any(char::is_whitespace)) {
        bail!("the key share {} has a space in its path: unit files need paths without spaces", file.display());
    }
    let key_credentials: Vec<String> = s
        .drill_keys
        .iter()
        .enumerate()
        .map(|(i, file)| format!("LoadCredential=unseal-key-{}:{}", i + 1, file.display()))
        .collect();
    let key_args: Vec<String> =
        (1..=s.drill_keys.len()).map(|n| format!("--key-file %d/unseal-key-{n}")).collect::<Vec<_>>();
    let mut out = String::with_capacity(template.len() + 256);
    for line in template.lines() {
        if line.trim() == "@DRILL_KEY_CREDENTIALS@" {
            for credential in &key_credentials {
                out.push_str(credential);
                out.push('\n');
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let replacements = [
        ("@BIN_DIR@", p(&s.bin_dir)),
        ("@SERVER_BIN@", p(&s.server_bin)),
        ("@APPROLE_DIR@", p(&s.approle_dir)),
        ("@CA_FILE@", p(&s.ca_file)),
        ("@KEYS_DIR@", p(&s.keys_dir)),
        ("@AUDIT_DIR@", p(&s.audit_dir)),
        ("@AUDIT_SECONDARY_DIR@", p(&s.audit_secondary_dir)),
        ("@VAULT_ADDR@", s.vault_addr.clone()),
        ("@VAULT_IP@", s.vault_ip.clone()),
        ("@TLS_SERVER_NAME@", s.tls_server_name.clone()),
        ("@BACKUP_DIR@", p(&s.paths.backup_dir)),
        ("@HEALTH_DIR@", p(&s.paths.health_dir)),
        ("@BACKUP_CONFIG_DIR@", p(&s.paths.backup_config_dir)),
        ("@ROTATE_CONFIG_DIR@", p(&s.paths.rotate_config_dir)),
        ("@ROTATE_STATE_DIR@", p(&s.paths.rotate_state_dir)),
        ("@DRILL_KEY_ARGS@", key_args.join(" ")),
    ];
    for (placeholder, value) in &replacements {
        // Unit files split on whitespace: a path with a space would turn into two arguments.
        if *placeholder != "@DRILL_KEY_ARGS@" && value.chars().any(char::is_whitespace) {
            bail!("{placeholder} would be {value:?}: unit files need paths without spaces");
        }
        out = out.replace(placeholder, value);
    }
    if let Some(name) = leftover_placeholder(&out) {
        bail!("a unit template has a placeholder this deploy does not know: {name}");
    }
    Ok(out)
}

/// The first `@NAME@` (capitals and underscores between two @ signs) in `text`.
fn leftover_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let tail = &rest[start + 1..];
        let len = tail.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(tail.len());
        if len > 0 && tail[len..].starts_with('@') {
            return Some(format!("@{}@", &tail[..len]));
        }
        rest = tail;
    }
    None
}

/// Renders every job unit and timer: (file name, text).
pub fn render_all(s: &UnitSettings) -> anyhow::Result<Vec<(&'static str, String)>> {
    TEMPLATES
        .iter()
        .map(|(name, template)| Ok((*name, render(template, s).with_context(|| format!("rendering {name}"))?)))
        .collect()
}

/// The timers deploy enables: all of them, except the drill's when it has no key shares to use.
pub fn timers_to_enable(s: &UnitSettings) -> Vec<&'static str> {
    TEMPLATES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| name.ends_with(".timer"))
        .filter(|name| *name != "vault-backup-drill.timer" || !s.drill_keys.is_empty())
        .collect()
}

/// `--local DIR`: the units rendered into `DIR/systemd/` and the folders they name, all the current user's.
pub fn converge_local(s: &UnitSettings) -> anyhow::Result<Vec<Step>> {
    let me = User::current();
    let mut created = Vec::new();
    for dir in [&s.paths.backup_dir, &s.paths.health_dir, &s.paths.rotate_state_dir, &s.paths.unit_dir] {
        if ensure_dir(dir, 0o700, &me)? {
            created.push(dir.display().to_string());
        }
    }
    for dir in [&s.paths.backup_config_dir, &s.paths.rotate_config_dir] {
        if ensure_dir(dir, 0o700, &me)? {
            created.push(dir.display().to_string());
        }
    }
    let mut written = Vec::new();
    for (name, text) in render_all(s)? {
        if write_if_changed(&s.paths.unit_dir.join(name), text.as_bytes(), 0o644)? {
            written.push(name);
        }
    }
    let mut steps = Vec::new();
    steps.push(if created.is_empty() {
        Step::ok("job folders", "the folders the job units use are in place")
    } else {
        Step::changed("job folders", format!("created {}", created.join(", ")))
    });
    let how = format!(
        "run one with `cargo xtask job run --local {} NAME`",
        s.paths.unit_dir.parent().unwrap_or(Path::new(".")).display()
    );
    steps.push(if written.is_empty() {
        Step::ok(
            "job units",
            format!("{} units in {} are up to date; {how}", TEMPLATES.len(), s.paths.unit_dir.display()),
        )
    } else {
        Step::changed("job units", format!("wrote {} to {}; {how}", written.join(", "), s.paths.unit_dir.display()))
    });
    if s.drill_keys.is_empty() {
        steps.push(Step::warn(
            "drill",
            "no plaintext unseal key shares here (encrypted to PGP keys?): the drill unit cannot run on this box",
        ));
    }
    Ok(steps)
}

/// Systemd mode: service users, folders, units in /etc/systemd/system, daemon-reload, timers enabled and started.
pub fn converge_system(s: &UnitSettings) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    // The users of policies/roles.toml (the one table of identities).
    let users = super::roles::service_user_names()?;
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    let made = ensure_service_users(&names)?;
    steps.push(if made.is_empty() {
        Step::ok("service users", format!("{} exist", names.join(", ")))
    } else {
        Step::changed("service users", format!("created {}", made.join(", ")))
    });

    let user = |name: &str| User::lookup(name);
    let root = User { name: "root".into(), uid: 0, gid: 0 };
    let backup = user("vault-backup")?;
    let health = user("vault-health")?;
    let rotate = user("secret-rotate")?;
    let mut changed = Vec::new();
    // The backups: written by vault-backup, read through its group by the drill and the health check (their
    // units add the group), nobody else.
    if ensure_dir(&s.paths.backup_dir, 0o750, &backup)? {
        changed.push(s.paths.backup_dir.display().to_string());
    }
    // Read by systemd (root) for EnvironmentFile= and LoadCredential=, never by the jobs themselves.
    if ensure_dir(&s.paths.backup_config_dir, 0o700, &root)? {
        changed.push(s.paths.backup_config_dir.display().to_string());
    }
    // The rotation policies are read by secret-rotate: root's folder, its group.
    if ensure_dir(&s.paths.rotate_config_dir, 0o750, &User { gid: rotate.gid, ..root })? {
        changed.push(s.paths.rotate_config_dir.display().to_string());
    }
    if ensure_dir(&s.paths.rotate_state_dir, 0o700, &rotate)? {
        changed.push(s.paths.rotate_state_dir.display().to_string());
    }
    // node_exporter's textfile folder may exist already (its package makes it): then it is left as it is, and
    // only a folder vault-health could not write into is reported.
    if s.paths.health_dir.is_dir() {
        let meta = fs::metadata(&s.paths.health_dir)?;
        let writable = meta.uid() == health.uid
            || (meta.gid() == health.gid && meta.mode() & 0o020 != 0)
            || meta.mode() & 0o002 != 0;
        if !writable {
            steps.push(Step::warn(
                "job folders",
                format!(
                    "{} exists and vault-health may not write to it: `chgrp vault-health` it and `chmod g+w` it",
                    s.paths.health_dir.display()
                ),
            ));
        }
    } else {
        ensure_dir(&s.paths.health_dir, 0o755, &health)?;
        changed.push(s.paths.health_dir.display().to_string());
    }
    steps.push(if changed.is_empty() {
        Step::ok("job folders", "the folders the job units use are in place")
    } else {
        Step::changed("job folders", format!("created or fixed {}", changed.join(", ")))
    });

    let mut written = Vec::new();
    for (name, text) in render_all(s)? {
        if write_if_changed(&s.paths.unit_dir.join(name), text.as_bytes(), 0o644)? {
            written.push(name);
        }
    }
    if !written.is_empty() {
        systemctl(&["daemon-reload"])?;
    }
    steps.push(if written.is_empty() {
        Step::ok("job units", format!("{} units in {} are up to date", TEMPLATES.len(), s.paths.unit_dir.display()))
    } else {
        Step::changed("job units", format!("installed {} in {}", written.join(", "), s.paths.unit_dir.display()))
    });

    let mut started = Vec::new();
    for timer in timers_to_enable(s) {
        let enabled = Command::new("systemctl")
            .args(["is-enabled", "--quiet", timer])
            .status()
            .is_ok_and(|status| status.success());
        let active = Command::new("systemctl")
            .args(["is-active", "--quiet", timer])
            .status()
            .is_ok_and(|status| status.success());
        if !enabled || !active {
            systemctl(&["enable", "--now", "--quiet", timer])?;
            started.push(timer);
        }
    }
    steps.push(if started.is_empty() {
        Step::ok("timers", "every job timer is enabled and waiting (`systemctl list-timers`)")
    } else {
        Step::changed("timers", format!("enabled and started {}", started.join(", ")))
    });
    for hidden in ["/root", "/home"] {
        if s.server_bin.starts_with(hidden) || s.bin_dir.starts_with(hidden) {
            steps.push(Step::warn(
                "job units",
                format!(
                    "{} and {} must not be under {hidden}: the job units' ProtectHome= hides it (install with \
                     `--prefix /usr/local` and pass --bin and --bin-dir)",
                    s.server_bin.display(),
                    s.bin_dir.display()
                ),
            ));
        }
    }
    if s.drill_keys.is_empty() {
        steps.push(Step::warn(
            "drill",
            "the unseal key shares are encrypted to PGP keys, so none is on this box: vault-backup-drill.timer stays \
             disabled (run the drill where a threshold of shares can be entered)",
        ));
    }
    Ok(steps)
}

/// Creates the system accounts the job units run as, when missing (through the one place that creates them,
/// `roles::ensure_service_users`); returns the names it created.
pub fn ensure_service_users(names: &[&str]) -> anyhow::Result<Vec<String>> {
    let missing: Vec<&str> = names.iter().copied().filter(|name| User::lookup(name).is_err()).collect();
    super::roles::ensure_service_users(&missing)?;
    Ok(missing.into_iter().map(str::to_owned).collect())
}

/// Makes `dir` (and its parents) with `mode` and `owner`; returns whether anything changed.
fn ensure_dir(dir: &Path, mode: u32, owner: &User) -> anyhow::Result<bool> {
    let mut changed = false;
    if !dir.is_dir() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        changed = true;
    }
    let meta = fs::metadata(dir)?;
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
        changed = true;
    }
    if meta.uid() != owner.uid || meta.gid() != owner.gid {
        std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid))
            .with_context(|| format!("giving {} to {}", dir.display(), owner.name))?;
        changed = true;
    }
    Ok(changed)
}

fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("systemctl")
        .args(args)
        .status()
        .with_context(|| format!("running systemctl {}", args.join(" ")))?;
    if !status.success() {
        bail!("systemctl {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The folder of the installed tools: `--bin-dir`, else this program's own folder when the tools are installed
/// beside it (`PREFIX/bin/vault-toolkit`, or a cargo target folder after `cargo build`), else `/usr/local/bin`.
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("vault-backup").is_file() && dir.join("vault-health").is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(layout: &Layout) -> UnitSettings {
        let mut s = UnitSettings::new(
            layout,
            Path::new("/opt/vt/bin"),
            Path::new("/usr/local/bin/bao"),
            "https://127.0.0.1:8200",
            "https://vault.example.com:8200",
            3,
        );
        s.drill_keys = (1..=3).map(|n| layout.share_file(n, false)).collect();
        s
    }

    /// Every placeholder of every template is filled in, for both layouts.
    #[test]
    fn every_template_renders_for_both_layouts() {
        for layout in [Layout::local(Path::new("/srv/demo")), Layout::system()] {
            let s = settings(&layout);
            for (name, text) in render_all(&s).unwrap() {
                assert_eq!(leftover_placeholder(&text), None, "{name} keeps a placeholder");
                if name.ends_with(".service") {
                    assert!(text.contains("ExecStart=/opt/vt/bin/"), "{name} runs an installed tool");
                }
            }
        }
    }

    /// The drill is handed exactly the threshold's shares, and passes each to the tool.
    #[test]
    fn drill_gets_one_credential_and_one_argument_per_share() {
        let layout = Layout::system();
        let s = settings(&layout);
        let drill = render(TEMPLATES.iter().find(|(n, _)| *n == "vault-backup-drill.service").unwrap().1, &s).unwrap();
        for n in 1..=3 {
            assert!(drill.contains(&format!("LoadCredential=unseal-key-{n}:/root/vault-keys/unseal-key-{n}\n")));
            assert!(drill.contains(&format!("--key-file %d/unseal-key-{n}")));
        }
        assert!(!drill.contains("unseal-key-4"));
        assert!(drill.contains("--bin /usr/local/bin/bao"));
        assert!(drill.contains("VAULT_TLS_SERVER_NAME=vault.example.com\n"), "verified against the API name");
        let none = UnitSettings { drill_keys: Vec::new(), ..s.clone() };
        assert!(!timers_to_enable(&none).contains(&"vault-backup-drill.timer"));
        assert!(timers_to_enable(&s).contains(&"vault-backup-drill.timer"));
    }

    /// A path with a space would split into two arguments in a unit: refused.
    #[test]
    fn paths_with_spaces_are_refused() {
        let layout = Layout::local(Path::new("/srv/my demo"));
        let err = render_all(&settings(&layout)).unwrap_err();
        assert!(format!("{err:#}").contains("without spaces"), "{err:#}");
    }

    /// A placeholder the renderer does not know is an error, not a unit with `@NAME@` in it.
    #[test]
    fn unknown_placeholders_are_refused() {
        let s = settings(&Layout::system());
        let err = render("ExecStart=@NOPE@/x\n", &s).unwrap_err();
        assert!(err.to_string().contains("@NOPE@"), "{err}");
        assert!(render("Description=mail me at a@b.c\n", &s).is_ok());
    }
}
