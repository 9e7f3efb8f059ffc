//! The database secrets engine: static roles (read, write, rotate now) and credentials, dynamic (`creds`, a
//! new user with a lease) or static (`static-creds`, the rotated password of a fixed user). One reader of
//! credentials for vault-env and secret-rotate.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, Op};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// A static role as the server reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRole {
    /// The connection it uses.
    #[serde(default)]
    pub db_name: String,
    /// The database user.
    #[serde(default)]
    pub username: String,
    /// The server's rotation period, in seconds.
    #[serde(default)]
    pub rotation_period: u64,
    /// When the server last rotated the password.
    #[serde(default)]
    pub last_vault_rotation: Option<DateTime<Utc>>,
}

/// Which kind of credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredsKind {
    /// `MOUNT/creds/ROLE`: a user made for this lease.
    Dynamic,
    /// `MOUNT/static-creds/ROLE`: a fixed user's current password.
    Static,
}

/// Database credentials. The password never prints.
#[derive(Debug)]
pub struct DatabaseCreds {
    /// The API path they were read from (`MOUNT/creds/ROLE` or `MOUNT/static-creds/ROLE`).
    pub path: String,
    /// Dynamic or static.
    pub kind: CredsKind,
    /// The database user.
    pub username: SecretString,
    /// Its password.
    pub password: SecretString,
    /// The lease (dynamic credentials).
    pub lease_id: String,
    /// The lease's duration in seconds (dynamic credentials).
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// Seconds until the password changes (static) or the lease ends (dynamic).
    pub ttl: u64,
    /// When the server last rotated the password (static credentials).
    pub last_vault_rotation: Option<DateTime<Utc>>,
}

/// The API path of `role`'s credentials of `kind` at `mount`.
pub fn creds_path(mount: &str, role: &str, kind: CredsKind) -> String {
    let what = match kind {
        CredsKind::Dynamic => "creds",
        CredsKind::Static => "static-creds",
    };
    format!("{}/{what}/{}", mount.trim_matches('/'), role.trim_matches('/'))
}

/// Splits an API path of credentials (`MOUNT/creds/ROLE`, `MOUNT/static-creds/ROLE`) into mount, role and kind.
pub fn parse_creds_path(path: &str) -> Option<(&str, &str, CredsKind)> {
    if let Some((mount, role)) = path.rsplit_once("/static-creds/") {
        return Some((mount, role, CredsKind::Static));
    }
    path.rsplit_once("/creds/").map(|(mount, role)| (mount, role, CredsKind::Dynamic))
}

/// The API path of the static role `role` at `mount` (also how a rotation policy names it).
pub fn static_role_path(mount: &str, role: &str) -> String {
    format!("{}/static-roles/{}", mount.trim_matches('/'), role.trim_matches('/'))
}

impl Client {
    /// Reads a static role; `None` when it does not exist.
    pub async fn database_static_role(&self, mount: &str, role: &str) -> Result<Option<StaticRole>> {
        match self.read_data::<StaticRole>(Method::GET, &static_role_path(mount, role), None).await {
            Ok(role) => Ok(Some(role)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or updates a static role: its connection, user and rotation period (`last_vault_rotation` is
    /// the server's and not sent).
    pub async fn database_write_static_role(&self, mount: &str, role: &str, settings: &StaticRole) -> Result<()> {
        let body = serde_json::json!({
            "db_name": settings.db_name,
            "username": settings.username,
            "rotation_period": settings.rotation_period,
        });
        self.request(Method::POST, &static_role_path(mount, role), Some(&body)).await.map(drop)
    }

    /// Asks the server to rotate a static role's password now.
    pub async fn database_rotate_role(&self, mount: &str, role: &str) -> Result<()> {
        let path = format!("{}/rotate-role/{}", mount.trim_matches('/'), role.trim_matches('/'));
        self.request(Method::POST, &path, None).await.map(drop)
    }

    /// Reads credentials of `kind` for `role` at `mount`. The copies of the values in the parsed answer are
    /// zeroed.
    pub async fn database_creds(&self, mount: &str, role: &str, kind: CredsKind) -> Result<DatabaseCreds> {
        let path = creds_path(mount, role, kind);
        // Each read makes a new database user (dynamic) or is cheap to repeat (static); treat it as one that
        // must not run twice.
        let op = Op::new("read", &path).once();
        let mut answer = self
            .request_bytes(Method::GET, &path, None, "application/json", op)
            .await?
            .ok_or_else(|| Error::Response { path: path.clone(), detail: "empty answer".into() })?;
        let take = |answer: &mut serde_json::Value, key: &str| -> Result<SecretString> {
            match answer.pointer_mut(&format!("/data/{key}")).map(serde_json::Value::take) {
                Some(serde_json::Value::String(s)) => Ok(SecretString::new(s)),
                _ => Err(Error::Response { path: path.clone(), detail: format!("no {key} in the answer") }),
            }
        };
        let username = take(&mut answer, "username");
        let password = take(&mut answer, "password");
        let last_vault_rotation = answer
            .pointer("/data/last_vault_rotation")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if let Some(data) = answer.get_mut("data") {
            crate::secret::zeroize_json(data);
        }
        let lease_duration = answer["lease_duration"].as_u64().unwrap_or(0);
        let ttl = match kind {
            CredsKind::Dynamic => lease_duration,
            CredsKind::Static => answer.pointer("/data/ttl").and_then(serde_json::Value::as_u64).unwrap_or(0),
        };
        Ok(DatabaseCreds {
            kind,
            username: username?,
            password: password?,
            lease_id: answer["lease_id"].as_str().unwrap_or_default().to_owned(),
            lease_duration,
            renewable: answer["renewable"].as_bool().unwrap_or(false),
            ttl,
            last_vault_rotation,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_paths_are_built_and_split_alike() {
        assert_eq!(creds_path("/database/", "etl", CredsKind::Dynamic), "database/creds/etl");
        assert_eq!(creds_path("db", "app", CredsKind::Static), "db/static-creds/app");
        assert_eq!(parse_creds_path("db/static-creds/app"), Some(("db", "app", CredsKind::Static)));
        assert_eq!(parse_creds_path("a/b/creds/etl"), Some(("a/b", "etl", CredsKind::Dynamic)));
        assert_eq!(parse_creds_path("etl"), None);
        assert_eq!(static_role_path("database", "app"), "database/static-roles/app");
    }
}
