//! Suppression that survives edits: baseline files, the `.secret-scan-ignore` file, and (in the scanner) inline
//! `secret-scan:allow` comments.
//!
//! Both files store fingerprints, never values. A fingerprint covers the rule, the file's relative path and the
//! value, so it survives line moves and edits elsewhere in the file, and stops matching when the secret changes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};

use crate::finding::Finding;

/// The default name of the ignore file, looked up at the scan root (or repository root).
pub const IGNORE_FILE: &str = ".secret-scan-ignore";

/// Why a suppression file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is malformed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the line when known.
        message: String,
    },
}

/// One baseline entry: enough to find the finding again, nothing of its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BaselineEntry {
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// The rule, for people reading the file.
    pub rule_id: String,
    /// The path relative to the repository root (or scan root), for people reading the file.
    pub path: String,
    /// The line when the baseline was written, for people reading the file.
    pub line: usize,
}

/// A baseline: findings that were accepted when it was written and are not reported again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// Format version, 1.
    pub version: u32,
    /// Accepted findings, sorted.
    pub findings: Vec<BaselineEntry>,
    #[serde(skip)]
    fingerprints: BTreeSet<String>,
}

impl Baseline {
    /// A baseline accepting these findings.
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut entries: Vec<BaselineEntry> = findings
            .into_iter()
            .map(|f| BaselineEntry {
                fingerprint: f.fingerprint.clone(),
                rule_id: f.rule_id.clone(),
                path: f.root_path.clone(),
                line: f.line,
            })
            .collect();
        entries.sort();
        entries.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        let fingerprints = entries.iter().map(|e| e.fingerprint.clone()).collect();
        Self { version: 1, findings: entries, fingerprints }
    }

    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Self, SuppressError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SuppressError::Io { path: shown.clone(), source })?;
        let mut baseline: Baseline = serde_json::from_str(&text)
            .map_err(|e| SuppressError::Invalid { path: shown.clone(), message: format!("not a baseline: {e}") })?;
        if baseline.version != 1 {
            return Err(SuppressError::Invalid {
                path: shown,
                message: format!("unsupported baseline version {}", baseline.version),
            });
        }
        baseline.fingerprints = baseline.findings.iter().map(|e| e.fingerprint.clone()).collect();
        Ok(baseline)
    }

    /// Writes the baseline as pretty JSON.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        vault_core::output::write_json(out, self)
    }

    /// Whether a finding was accepted.
    pub fn contains(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
    }

    /// Number of accepted findings.
    pub fn len(&self) -> usize {
        self.findings.len()
    }

    /// Whether nothing is accepted.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The ignore file: gitignore-style path globs relative to the scan root, and fingerprints (lines of 16
/// hexadecimal digits). `#` starts a comment.
#[derive(Clone, Debug)]
pub struct IgnoreList {
    globs: Gitignore,
    fingerprints: BTreeSet<String>,
}

impl Default for IgnoreList {
    fn default() -> Self {
        Self { globs: Gitignore::empty(), fingerprints: BTreeSet::new() }
    }
}

impl IgnoreList {
    /// Parses ignore files in order; missing optional files are skipped by the caller.
    pub fn load(files: &[&Path]) -> Result<Self, SuppressError> {
        let mut builder = GitignoreBuilder::new("");
        let mut fingerprints = BTreeSet::new();
        for file in files {
            let shown = file.display().to_string();
            let text =
                std::fs::read_to_string(file).map_err(|source| SuppressError::Io { path: shown.clone(), source })?;
            for (number, raw) in text.lines().enumerate() {
                let line = raw.split_once(" #").map_or(raw, |(before, _)| before).trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if line.len() == 16 && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                    fingerprints.insert(line.to_ascii_lowercase());
                    continue;
                }
                builder.add_line(None, line).map_err(|e| SuppressError::Invalid {
                    path: shown.clone(),
                    message: format!("line {}: {e}", number + 1),
                })?;
            }
        }
        let globs = builder
            .build()
            .map_err(|e| SuppressError::Invalid { path: "ignore files".into(), message: e.to_string() })?;
        Ok(Self { globs, fingerprints })
    }

    /// Whether a path relative to the scan root (or one of its parent folders) is ignored.
    ///
    /// A path that is absolute after all (a file named as `/abs/path`, or `\\x` once backslashes became slashes) is
    /// matched without its leading slashes: the glob matcher panics on a path with a root.
    pub fn path_ignored(&self, relative: &str, is_dir: bool) -> bool {
        let relative = relative.trim_start_matches('/');
        !self.globs.is_empty() && self.globs.matched_path_or_any_parents(relative, is_dir).is_ignore()
    }

    /// Whether a finding's fingerprint is ignored.
    pub fn fingerprint_ignored(&self, finding: &Finding) -> bool {
        self.fingerprints.contains(&finding.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_files_hold_globs_and_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(IGNORE_FILE);
        std::fs::write(&file, "# fixtures\ntests/fixtures/\n*.snap\n0123456789abcdef # rotated 2024-05\n").unwrap();
        let list = IgnoreList::load(&[&file]).unwrap();
        assert!(list.path_ignored("tests/fixtures/a.env", false));
        assert!(list.path_ignored("src/x.snap", false));
        assert!(!list.path_ignored("src/main.rs", false));
        // Absolute paths, however they came about, are answered, never a panic.
        for path in ["/etc/passwd", "//x", "///tests/fixtures/a.env", "/", ""] {
            let _ = list.path_ignored(path, false);
            let _ = list.path_ignored(path, true);
        }
        assert!(list.path_ignored("/tests/fixtures/a.env", false));
        assert!(list.fingerprints.contains("0123456789abcdef"));
    }
}
