//! The rotation-state schema: state kept in a secret's KV v2 `custom_metadata`, so that every tool (and the Dagster resource) can
//! read when a secret was rotated, when it is due and whether a rotation is in flight, with nothing but read
//! access to the secret's metadata.
//!
//! | key | value |
//! | --- | --- |
//! | `rotation_strategy` | `generate`, `command` or `database` |
//! | `rotation_owner` | the policy's owner |
//! | `rotation_result` | `success`, `pending`, `failed` or `rolled_back` |
//! | `rotation_last` | RFC 3339 time of the last successful rotation |
//! | `rotation_next_due` | RFC 3339 time the next rotation is due |
//! | `rotation_current_version` | the version that passed verification |
//! | `rotation_previous_version` | the version that was current before the last rotation started |
//! | `rotation_pending_version` | the version under verification (only while `rotation_result` is `pending`) |
//! | `rotation_started` | RFC 3339 time the pending rotation started |
//! | `rotation_last_failure` | RFC 3339 time of the last failed rotation |
//! | `rotation_error` | why the last rotation failed (never a value) |
//! | `rotation_versions` | what is known of each version: `1:prior 2:failed 3:restored 4:verified` ([`VersionStatus`]) |
//!
//! `rotation_versions` is written in the same metadata update as the state change it belongs to, so that after a
//! crash it is still known which versions failed verification: a rollback only ever returns to a good one.

use std::collections::BTreeMap;

use crate::client::Client;
use crate::kv::KvPath;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The `custom_metadata` keys secret-rotate owns.
pub mod keys {
    /// `generate`, `command` or `database`.
    pub const STRATEGY: &str = "rotation_strategy";
    /// The policy's owner.
    pub const OWNER: &str = "rotation_owner";
    /// `success`, `pending`, `failed`, `rolled_back`.
    pub const RESULT: &str = "rotation_result";
    /// Last successful rotation (RFC 3339).
    pub const LAST: &str = "rotation_last";
    /// Next due (RFC 3339).
    pub const NEXT_DUE: &str = "rotation_next_due";
    /// The version that passed verification.
    pub const CURRENT_VERSION: &str = "rotation_current_version";
    /// The version current before the last rotation.
    pub const PREVIOUS_VERSION: &str = "rotation_previous_version";
    /// The version under verification.
    pub const PENDING_VERSION: &str = "rotation_pending_version";
    /// When the pending rotation started (RFC 3339).
    pub const STARTED: &str = "rotation_started";
    /// Last failure (RFC 3339).
    pub const LAST_FAILURE: &str = "rotation_last_failure";
    /// Why the last rotation failed.
    pub const ERROR: &str = "rotation_error";
    /// What is known of each version (`VERSION:STATUS` pairs separated by spaces).
    pub const VERSIONS: &str = "rotation_versions";
}

/// What is known about one version of a rotated secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Current when a rotation began (in use, so working as far as anyone knows); not written by secret-rotate.
    Prior,
    /// Written by a rotation and passed verification.
    Verified,
    /// Written by a rotation whose policy has no verification: current at once.
    Accepted,
    /// A rollback's copy of a good version's data.
    Restored,
    /// Written by a rotation and not verified yet (or the run was interrupted).
    Pending,
    /// Failed verification: never restored.
    Failed,
    /// An operator rolled back away from it: never restored by a later rollback.
    Rejected,
}

impl VersionStatus {
    /// The metadata word.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Prior => "prior",
            VersionStatus::Verified => "verified",
            VersionStatus::Accepted => "accepted",
            VersionStatus::Restored => "restored",
            VersionStatus::Pending => "pending",
            VersionStatus::Failed => "failed",
            VersionStatus::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "prior" => VersionStatus::Prior,
            "verified" => VersionStatus::Verified,
            "accepted" => VersionStatus::Accepted,
            "restored" => VersionStatus::Restored,
            "pending" => VersionStatus::Pending,
            "failed" => VersionStatus::Failed,
            "rejected" => VersionStatus::Rejected,
            _ => return None,
        })
    }

    /// Whether a rollback may return to a version with this status.
    pub fn is_good(self) -> bool {
        matches!(
            self,
            VersionStatus::Prior | VersionStatus::Verified | VersionStatus::Accepted | VersionStatus::Restored
        )
    }
}

/// Vault caps a `custom_metadata` value at 512 bytes; the oldest entries are dropped to stay well under it.
const VERSIONS_MAX_BYTES: usize = 480;

/// The per-version record, oldest version first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions(pub BTreeMap<u64, VersionStatus>);

impl Versions {
    /// Parses `1:prior 2:failed`; unknown words and malformed pairs are skipped.
    pub fn parse(text: &str) -> Self {
        Versions(
            text.split_whitespace()
                .filter_map(|pair| {
                    let (v, s) = pair.split_once(':')?;
                    Some((v.parse().ok()?, VersionStatus::parse(s)?))
                })
                .collect(),
        )
    }

    /// The status of `version`, if known.
    pub fn get(&self, version: u64) -> Option<VersionStatus> {
        self.0.get(&version).copied()
    }

    /// Records `status` for `version`.
    pub fn set(&mut self, version: u64, status: VersionStatus) -> &mut Self {
        self.0.insert(version, status);
        self
    }

    /// Records `status` for `version` unless something is known already.
    pub fn set_if_unknown(&mut self, version: u64, status: VersionStatus) -> &mut Self {
        self.0.entry(version).or_insert(status);
        self
    }

    /// Forgets `version` (a write that never landed).
    pub fn remove(&mut self, version: u64) -> &mut Self {
        self.0.remove(&version);
        self
    }

    /// The metadata value, dropping the oldest versions when it would grow past Vault's limit.
    pub fn render(&self) -> String {
        let mut pairs: Vec<String> = self.0.iter().map(|(v, s)| format!("{v}:{}", s.as_str())).collect();
        while pairs.iter().map(|p| p.len() + 1).sum::<usize>() > VERSIONS_MAX_BYTES {
            pairs.remove(0);
        }
        pairs.join(" ")
    }
}

/// The outcome recorded in `rotation_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationResult {
    /// The last rotation was verified and is current.
    Success,
    /// A new version was (or is about to be) written and is not verified yet.
    Pending,
    /// The last rotation failed before anything changed for consumers.
    Failed,
    /// The last rotation failed verification and the previous value was written back.
    RolledBack,
}

impl RotationResult {
    /// The metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationResult::Success => "success",
            RotationResult::Pending => "pending",
            RotationResult::Failed => "failed",
            RotationResult::RolledBack => "rolled_back",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "success" => RotationResult::Success,
            "pending" => RotationResult::Pending,
            "failed" => RotationResult::Failed,
            "rolled_back" => RotationResult::RolledBack,
            _ => return None,
        })
    }
}

/// A secret's rotation state as recorded in its metadata. Unknown or malformed values read as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationState {
    /// `rotation_strategy`.
    pub strategy: Option<String>,
    /// `rotation_owner`.
    pub owner: Option<String>,
    /// `rotation_result`.
    pub result: Option<RotationResult>,
    /// `rotation_last`.
    pub last: Option<DateTime<Utc>>,
    /// `rotation_next_due`.
    pub next_due: Option<DateTime<Utc>>,
    /// `rotation_current_version`.
    pub current_version: Option<u64>,
    /// `rotation_previous_version`.
    pub previous_version: Option<u64>,
    /// `rotation_pending_version`.
    pub pending_version: Option<u64>,
    /// `rotation_started`.
    pub started: Option<DateTime<Utc>>,
    /// `rotation_last_failure`.
    pub last_failure: Option<DateTime<Utc>>,
    /// `rotation_error`.
    pub error: Option<String>,
    /// `rotation_versions` (for a secret rotated before it existed: what `rotation_current_version` and
    /// `rotation_previous_version` imply).
    #[serde(serialize_with = "versions_map")]
    pub versions: Versions,
}

fn versions_map<S: serde::Serializer>(versions: &Versions, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(versions.0.iter().map(|(v, s)| (v.to_string(), s.as_str())))
}

fn time(text: Option<&String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

impl RotationState {
    /// Reads the state out of a `custom_metadata` map.
    pub fn from_metadata(custom: &BTreeMap<String, String>) -> Self {
        let number = |k: &str| custom.get(k).and_then(|v| v.parse().ok());
        RotationState {
            strategy: custom.get(keys::STRATEGY).cloned(),
            owner: custom.get(keys::OWNER).cloned(),
            result: custom.get(keys::RESULT).and_then(|r| RotationResult::parse(r)),
            last: time(custom.get(keys::LAST)),
            next_due: time(custom.get(keys::NEXT_DUE)),
            current_version: number(keys::CURRENT_VERSION),
            previous_version: number(keys::PREVIOUS_VERSION),
            pending_version: number(keys::PENDING_VERSION),
            started: time(custom.get(keys::STARTED)),
            last_failure: time(custom.get(keys::LAST_FAILURE)),
            error: custom.get(keys::ERROR).cloned(),
            versions: Versions::default(),
        }
        .with_versions(custom.get(keys::VERSIONS))
    }

    fn with_versions(mut self, text: Option<&String>) -> Self {
        self.versions = match text {
            Some(text) => Versions::parse(text),
            None => {
                // Written by an older secret-rotate: the two recorded versions say what is known.
                let mut v = Versions::default();
                match (self.result, self.current_version, self.previous_version) {
                    (Some(RotationResult::Success), Some(current), previous) => {
                        v.set(current, VersionStatus::Verified);
                        if let Some(p) = previous {
                            v.set(p, VersionStatus::Prior);
                        }
                    }
                    (Some(RotationResult::RolledBack), Some(current), previous) => {
                        v.set(current, VersionStatus::Restored);
                        if let Some(p) = previous {
                            v.set(p, VersionStatus::Failed);
                        }
                    }
                    _ => {}
                }
                v
            }
        };
        self
    }

    /// Whether the secret has never been rotated by this tool.
    pub fn is_empty(&self) -> bool {
        *self == RotationState::default()
    }
}

/// An RFC 3339 timestamp with seconds, as stored in metadata and history.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Reads a KV v2 secret's rotation state (a secret without rotation metadata gives an empty state).
pub async fn rotation_state(client: &Client, path: &KvPath) -> crate::Result<RotationState> {
    let metadata = client.kv_metadata(path).await?;
    Ok(RotationState::from_metadata(&metadata.custom_metadata))
}

/// A set of metadata changes: `Some` sets a key, `None` removes it.
#[derive(Debug, Default, Clone)]
pub struct Patch(pub BTreeMap<String, Option<String>>);

impl Patch {
    /// Sets a key.
    pub fn set(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.0.insert(key.to_owned(), Some(value.to_string()));
        self
    }

    /// Removes a key.
    pub fn clear(mut self, key: &str) -> Self {
        self.0.insert(key.to_owned(), None);
        self
    }

    /// Records the per-version statuses (removing the key when nothing is known: Vault refuses empty values).
    pub fn versions(self, versions: &Versions) -> Self {
        let text = versions.render();
        if text.is_empty() { self.clear(keys::VERSIONS) } else { self.set(keys::VERSIONS, text) }
    }
}

/// Writes a state change into a secret's `custom_metadata`, leaving other keys (provenance, …) alone.
pub async fn record_state(client: &Client, path: &KvPath, patch: &Patch) -> crate::Result<()> {
    client.kv_patch_metadata(path, &patch.0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap().with_timezone(&Utc);
        let patch = Patch::default()
            .set(keys::RESULT, RotationResult::Pending.as_str())
            .set(keys::PENDING_VERSION, 4)
            .set(keys::STARTED, stamp(now))
            .clear(keys::ERROR);
        let map: BTreeMap<String, String> = patch.0.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        let state = RotationState::from_metadata(&map);
        assert_eq!(state.result, Some(RotationResult::Pending));
        assert_eq!(state.pending_version, Some(4));
        assert_eq!(state.started, Some(now));
        assert!(RotationState::from_metadata(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn versions_round_trip_and_stay_under_the_limit() {
        let mut v = Versions::parse("1:prior 2:failed junk 3:bogus x:verified 4:restored");
        assert_eq!(v.render(), "1:prior 2:failed 4:restored");
        assert!(!v.get(2).unwrap().is_good());
        assert!(v.get(4).unwrap().is_good());
        for n in 5..200 {
            v.set(n * 1000, VersionStatus::Verified);
        }
        let text = v.render();
        assert!(text.len() <= VERSIONS_MAX_BYTES, "{}", text.len());
        assert!(text.ends_with("199000:verified"), "the newest are kept");
    }

    #[test]
    fn legacy_metadata_marks_the_failed_version() {
        let map: BTreeMap<String, String> =
            [(keys::RESULT, "rolled_back"), (keys::CURRENT_VERSION, "3"), (keys::PREVIOUS_VERSION, "2")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let state = RotationState::from_metadata(&map);
        assert_eq!(state.versions.get(2), Some(VersionStatus::Failed));
        assert_eq!(state.versions.get(3), Some(VersionStatus::Restored));
    }
}
