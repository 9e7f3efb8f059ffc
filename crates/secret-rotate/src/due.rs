//! Which secrets are due and why: the schedule and window of each target's policy against its recorded state
//! (KV v2 `custom_metadata`, or for a database static role the server's `last_vault_rotation` and the history),
//! as the `due` table reports it and as `run --due` decides what to rotate.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database;
use crate::history::Event;
use crate::policy::{DatabaseSpec, Strategy};
use crate::rotate::{RotateError, Rotator, add};
use crate::state::{RotationResult, RotationState, stamp};
use crate::targets::Resolved;

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueStatus {
    /// Not due yet.
    Ok,
    /// Due now (a `run --due` in its window rotates it).
    Due,
    /// Due for longer than the grace period.
    Overdue,
    /// The last rotation failed; it is retried after the policy's `retry` delay.
    Failed,
    /// A rotation is in flight or was interrupted (the next run resumes or rolls it back).
    Pending,
    /// Its state could not be read.
    Error,
}

impl DueStatus {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            DueStatus::Ok => "ok",
            DueStatus::Due => "due",
            DueStatus::Overdue => "overdue",
            DueStatus::Failed => "failed",
            DueStatus::Pending => "pending",
            DueStatus::Error => "error",
        }
    }

    /// Whether `due` should exit 1 for it.
    pub fn needs_attention(self) -> bool {
        matches!(self, DueStatus::Overdue | DueStatus::Failed | DueStatus::Pending | DueStatus::Error)
    }
}

/// One `due` line.
#[derive(Debug, Clone, Serialize)]
pub struct DueItem {
    /// The secret or static role.
    pub path: String,
    /// `generate`, `command`, `database`.
    pub strategy: &'static str,
    /// The policy's owner.
    pub owner: Option<String>,
    /// Where it stands.
    pub status: DueStatus,
    /// The schedule (`every 30 days`, `cron 0 3 * * 1`).
    pub schedule: String,
    /// The allowed window, if any.
    pub window: Option<String>,
    /// Whether now is inside the window (true without one).
    pub in_window: bool,
    /// The last successful rotation (or, never rotated, when the secret was created).
    pub last: Option<String>,
    /// When the next rotation is due.
    pub next_due: Option<String>,
    /// The last recorded result.
    pub last_result: Option<RotationResult>,
    /// Why the state could not be read, or why the last rotation failed.
    pub error: Option<String>,
    /// The policy's line.
    pub policy_line: usize,
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

impl Rotator<'_> {
    /// Where a target stands.
    pub async fn assess(&self, target: &Resolved<'_>, now: DateTime<Utc>) -> DueItem {
        let policy = target.policy;
        let mut item = DueItem {
            path: target.path.clone(),
            strategy: policy.strategy.name(),
            owner: policy.owner.clone(),
            status: DueStatus::Error,
            schedule: policy.schedule.to_string(),
            window: policy.window.as_ref().map(ToString::to_string),
            in_window: policy.window.as_ref().is_none_or(|w| w.contains(now)),
            last: None,
            next_due: None,
            last_result: None,
            error: None,
            policy_line: policy.line,
        };
        let (last, next, pending, failed) = match &policy.strategy {
            Strategy::Database(spec) => match self.database_times(target, spec, now).await {
                Ok(t) => t,
                Err(e) => {
                    item.error = Some(e.to_string());
                    return item;
                }
            },
            _ => match self.kv_times(target, now).await {
                Ok((last, next, state)) => {
                    item.last_result = state.result;
                    item.error = state.error.clone();
                    let failed = matches!(state.result, Some(RotationResult::Failed | RotationResult::RolledBack));
                    (last, next, state.result == Some(RotationResult::Pending), failed)
                }
                Err(e) => {
                    item.error = Some(e.to_string());
                    return item;
                }
            },
        };
        item.last = last.map(stamp);
        item.next_due = Some(stamp(next));
        item.status = if pending {
            DueStatus::Pending
        } else if now >= add(next, self.grace) {
            DueStatus::Overdue
        } else if now >= next {
            DueStatus::Due
        } else if failed {
            DueStatus::Failed
        } else {
            DueStatus::Ok
        };
        item
    }

    /// Last rotation (or creation), next due time and the recorded state of a KV secret.
    async fn kv_times(
        &self,
        target: &Resolved<'_>,
        now: DateTime<Utc>,
    ) -> vault_core::Result<(Option<DateTime<Utc>>, DateTime<Utc>, RotationState)> {
        let path = self.client.kv_path(&target.path).await?;
        let metadata = self.client.kv_metadata(&path).await?;
        let state = RotationState::from_metadata(&metadata.custom_metadata);
        let last = state.last.or_else(|| parse_time(&metadata.created_time));
        let mut next = target.policy.schedule.next_due(last, now);
        if matches!(state.result, Some(RotationResult::Failed | RotationResult::RolledBack))
            && let Some(failure) = state.last_failure
        {
            next = next.max(add(failure, target.policy.retry));
        }
        Ok((last, next, state))
    }

    async fn database_times(
        &self,
        target: &Resolved<'_>,
        spec: &DatabaseSpec,
        now: DateTime<Utc>,
    ) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>, bool, bool), RotateError> {
        let role = database::read_role(self.client, spec).await?;
        let last = role.and_then(|r| r.last_vault_rotation);
        let next = target.policy.schedule.next_due(last, now);
        let records = self.history.read(Some(&target.path))?;
        let last_event = records.last().map(|r| r.event);
        Ok((last, next, last_event == Some(Event::Started), last_event == Some(Event::Failed)))
    }
}
