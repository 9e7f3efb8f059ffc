//! Reading the declared secrets and turning them into environment variables.
//!
//! Every declared secret is read before anything else happens, concurrently, and every problem is collected, so a
//! pipeline that is missing three secrets learns about all three at once — and `run` fails before starting its
//! command. An unavailable server (unreachable, sealed, authentication failed) is reported as that, not as a list
//! of "missing" secrets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use vault_core::database::{CredsKind, DatabaseCreds, creds_path};
use vault_core::{Client, Exit, SecretString};

use crate::db::db_creds;
use crate::error::{Error, Result};
use crate::guard::AllowedNames;
use crate::manifest::{DatabaseSpec, SecretSpec};

/// Environment variables built from secrets: name → value, with where each came from (path and key, never the
/// value) for messages. Values are zeroed when the set is dropped.
#[derive(Debug, Default)]
pub struct EnvSet {
    vars: BTreeMap<String, (SecretString, String)>,
    /// Database leases created while resolving, for messages.
    pub leases: Vec<String>,
}

impl EnvSet {
    /// Adds a variable, refusing a name two sources want.
    pub fn insert(&mut self, name: String, value: SecretString, source: String) -> Result<()> {
        if let Some((_, other)) = self.vars.get(&name) {
            return Err(Error::Spec(format!(
                "{name} would be set twice: by {other} and by {source} (use a prefix or an explicit env name)"
            )));
        }
        self.vars.insert(name, (value, source));
        Ok(())
    }

    /// Names and values, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.vars.iter().map(|(k, (v, _))| (k.as_str(), v))
    }

    /// Names and where each came from (`secret/app/db#password`), sorted by name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, (_, s))| (k.as_str(), s.as_str()))
    }

    /// How many variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// Whether `name` is a portable environment variable name: ASCII letters, digits and `_`, not starting with a
/// digit.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Refuses a name on the guarded list (`data/guarded-env.toml`) that the user did not allow by name: such a
/// variable makes the command run or load other code. `source` says which secret and key would set it.
fn check_guarded(name: &str, source: &str, allowed: &AllowedNames) -> Result<()> {
    match allowed.refusal(name) {
        None => Ok(()),
        Some(guard) => Err(Error::Spec(format!(
            "{source} would set {name}, which {}: refused; give the secret a prefix (PATH=PREFIX), map the key to another name, or allow it with --allow-env {name}",
            guard.why
        ))),
    }
}

/// The environment name for `key` under `prefix`: upper case, anything but letters and digits as `_`, and a
/// leading `_` when it would start with a digit.
pub fn env_name(prefix: &str, key: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + key.len());
    name.push_str(prefix);
    for c in key.chars() {
        name.push(if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' });
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// Reads every secret and database credential, or fails listing every one that is missing or unreadable.
/// Refuses every guarded name (see [`crate::guard`]).
pub async fn resolve(client: &Client, secrets: &[SecretSpec], databases: &[DatabaseSpec]) -> Result<EnvSet> {
    resolve_allowing(client, secrets, databases, &AllowedNames::default()).await
}

/// [`resolve`], with guarded names the user allowed.
pub async fn resolve_allowing(
    client: &Client,
    secrets: &[SecretSpec],
    databases: &[DatabaseSpec],
    allowed: &AllowedNames,
) -> Result<EnvSet> {
    // Database credentials' names are known before anything is read: refuse a guarded one before a database
    // user is created for nothing.
    for spec in databases {
        for key in ["username", "password"] {
            let name = spec.env.get(key).cloned().unwrap_or_else(|| env_name(&spec.prefix, key));
            check_guarded(&name, &format!("{key} of database role {}", spec.role), allowed)?;
        }
    }
    let reads = futures_util::future::join_all(secrets.iter().map(|spec| read_spec(client, spec))).await;
    let mut env = EnvSet::default();
    let mut missing = Vec::new();
    for (spec, read) in secrets.iter().zip(reads) {
        match read {
            Ok(pairs) => {
                for (key, value) in pairs {
                    let name = spec.env.get(&key).cloned().unwrap_or_else(|| env_name(&spec.prefix, &key));
                    check_guarded(&name, &format!("key {key:?} of {}", spec.path), allowed)?;
                    if !is_env_name(&name) {
                        return Err(Error::Spec(format!(
                            "key {key:?} of {} gives {name:?}, which is not a usable environment variable name: map it with env = {{ {key:?} = \"NAME\" }} in a manifest",
                            spec.path
                        )));
                    }
                    env.insert(name, value, format!("{}#{key}", spec.path))?;
                }
            }
            Err(error) => {
                // An unavailable server, failed authentication or input no server could take is the run's
                // problem, not this secret's: report it as that, with its own exit code.
                if let Error::Vault(e) = &error
                    && matches!(e.exit(), Exit::Unavailable | Exit::Usage)
                {
                    return Err(error);
                }
                missing.push(describe(&spec.path, &error));
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::Missing(missing));
    }
    // Database users are created only once every KV secret is known to be there: a run that is going to fail
    // must not leave new database users behind.
    for spec in databases {
        let creds = match db_creds(client, &spec.role, &spec.mount, spec.kind).await {
            Ok(creds) => creds,
            Err(Error::Vault(e)) if !matches!(e.exit(), Exit::Unavailable | Exit::Usage) => {
                missing.push(describe(&spec.role, &Error::Vault(e)));
                continue;
            }
            Err(error @ Error::NoRole { .. }) => {
                missing.push(error.to_string());
                continue;
            }
            Err(error) => return Err(error),
        };
        add_db(&mut env, spec, creds)?;
    }
    if !missing.is_empty() {
        return Err(Error::Missing(missing));
    }
    Ok(env)
}

fn add_db(env: &mut EnvSet, spec: &DatabaseSpec, creds: DatabaseCreds) -> Result<()> {
    if !creds.lease_id.is_empty() {
        env.leases.push(creds.lease_id.clone());
    }
    for (key, value) in [("username", creds.username), ("password", creds.password)] {
        let name = spec.env.get(key).cloned().unwrap_or_else(|| env_name(&spec.prefix, key));
        env.insert(name, value, format!("{}#{key}", creds.path))?;
    }
    Ok(())
}

/// One line of a "missing" list: the path and why, in a few words.
fn describe(path: &str, error: &Error) -> String {
    match error {
        Error::Vault(vault_core::Error::NotFound { deleted: true, .. }) => {
            format!("{path}: its latest version is deleted")
        }
        Error::Vault(vault_core::Error::NotFound { .. }) => format!("{path}: no such secret"),
        Error::Vault(vault_core::Error::PermissionDenied { .. }) => {
            format!("{path}: permission denied by the token's policies")
        }
        Error::NoKey { key, .. } => format!("{path}: no key {key:?}"),
        Error::MissingKeys { missing, .. } => format!("{path}: no key {}", missing.join(", ")),
        other => format!("{path}: {other}"),
    }
}

/// Reads one secret and returns the key/value pairs to export, after checking the required keys.
async fn read_spec(client: &Client, spec: &SecretSpec) -> Result<Vec<(String, SecretString)>> {
    let path = client.kv_path(&spec.path).await?;
    let secret = client.kv_read(&path, None).await?;
    let mut required: BTreeSet<&str> = spec.env.keys().map(String::as_str).collect();
    if let Some(keys) = &spec.keys {
        required.extend(keys.iter().map(String::as_str));
    }
    let absent: Vec<String> =
        required.iter().filter(|k| !secret.data.contains_key(**k)).map(|k| (*k).to_owned()).collect();
    if !absent.is_empty() {
        return Err(Error::MissingKeys { path: spec.path.clone(), missing: absent });
    }
    let exported = secret
        .data
        .iter()
        .filter(|(k, _)| spec.keys.is_none() || required.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(exported)
}

/// What `check` found for one declared secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// It exists and is readable, with every required key.
    Ok,
    /// There is no secret there (or its latest version is deleted).
    Missing,
    /// The token may not read it.
    Denied,
    /// It exists but lacks required keys.
    #[serde(rename = "missing_keys")]
    MissingKeys,
    /// Something else went wrong.
    Error,
}

/// One `check` result: never a value, only names.
#[derive(Clone, Debug, Serialize)]
pub struct CheckItem {
    /// `secret` or `database`.
    pub kind: &'static str,
    /// The secret's path or the database role.
    pub path: String,
    /// What was found.
    pub status: CheckStatus,
    /// Required keys that are absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_keys: Vec<String>,
    /// Why, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Checks that every declared secret exists and is readable with its required keys, and that the token may read
/// each declared database role's credentials (without creating any: that would make a database user). An
/// unavailable server is an error, not a list of failures.
pub async fn check(client: &Client, secrets: &[SecretSpec], databases: &[DatabaseSpec]) -> Result<Vec<CheckItem>> {
    let reads = futures_util::future::join_all(secrets.iter().map(|spec| read_spec(client, spec))).await;
    let mut items = Vec::new();
    for (spec, read) in secrets.iter().zip(reads) {
        let (status, missing_keys, message) = match read {
            Ok(_) => (CheckStatus::Ok, Vec::new(), None),
            Err(Error::Vault(e)) if matches!(e.exit(), Exit::Unavailable | Exit::Usage) => return Err(Error::Vault(e)),
            Err(Error::MissingKeys { path, missing }) => {
                let message = format!("{path}: no key {}", missing.join(", "));
                (CheckStatus::MissingKeys, missing, Some(message))
            }
            Err(error @ Error::Vault(vault_core::Error::NotFound { .. })) => {
                (CheckStatus::Missing, Vec::new(), Some(describe(&spec.path, &error)))
            }
            Err(error @ Error::Vault(vault_core::Error::PermissionDenied { .. })) => {
                (CheckStatus::Denied, Vec::new(), Some(describe(&spec.path, &error)))
            }
            Err(error) => (CheckStatus::Error, Vec::new(), Some(describe(&spec.path, &error))),
        };
        items.push(CheckItem { kind: "secret", path: spec.path.clone(), status, missing_keys, message });
    }
    for spec in databases {
        let role = spec.role.trim_matches('/');
        let mount = spec.mount.trim_matches('/');
        let candidates: Vec<String> = if role.contains('/') {
            vec![role.to_owned()]
        } else {
            match spec.kind {
                Some(kind) => vec![creds_path(mount, role, kind.into())],
                None => vec![creds_path(mount, role, CredsKind::Dynamic), creds_path(mount, role, CredsKind::Static)],
            }
        };
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let caps = client.capabilities_self(&refs).await?;
        let readable = caps.values().any(|c| c.iter().any(|c| c == "read" || c == "root"));
        let (status, message) = if readable {
            (CheckStatus::Ok, None)
        } else {
            (CheckStatus::Denied, Some(format!("{role}: the token may not read {}", candidates.join(" or "))))
        };
        items.push(CheckItem { kind: "database", path: role.to_owned(), status, missing_keys: Vec::new(), message });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_keys() {
        assert_eq!(env_name("", "password"), "PASSWORD");
        assert_eq!(env_name("DB_", "api-key.v2"), "DB_API_KEY_V2");
        assert_eq!(env_name("", "2fa"), "_2FA");
        assert!(is_env_name("A_1") && is_env_name("_x"));
        assert!(!is_env_name("1A") && !is_env_name("") && !is_env_name("A-B"));
        let none = AllowedNames::default();
        assert!(check_guarded("PATH", "k", &none).is_err() && check_guarded("LD_PRELOAD", "k", &none).is_err());
        assert!(check_guarded("DB_PATH", "k", &none).is_ok());
        let e = check_guarded("BASH_ENV", "key \"bash_env\" of secret/x", &none).unwrap_err().to_string();
        assert!(e.contains("--allow-env BASH_ENV") && e.contains("secret/x"), "{e}");
        assert!(check_guarded("BASH_ENV", "k", &AllowedNames::new(["BASH_ENV".to_owned()])).is_ok());
    }

    #[test]
    fn a_name_is_set_once() {
        let mut env = EnvSet::default();
        env.insert("A".into(), "1".into(), "secret/x#a".into()).unwrap();
        let e = env.insert("A".into(), "2".into(), "secret/y#a".into()).unwrap_err();
        assert!(e.to_string().contains("secret/x#a") && e.to_string().contains("secret/y#a"));
        assert!(!e.to_string().contains('2'));
    }
}
