//! Configuring the running server, each step converging (read what is there, change only what differs) so a
//! re-run reports no changes: KV v2 at `secret/`, AppRole, audit devices, the policies (embedded from `policies/`), the
//! pipeline's and the operator's AppRole roles with their credentials delivered to files, and finally the root
//! token revoked.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};
use vault_core::{Client, Error, SecretString};

use super::Step;
use super::files::{User, chown_to, ensure_dir, write_file};

/// KV version 2 at `secret/`.
pub async fn enable_kv(client: &Client) -> anyhow::Result<Step> {
    let mounts = client.request(Method::GET, "sys/mounts", None).await?.unwrap_or_default();
    let secret = mounts.get("secret/").or_else(|| mounts.pointer("/data/secret~1"));
    match secret {
        Some(m) if m["type"] == "kv" && m.pointer("/options/version").and_then(Value::as_str) == Some("2") => {
            Ok(Step::ok("kv", "KV version 2 is mounted at secret/"))
        }
        Some(m) => Ok(Step::warn(
            "kv",
            format!("secret/ is a {} mount, not KV version 2; left alone (the tools need KV v2 there)", m["type"]),
        )),
        None => {
            client
                .request(
                    Method::POST,
                    "sys/mounts/secret",
                    Some(&json!({ "type": "kv", "options": { "version": "2" } })),
                )
                .await?;
            Ok(Step::changed("kv", "mounted KV version 2 at secret/"))
        }
    }
}

/// The AppRole auth method at `approle/`.
pub async fn enable_approle(client: &Client) -> anyhow::Result<Step> {
    let auths = client.request(Method::GET, "sys/auth", None).await?.unwrap_or_default();
    if auths.get("approle/").or_else(|| auths.pointer("/data/approle~1")).is_some() {
        return Ok(Step::ok("approle", "AppRole is enabled at approle/"));
    }
    client.request(Method::POST, "sys/auth/approle", Some(&json!({ "type": "approle" }))).await?;
    Ok(Step::changed("approle", "enabled AppRole at approle/"))
}

/// The two audit devices: enabled through the API on HashiCorp Vault; on OpenBao they come from the config
/// file, so this checks the server has them.
pub async fn audit_devices(
    client: &Client,
    devices: &[(&str, std::path::PathBuf)],
    via_api: bool,
) -> anyhow::Result<Step> {
    let enabled = client.request(Method::GET, "sys/audit", None).await?.unwrap_or_default();
    let has =
        |name: &str| enabled.get(format!("{name}/")).or_else(|| enabled.pointer(&format!("/data/{name}~1"))).is_some();
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
        let body = json!({ "type": "file", "options": { "file_path": file.display().to_string() } });
        client.request(Method::PUT, &format!("sys/audit/{name}"), Some(&body)).await?;
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
        let api = format!("sys/policies/acl/{name}");
        let current = match client.request(Method::GET, &api, None).await {
            Ok(answer) => answer.and_then(|a| a.pointer("/data/policy").and_then(Value::as_str).map(str::to_owned)),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if current.as_deref() == Some(text.as_str()) {
            kept.push(name.as_str());
        } else {
            client
                .request(Method::PUT, &api, Some(&json!({ "policy": text })))
                .await
                .with_context(|| format!("writing policy {name}"))?;
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
    let api = format!("auth/approle/role/{}", spec.name);
    let current = match client.request(Method::GET, &api, None).await {
        Ok(answer) => answer.and_then(|mut a| a.get_mut("data").map(Value::take)),
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let strings = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let wanted_policies: BTreeSet<String> = spec.policies.iter().map(|p| (*p).to_owned()).collect();
    let wanted_cidrs: BTreeSet<String> = spec.bound_cidrs.iter().cloned().collect();
    let matches = current.as_ref().is_some_and(|c| {
        strings(c.get("token_policies")) == wanted_policies
            && c["token_ttl"].as_u64() == Some(spec.token_ttl_secs)
            && c["token_max_ttl"].as_u64() == Some(spec.token_max_ttl_secs)
            && strings(c.get("token_bound_cidrs")) == wanted_cidrs
            && strings(c.get("secret_id_bound_cidrs")) == wanted_cidrs
    });
    if matches {
        return Ok(Step::ok("approle role", format!("role {} is as configured", spec.name)));
    }
    let body = json!({
        "token_policies": spec.policies,
        "token_ttl": spec.token_ttl_secs,
        "token_max_ttl": spec.token_max_ttl_secs,
        "token_bound_cidrs": spec.bound_cidrs,
        "secret_id_bound_cidrs": spec.bound_cidrs,
        "token_type": "service",
    });
    client.request(Method::POST, &api, Some(&body)).await?;
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
    let answer =
        client.request(Method::GET, &format!("auth/approle/role/{role}/role-id"), None).await?.unwrap_or_default();
    let role_id =
        answer.pointer("/data/role_id").and_then(Value::as_str).context("the server returned no role_id")?.to_owned();
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
        Some(secret_id) => {
            let body = json!({ "secret_id": secret_id.expose() });
            client
                .request(Method::POST, &format!("auth/approle/role/{role}/secret-id/lookup"), Some(&body))
                .await
                .ok()
                .flatten()
                .is_some_and(|a| a.get("data").is_some_and(|d| !d.is_null()))
        }
        None => false,
    };
    if !still_valid {
        let answer = client
            .request(Method::POST, &format!("auth/approle/role/{role}/secret-id"), None)
            .await?
            .unwrap_or_default();
        let secret_id = SecretString::from(
            answer.pointer("/data/secret_id").and_then(Value::as_str).context("the server returned no secret_id")?,
        );
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
