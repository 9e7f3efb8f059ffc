//! `audit-parse retain`: compress rotated audit logs after some days and delete them after more, never touching the
//! live files a device writes.
//!
//! A file is live when its name has no rotation suffix (`audit.log`, not `audit.log.1`, `audit.log.2.gz` or
//! `audit.log-20261127`), or when it is named with `--live`. Compression writes `NAME.gz` beside the file through a
//! temporary file that is renamed into place, keeps the original's modification time (so its age carries on),
//! and only then removes the original: a crash leaves the original or both, never neither. Files not named like
//! an audit log rotation (`*.log.N`, `*.log-DATE`, `*.json.N`, `*.gz`) are ignored, so pointing it at the wrong
//! folder cannot delete backups or anything else.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;

use crate::error::Error;
use crate::input::{Rotation, rotation_of};

/// What to do with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A live file: never touched.
    Live,
    /// Not named like an audit log or one of its rotations: never touched.
    Ignored,
    /// Young enough to stay as it is.
    Keep,
    /// Compressed to `NAME.gz`.
    Compress,
    /// Deleted.
    Delete,
}

/// One file's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// The file.
    pub path: PathBuf,
    /// What happens (or would, with `--dry-run`).
    pub action: Action,
    /// Its age in whole days, from its modification time.
    pub age_days: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether the action was carried out (false with `--dry-run`, and for `live`/`keep`).
    pub done: bool,
}

/// Settings for [`retain`].
#[derive(Debug, Clone)]
pub struct RetainOptions {
    /// The folder holding the logs.
    pub dir: PathBuf,
    /// Delete rotated logs older than this many days.
    pub keep_days: u64,
    /// Compress rotated logs older than this many days.
    pub compress_after_days: u64,
    /// Files never touched besides the unsuffixed ones.
    pub live: Vec<PathBuf>,
    /// Plan only.
    pub dry_run: bool,
    /// The time ages are measured from (now, except in tests).
    pub now: SystemTime,
}

const DAY: u64 = 86_400;

/// Plans and (unless dry-run) carries out compression and deletion in `dir` (not recursive). Returns one row per
/// file, sorted by name.
pub fn retain(options: &RetainOptions) -> Result<Vec<Planned>, Error> {
    let dir = &options.dir;
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let meta = entry.metadata().map_err(|e| Error::io(&entry.path(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Our own temporaries from an interrupted run, and anything not a regular file, are left alone.
        if meta.is_file() && !name.starts_with(".tmp-") {
            files.push((entry.path(), meta));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let live: Vec<PathBuf> = options.live.iter().map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect();
    // `--live NAME` without a folder also names the file NAME in `dir`, wherever the command runs from.
    let live_names: Vec<&std::ffi::OsStr> = options
        .live
        .iter()
        .filter(|p| p.parent().is_none_or(|d| d.as_os_str().is_empty()))
        .filter_map(|p| p.file_name())
        .collect();
    let mut plan = Vec::new();
    for (path, meta) in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (_, rotation) = rotation_of(&name);
        let canonical = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let modified = meta.modified().map_err(|e| Error::io(&path, e))?;
        let age = options.now.duration_since(modified).unwrap_or(Duration::ZERO).as_secs();
        let age_days = age / DAY;
        let is_gz = name.ends_with(".gz");
        let named_live = live.contains(&canonical) || path.file_name().is_some_and(|n| live_names.contains(&n));
        let action = if rotation == Rotation::Live || named_live {
            // `audit.log.gz` without a rotation number is not something a device writes; still, be safe.
            Action::Live
        } else if !crate::input::looks_like_audit_log(&name) {
            Action::Ignored
        } else if age > options.keep_days * DAY {
            Action::Delete
        } else if !is_gz && age > options.compress_after_days * DAY {
            Action::Compress
        } else {
            Action::Keep
        };
        let mut row = Planned { path: path.clone(), action, age_days, bytes: meta.len(), done: false };
        if !options.dry_run {
            match action {
                Action::Delete => {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    row.done = true;
                }
                Action::Compress => {
                    compress(&path, modified)?;
                    row.done = true;
                }
                Action::Live | Action::Ignored | Action::Keep => {}
            }
        }
        plan.push(row);
    }
    Ok(plan)
}

/// Gzips `path` to `path.gz` atomically, keeps the modification time, then removes `path`.
fn compress(path: &Path, modified: SystemTime) -> Result<(), Error> {
    let target = PathBuf::from(format!("{}.gz", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io_err = |e: io::Error| Error::io(path, e);
    let mut input = BufReader::new(File::open(path).map_err(io_err)?);
    let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let mut encoder = GzEncoder::new(BufWriter::new(temp), Compression::default());
    io::copy(&mut input, &mut encoder).map_err(io_err)?;
    let mut writer = encoder.finish().map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    let temp = writer.into_inner().map_err(|e| io_err(e.into_error()))?;
    temp.as_file().sync_all().map_err(io_err)?;
    // Audit logs are for the few: keep the original's permissions rather than the temp file's default.
    let perms = fs::metadata(path).map_err(io_err)?.permissions();
    temp.as_file().set_permissions(perms).map_err(io_err)?;
    temp.as_file().set_modified(modified).map_err(io_err)?;
    temp.persist(&target).map_err(|e| Error::io(&target, e.error))?;
    fs::remove_file(path).map_err(io_err)
}
