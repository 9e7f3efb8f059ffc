//! `.env.example`: the variable names of a folder's env files with no values, so newcomers know what to set.
//! An existing example is refreshed, not replaced: its lines stay and missing names are appended.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::parse::EnvFile;

/// The example file's name.
pub const EXAMPLE: &str = ".env.example";

/// What was done for one folder.
#[derive(Clone, Debug, Serialize)]
pub struct ExampleOutcome {
    /// The example file.
    pub file: String,
    /// Names added.
    pub added: Vec<String>,
    /// Whether the file was created.
    pub created: bool,
}

/// The text of an example for `keys` (new file) or the lines to append to `existing`.
pub fn render(existing: Option<&EnvFile>, keys: &[String]) -> (String, Vec<String>) {
    let have: BTreeSet<&str> = existing.map(|f| f.entries.iter().map(|e| e.key.as_str()).collect()).unwrap_or_default();
    let missing: Vec<String> = keys.iter().filter(|k| !have.contains(k.as_str())).cloned().collect();
    let mut text = match existing {
        Some(f) => {
            let mut t = f.text.clone();
            if !missing.is_empty() {
                if !t.is_empty() && !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str("# Added by env-migrate\n");
            }
            t
        }
        None => {
            "# Variables this project reads. Set values in your local .env or in Vault; never commit them.\n".into()
        }
    };
    for k in &missing {
        text.push_str(k);
        text.push_str("=\n");
    }
    (text, missing)
}

/// Creates or refreshes `.env.example` in the folder of each env file in `files`.
pub fn refresh(files: &[PathBuf], write: bool) -> Result<Vec<ExampleOutcome>, crate::parse::ParseError> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for f in files {
        let parsed = EnvFile::read(f)?;
        let dir = f.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let keys = by_dir.entry(dir).or_default();
        for e in &parsed.entries {
            if !keys.contains(&e.key) {
                keys.push(e.key.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (dir, keys) in by_dir {
        let path = dir.join(EXAMPLE);
        let existing = if path.is_file() { Some(EnvFile::read(&path)?) } else { None };
        let (text, added) = render(existing.as_ref(), &keys);
        if write && (existing.is_none() || !added.is_empty()) {
            crate::fsutil::atomic_write(&path, text.as_bytes(), 0o644)
                .map_err(|source| crate::parse::ParseError::Io { path: path.display().to_string(), source })?;
        }
        out.push(ExampleOutcome { file: path.display().to_string(), added, created: existing.is_none() });
    }
    Ok(out)
}
