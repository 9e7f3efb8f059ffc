//! `drill`: the restore drill. Restores the newest backup into a throwaway server started here (raft storage,
//! plain HTTP on a loopback port, in a temp folder), unseals it with the live server's key shares, compares a
//! sample of secrets' metadata with the live server, and tears the server down.
//!
//! The throwaway server is initialised with the source's share count and threshold (from the manifest), so the
//! restored keyring unseals without the restart a differing seal configuration would need. Secrets changed on the
//! live server after the backup was taken are counted, not flagged: the backup cannot know them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use vault_core::config::AuthConfig;
use vault_core::{Client, Config, SecretString};

use crate::catalog::{self, ResolveError};
use crate::restore::{self, RestoreError, Step};
use crate::s3::S3Settings;

/// What the drill needs.
#[derive(Default)]
pub struct DrillOptions {
    /// Destinations (or backups) to take the newest backup from.
    pub from: Vec<String>,
    /// Files with the live server's unseal key shares.
    pub key_files: Vec<PathBuf>,
    /// The server binary; else [`find_binary`]'s search.
    pub bin: Option<PathBuf>,
    /// KV folders to compare (default `secret/`).
    pub check_paths: Vec<String>,
    /// How many secrets to compare.
    pub sample: usize,
    /// age private keys, for encrypted backups.
    pub identities: Vec<crate::crypto::Identity>,
}

impl std::fmt::Debug for DrillOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys and tokens are left out.
        f.debug_struct("DrillOptions")
            .field("from", &self.from)
            .field("key_files", &self.key_files)
            .field("bin", &self.bin)
            .field("check_paths", &self.check_paths)
            .field("sample", &self.sample)
            .finish_non_exhaustive()
    }
}

/// Why the drill could not run.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// No backup found.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Restoring failed.
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The throwaway server could not be started.
    #[error("cannot run the throwaway server: {0}")]
    Server(String),
    /// No server binary was found; the message says where it looked.
    #[error("{0}")]
    NoBinary(String),
    /// A Vault call failed.
    #[error("{step}")]
    Vault {
        /// The step.
        step: String,
        /// What went wrong.
        #[source]
        source: vault_core::Error,
    },
}

/// The drill's result.
#[derive(Clone, Debug, Serialize)]
pub struct DrillOutcome {
    /// The backup drilled.
    pub id: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// Secrets compared.
    pub compared: usize,
    /// Secrets changed on the live server after the backup (not compared).
    pub newer_than_backup: usize,
    /// Differences found.
    pub differences: Vec<String>,
}

impl DrillOutcome {
    /// Whether the restored copy matched.
    pub fn ok(&self) -> bool {
        self.differences.is_empty() && self.compared > 0
    }
}

fn step(step: &'static str, status: &'static str, detail: impl Into<String>) -> Step {
    Step { step, status, detail: detail.into() }
}

/// Runs the drill against `live`.
pub async fn drill(live: &Client, s3: &S3Settings, options: &DrillOptions) -> Result<DrillOutcome, DrillError> {
    // Before anything slow: a missing binary is a setup problem the operator fixes once.
    let bin = find_binary(options.bin.as_deref()).map_err(DrillError::NoBinary)?;
    let mut newest = None;
    for from in &options.from {
        let (store, id) = catalog::resolve(from, s3).await?;
        if newest.as_ref().is_none_or(|(_, best): &(_, String)| id > *best) {
            newest = Some((store, id));
        }
    }
    let Some((store, id)) = newest else {
        return Err(DrillError::Server("no --from destination given".into()));
    };
    let mut steps = Vec::new();
    let (report, snapshot) = restore::open_verified(&store, &id, &options.identities).await?;
    let manifest = report.manifest.clone();
    steps.push(step("verify", "ok", format!("{} ({} bytes)", report.location, report.size)));
    let (shares, threshold) =
        manifest.as_ref().and_then(|m| m.seal.as_ref()).map_or((1, 1), |s| (s.shares.max(1), s.threshold.max(1)));

    let server = Throwaway::start(&bin).await?;
    steps.push(step("start", "ok", format!("{} on {}", bin.display(), server.address)));
    let vault = |step: &str| {
        let step = step.to_owned();
        move |source| DrillError::Vault { step, source }
    };
    let bare = server.client(AuthConfig::None)?;
    let init = bare.init(shares, threshold, &[]).await.map_err(vault("cannot initialise the throwaway server"))?;
    bare.unseal_with(&init.keys_base64).await.map_err(vault("cannot unseal the throwaway server"))?;
    restore::wait_active(&bare).await?;
    let root = server.client(AuthConfig::Token { token: init.root_token.clone(), source: "drill init".into() })?;
    root.raft_snapshot_restore(snapshot, true).await.map_err(vault("the throwaway server refused the snapshot"))?;
    steps.push(step("restore", "ok", format!("{id} into the throwaway server")));
    if !bare.wait_until_sealed(std::time::Duration::from_secs(60)).await {
        return Err(DrillError::Server("the throwaway server did not seal itself after the restore".into()));
    }
    let keys = restore::read_keys(&options.key_files)?;
    let status = bare
        .unseal_with(&keys)
        .await
        .map_err(vault("unsealing the restored copy failed (are these the live server's shares?)"))?;
    if status.sealed {
        return Err(DrillError::Restore(RestoreError::Keys(format!(
            "the restored copy is still sealed after {} key shares (threshold {})",
            keys.len(),
            status.threshold
        ))));
    }
    restore::wait_active(&bare).await?;
    steps.push(step("unseal", "ok", format!("unsealed with {} of the live server's key shares", keys.len())));

    // The live server's credentials: a token or an AppRole that existed when the backup was taken works on the copy.
    let copy = server.client(live.config().auth.clone())?;
    let since = manifest.as_ref().map(|m| m.started);
    // The live side is read on the active node: a standby of a cluster answers from its own copy, which can lag
    // (and which refuses KV lists for a while after a mount was made) — the same reason save snapshots there.
    let live = &crate::save::active_node(live)
        .await
        .map_err(vault(&format!("cannot find the active node of {}", live.address())))?;
    let paths = if options.check_paths.is_empty() { vec!["secret/".to_owned()] } else { options.check_paths.clone() };
    let (mut compared, mut newer, mut differences) = (0, 0, Vec::new());
    for path in &paths {
        let folder = live
            .kv_path(&format!("{}/", path.trim_end_matches('/')))
            .await
            .map_err(vault(&format!("cannot resolve {path}")))?;
        let secrets =
            live.kv_list_recursive(&folder).await.map_err(vault(&format!("cannot list {path} on the live server")))?;
        let stride = (secrets.len() / options.sample.max(1)).max(1);
        for name in secrets.iter().step_by(stride).take(options.sample.max(1)) {
            let secret = folder.join(name).map_err(vault("bad secret path"))?;
            let live_meta =
                live.kv_metadata(&secret).await.map_err(vault(&format!("cannot read {secret} on the live server")))?;
            let changed_after = chrono::DateTime::parse_from_rfc3339(&live_meta.updated_time)
                .ok()
                .zip(since)
                .is_some_and(|(updated, since)| updated > since);
            if changed_after {
                newer += 1;
                continue;
            }
            compared += 1;
            match copy.kv_metadata(&secret).await {
                Ok(copy_meta)
                    if copy_meta.current_version == live_meta.current_version
                        && copy_meta.updated_time == live_meta.updated_time => {}
                Ok(copy_meta) => differences.push(format!(
                    "{secret}: version {} in the backup, {} live",
                    copy_meta.current_version, live_meta.current_version
                )),
                Err(e) => differences.push(format!("{secret}: {e}")),
            }
        }
    }
    steps.push(step(
        "compare",
        if differences.is_empty() && compared > 0 { "ok" } else { "failed" },
        format!(
            "{compared} secrets' metadata compared, {} differ, {newer} changed since the backup",
            differences.len()
        ),
    ));
    drop(server);
    steps.push(step("teardown", "ok", "the throwaway server is stopped and its folder removed"));
    Ok(DrillOutcome { id, steps, compared, newer_than_backup: newer, differences })
}

/// Folders where packages and installers put `bao` / `vault` when `PATH` (a systemd unit's is short) misses them.
pub const INSTALL_DIRS: &[&str] =
    &["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/opt/openbao/bin", "/opt/vault/bin"];

/// The unit `cargo xtask deploy` installs: its `ExecStart` names the binary the live server runs.
pub const DEPLOYED_UNIT: &str = "/etc/systemd/system/vault.service";

/// The server binary, found the way deploy finds it: `--bin`, else `BAO_BIN`, else `VAULT_BIN`, else `bao` or
/// `vault` on `PATH`, else the binary the deployed `vault.service` runs, else `bao` or `vault` in [`INSTALL_DIRS`].
/// An explicit choice (`--bin`, the variables) that is not an executable file is an error, not skipped. The error
/// when nothing is found lists every place looked at.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let dirs: Vec<PathBuf> = INSTALL_DIRS.iter().map(PathBuf::from).collect();
    search(explicit, &|var| std::env::var_os(var), Path::new(DEPLOYED_UNIT), &dirs)
}

fn search(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    unit: &Path,
    install_dirs: &[PathBuf],
) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(format!("--bin {}: not an executable file", path.display()))
        };
    }
    for var in ["BAO_BIN", "VAULT_BIN"] {
        if let Some(path) = env(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(format!("{var}={}: not an executable file", path.display()))
            };
        }
    }
    let names = ["bao", "vault"];
    let path_var = env("PATH").unwrap_or_default();
    let on_path: Vec<PathBuf> = std::env::split_paths(&path_var).filter(|d| !d.as_os_str().is_empty()).collect();
    let in_dirs = |dirs: &[PathBuf]| {
        names.iter().find_map(|name| dirs.iter().map(|dir| dir.join(name)).find(|p| is_executable(p)))
    };
    if let Some(found) = in_dirs(&on_path) {
        return Ok(found);
    }
    if let Some(found) = unit_binary(unit).filter(|p| is_executable(p)) {
        return Ok(found);
    }
    if let Some(found) = in_dirs(install_dirs) {
        return Ok(found);
    }
    let show = |dirs: &[PathBuf]| dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":");
    Err(format!(
        "no OpenBao or Vault server binary found: no --bin; BAO_BIN and VAULT_BIN unset; no executable bao or vault \
         on PATH ({}), in {}'s ExecStart, or in {}; install OpenBao or Vault there, or pass --bin PATH",
        if on_path.is_empty() { "empty".to_owned() } else { show(&on_path) },
        unit.display(),
        show(install_dirs),
    ))
}

/// The program of the unit's first `ExecStart=` line (systemd's `-@:+!` prefixes removed).
fn unit_binary(unit: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(unit).ok()?;
    let line = text.lines().map(str::trim).find_map(|l| l.strip_prefix("ExecStart="))?;
    let program = line.trim_start_matches(['-', '@', ':', '+', '!']).split_whitespace().next()?;
    program.starts_with('/').then(|| PathBuf::from(program))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A raft server on plain HTTP on loopback, in a temp folder; killed and removed on drop.
struct Throwaway {
    _dir: tempfile::TempDir,
    child: tokio::process::Child,
    address: String,
}

impl Throwaway {
    async fn start(bin: &Path) -> Result<Self, DrillError> {
        let failed = |what: &str, e: std::io::Error| DrillError::Server(format!("{what}: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("vault-backup-drill-")
            .tempdir()
            .map_err(|e| failed("cannot create a temp folder", e))?;
        let free_port = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| failed("no free port", e))
        };
        let (port, cluster_port) = (free_port()?, free_port()?);
        let raft = dir.path().join("raft");
        std::fs::create_dir(&raft).map_err(|e| failed("cannot create the raft folder", e))?;
        let quote = |p: &Path| serde_json::Value::from(p.to_string_lossy()).to_string();
        let config = format!(
            "api_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"https://127.0.0.1:{cluster_port}\"\n\
             storage \"raft\" {{\n  path = {}\n  node_id = \"drill\"\n  performance_multiplier = 1\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster_port}\"\n  tls_disable = true\n}}\n",
            quote(&raft)
        );
        let config_path = dir.path().join("config.hcl");
        std::fs::write(&config_path, config).map_err(|e| failed("cannot write the config", e))?;
        let log =
            std::fs::File::create(dir.path().join("server.log")).map_err(|e| failed("cannot create the log", e))?;
        let log2 = log.try_clone().map_err(|e| failed("cannot create the log", e))?;
        let mut command = tokio::process::Command::new(bin);
        command
            .arg("server")
            .arg(format!("-config={}", config_path.display()))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("VAULT_") || key.starts_with("BAO_") {
                command.env_remove(key);
            }
        }
        let child = command.spawn().map_err(|e| failed(&format!("cannot start {}", bin.display()), e))?;
        let server = Throwaway { _dir: dir, child, address: format!("http://127.0.0.1:{port}") };
        let probe = server.client(AuthConfig::None)?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if probe.health().await.is_ok() {
                return Ok(server);
            }
            if tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(server._dir.path().join("server.log")).unwrap_or_default();
                let tail: String =
                    log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(DrillError::Server(format!("the server did not listen within 30s; its log ends:\n{tail}")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn client(&self, auth: AuthConfig) -> Result<Client, DrillError> {
        let mut config = Config::with_token(&self.address, SecretString::from("unused"))
            .map_err(|source| DrillError::Vault { step: "bad address".into(), source })?;
        config.auth = auth;
        config.max_retries = 0;
        Client::new(config).map_err(|source| DrillError::Vault { step: "cannot build a client".into(), source })
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn exe(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn vars(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.as_os_str().into())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_search_order_is_flag_variables_path_unit_then_install_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let flag = exe(&t.join("flag"), "bao", 0o755);
        let bao_bin = exe(&t.join("env"), "bao", 0o755);
        let vault_bin = exe(&t.join("env"), "vault", 0o755);
        let on_path = exe(&t.join("path"), "vault", 0o755);
        let from_unit = exe(&t.join("unit-bin"), "bao", 0o755);
        let unit = t.join("vault.service");
        std::fs::write(&unit, format!("[Service]\nExecStart=-{} server -config=/x\n", from_unit.display())).unwrap();
        let installed = exe(&t.join("usr-bin"), "bao", 0o755);
        let dirs = vec![t.join("usr-local-bin"), t.join("usr-bin")];
        let path = t.join("path");
        let empty = t.join("empty");

        let all = vars(&[("BAO_BIN", &bao_bin), ("VAULT_BIN", &vault_bin), ("PATH", &path)]);
        assert_eq!(search(Some(&flag), &all, &unit, &dirs).unwrap(), flag);
        assert_eq!(search(None, &all, &unit, &dirs).unwrap(), bao_bin);
        assert_eq!(search(None, &vars(&[("VAULT_BIN", &vault_bin)]), &unit, &dirs).unwrap(), vault_bin);
        assert_eq!(search(None, &vars(&[("PATH", &path)]), &unit, &dirs).unwrap(), on_path);
        assert_eq!(search(None, &vars(&[("PATH", &empty)]), &unit, &dirs).unwrap(), from_unit);
        assert_eq!(search(None, &vars(&[]), &t.join("no-unit"), &dirs).unwrap(), installed);
    }

    #[test]
    fn wrong_explicit_choices_are_errors_and_a_miss_says_where_it_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let not_exec = exe(&t.join("d"), "bao", 0o644);
        let dirs = vec![t.join("d"), t.join("other")];
        let err = search(Some(&t.join("missing")), &vars(&[]), &t.join("u"), &dirs).unwrap_err();
        assert!(err.starts_with("--bin ") && err.contains("not an executable file"), "{err}");
        let err = search(None, &vars(&[("VAULT_BIN", &not_exec)]), &t.join("u"), &dirs).unwrap_err();
        assert!(err.starts_with("VAULT_BIN="), "{err}");
        // A file without the execute bit, on PATH and in an install folder, is not a server.
        let err = search(None, &vars(&[("PATH", &t.join("d"))]), &t.join("u"), &dirs).unwrap_err();
        for place in ["--bin", "BAO_BIN", "VAULT_BIN", "PATH", "ExecStart", &t.join("other").display().to_string()] {
            assert!(err.contains(place), "{place} missing from: {err}");
        }
        assert_eq!(err.lines().count(), 1);
    }
}
