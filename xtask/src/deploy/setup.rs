//! Configuring the running server, each step converging (read what is there, change only what differs) so a
//! re-run reports no changes: KV v2 at `secret/`, AppRole, audit devices, the policies (embedded from `policies/`), the
//! pipeline's and the operator's AppRole roles with their credentials delivered to files, and finally the root
//! token revoked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use vault_core::approle::RoleSettings;
use vault_core::{Client, Error, SecretString};

use super::Step;
use super::files::{User, chown_to, ensure_dir, write_file};

/// Where deploy enables AppRole.
const APPROLE_MOUNT: &str = "approle";

/// KV version 2 at `secret/`.
pub async fn enable_kv(client: &Client) -> anyhow::Result<Step> {
    let mounts = client.mounts().await?;
    match mounts.get("secret/") {
        Some(m) if m.mount_type == "kv" && m.options.get("version").map(String::as_str) == Some("2") => {
            Ok(Step::ok("kv", "KV version 2 is mounted at secret/"))
        }
        Some(m) => Ok(Step::warn(
            "kv",
            format!("secret/ is a {:?} mount, not KV version 2; left alone (the tools need KV v2 there)", m.mount_type),
        )),
        None => {
            let options = BTreeMap::from([("version".to_owned(), "2".to_owned())]);
            client.enable_mount("secret", "kv", &options).await?;
            Ok(Step::changed("kv", "mounted KV version 2 at secret/"))
        }
    }
}

/// The AppRole auth method at `approle/`.
pub async fn enable_approle(client: &Client) -> anyhow::Result<Step> {
    if client.auth_methods().await?.contains_key("approle/") {
        return Ok(Step::ok("approle", "AppRole is enabled at approle/"));
    }
    client.enable_auth("approle", "approle").await?;
    Ok(Step::changed("approle", "enabled AppRole at approle/"))
}

/// The two audit devices: enabled through the API on HashiCorp Vault; on OpenBao they come from the config
/// file, so this checks the server has them.
pub async fn audit_devices(
    client: &Client,
    devices: &[(&str, std::path::PathBuf)],
    via_api: bool,
) -> anyhow::Result<Step> {
    let enabled = client.audit_devices().await?;
    let has = |name: &str| enabled.iter().any(|d| d.path == format!("{name}/"));
    let missing: Vec<&(&str, std::path::PathBuf)> = devices.iter().filter(|(name, _)| !has(name)).collect();
    if missing.is_empty() {
        let names: Vec<&str> = devices.iter().map(|(n, _)| *n).collect();
        return Ok(Step::ok("audit", format!("audit devices {} are enabled", names.join(" and "))));
    }
    if !via_api {
        let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("the server does not report the audit devices {} from its config; see its log", names.join(", "));
    }
    for (name, file) in &missing {
        client.enable_file_audit(name, &file.display().to_string()).await?;
    }
    let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
    Ok(Step::changed("audit", format!("enabled the file audit devices {}", names.join(" and "))))
}

/// The workspace's policies, embedded at build time by `build.rs`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/policies.rs"));
}

/// An ACL policy to write: its name (the file name without `.hcl`) and its HCL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub text: String,
}

/// The policies deploy writes: each `*.hcl` in `dir` when given (`--policies DIR`), else the workspace's
/// `policies/*.hcl` as they were when this binary was built, so deploy never reads the build machine's checkout.
pub fn policies(dir: Option<&Path>) -> anyhow::Result<Vec<Policy>> {
    let Some(dir) = dir else {
        return Ok(embedded::EMBEDDED
            .iter()
            .map(|(name, text)| Policy { name: (*name).to_owned(), text: (*text).to_owned() })
            .collect());
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the policies folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hcl"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no *.hcl policies in {}", dir.display());
    }
    files
        .into_iter()
        .map(|file| {
            let name = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            Ok(Policy { name, text })
        })
        .collect()
}

/// Writes each policy when the server's text differs.
pub async fn write_policies(client: &Client, policies: &[Policy]) -> anyhow::Result<Step> {
    let mut written = Vec::new();
    let mut kept = Vec::new();
    for Policy { name, text } in policies {
        let current = client.policy_read(name).await?;
        if current.as_deref() == Some(text.as_str()) {
            kept.push(name.as_str());
        } else {
            client.policy_write(name, text).await.with_context(|| format!("writing policy {name}"))?;
            written.push(name.as_str());
        }
    }
    Ok(if written.is_empty() {
        Step::ok("policies", format!("policies {} match the files", kept.join(", ")))
    } else {
        Step::changed("policies", format!("wrote policies {}", written.join(", ")))
    })
}

/// An AppRole role as the deployment wants it.
pub struct RoleSpec<'a> {
    pub name: &'a str,
    pub policies: &'a [&'a str],
    pub token_ttl_secs: u64,
    pub token_max_ttl_secs: u64,
    pub bound_cidrs: &'a [String],
}

/// Creates or corrects an AppRole role.
pub async fn approle_role(client: &Client, spec: &RoleSpec<'_>) -> anyhow::Result<Step> {
    let current = client.approle_role(APPROLE_MOUNT, spec.name).await?;
    let set = |v: &[String]| -> BTreeSet<String> { v.iter().cloned().collect() };
    let wanted_policies: BTreeSet<String> = spec.policies.iter().map(|p| (*p).to_owned()).collect();
    let wanted_cidrs: BTreeSet<String> = spec.bound_cidrs.iter().cloned().collect();
    let matches = current.as_ref().is_some_and(|c| {
        set(&c.token_policies) == wanted_policies
            && c.token_ttl == spec.token_ttl_secs
            && c.token_max_ttl == spec.token_max_ttl_secs
            && set(&c.token_bound_cidrs) == wanted_cidrs
            && set(&c.secret_id_bound_cidrs) == wanted_cidrs
            && c.token_no_default_policy
    });
    if matches {
        return Ok(Step::ok("approle role", format!("role {} is as configured", spec.name)));
    }
    let settings = RoleSettings {
        token_policies: spec.policies.iter().map(|p| (*p).to_owned()).collect(),
        token_ttl: spec.token_ttl_secs,
        token_max_ttl: spec.token_max_ttl_secs,
        token_bound_cidrs: spec.bound_cidrs.to_vec(),
        secret_id_bound_cidrs: spec.bound_cidrs.to_vec(),
        token_type: "service".into(),
        // Each policy in policies/ grants the token's self-service paths itself (spec `[token]`).
        token_no_default_policy: true,
    };
    client.approle_write_role(APPROLE_MOUNT, spec.name, &settings).await?;
    let verb = if current.is_some() { "corrected" } else { "created" };
    Ok(Step::changed(
        "approle role",
        format!(
            "{verb} role {} (policies {}, token TTL {}s, max {}s)",
            spec.name,
            spec.policies.join(", "),
            spec.token_ttl_secs,
            spec.token_max_ttl_secs
        ),
    ))
}

/// Writes the role's role_id and a working secret_id into `dir` (`role-id`, `secret-id`), readable only by
/// `owner`. A secret_id already there that still works is kept, so a re-run does not hand out new credentials.
pub async fn deliver_credentials(client: &Client, role: &str, dir: &Path, owner: &User) -> anyhow::Result<Step> {
    ensure_dir(dir, 0o700)?;
    chown_to(dir, owner)?;
    let role_id = client.approle_role_id(APPROLE_MOUNT, role).await?;
    let role_id_file = dir.join("role-id");
    let mut changes = Vec::new();
    if std::fs::read_to_string(&role_id_file).ok().as_deref() != Some(role_id.as_str()) {
        write_file(&role_id_file, role_id.as_bytes(), 0o400)?;
        chown_to(&role_id_file, owner)?;
        changes.push("role-id");
    }
    let secret_id_file = dir.join("secret-id");
    let current = vault_core::config::read_secret_file(&secret_id_file, "secret_id").ok();
    let still_valid = match &current {
        Some(secret_id) => client.approle_secret_id_valid(APPROLE_MOUNT, role, secret_id).await,
        None => false,
    };
    if !still_valid {
        let secret_id = client.approle_new_secret_id(APPROLE_MOUNT, role).await?;
        write_file(&secret_id_file, secret_id.expose().as_bytes(), 0o400)?;
        chown_to(&secret_id_file, owner)?;
        changes.push("secret-id");
    }
    Ok(if changes.is_empty() {
        Step::ok(
            "credentials",
            format!(
                "{role}: role-id and a working secret-id are in {} (owner {}, mode 0400)",
                dir.display(),
                owner.name
            ),
        )
    } else {
        Step::changed(
            "credentials",
            format!("{role}: wrote {} to {} (owner {}, mode 0400)", changes.join(" and "), dir.display(), owner.name),
        )
    })
}

/// Revokes the root token, proves it no longer works, and deletes its file.
pub async fn revoke_root(root: &Client, token_file: &Path) -> anyhow::Result<Step> {
    root.revoke_self().await.context("revoking the root token")?;
    let config = vault_core::config::read_secret_file(token_file, "root token").map(|token| vault_core::Config {
        auth: vault_core::config::AuthConfig::Token { token, source: "the revoked root token".into() },
        ..root.config().clone()
    })?;
    match Client::new(config)?.token_lookup_self().await {
        Err(Error::Auth { .. } | Error::PermissionDenied { .. }) => {}
        Ok(_) => anyhow::bail!("the root token still works after revocation"),
        Err(other) => return Err(other).context("checking that the root token is revoked"),
    }
    std::fs::remove_file(token_file).with_context(|| format!("deleting {}", token_file.display()))?;
    Ok(Step::changed(
        "root token",
        "revoked the root token and checked it no longer works; for emergencies see docs/vault-unseal-management.md (`operator generate-root`)",
    ))
}

/// The KV path vault-health's canary check reads (the `health` policy grants exactly this one).
pub const CANARY_PATH: &str = "secret/health/canary";

/// Writes the canary secret vault-health times reads of, once: it holds no secret, only `ok=1`, and an existing
/// one is left as it is so re-runs make no new versions.
pub async fn ensure_canary(client: &Client) -> anyhow::Result<Step> {
    let path = vault_core::KvPath::parse(CANARY_PATH)?;
    match client.kv_read(&path, None).await {
        Ok(_) => return Ok(Step::ok("canary", format!("{CANARY_PATH} exists"))),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e).context(format!("reading {CANARY_PATH}")),
    }
    let mut data = vault_core::SecretMap::new();
    data.insert("ok".into(), SecretString::from("1"));
    client.kv_write(&path, &data, Some(0)).await.with_context(|| format!("writing {CANARY_PATH}"))?;
    Ok(Step::changed("canary", format!("wrote {CANARY_PATH} (ok=1) for vault-health --canary")))
}
