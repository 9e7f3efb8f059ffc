//! Database secrets engine credentials: `MOUNT/creds/ROLE` (dynamic: a new database user with a lease) and
//! `MOUNT/static-creds/ROLE` (static: the current password of an existing user that Vault rotates).
//!
//! A dynamic lease belongs to the token that created it: when that token is revoked or expires, the database
//! user is dropped. That is why `vault-env run` keeps its token alive while the command runs and revokes it at
//! the end (the credentials die with the run), and why `vault-env db-creds` does not revoke its token.

use serde::{Deserialize, Serialize};
use vault_core::database::{CredsKind, creds_path, parse_creds_path};
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

/// Credentials from the database secrets engine.
#[derive(Clone, Debug)]
pub struct DbCreds {
    /// The API path they were read from, e.g. `database/creds/dagster-etl`.
    pub path: String,
    /// Dynamic or static.
    pub kind: DbKind,
    /// The database user.
    pub username: SecretString,
    /// Its password.
    pub password: SecretString,
    /// The lease (dynamic roles), empty for static roles.
    pub lease_id: String,
    /// Seconds the lease lasts (dynamic roles), 0 for static roles.
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// Seconds until the password changes (static roles) or the lease ends (dynamic roles).
    pub ttl: u64,
}

/// The JSON shape of [`DbCreds`]: this exposes the password, so it is built only for output the user asked for.
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

impl DbCreds {
    /// The JSON form, values included.
    pub fn exposed(&self) -> DbCredsJson<'_> {
        DbCredsJson {
            path: &self.path,
            kind: self.kind,
            username: self.username.expose(),
            password: self.password.expose(),
            lease_id: &self.lease_id,
            lease_duration: self.lease_duration,
            renewable: self.renewable,
            ttl: self.ttl,
        }
    }

    /// One field by name (`username`, `password`, `lease_id`, …) as text.
    pub fn field(&self, name: &str) -> Option<SecretString> {
        Some(match name {
            "username" => self.username.clone(),
            "password" => self.password.clone(),
            "lease_id" => SecretString::from(self.lease_id.as_str()),
            "lease_duration" => SecretString::new(self.lease_duration.to_string()),
            "ttl" => SecretString::new(self.ttl.to_string()),
            "path" => SecretString::from(self.path.as_str()),
            _ => return None,
        })
    }
}

/// Reads credentials for `role` (a name, or a full path `MOUNT/creds/ROLE` / `MOUNT/static-creds/ROLE`). With a
/// name and no `kind`, the dynamic role is tried first, then the static one.
pub async fn db_creds(client: &Client, role: &str, mount: &str, kind: Option<DbKind>) -> Result<DbCreds> {
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

async fn read(client: &Client, mount: &str, role: &str, kind: DbKind) -> Result<DbCreds> {
    let creds = client.database_creds(mount, role, kind.into()).await?;
    Ok(DbCreds {
        path: creds.path,
        kind,
        username: creds.username,
        password: creds.password,
        lease_id: creds.lease_id,
        lease_duration: creds.lease_duration,
        renewable: creds.renewable,
        ttl: creds.ttl,
    })
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
