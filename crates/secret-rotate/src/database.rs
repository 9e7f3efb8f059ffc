//! The database secrets engine's static roles, through vault-core's typed methods: make the role match the
//! policy, read when the server last rotated it, rotate it now, and read the current credentials for
//! verification.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vault_core::database::CredsKind;
use vault_core::{Client, SecretString};

use crate::exec;
use crate::policy::{Argv, ConnectionTest, DatabaseSpec};

pub use vault_core::database::StaticRole;

/// Whether the role had to be created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Converged {
    /// It already matched.
    Unchanged,
    /// It was created (the server rotates the password at once).
    Created,
    /// Its settings were updated.
    Updated,
}

/// Reads the role; `None` when it does not exist.
pub async fn read_role(client: &Client, spec: &DatabaseSpec) -> vault_core::Result<Option<StaticRole>> {
    client.database_static_role(&spec.mount, &spec.role).await
}

/// Creates the role or updates its connection, user and rotation period to match the policy.
pub async fn converge_role(client: &Client, spec: &DatabaseSpec) -> vault_core::Result<Converged> {
    let existing = read_role(client, spec).await?;
    let period = spec.rotation_period.as_secs();
    let outcome = match &existing {
        Some(r) if r.db_name == spec.db_name && r.username == spec.username && r.rotation_period == period => {
            return Ok(Converged::Unchanged);
        }
        Some(_) => Converged::Updated,
        None => Converged::Created,
    };
    let wanted = StaticRole {
        db_name: spec.db_name.clone(),
        username: spec.username.clone(),
        rotation_period: period,
        last_vault_rotation: None,
    };
    client.database_write_static_role(&spec.mount, &spec.role, &wanted).await?;
    Ok(outcome)
}

/// Asks the server to rotate the role's password now.
pub async fn rotate_role(client: &Client, spec: &DatabaseSpec) -> vault_core::Result<()> {
    client.database_rotate_role(&spec.mount, &spec.role).await
}

/// The role's current credentials.
#[derive(Debug)]
pub struct StaticCreds {
    /// The database user.
    pub username: String,
    /// Its password.
    pub password: SecretString,
    /// When it was set.
    pub last_vault_rotation: Option<DateTime<Utc>>,
}

/// Reads the role's current credentials (`static-creds`).
pub async fn read_creds(client: &Client, spec: &DatabaseSpec) -> vault_core::Result<StaticCreds> {
    let c = client.database_creds(&spec.mount, &spec.role, CredsKind::Static).await?;
    Ok(StaticCreds {
        username: c.username.expose().to_owned(),
        password: c.password,
        last_vault_rotation: c.last_vault_rotation,
    })
}

/// Logs in as the role's user with its current password through `psql` (`select 1`). The password is handed over
/// in a 0600 password file (`PGPASSFILE`) that is removed afterwards, never in argv or the environment.
pub async fn connection_test(
    test: &ConnectionTest,
    creds: &StaticCreds,
    pass_env: &[String],
) -> Result<(), exec::ExecError> {
    let io =
        |e: std::io::Error| exec::ExecError::Io { program: test.psql.display().to_string(), detail: e.to_string() };
    let mut file = tempfile::Builder::new().prefix("secret-rotate-pgpass-").tempfile().map_err(io)?;
    // Fields are `host:port:database:user:password`; `:` and `\` inside a field are escaped with `\`.
    let escaped = zeroize::Zeroizing::new(creds.password.expose().replace('\\', "\\\\").replace(':', "\\:"));
    let line = zeroize::Zeroizing::new(format!("*:*:*:*:{}\n", escaped.as_str()));
    std::io::Write::write_all(&mut file, line.as_bytes()).map_err(io)?;
    std::io::Write::flush(&mut file).map_err(io)?;
    let argv = Argv {
        argv: vec![
            test.psql.display().to_string(),
            "--no-password".into(),
            "--no-psqlrc".into(),
            "--quiet".into(),
            "--dbname".into(),
            test.conninfo.clone(),
            "--username".into(),
            creds.username.clone(),
            "--command".into(),
            "select 1".into(),
        ],
        timeout: test.timeout,
    };
    let env = [("PGPASSFILE", file.path().display().to_string())];
    exec::run(&argv, None, &env, pass_env, false).await.map(drop)
}
