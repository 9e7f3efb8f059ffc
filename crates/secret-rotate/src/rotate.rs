//! Rotating one target: the [`Rotator`] (one server, one history file), what a run did to a target ([`Outcome`],
//! [`Action`]), and what every strategy shares: the history lines and the hooks. The steps themselves live beside
//! the state they change:
//!
//! - [`crate::due`]: whether a target is due (and so whether `run --due` touches it);
//! - [`crate::kv_rotation`]: a KV v2 secret (`generate`, `command`) through pending → verify → current, with
//!   rollback, recovery of an interrupted run, and the manual `rollback`;
//! - [`crate::database`]: a database static role, rotated by the server.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use vault_core::Client;
use zeroize::Zeroizing;

use crate::exec;
use crate::history::{Event, History, HistoryRecord};
use crate::policy::{SecretRotationPolicy, Strategy};
use crate::state::stamp;
use crate::targets::Resolved;

/// Errors that stop a rotation of one target.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Vault refused or failed.
    #[error(transparent)]
    Vault(#[from] vault_core::Error),
    /// The history file could not be written.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// A user command failed.
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    /// A credential command printed something other than the contract.
    #[error("{0}")]
    Contract(String),
}

/// What a run did to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new value is current and verified.
    Rotated,
    /// Verification failed; the previous value is current again.
    RolledBack,
    /// The rotation failed (details say whether anything changed).
    Failed,
    /// An interrupted rotation was found whose new version was never written; its state was cleared.
    Aborted,
    /// `--dry-run`: it would have been rotated.
    WouldRotate,
    /// Not due, or outside its window.
    Skipped,
}

/// One `run` (or `rollback`) line.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The secret or static role.
    pub path: String,
    /// The strategy.
    pub strategy: &'static str,
    /// What happened.
    pub result: Action,
    /// Whether this finished a rotation an earlier run left pending.
    pub recovered: bool,
    /// The version that was current before.
    pub from_version: Option<u64>,
    /// The version that is current now.
    pub to_version: Option<u64>,
    /// Next due time after this run.
    pub next_due: Option<String>,
    /// Why (failures, skips, hook problems); never a value.
    pub detail: Option<String>,
    /// Whether every hook succeeded (none ran: true).
    pub hooks_ok: bool,
    /// For a rollback: the version whose data was made current again (always one known to be good).
    pub restored_version: Option<u64>,
}

impl Outcome {
    pub(crate) fn new(path: &str, strategy: &'static str, result: Action) -> Self {
        Outcome {
            path: path.to_owned(),
            strategy,
            result,
            recovered: false,
            from_version: None,
            to_version: None,
            next_due: None,
            detail: None,
            hooks_ok: true,
            restored_version: None,
        }
    }

    pub(crate) fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// Runs rotations against one server, recording history in one file.
#[derive(Debug)]
pub struct Rotator<'a> {
    pub(crate) client: &'a Client,
    pub(crate) history: &'a History,
    /// Report what would happen without changing anything.
    pub dry_run: bool,
    /// `due` counts targets due for longer than this as overdue.
    pub grace: std::time::Duration,
}

/// `t + d`, saturating: a duration chrono cannot hold means never.
pub(crate) fn add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t + ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

/// A command's stdin: `value` as JSON bytes, zeroed on drop; the strings in `value` are zeroed at once.
pub(crate) fn stdin_bytes(value: &mut serde_json::Value) -> Zeroizing<Vec<u8>> {
    let bytes = Zeroizing::new(serde_json::to_vec(value).expect("JSON values serialize"));
    vault_core::secret::zeroize_json(value);
    bytes
}

impl<'a> Rotator<'a> {
    /// A rotator.
    pub fn new(client: &'a Client, history: &'a History) -> Self {
        Rotator { client, history, dry_run: false, grace: std::time::Duration::from_secs(3600) }
    }

    /// Appends a history line for `path` (nothing on a dry run).
    pub(crate) fn log(
        &self,
        path: &str,
        policy: &SecretRotationPolicy,
        event: Event,
        versions: (Option<u64>, Option<u64>),
        detail: Option<String>,
    ) -> Result<(), RotateError> {
        if self.dry_run {
            return Ok(());
        }
        self.history.append(&HistoryRecord {
            time: stamp(Utc::now()),
            path: path.to_owned(),
            strategy: policy.strategy.name().to_owned(),
            event,
            from_version: versions.0,
            to_version: versions.1,
            detail,
            owner: policy.owner.clone(),
        })?;
        Ok(())
    }

    /// Rotates one target: `force` rotates now whatever the schedule and window (explicit paths); otherwise only
    /// when due and inside the window. A pending rotation left by an earlier run is always finished first, and
    /// the run stops there for this target.
    pub async fn rotate(&self, target: &Resolved<'_>, force: bool) -> Outcome {
        let strategy = target.policy.strategy.name();
        let result = match &target.policy.strategy {
            Strategy::Database(spec) => self.rotate_database(target, spec, force).await,
            _ => self.rotate_kv(target, force).await,
        };
        result.unwrap_or_else(|e| Outcome::new(&target.path, strategy, Action::Failed).detail(e.to_string()))
    }

    /// Runs the policy's hooks after a rotation or a rollback, with the path and the version now current. A
    /// failing hook undoes nothing: it is logged, recorded in the history and added to the outcome's detail.
    pub(crate) async fn hooks(
        &self,
        target: &Resolved<'_>,
        version: u64,
        outcome: &mut Outcome,
    ) -> Result<(), RotateError> {
        for hook in &target.policy.hooks {
            let env = [
                ("SECRET_ROTATE_PATH", target.path.clone()),
                ("SECRET_ROTATE_VERSION", version.to_string()),
                ("SECRET_ROTATE_PHASE", "hook".to_owned()),
            ];
            if let Err(e) = exec::run(hook, None, &env, &target.policy.pass_env, false).await {
                let message = format!("hook failed: {e}");
                tracing::warn!("{}: {message}", target.path);
                self.log(&target.path, target.policy, Event::HookFailed, (None, Some(version)), Some(message.clone()))?;
                outcome.hooks_ok = false;
                outcome.detail = Some(match outcome.detail.take() {
                    Some(d) => format!("{d}; {message}"),
                    None => message,
                });
            }
        }
        Ok(())
    }
}
