//! Applying a plan: for each target secret, read what Vault holds, decide per key (create, unchanged, conflict),
//! write only the missing keys with check-and-set (a merge-patch when the secret exists, so sibling keys stay),
//! record provenance in `custom_metadata`, all with a bounded pool; then read every value back and compare.
//!
//! Safety: a key Vault already holds with a different value is a conflict and is never overwritten. A CAS
//! failure means someone else wrote meanwhile: the secret is read again and the decision made again. A crash
//! or outage leaves each secret at its old or new version (one write per secret), and a re-run only writes
//! what is still missing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use vault_core::{Client, Error, KvPath, SecretMap, SecretString};

use crate::plan::Plan;

/// What happened (or would happen) to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Written into a new secret.
    Create,
    /// Added to an existing secret (merge-patch; other keys kept).
    Add,
    /// Vault already holds this value.
    Unchanged,
    /// Vault holds a different value: not overwritten.
    Conflict,
    /// The write or read failed.
    Failed,
}

/// The outcome for one plan entry.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The env file or `<environment>`.
    pub source: String,
    /// Its line.
    pub line: usize,
    /// The variable.
    pub key: String,
    /// The target secret.
    pub path: String,
    /// The key in the secret.
    pub target_key: String,
    /// What was (or would be) done.
    pub action: Action,
    /// Whether reading back gave the same value (`None` on a dry run or when nothing was read).
    pub verified: Option<bool>,
    /// Why, for conflicts and failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Totals and the worst error class seen.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Entries in the plan.
    pub entries: usize,
    /// Keys created or added.
    pub written: usize,
    /// Keys already right.
    pub unchanged: usize,
    /// Keys Vault holds with another value.
    pub conflicts: usize,
    /// Keys that failed.
    pub failed: usize,
    /// Keys read back equal.
    pub verified: usize,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether a failure was the server being unavailable.
    #[serde(skip)]
    pub unavailable: bool,
}

struct Item {
    index: usize,
    target_key: String,
    value: SecretString,
}

struct SecretState {
    version: u64,
    exists: bool,
    data: SecretMap,
    custom: BTreeMap<String, String>,
}

/// Reads a secret's latest version. A plain 404 is taken as "never written" (check-and-set 0) on the first
/// attempt, which saves a metadata read per new secret; after a CAS failure, or when the latest version is
/// deleted, the metadata says which version to check against.
async fn read_state(client: &Client, path: &KvPath, thorough: bool) -> Result<SecretState, Error> {
    match client.kv_read(path, None).await {
        Ok(s) => Ok(SecretState {
            version: s.metadata.version,
            exists: true,
            data: s.data.clone(),
            custom: s.metadata.custom_metadata.clone(),
        }),
        Err(Error::NotFound { deleted: false, .. }) if !thorough => {
            Ok(SecretState { version: 0, exists: false, data: SecretMap::new(), custom: BTreeMap::new() })
        }
        Err(Error::NotFound { .. }) => match client.kv_metadata(path).await {
            Ok(m) => Ok(SecretState {
                version: m.current_version,
                exists: false,
                data: SecretMap::new(),
                custom: m.custom_metadata,
            }),
            Err(Error::NotFound { .. }) => {
                Ok(SecretState { version: 0, exists: false, data: SecretMap::new(), custom: BTreeMap::new() })
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The custom-metadata key recording where a key came from.
pub fn provenance_key(key: &str) -> String {
    format!("env-migrate.source.{key}")
}

const MAX_CUSTOM_METADATA: usize = 64;
const MAX_METADATA_VALUE: usize = 512;

fn clip(text: &str) -> String {
    if text.len() <= MAX_METADATA_VALUE {
        return text.to_owned();
    }
    let mut start = text.len() - (MAX_METADATA_VALUE - 3);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// Per-key result of one secret's work: (item index, action, detail).
type Decisions = Vec<(usize, Action, Option<String>)>;

async fn apply_secret(client: &Client, plan: &Plan, path_text: &str, items: &[Item], write: bool) -> (Decisions, bool) {
    let fail_all = |e: &Error| {
        let unavailable = e.exit() == vault_core::Exit::Unavailable;
        (items.iter().map(|it| (it.index, Action::Failed, Some(e.to_string()))).collect(), unavailable)
    };
    let path = match client.kv_path(path_text).await {
        Ok(p) => p,
        Err(e) => return fail_all(&e),
    };
    for attempt in 0..5 {
        let state = match read_state(client, &path, attempt > 0).await {
            Ok(s) => s,
            Err(e) => return fail_all(&e),
        };
        let mut decisions = Vec::new();
        let mut payload = SecretMap::new();
        for it in items {
            match state.data.get(&it.target_key) {
                Some(v) if v.expose() == it.value.expose() => decisions.push((it.index, Action::Unchanged, None)),
                Some(_) => decisions.push((
                    it.index,
                    Action::Conflict,
                    Some(format!("{path}#{} already holds a different value; not overwritten", it.target_key)),
                )),
                None => {
                    let action = if state.exists { Action::Add } else { Action::Create };
                    decisions.push((it.index, action, None));
                    payload.insert(it.target_key.clone(), it.value.clone());
                }
            }
        }
        if !write {
            return (decisions, false);
        }
        if !payload.is_empty() {
            let result = if state.exists {
                client.kv_patch(&path, &payload, Some(state.version)).await
            } else {
                client.kv_write(&path, &payload, Some(state.version)).await
            };
            match result {
                Ok(_) => {}
                Err(Error::CasConflict { .. }) => continue,
                Err(e) => return fail_all(&e),
            }
        }
        // Provenance for every key this plan put (or finds) there, when it is not recorded yet.
        let mut custom: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut room = MAX_CUSTOM_METADATA.saturating_sub(state.custom.len() + 2);
        for (it, (_, action, _)) in items.iter().zip(&decisions) {
            if *action == Action::Conflict {
                continue;
            }
            let e = &plan.entries[it.index];
            let pkey = provenance_key(&it.target_key);
            let source = clip(&format!("{}:{} {}", e.source, e.line, e.key));
            if state.custom.get(&pkey) != Some(&source) && (state.custom.contains_key(&pkey) || room > 0) {
                if !state.custom.contains_key(&pkey) {
                    room -= 1;
                }
                custom.insert(pkey, Some(source));
            }
        }
        if !custom.is_empty() {
            custom.insert(
                "env-migrate.migrated-at".into(),
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
            custom.insert("env-migrate.tool-version".into(), Some(crate::TOOL.into()));
            if let Err(e) = client.kv_patch_metadata(&path, &custom).await {
                return fail_all(&e);
            }
        }
        return (decisions, false);
    }
    let e = Error::CasConflict { path: path.to_string(), detail: "the secret kept changing; try again".into() };
    fail_all(&e)
}

/// Applies (or, when `write` is false, previews) a plan whose values were checked by
/// [`crate::fsutil::current_values`]. Returns one outcome per entry, in plan order.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    values: &BTreeMap<usize, SecretString>,
    write: bool,
    concurrency: usize,
) -> (Vec<Outcome>, Summary) {
    let mut by_path: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    let mut duplicates: Vec<(usize, usize)> = Vec::new();
    for (i, e) in plan.entries.iter().enumerate() {
        let Some(value) = values.get(&i) else { continue };
        let items = by_path.entry(e.target.path.clone()).or_default();
        // Two sources onto one key with the same value (validated): write it once, report it for both.
        if let Some(first) = items.iter().find(|it| it.target_key == e.target.key) {
            duplicates.push((i, first.index));
            continue;
        }
        items.push(Item { index: i, target_key: e.target.key.clone(), value: value.clone() });
    }
    let plan = Arc::new(plan.clone());
    let pool = Arc::new(Semaphore::new(concurrency.max(1)));
    // Once one secret finds the server unavailable (down, sealed, unreachable), the rest are not tried: each try
    // would wait out the client timeout again, and a re-run finishes the job anyway.
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for (path, items) in by_path {
        let (client, plan, pool, down) = (client.clone(), plan.clone(), pool.clone(), down.clone());
        tasks.spawn(async move {
            let _permit = pool.acquire_owned().await.expect("the pool is never closed");
            if down.load(std::sync::atomic::Ordering::SeqCst) {
                let detail = "not tried: Vault was unavailable for an earlier secret".to_owned();
                let decisions = items.iter().map(|it| (it.index, Action::Failed, Some(detail.clone()))).collect();
                return (path, items, decisions, true);
            }
            let (decisions, unavailable) = apply_secret(&client, &plan, &path, &items, write).await;
            if unavailable {
                down.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            (path, items, decisions, unavailable)
        });
    }
    let mut outcomes: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut summary = Summary { entries: plan.entries.len(), dry_run: !write, ..Summary::default() };
    let mut written_paths: Vec<(String, Vec<Item>)> = Vec::new();
    // Paths done out of all, on a watched terminal only (vault-core decides).
    let what = if write { "writing secrets" } else { "comparing with Vault" };
    let progress =
        vault_core::progress::Progress::new(Some(tasks.len() as u64), vault_core::progress::Unit::Items, what);
    while let Some(joined) = tasks.join_next().await {
        progress.inc(1);
        let (path, items, decisions, unavailable) = joined.expect("apply tasks do not panic");
        summary.unavailable |= unavailable;
        for (index, action, detail) in decisions {
            let e = &plan.entries[index];
            outcomes.insert(
                index,
                Outcome {
                    source: e.source.clone(),
                    line: e.line,
                    key: e.key.clone(),
                    path: e.target.path.clone(),
                    target_key: e.target.key.clone(),
                    action,
                    verified: None,
                    detail,
                },
            );
        }
        written_paths.push((path, items));
    }
    progress.finish();
    // Reading back from a server that just proved unavailable would only wait out the timeout again.
    if write && !summary.unavailable {
        verify(client, &written_paths, &mut outcomes, &mut summary, concurrency).await;
    }
    for (dup, first) in duplicates {
        if let Some(o) = outcomes.get(&first).cloned() {
            let e = &plan.entries[dup];
            outcomes.insert(dup, Outcome { source: e.source.clone(), line: e.line, key: e.key.clone(), ..o });
        }
    }
    for o in outcomes.values() {
        match o.action {
            Action::Create | Action::Add => summary.written += 1,
            Action::Unchanged => summary.unchanged += 1,
            Action::Conflict => summary.conflicts += 1,
            Action::Failed => summary.failed += 1,
        }
        if o.verified == Some(true) {
            summary.verified += 1;
        }
    }
    (outcomes.into_values().collect(), summary)
}

/// Reads every written or unchanged key back (no cache) and compares it with the source's value.
async fn verify(
    client: &Client,
    paths: &[(String, Vec<Item>)],
    outcomes: &mut BTreeMap<usize, Outcome>,
    summary: &mut Summary,
    concurrency: usize,
) {
    let pool = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (path, _)) in paths.iter().enumerate() {
        let (client, pool, path) = (client.clone(), pool.clone(), path.clone());
        tasks.spawn(async move {
            let _permit = pool.acquire_owned().await.expect("the pool is never closed");
            let read = match client.kv_path(&path).await {
                Ok(p) => client.kv_read(&p, None).await,
                Err(e) => Err(e),
            };
            (n, read)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (n, read) = joined.expect("verify tasks do not panic");
        for it in &paths[n].1 {
            let Some(o) = outcomes.get_mut(&it.index) else { continue };
            if o.action == Action::Conflict || o.action == Action::Failed {
                continue;
            }
            match &read {
                Ok(secret) => {
                    let same = secret.data.get(&it.target_key).is_some_and(|v| v.expose() == it.value.expose());
                    o.verified = Some(same);
                    if !same {
                        o.detail = Some("reading back gave a different value".into());
                    }
                }
                Err(e) => {
                    summary.unavailable |= e.exit() == vault_core::Exit::Unavailable;
                    o.verified = Some(false);
                    o.detail = Some(format!("reading back failed: {e}"));
                }
            }
        }
    }
}
