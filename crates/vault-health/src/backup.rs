//! Backup age: how old the newest backup file in a folder is.
//!
//! vault-backup writes one file per snapshot into its local folder; a timer that stopped, a full disk or a
//! revoked token shows up here as a growing age. Only the folder's own entries are looked at (not
//! subfolders), by file name against a glob (`*.snap*` by default: `.snap`, `.snap.gz`, `.snap.gz.age`), and
//! the newest by modification time wins.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use vault_core::output::human_duration;

use crate::details::BackupDetails;
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};
use crate::{BackupOptions, Thresholds};

/// Finds the newest matching file and judges its age.
pub(crate) fn check(options: &BackupOptions, thresholds: &Thresholds, now: SystemTime) -> Check {
    let matcher = match globset::Glob::new(&options.pattern) {
        Ok(glob) => glob.compile_matcher(),
        Err(e) => return Check::new(CheckName::Backup, Status::Unknown, format!("--backup-pattern: {e}")),
    };
    let dir = &options.dir;
    let (files, newest) = match newest(dir, &matcher) {
        Ok(found) => found,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::new(CheckName::Backup, Status::Crit, format!("no backup folder {}", dir.display()));
        }
        Err(e) => return Check::new(CheckName::Backup, Status::Unknown, format!("cannot read {}: {e}", dir.display())),
    };
    let mut details = BackupDetails {
        dir: dir.clone(),
        pattern: options.pattern.clone(),
        files,
        newest: None,
        modified: None,
        age_seconds: None,
    };
    let Some((path, modified)) = newest else {
        return Check::new(
            CheckName::Backup,
            Status::Crit,
            format!("no backup matching {:?} in {}", options.pattern, dir.display()),
        )
        .details(Details::Backup(details));
    };
    // A file from the future (clock change, copied with its times) counts as brand new rather than failing.
    let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
    let limits = Limits::above(thresholds.backup_warn.as_secs_f64(), thresholds.backup_crit.as_secs_f64());
    let status = limits.status(age.as_secs_f64());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut summary = format!("newest backup {name} is {} old ({files} in {})", human_duration(age), dir.display());
    if status != Status::Ok {
        let threshold = if status == Status::Crit { thresholds.backup_crit } else { thresholds.backup_warn };
        summary.push_str(&format!(", over {}", human_duration(threshold)));
    }
    details.newest = Some(path);
    details.modified = Some(DateTime::<Utc>::from(modified));
    details.age_seconds = Some(age.as_secs_f64());
    Check::new(CheckName::Backup, status, summary)
        .metric(Metric::seconds("backup_age", age, Some(limits)))
        .details(Details::Backup(details))
}

/// The number of matching regular files and the newest one with its modification time.
fn newest(dir: &Path, matcher: &globset::GlobMatcher) -> std::io::Result<(usize, Option<(PathBuf, SystemTime)>)> {
    let mut count = 0;
    let mut best: Option<(PathBuf, SystemTime)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !matcher.is_match(entry.file_name()) {
            continue;
        }
        // Follows symlinks, so a `latest.snap` link to the real file counts as that file.
        let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
        if !meta.is_file() {
            continue;
        }
        count += 1;
        let modified = meta.modified()?;
        if best.as_ref().is_none_or(|(_, t)| modified > *t) {
            best = Some((entry.path(), modified));
        }
    }
    Ok((count, best))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, age: Duration) {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn the_newest_matching_file_decides() {
        let dir = tempfile::tempdir().unwrap();
        let hours = |h: u64| Duration::from_secs(h * 3600);
        touch(dir.path(), "vault-1.snap.gz", hours(60));
        touch(dir.path(), "vault-2.snap.gz", hours(30));
        touch(dir.path(), "notes.txt", hours(0));
        std::fs::create_dir(dir.path().join("new.snap")).unwrap();
        let options = BackupOptions { dir: dir.path().to_owned(), pattern: "*.snap*".into() };
        let c = check(&options, &Thresholds::default(), SystemTime::now());
        assert_eq!(c.status, Status::Warn, "{}", c.summary);
        assert!(c.summary.starts_with("newest backup vault-2.snap.gz is 1d6h old (2 in "), "{}", c.summary);

        touch(dir.path(), "vault-3.snap.gz", hours(1));
        assert_eq!(check(&options, &Thresholds::default(), SystemTime::now()).status, Status::Ok);

        let none = BackupOptions { pattern: "*.tar".into(), ..options.clone() };
        assert_eq!(check(&none, &Thresholds::default(), SystemTime::now()).status, Status::Crit);
        let missing = BackupOptions { dir: dir.path().join("nope"), ..options };
        assert_eq!(check(&missing, &Thresholds::default(), SystemTime::now()).status, Status::Crit);
    }
}
