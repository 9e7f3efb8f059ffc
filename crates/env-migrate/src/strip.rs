//! Stripping: for every plan entry whose value Vault holds (read again now, compared by fingerprint) and whose
//! file still holds the planned value, rewrite the env file in place: the value becomes `""` followed by a
//! comment naming its Vault path, or (with `remove`) the statement goes. Everything else in the file stays
//! byte for byte. Each file is backed up (0600, `.env-migrate/` beside it) and replaced atomically; the result is
//! parsed again before it replaces the original. [`rollback`] puts a backup back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use vault_core::Client;

use crate::fsutil;
use crate::parse::EnvFile;
use crate::plan::Plan;

/// What happened to one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileOutcome {
    /// The env file.
    pub file: String,
    /// Keys stripped (or that would be).
    pub stripped: Vec<String>,
    /// Keys left in place, each with the reason.
    pub kept: Vec<Kept>,
    /// The backup written.
    pub backup: Option<String>,
    /// Variables left in the file that interpolate a stripped one (their value changes).
    pub warnings: Vec<String>,
    /// Why the file was not changed at all, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A key left in the file.
#[derive(Clone, Debug, Serialize)]
pub struct Kept {
    /// The variable.
    pub key: String,
    /// 1-based line.
    pub line: usize,
    /// Why it stays.
    pub reason: String,
}

/// Errors that stop `strip` before any file is touched.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// A source file does not parse.
    #[error(transparent)]
    Parse(#[from] crate::parse::ParseError),
    /// Vault could not be read: nothing can be verified, so nothing is stripped.
    #[error(transparent)]
    Vault(#[from] vault_core::Error),
}

/// Rewrites the text of `file`, stripping `targets` (key → `path#key` comment). Returns the new text.
pub fn rewrite(file: &EnvFile, targets: &BTreeMap<String, String>, remove: bool) -> String {
    let text = &file.text;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for e in &file.entries {
        let Some(target) = targets.get(&e.key) else { continue };
        if remove {
            let line_start = text[..e.span.0].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            let mut end = e.span.1;
            if text[end..].starts_with("\r\n") {
                end += 2;
            } else if text[end..].starts_with(['\n', '\r']) {
                end += 1;
            }
            edits.push((line_start, end, String::new()));
        } else if let Some((a, b)) = e.value_span {
            edits.push((a, b, format!("\"\" # in Vault: {target}")));
        }
    }
    edits.sort_by_key(|(a, _, _)| std::cmp::Reverse(*a));
    let mut out = text.clone();
    for (a, b, with) in edits {
        out.replace_range(a..b, &with);
    }
    out
}

/// Checks a rewritten text: it parses, the stripped keys are empty (or gone), and every other statement has the
/// same key and value as before, in the same order.
fn check_rewrite(
    old: &EnvFile,
    new_text: &str,
    targets: &BTreeMap<String, String>,
    remove: bool,
) -> Result<(), String> {
    let new = EnvFile::parse_bytes(&old.path, new_text.as_bytes().to_vec()).map_err(|e| e.to_string())?;
    let expect: Vec<(&str, Option<&str>)> = old
        .entries
        .iter()
        .filter(|e| !(remove && targets.contains_key(&e.key)))
        .map(|e| {
            let v = if targets.contains_key(&e.key) { Some("") } else { e.raw.as_ref().map(|v| v.expose()) };
            (e.key.as_str(), v)
        })
        .collect();
    let got: Vec<(&str, Option<&str>)> =
        new.entries.iter().map(|e| (e.key.as_str(), e.raw.as_ref().map(|v| v.expose()))).collect();
    if expect == got {
        Ok(())
    } else {
        Err("the rewritten file would not read back as intended; left unchanged".into())
    }
}

/// Strips verified values from the plan's files. With `dry_run`, reports without writing.
pub async fn strip(client: &Client, plan: &Plan, remove: bool, dry_run: bool) -> Result<Vec<FileOutcome>, StripError> {
    // Parse every file first: a file that does not parse stops everything before anything is written.
    let mut files: BTreeMap<String, EnvFile> = BTreeMap::new();
    for e in &plan.entries {
        if e.source != crate::ENVIRONMENT && !files.contains_key(&e.source) {
            files.insert(e.source.clone(), EnvFile::read(Path::new(&e.source))?);
        }
    }
    // Read each target secret once, now, 8 at a time.
    type Read = Result<Option<std::sync::Arc<vault_core::KvSecret>>, String>;
    let mut vault: BTreeMap<String, Read> = BTreeMap::new();
    let pool = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for path in plan.entries.iter().map(|e| e.target.path.clone()).collect::<BTreeSet<_>>() {
        let (client, pool) = (client.clone(), pool.clone());
        tasks.spawn(async move {
            let _permit = pool.acquire_owned().await.expect("the pool is never closed");
            let read = match client.kv_path(&path).await {
                Ok(p) => client.kv_read(&p, None).await,
                Err(e) => Err(e),
            };
            (path, read)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (path, read) = joined.expect("read tasks do not panic");
        let read = match read {
            Ok(secret) => Ok(Some(secret)),
            Err(e) if e.is_not_found() => Ok(None),
            // An unreachable or sealed server (or a bad token) stops everything: nothing can be verified.
            Err(e) if e.exit() == vault_core::Exit::Unavailable => return Err(e.into()),
            Err(e) => Err(e.to_string()),
        };
        vault.insert(path, read);
    }
    let mut outcomes = Vec::new();
    for (source, file) in &files {
        let resolved = file.resolve(&crate::detect::process_env);
        let mut targets = BTreeMap::new();
        let mut kept = Vec::new();
        for e in plan.entries.iter().filter(|e| &e.source == source) {
            let keep = |reason: String| Kept { key: e.key.clone(), line: e.line, reason };
            let current = resolved.iter().find(|r| r.key == e.key).and_then(|r| r.value.as_ref());
            match current {
                None => {
                    kept.push(keep("no longer set in the file".into()));
                    continue;
                }
                Some(v) if plan.fingerprint.of(v) != e.fingerprint => {
                    kept.push(keep("the file's value changed since the plan was made".into()));
                    continue;
                }
                Some(_) => {}
            }
            let verified = match vault.get(&e.target.path) {
                Some(Ok(Some(secret))) => {
                    secret.data.get(&e.target.key).is_some_and(|v| plan.fingerprint.of(v) == e.fingerprint)
                }
                Some(Ok(None)) | None => false,
                Some(Err(err)) => {
                    kept.push(keep(format!("cannot read {}: {err}", e.target.path)));
                    continue;
                }
            };
            if !verified {
                kept.push(keep(format!("{}#{} does not hold this value (run apply)", e.target.path, e.target.key)));
                continue;
            }
            targets.insert(e.key.clone(), format!("{}#{}", e.target.path, e.target.key));
        }
        let warnings = resolved
            .iter()
            .filter(|r| !targets.contains_key(&r.key))
            .flat_map(|r| {
                r.references.iter().filter(|k| targets.contains_key(*k)).map(move |k| {
                    format!("{}:{}: {} interpolates ${{{k}}}, which is now empty in this file", source, r.line, r.key)
                })
            })
            .collect();
        let mut outcome = FileOutcome {
            file: source.clone(),
            stripped: targets.keys().cloned().collect(),
            kept,
            backup: None,
            warnings,
            error: None,
        };
        if !targets.is_empty()
            && let Err(why) = write_stripped(file, &targets, remove, dry_run, &mut outcome)
        {
            outcome.error = Some(why);
            outcome.stripped.clear();
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn write_stripped(
    file: &EnvFile,
    targets: &BTreeMap<String, String>,
    remove: bool,
    dry_run: bool,
    outcome: &mut FileOutcome,
) -> Result<(), String> {
    let shown = file.path.display();
    let new_text = rewrite(file, targets, remove);
    check_rewrite(file, &new_text, targets, remove)?;
    if dry_run {
        return Ok(());
    }
    match fsutil::is_read_only(&file.path) {
        Ok(true) => return Err(format!("{shown} is read-only; not changed")),
        Ok(false) => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    // The file must still be what was parsed: a concurrent edit is not overwritten.
    let on_disk = std::fs::read(&file.path).map_err(|e| format!("{shown}: {e}"))?;
    let mut expected = Vec::new();
    if file.bom {
        expected.extend_from_slice("\u{feff}".as_bytes());
    }
    expected.extend_from_slice(file.text.as_bytes());
    if on_disk != expected {
        return Err(format!("{shown} changed while stripping; not changed (run strip again)"));
    }
    let backup = fsutil::backup(&file.path).map_err(|e| format!("{shown}: cannot write a backup: {e}"))?;
    outcome.backup = Some(backup.display().to_string());
    let mut bytes = Vec::with_capacity(new_text.len() + 3);
    if file.bom {
        bytes.extend_from_slice("\u{feff}".as_bytes());
    }
    bytes.extend_from_slice(new_text.as_bytes());
    fsutil::atomic_write(&file.path, &bytes, 0o600).map_err(|e| format!("{shown}: cannot rewrite: {e}; left unchanged"))
}

/// What `rollback` did for one file.
#[derive(Clone, Debug, Serialize)]
pub struct Restored {
    /// The env file.
    pub file: String,
    /// The backup it was restored from.
    pub backup: Option<String>,
    /// Why not, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Restores each file from its newest backup (atomically; the backup is kept).
pub fn rollback(files: &[PathBuf]) -> Vec<Restored> {
    files
        .iter()
        .map(|f| {
            let file = f.display().to_string();
            let Some(backup) = fsutil::latest_backup(f) else {
                return Restored { file, backup: None, error: Some("no backup found in .env-migrate/".into()) };
            };
            let result = std::fs::read(&backup).and_then(|bytes| fsutil::atomic_write(f, &bytes, 0o600));
            Restored {
                file,
                backup: Some(backup.display().to_string()),
                error: result.err().map(|e| format!("cannot restore: {e}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> EnvFile {
        EnvFile::parse_bytes(Path::new(".env"), text.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn replace_keeps_everything_else() {
        let text = "# db\nexport DB_PASSWORD=\"multi\nline\" # old\nLOG=info\r\nTOKEN=abc # note\nLAST='x'";
        let f = file(text);
        let targets: BTreeMap<String, String> =
            [("DB_PASSWORD", "secret/a/b/database#DB_PASSWORD"), ("TOKEN", "secret/a/b/api-keys#TOKEN")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
        let out = rewrite(&f, &targets, false);
        assert_eq!(
            out,
            "# db\nexport DB_PASSWORD=\"\" # in Vault: secret/a/b/database#DB_PASSWORD # old\nLOG=info\r\nTOKEN=\"\" # in Vault: secret/a/b/api-keys#TOKEN # note\nLAST='x'"
        );
        check_rewrite(&f, &out, &targets, false).unwrap();
        let out = rewrite(&f, &targets, true);
        assert_eq!(out, "# db\nLOG=info\r\nLAST='x'");
        check_rewrite(&f, &out, &targets, true).unwrap();
    }
}
