//! The append-only JSON Lines history: one record per rotation event, never rewritten.
//!
//! Each line is a [`HistoryRecord`] with `type: "history"`. Appends are single `write` calls on a file opened with
//! `O_APPEND`, so concurrent writers cannot interleave inside a line, and a crash leaves at worst one incomplete last
//! line, which readers skip with a warning.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A rotation began: the pending state was recorded.
    Started,
    /// The new version passed verification and is current.
    Succeeded,
    /// Verification failed and the previous value was written back.
    RolledBack,
    /// The rotation failed before consumers saw a new value (or, for a database role, after; see `detail`).
    Failed,
    /// A run found a pending rotation left by a crash and resumed it.
    Recovered,
    /// A pending rotation was found whose new version was never written; it was cleared.
    Aborted,
    /// An operator ran `secret-rotate rollback`.
    ManualRollback,
    /// A hook failed after a successful rotation.
    HookFailed,
}

/// One history line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// The secret (`secret/app/db`) or static role (`database/static-roles/app`).
    pub path: String,
    /// `generate`, `command` or `database`.
    pub strategy: String,
    /// What happened.
    pub event: Event,
    /// The version that was current before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    /// The version written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<u64>,
    /// Why, for failures; never a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The policy's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Errors reading or writing the history file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened, read or written.
    #[error("history file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The history file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    /// The history at `path` (created, with its folder, on the first append).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and syncs it to disk.
    pub fn append(&self, record: &HistoryRecord) -> Result<(), HistoryError> {
        let io = |source| HistoryError::Io { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut line = Vec::new();
        vault_core::output::write_record(&mut line, "history", record).map_err(io)?;
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        let mut file = options.open(&self.path).map_err(io)?;
        // After a torn last line (a crash mid-write), start on a fresh line so this record stays readable.
        if !ends_with_newline(&self.path).map_err(io)? {
            line.insert(0, b'\n');
        }
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Every record, oldest first, optionally only those for `path` (normalised). A missing file is empty.
    pub fn read(&self, path: Option<&str>) -> Result<Vec<HistoryRecord>, HistoryError> {
        let io = |source| HistoryError::Io { path: self.path.clone(), source };
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let wanted = path.map(crate::policy::normalize);
        let mut records = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<HistoryRecord>(&line) {
                Ok(r) if wanted.as_ref().is_none_or(|w| *w == r.path) => records.push(r),
                Ok(_) => {}
                Err(e) => tracing::warn!("{}:{}: skipping a malformed history line: {e}", self.path.display(), i + 1),
            }
        }
        Ok(records)
    }
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, event: Event) -> HistoryRecord {
        HistoryRecord {
            time: "2026-11-28T10:00:00Z".into(),
            path: path.into(),
            strategy: "generate".into(),
            event,
            from_version: Some(1),
            to_version: Some(2),
            detail: None,
            owner: None,
        }
    }

    #[test]
    fn appends_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path().join("sub/history.jsonl"));
        assert!(history.read(None).unwrap().is_empty());
        history.append(&record("secret/a", Event::Started)).unwrap();
        history.append(&record("secret/b", Event::Succeeded)).unwrap();
        // A torn last line from a crash is skipped.
        let mut f = OpenOptions::new().append(true).open(history.path()).unwrap();
        f.write_all(b"{\"type\":\"history\",\"ti").unwrap();
        assert_eq!(history.read(None).unwrap().len(), 2);
        history.append(&record("secret/a", Event::Succeeded)).unwrap();
        assert_eq!(history.read(None).unwrap().len(), 3, "a record after a torn line is readable");
        let only_a = history.read(Some("secret/data/a")).unwrap();
        assert_eq!(only_a, vec![record("secret/a", Event::Started), record("secret/a", Event::Succeeded)]);
        let text = std::fs::read_to_string(history.path()).unwrap();
        assert!(text.starts_with("{\"type\":\"history\",\"time\":"), "{text}");
    }
}
