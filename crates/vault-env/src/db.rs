//! Database secrets engine credentials: `MOUNT/creds/ROLE` (dynamic: a new database user with a lease) and
//! `MOUNT/static-creds/ROLE` (static: the current password of an existing user that Vault rotates).
//!
//! A dynamic lease belongs to the token that created it: when that token is revoked or expires, the database
//! user is dropped. That is why `vault-env run` keeps its token alive while the command runs and revokes it at
//! the end (the credentials die with the run), and why `vault-env db-creds` does not revoke its token.

use serde::{Deserialize, Serialize};
use vault_core::database::{CredsKind, DatabaseCreds, creds_path, parse_creds_path};
use vault_core::{Client, SecretString};

use crate::error::{Error, Result};

/// Dynamic or static role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    /// `creds/ROLE`: a new user per request, with a lease.
    Dynamic,
    /// `static-creds/ROLE`: an existing user whose password Vault rotates.
    Static,
}

/// The JSON shape of [`DatabaseCreds`] in vault-env's output (`db-creds`, `serve`'s `db_creds`): this exposes the
/// password, so it is built only for output the user asked for.
#[derive(Debug, Serialize)]
pub struct DbCredsJson<'a> {
    /// API path.
    pub path: &'a str,
    /// `dynamic` or `static`.
    pub kind: DbKind,
    /// The database user.
    pub username: &'a str,
    /// Its password.
    pub password: &'a str,
    /// Lease ID (empty for static roles).
    pub lease_id: &'a str,
    /// Lease duration in seconds.
    pub lease_duration: u64,
    /// Whether the lease is renewable.
    pub renewable: bool,
    /// Seconds until the credentials change or expire.
    pub ttl: u64,
}

/// The JSON form of the credentials, values included.
pub fn exposed(creds: &DatabaseCreds) -> DbCredsJson<'_> {
    DbCredsJson {
        path: &creds.path,
        kind: creds.kind.into(),
        username: creds.username.expose(),
        password: creds.password.expose(),
        lease_id: &creds.lease_id,
        lease_duration: creds.lease_duration,
        renewable: creds.renewable,
        ttl: creds.ttl,
    }
}

/// One field of the credentials by name (`username`, `password`, `lease_id`, …) as text.
pub fn field(creds: &DatabaseCreds, name: &str) -> Option<SecretString> {
    Some(match name {
        "username" => creds.username.clone(),
        "password" => creds.password.clone(),
        "lease_id" => SecretString::from(creds.lease_id.as_str()),
        "lease_duration" => SecretString::new(creds.lease_duration.to_string()),
        "ttl" => SecretString::new(creds.ttl.to_string()),
        "path" => SecretString::from(creds.path.as_str()),
        _ => return None,
    })
}

/// Reads credentials for `role` (a name, or a full path `MOUNT/creds/ROLE` / `MOUNT/static-creds/ROLE`). With a
/// name and no `kind`, the dynamic role is tried first, then the static one.
pub async fn db_creds(client: &Client, role: &str, mount: &str, kind: Option<DbKind>) -> Result<DatabaseCreds> {
    let role = role.trim_matches('/');
    if role.is_empty() || role.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(Error::Spec(format!("invalid database role {role:?}")));
    }
    if let Some((mount, rest, kind)) = parse_creds_path(role) {
        return read(client, mount, rest, kind.into()).await;
    }
    if role.contains('/') {
        return Err(Error::Spec(format!(
            "database role {role:?}: give a role name, or a path MOUNT/creds/ROLE or MOUNT/static-creds/ROLE"
        )));
    }
    let mount = mount.trim_matches('/');
    let dynamic = creds_path(mount, role, CredsKind::Dynamic);
    let fixed = creds_path(mount, role, CredsKind::Static);
    match kind {
        Some(kind) => read(client, mount, role, kind).await,
        None => match read(client, mount, role, DbKind::Dynamic).await {
            Ok(creds) => Ok(creds),
            Err(first) if no_such_role(&first) => match read(client, mount, role, DbKind::Static).await {
                Ok(creds) => Ok(creds),
                Err(second) if no_such_role(&second) => Err(Error::NoRole { role: role.to_owned(), dynamic, fixed }),
                Err(second) => Err(second),
            },
            Err(first) => Err(first),
        },
    }
}

/// Whether an error means "no such role here" (the server answers 400 "unknown role", 404, or 403 when the
/// policy grants only the other kind).
fn no_such_role(error: &Error) -> bool {
    match error {
        Error::Vault(vault_core::Error::NotFound { .. } | vault_core::Error::PermissionDenied { .. }) => true,
        Error::Vault(vault_core::Error::InvalidRequest { errors, .. }) => {
            errors.iter().any(|e| e.to_ascii_lowercase().contains("unknown role"))
        }
        _ => false,
    }
}

async fn read(client: &Client, mount: &str, role: &str, kind: DbKind) -> Result<DatabaseCreds> {
    Ok(client.database_creds(mount, role, kind.into()).await?)
}

impl From<DbKind> for CredsKind {
    fn from(kind: DbKind) -> Self {
        match kind {
            DbKind::Dynamic => CredsKind::Dynamic,
            DbKind::Static => CredsKind::Static,
        }
    }
}

impl From<CredsKind> for DbKind {
    fn from(kind: CredsKind) -> Self {
        match kind {
            CredsKind::Dynamic => DbKind::Dynamic,
            CredsKind::Static => DbKind::Static,
        }
    }
}
