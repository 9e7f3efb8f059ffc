//! Database static roles: the database secrets engine's calls through vault-core's typed methods (make the role
//! match the policy, read when the server last rotated it, rotate it now, read the current credentials for
//! verification), and the rotation of a `database` target.
//!
//! A database static role is rotated by the server (`rotate-role`); its old password is gone at once, so a failed
//! verification cannot be rolled back: it is recorded as `failed` and reported, and the `started` history line lets
//! a run after a crash verify again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vault_core::database::CredsKind;
use vault_core::{Client, SecretString};

use crate::due::DueStatus;
use crate::exec;
use crate::history::Event;
use crate::policy::{Argv, ConnectionTest, DatabaseSpec};
use crate::rotate::{Action, Outcome, RotateError, Rotator, stdin_bytes};
use crate::state::stamp;
use crate::targets::Resolved;

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

impl Rotator<'_> {
    /// Rotates a `database` target (due, in its window, or `force`d; a `started` left by a crashed run is
    /// verified again), verifies the new password and runs the hooks.
    pub(crate) async fn rotate_database(
        &self,
        target: &Resolved<'_>,
        spec: &DatabaseSpec,
        force: bool,
    ) -> Result<Outcome, RotateError> {
        let policy = target.policy;
        let now = Utc::now();
        let item = self.assess(target, now).await;
        if let Some(error) = &item.error
            && item.status == DueStatus::Error
        {
            return Ok(Outcome::new(&target.path, "database", Action::Failed).detail(error.clone()));
        }
        let resume = item.status == DueStatus::Pending;
        if !force && !resume {
            if !matches!(item.status, DueStatus::Due | DueStatus::Overdue) {
                let mut o = Outcome::new(&target.path, "database", Action::Skipped).detail("not due");
                o.next_due = item.next_due;
                return Ok(o);
            }
            if !item.in_window {
                return Ok(
                    Outcome::new(&target.path, "database", Action::Skipped).detail("due, waiting for its window")
                );
            }
        }
        if self.dry_run {
            return Ok(Outcome::new(&target.path, "database", Action::WouldRotate));
        }
        let mut converged = None;
        if resume {
            self.log(&target.path, policy, Event::Recovered, (None, None), None)?;
        } else {
            // A role just created was rotated by the server as it was written; rotating again is harmless and
            // keeps one path for both cases.
            converged = Some(converge_role(self.client, spec).await?);
            self.log(&target.path, policy, Event::Started, (None, None), None)?;
            rotate_role(self.client, spec).await?;
        }
        let creds = read_creds(self.client, spec).await?;
        let tested = match &spec.connection_test {
            Some(test) => connection_test(test, &creds, &policy.pass_env).await,
            None => Ok(()),
        };
        let verdict = match (&policy.verify, tested) {
            (_, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
            (Some(argv), Ok(())) => {
                let mut input = serde_json::json!({
                    "path": target.path,
                    "data": { "username": creds.username, "password": creds.password.expose() },
                });
                let stdin = stdin_bytes(&mut input);
                let env = [("SECRET_ROTATE_PATH", target.path.clone()), ("SECRET_ROTATE_PHASE", "verify".to_owned())];
                exec::run(argv, Some(&stdin), &env, &policy.pass_env, false).await.map(drop)
            }
        };
        drop::<SecretString>(creds.password);
        let rotated_at = creds.last_vault_rotation.unwrap_or(now);
        let next = policy.schedule.next_due(Some(rotated_at), now);
        match verdict {
            Ok(()) => {
                self.log(&target.path, policy, Event::Succeeded, (None, None), resume.then(|| "resumed".to_owned()))?;
                let mut o = Outcome::new(&target.path, "database", Action::Rotated);
                o.recovered = resume;
                o.detail = match converged {
                    Some(Converged::Created) => Some("static role created".to_owned()),
                    Some(Converged::Updated) => Some("static role updated to match the policy".to_owned()),
                    _ => None,
                };
                o.next_due = Some(stamp(next));
                self.hooks(target, 0, &mut o).await?;
                Ok(o)
            }
            Err(e) => {
                let reason = format!(
                    "verification failed: {e}; the server has already replaced the old password, so there is nothing to roll back to (fix the consumer or rotate again)"
                );
                self.log(&target.path, policy, Event::Failed, (None, None), Some(reason.clone()))?;
                let mut o = Outcome::new(&target.path, "database", Action::Failed).detail(reason);
                o.recovered = resume;
                Ok(o)
            }
        }
    }
}
