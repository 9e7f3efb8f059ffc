//! Where lines come from: files, directories of rotated logs in time order, gzip, stdin, and a live file followed
//! across rotation.
//!
//! Memory stays flat whatever the file size: lines are read one at a time into one reusable buffer, and a line
//! longer than the limit is skipped as it streams past (counted as malformed) instead of being buffered.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;

use crate::error::Error;

/// The default longest line read; audit lines of a few KiB are usual, a few MiB happen with big responses.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024 * 1024;

/// One input: a file or stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file, plain or gzip (recognised by its magic bytes, not its name).
    File(PathBuf),
}

impl Source {
    /// The name used in messages and records: the path, or `-`.
    pub fn name(&self) -> String {
        match self {
            Source::Stdin => "-".to_owned(),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// Opens the source for reading, decompressing gzip transparently.
    pub fn open(&self) -> Result<Box<dyn BufRead + Send>, Error> {
        match self {
            Source::Stdin => decompressing(Box::new(io::stdin()), "-"),
            Source::File(path) => {
                let file = File::open(path).map_err(|e| Error::io(path, e))?;
                decompressing(Box::new(file), &path.display().to_string())
            }
        }
    }
}

/// Wraps a reader so gzip input (magic `1f 8b`) is decompressed; everything else passes through.
fn decompressing(reader: Box<dyn Read + Send>, name: &str) -> Result<Box<dyn BufRead + Send>, Error> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf().map_err(|e| Error::io(Path::new(name), e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(buffered))))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Where a file stands in its rotated set: the live file is newest, `.1` is newer than `.2`, and dated
/// suffixes (`-20261127`, logrotate's `dateext`) sort by date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rotation {
    /// A numbered rotation: a higher number is older.
    Numbered(u64),
    /// A dated rotation (the digits of the date).
    Dated(String),
    /// No rotation suffix: the live file a device writes.
    Live,
}

/// Splits a file name into its base (`audit.log`) and its rotation, ignoring a trailing `.gz`.
pub fn rotation_of(name: &str) -> (String, Rotation) {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((base, suffix)) = name.rsplit_once('.')
        && !suffix.is_empty()
        && suffix.bytes().all(|b| b.is_ascii_digit())
        && !base.is_empty()
    {
        // A long run of digits is a date (`audit.log.20261127`), a short one a rotation number.
        return if suffix.len() >= 8 {
            (base.to_owned(), Rotation::Dated(suffix.to_owned()))
        } else {
            (base.to_owned(), Rotation::Numbered(suffix.parse().unwrap_or(u64::MAX)))
        };
    }
    if let Some((base, suffix)) = name.rsplit_once('-')
        && suffix.len() >= 8
        && suffix.bytes().all(|b| b.is_ascii_digit())
    {
        return (base.to_owned(), Rotation::Dated(suffix.to_owned()));
    }
    (name.to_owned(), Rotation::Live)
}

/// The time-order key of a file: oldest first within its set (higher numbers, then dates, then the live file).
fn time_order_key(path: &Path) -> (String, u8, std::cmp::Reverse<u64>, String) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (base, rotation) = rotation_of(&name);
    let base = path.with_file_name(base).display().to_string();
    match rotation {
        Rotation::Numbered(n) => (base, 0, std::cmp::Reverse(n), String::new()),
        Rotation::Dated(d) => (base, 1, std::cmp::Reverse(0), d),
        Rotation::Live => (base, 2, std::cmp::Reverse(0), String::new()),
    }
}

/// Turns command-line inputs into sources in time order: a directory stands for the audit logs in it (files named
/// `*.log`, `*.log.N`, `*.log.N.gz`, `*.log-DATE(.gz)`, `*.gz`); files of one rotated set are put oldest first;
/// `-` is stdin. Sets keep the order in which they were first named.
pub fn expand(inputs: &[PathBuf]) -> Result<Vec<Source>, Error> {
    let mut files = Vec::new();
    let mut sources = Vec::new();
    for input in inputs {
        if input == Path::new("-") {
            sources.push(Source::Stdin);
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(input).map_err(|e| Error::io(input, e))? {
                let entry = entry.map_err(|e| Error::io(input, e))?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_file() && looks_like_audit_log(&name) {
                    found.push(path);
                }
            }
            if found.is_empty() {
                return Err(Error::usage(
                    "input",
                    input.display().to_string(),
                    "the folder holds no audit logs (*.log, *.log.N, *.log.N.gz, *.log-DATE)",
                ));
            }
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    files.dedup();
    // A stable sort by (set, position) keeps separate sets apart and each set oldest first.
    files.sort_by_cached_key(|p| time_order_key(p));
    sources.extend(files.into_iter().map(Source::File));
    Ok(sources)
}

/// Whether a file in a log directory is an audit log or one of its rotations.
pub fn looks_like_audit_log(name: &str) -> bool {
    let (base, _) = rotation_of(name);
    base.ends_with(".log") || base.ends_with(".json") || base.ends_with(".jsonl") || name.ends_with(".gz")
}

/// One line from [`LineReader::next_line`].
#[derive(Debug)]
pub enum Line<'a> {
    /// The line's bytes, without the newline (and without a `\r` before it).
    Text(&'a [u8]),
    /// A line longer than the limit, skipped; its length in bytes.
    TooLong(u64),
}

/// A line buffer bigger than this is given back after its line: ordinary audit lines are a few KiB.
pub const KEEP_BUFFER: usize = 1024 * 1024;

/// Reads lines into one reusable buffer, skipping (not buffering) lines over a length limit.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    /// A reader with a line length limit in bytes.
    pub fn new(reader: R, max: usize) -> Self {
        Self { reader, buf: Vec::with_capacity(16 * 1024), line_no: 0, max }
    }

    /// The next line and its number (from 1), or `None` at the end.
    ///
    /// Memory: a line is copied into the buffer only while it fits the limit, and the buffer grows exactly to what
    /// the line needs (never past the limit, as doubling would). Once a line passes the limit nothing more of it is
    /// copied: the rest is skipped straight out of the reader's own buffer. After any line bigger than
    /// [`KEEP_BUFFER`] the memory is given back, so one huge line does not hold memory for the rest of the run.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::with_capacity(16 * 1024);
        }
        self.buf.clear();
        let mut skipped: u64 = 0;
        let mut seen_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            seen_any = true;
            let (chunk, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if skipped > 0 || self.buf.len() + chunk.len() > self.max {
                skipped += (self.buf.len() + chunk.len()) as u64;
                // Free what the line had taken at once, not when it ends (it may go on for gigabytes).
                self.buf = Vec::new();
            } else {
                let needed = self.buf.len() + chunk.len();
                if needed > self.buf.capacity() {
                    // Double as Vec would, but never past the limit.
                    let target = (self.buf.capacity() * 2).clamp(needed, self.max.max(needed));
                    self.buf.reserve_exact(target - self.buf.len());
                }
                self.buf.extend_from_slice(chunk);
            }
            let used = done.unwrap_or(available.len());
            self.reader.consume(used);
            if done.is_some() {
                break;
            }
        }
        if !seen_any {
            return Ok(None);
        }
        self.line_no += 1;
        if skipped > 0 {
            return Ok(Some((self.line_no, Line::TooLong(skipped))));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some((self.line_no, Line::Text(&self.buf))))
    }
}

/// How a follow ends: on a signal from the caller, or after a spell with no new data (for scripts and tests).
#[derive(Debug, Clone, Default)]
pub struct FollowStop {
    /// Set to stop at the next poll.
    pub flag: Arc<AtomicBool>,
    /// Stop after this long without new data.
    pub idle: Option<Duration>,
}

/// A reader over a live file that never reports the end: at the end it waits for more, reopens the path when the
/// file was rotated away (another inode), and starts again from the top when it was truncated (`copytruncate`).
#[derive(Debug)]
pub struct FollowReader {
    path: PathBuf,
    file: File,
    inode: (u64, u64),
    pos: u64,
    poll: Duration,
    stop: FollowStop,
    last_data: Instant,
    generation: Arc<AtomicU64>,
}

impl FollowReader {
    /// Opens `path`; with `from_end`, reading starts at the current end (only new lines are seen).
    pub fn open(path: &Path, from_end: bool, poll: Duration, stop: FollowStop) -> Result<Self, Error> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        let pos = if from_end { file.seek(SeekFrom::End(0)).map_err(|e| Error::io(path, e))? } else { 0 };
        Ok(Self {
            path: path.to_owned(),
            file,
            inode: (meta.dev(), meta.ino()),
            pos,
            poll,
            stop,
            last_data: Instant::now(),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A counter bumped each time the reader moves to a new file or back to the top of a truncated one, so the
    /// reader of lines can number them within the file again.
    pub fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                self.last_data = Instant::now();
                return Ok(n);
            }
            // At the end of what is there. Whatever was written to the old file before a rotation has been read
            // by now, so switching to the new file loses nothing.
            if let Ok(meta) = std::fs::metadata(&self.path) {
                if (meta.dev(), meta.ino()) != self.inode {
                    if let Ok(file) = File::open(&self.path) {
                        self.file = file;
                        self.inode = (meta.dev(), meta.ino());
                        self.pos = 0;
                        self.generation.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                } else if meta.len() < self.pos {
                    self.file.seek(SeekFrom::Start(0))?;
                    self.pos = 0;
                    self.generation.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            if self.stop.flag.load(Ordering::Relaxed) || self.stop.idle.is_some_and(|d| self.last_data.elapsed() >= d) {
                return Ok(0);
            }
            std::thread::sleep(self.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_sets_sort_oldest_first() {
        let inputs = ["audit.log", "audit.log.1", "audit.log.10.gz", "audit.log.2.gz", "other.log-20261126.gz"];
        let mut paths: Vec<PathBuf> = inputs.iter().map(PathBuf::from).collect();
        paths.sort_by_cached_key(|p| time_order_key(p));
        let names: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(names, ["audit.log.10.gz", "audit.log.2.gz", "audit.log.1", "audit.log", "other.log-20261126.gz"]);
        assert_eq!(rotation_of("audit.log"), ("audit.log".into(), Rotation::Live));
        assert_eq!(rotation_of("audit.log-20261127.gz"), ("audit.log".into(), Rotation::Dated("20261127".into())));
    }

    #[test]
    fn long_lines_are_skipped_not_buffered() {
        let mut text = b"short\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 100));
        text.extend_from_slice(b"\nlast\r\nno-newline");
        let mut reader = LineReader::new(io::BufReader::with_capacity(8, &text[..]), 20);
        let mut seen = Vec::new();
        while let Some((n, line)) = reader.next_line().unwrap() {
            seen.push(match line {
                Line::Text(t) => format!("{n}:{}", String::from_utf8_lossy(t)),
                Line::TooLong(len) => format!("{n}:too long {len}"),
            });
        }
        assert_eq!(seen, ["1:short", "2:too long 100", "3:last", "4:no-newline"]);
    }

    #[test]
    fn memory_stays_within_the_limit_and_is_given_back() {
        // A line of 8 MiB against a 3 MiB limit, then a 2 MiB line that fits, then a short one.
        let limit = 3 * 1024 * 1024;
        let mut text = vec![b'x'; 8 * 1024 * 1024];
        text.push(b'\n');
        text.extend(std::iter::repeat_n(b'y', 2 * 1024 * 1024));
        text.extend_from_slice(b"\nshort\n");
        let mut reader = LineReader::new(io::BufReader::with_capacity(64 * 1024, &text[..]), limit);
        let (_, first) = reader.next_line().unwrap().unwrap();
        assert!(matches!(first, Line::TooLong(n) if n == 8 * 1024 * 1024));
        assert!(reader.buf.capacity() <= limit, "a skipped line holds at most the limit: {}", reader.buf.capacity());
        let (_, second) = reader.next_line().unwrap().unwrap();
        assert!(matches!(second, Line::Text(t) if t.len() == 2 * 1024 * 1024));
        assert!(reader.buf.capacity() <= limit, "growth stops at the limit: {}", reader.buf.capacity());
        let (_, third) = reader.next_line().unwrap().unwrap();
        assert!(matches!(third, Line::Text(b"short")));
        assert!(reader.buf.capacity() <= KEEP_BUFFER, "memory is given back: {}", reader.buf.capacity());
    }
}
