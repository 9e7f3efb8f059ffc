//! Git sources: the lines added in the index (`--staged`, for pre-commit hooks) and every distinct blob of a
//! revision range (`--git-history`), each scanned once and reported with the commit that introduced it.
//!
//! History streams `git log --raw` into `git cat-file --batch`: one thread feeds object ids, one reads blobs, and
//! worker threads scan them. Pipes and bounded channels keep memory bounded whatever the repository's size.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};

use crate::scan::{Event, ScanError, ScanOptions, SkipReason, scan_buffer};
use crate::scanner::Scanner;

fn git(repo: &Path) -> Command {
    let mut command = Command::new("git");
    command.arg("-C").arg(repo).args(["-c", "core.quotepath=off"]);
    command
}

fn run_git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, ScanError> {
    let output = git(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ScanError::Git(format!("cannot run git: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ScanError::Git(format!("git {}: {}", args.join(" "), stderr.trim())));
    }
    Ok(output.stdout)
}

/// The top folder of the work tree containing `dir`.
pub fn repo_root(dir: &Path) -> Result<PathBuf, ScanError> {
    let out = run_git(dir, &["rev-parse", "--show-toplevel"])?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out).trim_end_matches(['\n', '\r'])))
}

/// A path inside the repository's git folder (`git rev-parse --git-path`), absolute.
pub fn git_path(root: &Path, name: &str) -> Result<PathBuf, ScanError> {
    let out = run_git(root, &["rev-parse", "--git-path", name])?;
    let path = PathBuf::from(String::from_utf8_lossy(&out).trim_end_matches(['\n', '\r']));
    Ok(if path.is_absolute() { path } else { root.join(path) })
}

/// The added lines of one file in a diff, and the file line each came from.
#[derive(Debug, Default)]
struct Added {
    path: String,
    text: Vec<u8>,
    lines: Vec<usize>,
}

/// Scans the lines added in the index: what `git commit` would record.
pub(crate) fn scan_staged(
    scanner: &Scanner,
    repo: &Path,
    options: &ScanOptions,
    sender: &SyncSender<Event>,
) -> Result<(), ScanError> {
    let root = repo_root(repo)?;
    let diff = run_git(
        &root,
        &[
            "diff",
            "--cached",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--diff-filter=ACMR",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ],
    )?;
    for added in parse_added_lines(&diff) {
        if options.ignore.path_ignored(&added.path, false) {
            continue;
        }
        if added.text.len() as u64 > options.max_file_size {
            let event = Event::Skipped { path: added.path, reason: SkipReason::TooLarge(added.text.len() as u64) };
            if sender.send(event).is_err() {
                break;
            }
            continue;
        }
        let mut event = scan_buffer(scanner, &added.path, &added.path, &added.text);
        if let Event::Scanned { findings, .. } = &mut event {
            for finding in findings {
                finding.line = added.lines[finding.line - 1];
                finding.end_line = added.lines[(finding.end_line - 1).min(added.lines.len() - 1)];
            }
        }
        if sender.send(event).is_err() {
            break;
        }
    }
    Ok(())
}

/// Collects the `+` lines of a zero-context unified diff, per file.
fn parse_added_lines(diff: &[u8]) -> Vec<Added> {
    let mut files = Vec::new();
    let mut current: Option<Added> = None;
    let mut in_hunk = false;
    let mut next_line = 0usize;
    for line in diff.split(|&b| b == b'\n') {
        if line.starts_with(b"diff --git ") {
            files.extend(current.take().filter(|a: &Added| !a.text.is_empty()));
            in_hunk = false;
        } else if !in_hunk && line.starts_with(b"+++ ") {
            let target = unquote(&line[4..]);
            current = target.strip_prefix("b/").map(|p| Added { path: p.to_owned(), ..Added::default() });
        } else if line.starts_with(b"@@ ") {
            in_hunk = true;
            next_line = hunk_start(line).unwrap_or(1);
        } else if in_hunk && line.first() == Some(&b'+') {
            if let Some(added) = current.as_mut() {
                added.text.extend_from_slice(&line[1..]);
                added.text.push(b'\n');
                added.lines.push(next_line);
            }
            next_line += 1;
        }
    }
    files.extend(current.filter(|a| !a.text.is_empty()));
    files
}

/// The new-file start line of a hunk header `@@ -a,b +c,d @@`.
fn hunk_start(header: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(header).ok()?;
    let plus = text.split(' ').find(|part| part.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

/// A path from a diff header, with git's C-style quoting removed.
fn unquote(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else { return text.into_owned() };
    let mut bytes = Vec::with_capacity(inner.len());
    let mut chars = inner.bytes().peekable();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match chars.next() {
            Some(b'n') => bytes.push(b'\n'),
            Some(b't') => bytes.push(b'\t'),
            Some(d @ b'0'..=b'7') => {
                let mut value = u32::from(d - b'0');
                for _ in 0..2 {
                    if let Some(&next @ b'0'..=b'7') = chars.peek() {
                        value = value * 8 + u32::from(next - b'0');
                        chars.next();
                    }
                }
                bytes.push(u8::try_from(value).unwrap_or(b'?'));
            }
            Some(other) => bytes.push(other),
            None => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where a blob was first seen.
#[derive(Clone, Debug)]
struct BlobOrigin {
    commit: String,
    path: String,
}

/// Scans each distinct blob reachable from `range` once, oldest commit first, reporting the introducing commit.
pub(crate) fn scan_history(
    scanner: &Scanner,
    repo: &Path,
    range: &str,
    options: &ScanOptions,
    sender: &SyncSender<Event>,
) -> Result<(), ScanError> {
    let root = repo_root(repo)?;
    let mut log = git(&root)
        .args(["log", "--reverse", "--no-renames", "--raw", "--no-abbrev", "--diff-merges=first-parent", "-z"])
        .arg("--format=commit %H")
        .args(range.split_whitespace())
        .arg("--")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ScanError::Git(format!("cannot run git log: {e}")))?;
    let mut batch = git(&root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ScanError::Git(format!("cannot run git cat-file: {e}")))?;

    let log_out = log.stdout.take().expect("piped");
    let mut batch_in = batch.stdin.take().expect("piped");
    let batch_out = batch.stdout.take().expect("piped");
    let (origin_tx, origin_rx) = mpsc::sync_channel::<BlobOrigin>(1024);
    let (blob_tx, blob_rx) = mpsc::sync_channel::<(BlobOrigin, Vec<u8>)>(options.threads.max(1) * 2);
    let blob_rx = Arc::new(Mutex::new(blob_rx));

    std::thread::scope(|scope| {
        // Feeder: parse the log and ask cat-file for each new blob. Each request is written unbuffered, so
        // cat-file answers it while the reader below waits for it; the origin goes first so the reader can match.
        scope.spawn(move || {
            let mut seen: HashSet<[u8; 20]> = HashSet::new();
            for (origin, id) in RawLog::new(BufReader::new(log_out)) {
                let Some(key) = object_key(&id) else { continue };
                if !seen.insert(key) {
                    continue;
                }
                if origin_tx.send(origin).is_err() {
                    break;
                }
                if batch_in.write_all(format!("{id}\n").as_bytes()).is_err() {
                    break;
                }
            }
        });
        // Reader: one answer per request, in order; big blobs are read and dropped, not kept.
        let reader_sender = sender.clone();
        let limit = options.max_file_size;
        scope.spawn(move || {
            let mut out = BufReader::new(batch_out);
            let mut header = String::new();
            for origin in origin_rx {
                header.clear();
                if out.read_line(&mut header).unwrap_or(0) == 0 {
                    break;
                }
                let mut fields = header.split_whitespace();
                let (Some(_), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next()) else { continue };
                let size: u64 = size.parse().unwrap_or(0);
                let shown = format!("{}:{}", &origin.commit[..12.min(origin.commit.len())], origin.path);
                if kind != "blob" || size > limit {
                    if std::io::copy(&mut (&mut out).take(size + 1), &mut std::io::sink()).is_err() {
                        break;
                    }
                    if kind == "blob" {
                        let event = Event::Skipped { path: shown, reason: SkipReason::TooLarge(size) };
                        if reader_sender.send(event).is_err() {
                            break;
                        }
                    }
                    continue;
                }
                let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
                if (&mut out).take(size + 1).read_to_end(&mut data).is_err() {
                    break;
                }
                data.truncate(usize::try_from(size).unwrap_or(data.len()));
                if blob_tx.send((origin, data)).is_err() {
                    break;
                }
            }
        });
        // Workers: scan blobs in parallel.
        for _ in 0..options.threads.max(1) {
            let blob_rx = Arc::clone(&blob_rx);
            scope.spawn(move || {
                loop {
                    let next = blob_rx.lock().expect("no worker panics holding the lock").recv();
                    let Ok((origin, data)) = next else { break };
                    if options.ignore.path_ignored(&origin.path, false) {
                        continue;
                    }
                    let mut event = scan_buffer(scanner, &origin.path, &origin.path, &data);
                    if let Event::Scanned { findings, .. } = &mut event {
                        for finding in findings {
                            finding.commit = Some(origin.commit.clone());
                        }
                    }
                    if sender.send(event).is_err() {
                        break;
                    }
                }
            });
        }
    });

    let _ = batch.wait();
    let mut stderr = String::new();
    if let Some(mut err) = log.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let status = log.wait().map_err(|e| ScanError::Git(format!("git log: {e}")))?;
    if !status.success() {
        return Err(ScanError::Git(format!("git log {range}: {}", stderr.trim())));
    }
    Ok(())
}

/// The 20-byte key of a hexadecimal object id (SHA-1), or the first 20 bytes of a SHA-256 id.
fn object_key(id: &str) -> Option<[u8; 20]> {
    let mut key = [0u8; 20];
    hex::decode_to_slice(id.get(..40)?, &mut key).ok()?;
    Some(key)
}

/// Iterates the `-z` output of `git log --raw --format='commit %H'`: each added or modified blob with the commit
/// and path it appeared under. Deleted files, submodules and symbolic links are left out.
struct RawLog<R> {
    input: R,
    commit: String,
    pending: Option<String>,
    token: Vec<u8>,
}

impl<R: BufRead> RawLog<R> {
    fn new(input: R) -> Self {
        Self { input, commit: String::new(), pending: None, token: Vec::new() }
    }

    fn next_token(&mut self) -> Option<String> {
        self.token.clear();
        match self.input.read_until(0, &mut self.token) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                if self.token.last() == Some(&0) {
                    self.token.pop();
                }
                Some(String::from_utf8_lossy(&self.token).trim_start_matches('\n').to_owned())
            }
        }
    }
}

impl<R: BufRead> Iterator for RawLog<R> {
    type Item = (BlobOrigin, String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let token = self.next_token()?;
            if let Some(commit) = token.strip_prefix("commit ") {
                self.commit = commit.trim().to_owned();
                continue;
            }
            if let Some(raw) = token.strip_prefix(':') {
                // `:old_mode new_mode old_id new_id status`, then the path as the next token.
                let fields: Vec<&str> = raw.split(' ').collect();
                self.pending = match fields.as_slice() {
                    [_, new_mode, _, new_id, status] if new_mode.starts_with("100") && !status.starts_with('D') => {
                        Some((*new_id).to_owned())
                    }
                    _ => None,
                };
                let path = self.next_token()?;
                if let Some(id) = self.pending.take() {
                    return Some((BlobOrigin { commit: self.commit.clone(), path }, id));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_lines_keep_their_file_lines() {
        let diff = b"diff --git a/x.env b/x.env\nindex 1..2 100644\n--- a/x.env\n+++ b/x.env\n@@ -3,0 +4,2 @@\n+A=1\n+B=2\n@@ -9 +11 @@ x\n-old\n+C=3\ndiff --git a/bin b/bin\nBinary files differ\n";
        let files = parse_added_lines(diff);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "x.env");
        assert_eq!(files[0].text, b"A=1\nB=2\nC=3\n");
        assert_eq!(files[0].lines, [4, 5, 11]);
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        assert_eq!(unquote(b"\"b/dir/caf\\303\\251 x.txt\""), "b/dir/café x.txt");
        assert_eq!(unquote(b"b/plain.txt"), "b/plain.txt");
    }

    #[test]
    fn raw_log_yields_new_blobs() {
        let log = b"commit aaaa\0\n:000000 100644 0000 1111111111111111111111111111111111111111 A\0a.txt\0:100644 000000 2222 0000 D\0gone.txt\0commit bbbb\0\n:100644 100644 1111 3333333333333333333333333333333333333333 M\0d/b c.txt\0";
        let items: Vec<_> = RawLog::new(&log[..]).map(|(o, id)| (o.commit, o.path, id)).collect();
        assert_eq!(
            items,
            [
                ("aaaa".into(), "a.txt".into(), "1111111111111111111111111111111111111111".into()),
                ("bbbb".into(), "d/b c.txt".into(), "3333333333333333333333333333333333333333".into()),
            ]
        );
    }
}
