//! `prune`: applies a retention policy ([`crate::retention`]) to each destination on its own, and deletes what
//! it does not keep (a manifest first, so a half-deleted backup is never mistaken for a good one).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{self, State};
use crate::manifest;
use crate::retention::{self, Action, Candidate, Policy};
use crate::store::{Store, StoreError};

/// One decision, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct PruneRecord {
    /// The destination.
    pub destination: String,
    /// The backup id.
    pub id: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Its state.
    pub state: State,
    /// Keep or delete.
    pub action: Action,
    /// Why.
    pub reasons: Vec<String>,
    /// Whether it was deleted (false on a dry run or a failure).
    pub deleted: bool,
    /// What went wrong deleting it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Decides, and unless `dry_run` deletes, for every backup in `store`.
pub async fn prune(
    store: &Store,
    policy: &Policy,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<PruneRecord>, StoreError> {
    let backups = catalog::catalog(store).await?;
    let candidates: Vec<Candidate> =
        backups.iter().map(|b| Candidate { id: b.id.clone(), time: b.time, good: b.state == State::Good }).collect();
    let mut records = Vec::new();
    for decision in retention::plan(&candidates, policy, now) {
        let backup = backups.iter().find(|b| b.id == decision.id).expect("decisions are about our backups");
        let mut reasons = decision.reasons;
        if let Some(problem) = &backup.problem {
            reasons.push(problem.clone());
        }
        let mut record = PruneRecord {
            destination: store.location(),
            id: decision.id,
            time: decision.time,
            state: backup.state.clone(),
            action: decision.action,
            reasons,
            deleted: false,
            error: None,
        };
        if decision.action == Action::Delete && !dry_run {
            let result = async {
                store.delete(&manifest::manifest_name(&record.id)).await?;
                store.delete(&manifest::data_name(&record.id)).await?;
                store.delete(&manifest::encrypted_data_name(&record.id)).await
            }
            .await;
            match result {
                Ok(()) => record.deleted = true,
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        records.push(record);
    }
    // A save killed outright (SIGKILL, power loss) leaves its temp file in a folder; remove old ones. (In S3 the
    // same leaves an incomplete multipart upload, which a bucket lifecycle rule removes.)
    if matches!(store, Store::Local(_)) {
        for entry in store.list().await? {
            let old = entry.modified.is_some_and(|m| now - m > retention::INCOMPLETE_GRACE);
            if !entry.name.starts_with(crate::store::TEMP_PREFIX) || !old {
                continue;
            }
            let mut record = PruneRecord {
                destination: store.location(),
                id: entry.name.clone(),
                time: entry.modified.unwrap_or(now),
                state: State::Incomplete,
                action: Action::Delete,
                reasons: vec!["temp file of an interrupted save, older than 6 hours".to_owned()],
                deleted: false,
                error: None,
            };
            if !dry_run {
                match store.delete(&entry.name).await {
                    Ok(()) => record.deleted = true,
                    Err(e) => record.error = Some(e.to_string()),
                }
            }
            records.push(record);
        }
    }
    Ok(records)
}
