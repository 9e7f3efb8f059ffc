//! The manifest written beside each backup, and the names backups go by.
//!
//! A backup `ID` is `vault-backup-YYYY-MM-DDTHH-MM-SS.mmmZ` (UTC, sortable, no colons so it is a valid file and
//! object name everywhere). Its data is `ID.snap.gz` and its manifest `ID.manifest.json`. The manifest is written
//! last, after the data is complete and checked, so a backup without one is incomplete and never counts as good.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::archive::{Member, RaftMeta};

/// Every backup's name starts with this.
pub const PREFIX: &str = "vault-backup-";
/// The data file's suffix: a raft snapshot is a gzip'd tar.
pub const DATA_SUFFIX: &str = ".snap.gz";
/// The data file's suffix when encrypted with age.
pub const ENCRYPTED_SUFFIX: &str = ".snap.gz.age";
/// The manifest's suffix.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
/// The manifest format this tool writes.
pub const FORMAT: u32 = 1;
const TIME_FORMAT: &str = "%Y-%m-%dT%H-%M-%S%.3fZ";

/// The id of a backup taken at `time`.
pub fn backup_id(time: DateTime<Utc>) -> String {
    format!("{PREFIX}{}", time.format(TIME_FORMAT))
}

/// The time a backup id stands for, or `None` when `id` is not one of ours.
pub fn parse_id(id: &str) -> Option<DateTime<Utc>> {
    let stamp = id.strip_prefix(PREFIX)?;
    NaiveDateTime::parse_from_str(stamp, TIME_FORMAT).ok().map(|t| t.and_utc())
}

/// The data file's name for a backup id.
pub fn data_name(id: &str) -> String {
    format!("{id}{DATA_SUFFIX}")
}

/// The encrypted data file's name for a backup id.
pub fn encrypted_data_name(id: &str) -> String {
    format!("{id}{ENCRYPTED_SUFFIX}")
}

/// The manifest's name for a backup id.
pub fn manifest_name(id: &str) -> String {
    format!("{id}{MANIFEST_SUFFIX}")
}

/// What a file or object name is: the data or the manifest of a backup (with its id), or something else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// `ID.snap.gz` or `ID.snap.gz.age`.
    Data(String),
    /// `ID.manifest.json`.
    Manifest(String),
}

/// Classifies a file name; `None` for names that are not ours (temp files, other tools' files).
pub fn classify(name: &str) -> Option<NameKind> {
    let (id, kind): (&str, fn(String) -> NameKind) =
        if let Some(id) = name.strip_suffix(DATA_SUFFIX).or_else(|| name.strip_suffix(ENCRYPTED_SUFFIX)) {
            (id, NameKind::Data)
        } else if let Some(id) = name.strip_suffix(MANIFEST_SUFFIX) {
            (id, NameKind::Manifest)
        } else {
            return None;
        };
    parse_id(id).map(|_| kind(id.to_owned()))
}

/// The manifest: what a backup holds and how to check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version ([`FORMAT`]).
    pub format: u32,
    /// The backup id.
    pub id: String,
    /// The data file's name, next to the manifest.
    pub file: String,
    /// When the snapshot was requested.
    pub started: DateTime<Utc>,
    /// When the data was complete.
    pub completed: DateTime<Utc>,
    /// Size of the data file in bytes.
    pub size: u64,
    /// SHA-256 of the data file, hex.
    pub sha256: String,
    /// `none`, or `age` when the data file is encrypted to age X25519 public keys.
    pub encryption: String,
    /// The public keys the data file is encrypted to (empty when not encrypted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Size and SHA-256 of the snapshot before encryption (when encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Plaintext>,
    /// The address the snapshot was taken from.
    pub source: String,
    /// The cluster's id, from `sys/health`.
    pub cluster_id: Option<String>,
    /// The cluster's name, from `sys/health`.
    pub cluster_name: Option<String>,
    /// The server's version, from `sys/health`.
    pub server_version: Option<String>,
    /// The source's seal: its unseal key shares and threshold are needed to unseal a restored copy.
    pub seal: Option<SealInfo>,
    /// The raft position, from the snapshot's `meta.json`.
    pub raft: RaftMeta,
    /// The archive's members with their sizes and SHA-256 sums.
    pub members: Vec<Member>,
    /// The tool that wrote the backup, `vault-backup X.Y.Z`.
    pub tool: String,
}

/// The snapshot before encryption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plaintext {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl Manifest {
    /// Whether the data file is encrypted.
    pub fn encrypted(&self) -> bool {
        self.encryption != "none"
    }

    /// The data file's name: the manifest's `file` when it is one of this backup's names, else the plain name.
    pub fn data_file(&self) -> String {
        if self.file == encrypted_data_name(&self.id) || self.file == data_name(&self.id) {
            self.file.clone()
        } else {
            data_name(&self.id)
        }
    }
}

/// The source's seal configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealInfo {
    /// Seal type, `shamir` usually.
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Number of key shares.
    pub shares: u32,
    /// Shares needed to unseal.
    pub threshold: u32,
}

/// `vault-backup X.Y.Z`.
pub fn tool_version() -> String {
    format!("vault-backup {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 13, 5, 0).unwrap() + chrono::Duration::milliseconds(123);
        let id = backup_id(t);
        assert_eq!(id, "vault-backup-2026-11-28T13-05-00.123Z");
        assert_eq!(parse_id(&id), Some(t));
        assert!(backup_id(t) < backup_id(t + chrono::Duration::days(40)));
        assert_eq!(classify(&data_name(&id)), Some(NameKind::Data(id.clone())));
        assert_eq!(classify(&encrypted_data_name(&id)), Some(NameKind::Data(id.clone())));
        assert_eq!(classify(&manifest_name(&id)), Some(NameKind::Manifest(id)));
        assert_eq!(classify(".tmp-vault-backup-x"), None);
        assert_eq!(classify("vault-backup-garbage.snap.gz"), None);
    }
}
