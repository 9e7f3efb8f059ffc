//! The identities deploy provisions: one AppRole role per job (`policies/roles.toml`, embedded at build time so a
//! deploy never reads the build machine's checkout), each with its policy, token TTLs and credentials delivered to
//! `APPROLE_DIR/ROLE/{role-id,secret-id}` for the user that runs the job.
//!
//! The table is data, not code, because three readers need it: this module, the docs tests (the identity table in
//! docs/deployment.md and the README must agree with it) and the day-two test.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;
use vault_core::Client;

use super::files::{User, ensure_dir, write_file};
use super::{Args, Layout, Step, setup};

/// The role table as shipped.
pub const ROLES_TOML: &str = include_str!("../../../policies/roles.toml");

/// Who owns a role's credentials (and runs its job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceUser {
    /// The operator: root on a host.
    Root,
    /// deploy's `--pipeline-user` (default: whoever runs deploy).
    Pipeline,
    /// A system account deploy creates when missing.
    Named(String),
}

/// One identity.
#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub policy: String,
    #[cfg_attr(not(test), expect(dead_code, reason = "for the docs: read by the tests that check the tables in docs"))]
    pub runs: String,
    pub service_user: ServiceUser,
    pub token_ttl_secs: u64,
    pub token_max_ttl_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    role: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    name: String,
    policy: String,
    runs: String,
    service_user: String,
    token_ttl: String,
    token_max_ttl: String,
}

/// Parses and checks a role table.
pub fn parse(text: &str) -> anyhow::Result<Vec<Role>> {
    let table: Table = toml::from_str(text).context("policies/roles.toml")?;
    let secs = |role: &str, field: &str, text: &str| {
        vault_core::config::parse_duration(text)
            .map(|d| d.as_secs())
            .filter(|s| *s > 0)
            .with_context(|| format!("policies/roles.toml: role {role}: {field} {text:?} is not a duration like 1h"))
    };
    let mut roles = Vec::new();
    for row in table.role {
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid(&row.name) || !valid(&row.policy) {
            bail!("policies/roles.toml: {:?} / {:?} is not a valid role / policy name", row.name, row.policy);
        }
        if roles.iter().any(|r: &Role| r.name == row.name) {
            bail!("policies/roles.toml: role {} is listed twice", row.name);
        }
        let service_user = match row.service_user.as_str() {
            "root" => ServiceUser::Root,
            "@pipeline" => ServiceUser::Pipeline,
            name if valid(name) => ServiceUser::Named(name.to_owned()),
            other => bail!("policies/roles.toml: role {}: service_user {other:?} is not a user name", row.name),
        };
        let token_ttl_secs = secs(&row.name, "token_ttl", &row.token_ttl)?;
        let token_max_ttl_secs = secs(&row.name, "token_max_ttl", &row.token_max_ttl)?;
        if token_max_ttl_secs < token_ttl_secs {
            bail!("policies/roles.toml: role {}: token_max_ttl is shorter than token_ttl", row.name);
        }
        roles.push(Role {
            name: row.name,
            policy: row.policy,
            runs: row.runs,
            service_user,
            token_ttl_secs,
            token_max_ttl_secs,
        });
    }
    if !roles.iter().any(|r| r.name == "operator") {
        bail!("policies/roles.toml: the operator role is missing (later deploy runs log in with it)");
    }
    Ok(roles)
}

/// The shipped table.
pub fn table() -> anyhow::Result<Vec<Role>> {
    parse(ROLES_TOML)
}

/// The system accounts the jobs run as, created when missing (`useradd --system`, no home, no login shell), in
/// the order given. Units and deploy both call this, so a job's user exists before its credentials are handed
/// to it.
pub fn ensure_service_users(names: &[&str]) -> anyhow::Result<Vec<User>> {
    names
        .iter()
        .map(|name| {
            if let Ok(user) = User::lookup(name) {
                return Ok(user);
            }
            let status = Command::new("useradd")
                .args(["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"])
                .args(["--shell", "/usr/sbin/nologin", name])
                .status()
                .context("running useradd")?;
            if !status.success() {
                bail!("useradd {name} failed ({status})");
            }
            User::lookup(name)
        })
        .collect()
}

/// Every named service user of the shipped table (for units that need them to exist).
pub fn service_user_names() -> anyhow::Result<Vec<String>> {
    Ok(table()?
        .into_iter()
        .filter_map(|r| match r.service_user {
            ServiceUser::Named(name) => Some(name),
            _ => None,
        })
        .collect())
}

/// Earlier deployments kept the operator's credentials in `KEYS_DIR/operator`. Moves them to
/// `APPROLE_DIR/operator` (copied with their modes, then the old folder removed), so that folder is the only
/// place later runs and users look. Nothing to do when they are already there.
pub fn migrate_legacy_operator(layout: &Layout) -> anyhow::Result<Option<Step>> {
    let legacy = layout.legacy_operator_dir();
    let current = layout.operator_dir();
    if !legacy.join("secret-id").exists() {
        return Ok(None);
    }
    if !current.join("secret-id").exists() {
        ensure_dir(&current, 0o700)?;
        for file in ["role-id", "secret-id"] {
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(legacy.join(file)).with_context(|| format!("reading {}", legacy.join(file).display()))?,
            );
            write_file(&current.join(file), &bytes, 0o400)?;
        }
    }
    std::fs::remove_dir_all(&legacy).with_context(|| format!("removing {}", legacy.display()))?;
    Ok(Some(Step::changed(
        "credentials",
        format!("operator: moved the credentials from {} to {}", legacy.display(), current.display()),
    )))
}

/// Creates or corrects every role of the table and delivers its credentials.
pub async fn provision(admin: &Client, layout: &Layout, args: &Args) -> anyhow::Result<Vec<Step>> {
    let roles = table()?;
    let pipeline_user = match &args.pipeline_user {
        Some(name) => User::lookup(name)?,
        None => User::current(),
    };
    let no_cidrs: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for role in &roles {
        let pipeline = role.service_user == ServiceUser::Pipeline;
        // The pipeline's role keeps deploy's flags: its name, TTLs and CIDR bounds.
        let (name, ttl, max_ttl, cidrs) = if pipeline {
            (args.pipeline_role.as_str(), args.pipeline_token_ttl, args.pipeline_token_max_ttl, &args.pipeline_cidrs)
        } else {
            (role.name.as_str(), role.token_ttl_secs, role.token_max_ttl_secs, &no_cidrs)
        };
        let spec = setup::RoleSpec {
            name,
            policies: &[role.policy.as_str()],
            token_ttl_secs: ttl,
            token_max_ttl_secs: max_ttl,
            bound_cidrs: cidrs,
        };
        steps.push(setup::approle_role(admin, &spec).await?);
        let owner = match (&role.service_user, layout.local) {
            (ServiceUser::Pipeline, _) => pipeline_user.clone(),
            (_, true) => User::current(),
            (ServiceUser::Root, false) => User { name: "root".into(), uid: 0, gid: 0 },
            (ServiceUser::Named(user), false) => {
                ensure_service_users(&[user.as_str()])?.pop().context("useradd made no user")?
            }
        };
        let dir = layout.approle_dir.join(name);
        steps.push(setup::deliver_credentials(admin, name, &dir, &owner).await?);
    }
    Ok(steps)
}

/// Whether `dir` holds a role's credentials.
pub fn has_credentials(dir: &Path) -> bool {
    dir.join("role-id").exists() && dir.join("secret-id").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_names_every_job() {
        let roles = table().unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["dagster", "operator", "backup", "drill", "health", "rotate"]);
        for role in &roles {
            let policy = crate::workspace_root().join("policies").join(format!("{}.hcl", role.policy));
            assert!(policy.exists(), "role {}: {} is shipped", role.name, policy.display());
        }
        assert_eq!(roles[1].service_user, ServiceUser::Root);
        assert_eq!(service_user_names().unwrap(), ["vault-backup", "vault-drill", "vault-health", "secret-rotate"]);
    }

    /// The identity tables in docs/deployment.md and the README say what the table says: each role's row names
    /// it, its policy, what it runs and its credentials folder, and no other role has a row.
    #[test]
    fn the_docs_tables_agree_with_the_role_table() {
        let roles = table().unwrap();
        for doc in ["docs/deployment.md", "README.md"] {
            let text = std::fs::read_to_string(crate::workspace_root().join(doc)).unwrap();
            let rows: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("| `") && (l.contains("approle/") || l.contains("APPROLE_DIR/")))
                .collect();
            assert_eq!(rows.len(), roles.len(), "{doc}: one row per role: {rows:#?}");
            for role in &roles {
                let row = rows
                    .iter()
                    .find(|r| r.starts_with(&format!("| `{}` |", role.name)))
                    .unwrap_or_else(|| panic!("{doc} has no row for {}", role.name));
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                assert_eq!(cells[2], format!("`{}`", role.policy), "{doc}: {row}");
                assert_eq!(cells[3], role.runs, "{doc}: {row}");
                assert!(cells[4].contains(&format!("/{}/`", role.name)), "{doc}: {row}");
                let owner = match &role.service_user {
                    ServiceUser::Root => "root".to_owned(),
                    ServiceUser::Pipeline => "`--pipeline-user`".to_owned(),
                    ServiceUser::Named(name) => format!("`{name}`"),
                };
                assert_eq!(cells[5], owner, "{doc}: {row}");
            }
        }
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        let row = |name: &str, user: &str, ttl: &str, max: &str| {
            format!(
                "[[role]]\nname = \"{name}\"\npolicy = \"p\"\nruns = \"x\"\nservice_user = \"{user}\"\ntoken_ttl = \"{ttl}\"\ntoken_max_ttl = \"{max}\"\n"
            )
        };
        let op = row("operator", "root", "1h", "2h");
        for (text, needle) in [
            (row("a", "root", "1h", "2h"), "operator role is missing"),
            (format!("{op}{op}"), "listed twice"),
            (format!("{op}{}", row("b", "x y", "1h", "2h")), "not a user name"),
            (format!("{op}{}", row("b", "u", "soon", "2h")), "token_ttl \"soon\""),
            (format!("{op}{}", row("b", "u", "2h", "1h")), "shorter than token_ttl"),
            (format!("{op}{}", row("b/c", "u", "1h", "2h")), "not a valid role"),
            (format!("{op}extra = 1\n"), "unknown field"),
        ] {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }
}
