//! Running a scan: sources (folders, files, stdin, staged changes, git history) feed worker threads; their events
//! come back to the caller's thread, which applies suppression and the confidence threshold, counts, and reports.
//!
//! Memory is bounded: a worker holds one file at a time (at most `max_file_size` bytes), channels are bounded, and
//! files over the limit are skipped with a note rather than read.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Instant;

use ignore::{WalkBuilder, WalkState};
use serde::Serialize;

use crate::finding::Finding;
use crate::git;
pub use crate::git::repo_root;
use crate::rules::Confidence;
use crate::scanner::Scanner;
use crate::suppress::{Baseline, IgnoreList};

/// A file whose first 8 KiB hold a NUL byte is binary and skipped.
const BINARY_PROBE: usize = 8 * 1024;

/// What to scan.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Folders (walked, git-ignore aware), files and `-` for stdin.
    Paths(Vec<Source>),
    /// The lines added in the index of the repository containing this folder (`git diff --cached`).
    Staged(PathBuf),
    /// Every distinct blob reachable from a revision range (`--all` by default) of the repository containing this
    /// folder, once each.
    History {
        /// A folder inside the repository.
        repo: PathBuf,
        /// Arguments for `git log`, such as `--all` or `main..feature`.
        range: String,
    },
}

/// One command-line source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder or file. `shown` is false when the user gave no path and `.` is implied: paths are then shown
    /// relative to it, without a `./` prefix.
    Path {
        /// The path as given.
        path: PathBuf,
        /// Whether to show it in front of relative paths.
        shown: bool,
    },
    /// Standard input, shown as `-`.
    Stdin,
}

/// How to scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Files larger than this are skipped with a note.
    pub max_file_size: u64,
    /// Worker threads.
    pub threads: usize,
    /// Scan files that `.gitignore` and friends exclude.
    pub no_ignore: bool,
    /// Paths and fingerprints to leave out.
    pub ignore: IgnoreList,
}

/// Why a file was not scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A NUL byte in its first 8 KiB.
    Binary,
    /// Larger than `--max-file-size`; holds the size.
    TooLarge(u64),
}

/// What workers report.
#[derive(Debug)]
pub enum Event {
    /// A file (or blob, or staged diff) was scanned.
    Scanned {
        /// Its size.
        bytes: u64,
        /// What was found, before suppression.
        findings: Vec<Finding>,
    },
    /// A file was skipped.
    Skipped {
        /// The path shown to the user.
        path: String,
        /// Why.
        reason: SkipReason,
    },
    /// A file could not be read; the scan goes on.
    Error {
        /// The path shown to the user.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Why a scan could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A git command failed (not a repository, bad range, git missing).
    #[error("{0}")]
    Git(String),
    /// The consumer of events failed (for example, writing output).
    #[error(transparent)]
    Output(#[from] io::Error),
}

/// The final counts, written as the `summary` record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files, blobs or staged diffs scanned.
    pub files_scanned: u64,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Files skipped as binary.
    pub files_skipped_binary: u64,
    /// Files skipped as larger than `--max-file-size`.
    pub files_skipped_too_large: u64,
    /// Files that could not be read.
    pub errors: u64,
    /// Findings reported.
    pub findings: u64,
    /// Findings left out by the baseline or the ignore file.
    pub suppressed: u64,
    /// Findings below `--min-confidence`.
    pub below_min_confidence: u64,
    /// Wall-clock time.
    pub duration_ms: u64,
}

/// What a reported finding has passed: suppression and the confidence threshold.
#[derive(Debug)]
pub struct Gate<'a> {
    /// Accepted findings.
    pub baseline: Option<&'a Baseline>,
    /// Ignored fingerprints (its paths were applied while walking).
    pub ignore: &'a IgnoreList,
    /// Findings below this are not reported.
    pub min_confidence: Confidence,
}

/// Runs a scan. `on_event` sees every event on the calling thread; `on_finding` sees each finding that passes the
/// gate, as soon as it is found. An error from either stops the scan.
pub fn run(
    scanner: &Scanner,
    plan: &Plan,
    options: &ScanOptions,
    gate: &Gate<'_>,
    mut on_event: impl FnMut(&Event),
    mut on_finding: impl FnMut(Finding) -> io::Result<()>,
) -> Result<Summary, ScanError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let (sender, receiver) = mpsc::sync_channel::<Event>(256);
    std::thread::scope(|scope| -> Result<(), ScanError> {
        let producer = scope.spawn(move || produce(scanner, plan, options, &sender));
        let consumed = consume(receiver, &mut summary, gate, &mut on_event, &mut on_finding);
        let produced = producer.join().expect("scan workers do not panic");
        consumed?;
        produced
    })?;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
}

fn consume(
    receiver: Receiver<Event>,
    summary: &mut Summary,
    gate: &Gate<'_>,
    on_event: &mut impl FnMut(&Event),
    on_finding: &mut impl FnMut(Finding) -> io::Result<()>,
) -> io::Result<()> {
    for mut event in receiver {
        on_event(&event);
        match &mut event {
            Event::Scanned { bytes, findings } => {
                summary.files_scanned += 1;
                summary.bytes_scanned += *bytes;
                for finding in findings.drain(..) {
                    if gate.ignore.fingerprint_ignored(&finding) || gate.baseline.is_some_and(|b| b.contains(&finding))
                    {
                        summary.suppressed += 1;
                    } else if finding.confidence < gate.min_confidence {
                        summary.below_min_confidence += 1;
                    } else {
                        summary.findings += 1;
                        on_finding(finding)?;
                    }
                }
            }
            Event::Skipped { reason: SkipReason::Binary, .. } => summary.files_skipped_binary += 1,
            Event::Skipped { reason: SkipReason::TooLarge(_), .. } => summary.files_skipped_too_large += 1,
            Event::Error { .. } => summary.errors += 1,
        }
    }
    Ok(())
}

fn produce(scanner: &Scanner, plan: &Plan, options: &ScanOptions, sender: &SyncSender<Event>) -> Result<(), ScanError> {
    match plan {
        Plan::Paths(sources) => {
            for source in sources {
                match source {
                    Source::Stdin => scan_stdin(scanner, options, sender),
                    Source::Path { path, shown } => scan_path(scanner, path, *shown, options, sender),
                }
            }
            Ok(())
        }
        Plan::Staged(repo) => git::scan_staged(scanner, repo, options, sender),
        Plan::History { repo, range } => git::scan_history(scanner, repo, range, options, sender),
    }
}

/// `/`-separated text of a path, without a leading `./`.
pub(crate) fn slash_path(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    match text.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => text,
    }
}

/// The top folder of the git work tree holding `path` (a folder with `.git` in it, a folder or a file as in
/// linked work trees and submodules), found without running git: every scan asks, and a process costs more than
/// the scan of a small tree.
pub fn repo_top(path: &Path) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(path).ok()?;
    canonical.ancestors().find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}

/// Where `path` sits below the top of its git work tree (`""` for the top itself, `sub/dir`, `sub/file.py`), or
/// `None` outside a work tree.
pub fn repo_prefix(path: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let top = canonical.ancestors().find(|dir| dir.join(".git").exists())?;
    let below = canonical.strip_prefix(top).ok()?;
    Some(if below.as_os_str().is_empty() { String::new() } else { slash_path(below) })
}

/// `relative` (to the scan root) as a path relative to the repository root, given the scan root's prefix.
fn rooted(prefix: Option<&str>, relative: &str) -> String {
    match prefix {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}/{relative}"),
        _ => relative.to_owned(),
    }
}

fn scan_path(scanner: &Scanner, root: &Path, shown: bool, options: &ScanOptions, sender: &SyncSender<Event>) {
    // Inside a git work tree, files are known by their path from its top, whatever folder was scanned: the same
    // file has the same fingerprint, baseline entry and SARIF location from the root or from a subfolder.
    let prefix = repo_prefix(root);
    if !root.is_dir() {
        let display = slash_path(root);
        let relative = prefix.filter(|p| !p.is_empty()).unwrap_or_else(|| display.clone());
        if !options.ignore.path_ignored(&relative, false) {
            let mut buffer = Vec::new();
            scan_file(scanner, root, &relative, &display, options, &mut buffer, sender);
        }
        return;
    }
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .parents(!options.no_ignore)
        .ignore(!options.no_ignore)
        .git_ignore(!options.no_ignore)
        .git_global(!options.no_ignore)
        .git_exclude(!options.no_ignore)
        .require_git(false)
        .threads(options.threads);
    let ignore = options.ignore.clone();
    let filter_root = root.to_path_buf();
    let filter_prefix = prefix.clone();
    builder.filter_entry(move |entry| {
        if entry.file_name() == ".git" {
            return false;
        }
        let relative = entry.path().strip_prefix(&filter_root).map(slash_path).unwrap_or_default();
        relative.is_empty()
            || !ignore.path_ignored(
                &rooted(filter_prefix.as_deref(), &relative),
                entry.file_type().is_some_and(|t| t.is_dir()),
            )
    });
    builder.build_parallel().run(|| {
        let mut buffer = Vec::new();
        let prefix = prefix.clone();
        Box::new(move |entry| {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    let event = Event::Error { path: root.display().to_string(), message: error.to_string() };
                    return if sender.send(event).is_ok() { WalkState::Continue } else { WalkState::Quit };
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let path = entry.path();
            let relative = path.strip_prefix(root).map(slash_path).unwrap_or_else(|_| slash_path(path));
            let display = if shown { path.to_string_lossy().into_owned() } else { relative.clone() };
            let relative = rooted(prefix.as_deref(), &relative);
            if scan_file(scanner, path, &relative, &display, options, &mut buffer, sender) {
                WalkState::Continue
            } else {
                WalkState::Quit
            }
        })
    });
}

/// Scans one file; returns false when the consumer has gone away.
fn scan_file(
    scanner: &Scanner,
    path: &Path,
    relative: &str,
    display: &str,
    options: &ScanOptions,
    buffer: &mut Vec<u8>,
    sender: &SyncSender<Event>,
) -> bool {
    let event = match read_bounded(path, options.max_file_size, buffer) {
        Err(error) => Event::Error { path: display.to_owned(), message: error.to_string() },
        Ok(Some(size)) => Event::Skipped { path: display.to_owned(), reason: SkipReason::TooLarge(size) },
        Ok(None) => scan_buffer(scanner, relative, display, buffer),
    };
    sender.send(event).is_ok()
}

/// Reads a file into `buffer` unless it is larger than `limit`, in which case its size is returned.
fn read_bounded(path: &Path, limit: u64, buffer: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(Some(size));
    }
    buffer.clear();
    file.take(limit + 1).read_to_end(buffer)?;
    let read = buffer.len() as u64;
    Ok((read > limit).then_some(read))
}

/// Scans bytes already in memory, skipping binary content.
pub(crate) fn scan_buffer(scanner: &Scanner, relative: &str, display: &str, data: &[u8]) -> Event {
    if is_binary(data) {
        return Event::Skipped { path: display.to_owned(), reason: SkipReason::Binary };
    }
    let mut findings = scanner.scan_bytes(relative, data);
    if relative != display {
        for finding in &mut findings {
            finding.path = display.to_owned();
        }
    }
    Event::Scanned { bytes: data.len() as u64, findings }
}

pub(crate) fn is_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(BINARY_PROBE)]).is_some()
}

fn scan_stdin(scanner: &Scanner, options: &ScanOptions, sender: &SyncSender<Event>) {
    let mut buffer = Vec::new();
    let event = match io::stdin().lock().take(options.max_file_size + 1).read_to_end(&mut buffer) {
        Err(error) => Event::Error { path: "-".into(), message: error.to_string() },
        Ok(read) if read as u64 > options.max_file_size => {
            Event::Skipped { path: "-".into(), reason: SkipReason::TooLarge(read as u64) }
        }
        Ok(_) => scan_buffer(scanner, "-", "-", &buffer),
    };
    let _ = sender.send(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_dot_slash() {
        assert_eq!(slash_path(Path::new("./src/a.py")), "src/a.py");
        assert_eq!(slash_path(Path::new(".")), ".");
        assert_eq!(slash_path(Path::new("src/a.py")), "src/a.py");
    }

    #[test]
    fn nul_bytes_mean_binary() {
        assert!(is_binary(b"PK\x03\x04\x00\x00"));
        assert!(!is_binary("plain text, é".as_bytes()));
    }
}
