//! Files that must never be half-written: atomic replacement (temp file in the same folder, fsync, rename) that
//! keeps the file's mode and owner, 0600 backups in a `.env-migrate/` folder beside the file, and re-reading the
//! plan's sources to check their values still match the plan's fingerprints.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vault_core::SecretString;
use vault_core::fsutil::{Atomic, Mode, folder_of};

use crate::detect::process_env;
use crate::parse::EnvFile;
use crate::plan::Plan;

/// The folder beside an env file where its backups live.
pub const BACKUP_DIR: &str = ".env-migrate";

/// Replaces `path` with `bytes` atomically, keeping its mode and owner (mode `new_mode` when it does not exist).
pub fn atomic_write(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    Atomic::new(Mode::KeepOr(new_mode)).keep_owner().prefix(".env-migrate-tmp-").write(path, bytes).map(drop)
}

/// Writes a 0600 copy of `path` into `.env-migrate/` beside it, named `<file>.<timestamp>.bak`; returns its path.
pub fn backup(path: &Path) -> io::Result<PathBuf> {
    let bytes = fs::read(path)?;
    let dir = folder_of(path).join(BACKUP_DIR);
    fs::create_dir_all(&dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    // Backups hold the values: make sure git never picks them up.
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        fs::write(&ignore, "# Backups of env files made by env-migrate: they hold secret values.\n*\n")?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let target = dir.join(format!("{name}.{stamp}.bak"));
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
    temp.as_file().set_permissions(fs::Permissions::from_mode(0o600))?;
    temp.write_all(&bytes)?;
    temp.as_file().sync_all()?;
    // Never over another backup (two within a microsecond): persist_noclobber, which AtomicFile does not offer.
    temp.persist_noclobber(&target).map_err(|e| e.error)?;
    Ok(target)
}

/// The newest backup of `path`, if any.
pub fn latest_backup(path: &Path) -> Option<PathBuf> {
    let dir = folder_of(path).join(BACKUP_DIR);
    let name = path.file_name()?.to_string_lossy().into_owned();
    let prefix = format!("{name}.");
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().map(|n| n.to_string_lossy().into_owned()).is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix(".bak"))
                    .is_some_and(|stamp| stamp.len() >= 16 && stamp.starts_with(|c: char| c.is_ascii_digit()))
            })
        })
        .collect();
    found.sort();
    found.pop()
}

/// Whether a file is meant to be read-only: no write bit at all (root could still write it, but must not).
pub fn is_read_only(path: &Path) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o222 == 0 {
        return Ok(true);
    }
    Ok(fs::OpenOptions::new().append(true).open(path).is_err())
}

/// The plan's values as the sources hold them now: entry index → value. Every entry whose source is unreadable,
/// lost the variable, or whose value no longer matches the plan's fingerprint is a problem; any problem means
/// nothing may be written.
pub fn current_values(plan: &Plan) -> Result<BTreeMap<usize, SecretString>, Vec<String>> {
    let mut files: BTreeMap<&str, Result<Vec<crate::parse::Resolved>, String>> = BTreeMap::new();
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, e) in plan.entries.iter().enumerate() {
        let at = format!("{}:{} {}", e.source, e.line, e.key);
        let value = if e.source == crate::ENVIRONMENT {
            std::env::var(&e.key).ok().map(SecretString::new)
        } else {
            let parsed = files.entry(&e.source).or_insert_with(|| {
                EnvFile::read(Path::new(&e.source)).map(|f| f.resolve(&process_env)).map_err(|err| err.to_string())
            });
            match parsed {
                Ok(vars) => vars.iter().find(|r| r.key == e.key).and_then(|r| r.value.clone()),
                Err(err) => {
                    problems.push(err.clone());
                    continue;
                }
            }
        };
        match value {
            None => problems.push(format!("{at}: the variable is no longer set")),
            Some(v) if plan.fingerprint.of(&v) != e.fingerprint => {
                problems
                    .push(format!("{at}: the value changed since the plan was made (run `env-migrate plan` again)"));
            }
            Some(v) => {
                values.insert(i, v);
            }
        }
    }
    problems.dedup();
    if problems.is_empty() { Ok(values) } else { Err(problems) }
}
