//! Reading sources into operations: parse each line, count and locate the malformed ones (never fatal), summarise,
//! join, and hand each operation to the caller. Files are read one after another when order matters (filter) or
//! several at once across cores when it does not (reports, see [`scan_parallel`]).

use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memchr::memmem;
use serde::Serialize;

use crate::error::Error;
use crate::filter::Prefilter;
use crate::input::{FollowReader, FollowStop, Line, LineReader, Source};
use crate::operation::{AuditOperation, Entry, Joiner, Location};
use crate::record::RecordView;

/// At most this many malformed lines are listed one by one; all are counted.
pub const MAX_LISTED_MALFORMED: usize = 1000;

/// How to read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Longest line read; longer ones are skipped and counted as malformed.
    pub max_line: usize,
    /// HMAC strings to look for anywhere in a line (from `sys/audit-hash`).
    pub needles: Vec<String>,
    /// Join requests and responses within this many lines; `None` gives one operation per line.
    pub join_window: Option<u64>,
    /// Follow the single input file as it grows and rotates.
    pub follow: Option<FollowOptions>,
    /// Skip lines whose path or operation cannot match (see [`Prefilter`]).
    pub prefilter: Option<Prefilter>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            max_line: crate::input::DEFAULT_MAX_LINE,
            needles: Vec::new(),
            join_window: Some(crate::operation::DEFAULT_JOIN_WINDOW),
            follow: None,
            prefilter: None,
        }
    }
}

/// How to follow a live file.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Read the existing content first (else only new lines).
    pub from_start: bool,
    /// How often to look for new data.
    pub poll: Duration,
    /// When to stop.
    pub stop: FollowStop,
}

/// A line that is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// The file, or `-`.
    pub file: Arc<str>,
    /// The line number, from 1.
    pub line: u64,
    /// Why it was rejected (never the line's content).
    pub error: String,
}

/// Counts for the `summary` record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Sources read.
    pub files: u64,
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Lines parsed as audit records.
    pub records: u64,
    /// Records skipped early because their path or operation cannot match the filter.
    pub skipped: u64,
    /// Lines that are not audit records.
    pub malformed: u64,
    /// The first [`MAX_LISTED_MALFORMED`] of them.
    pub malformed_lines: Vec<Malformed>,
    /// Sources that could not be opened or read to the end (a truncated `.gz`, an I/O error): each is also listed
    /// as a malformed line at the point reading stopped, and the scan went on with the next source.
    pub unreadable: u64,
}

impl ScanStats {
    /// Adds another scan's counts (for parallel scans).
    pub fn merge(&mut self, other: ScanStats) {
        self.files += other.files;
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.records += other.records;
        self.skipped += other.skipped;
        self.malformed += other.malformed;
        self.unreadable += other.unreadable;
        for m in other.malformed_lines {
            if self.malformed_lines.len() < MAX_LISTED_MALFORMED {
                self.malformed_lines.push(m);
            }
        }
    }

    fn note_malformed(&mut self, m: Malformed, on_malformed: &mut dyn FnMut(&Malformed)) {
        self.malformed += 1;
        on_malformed(&m);
        if self.malformed_lines.len() < MAX_LISTED_MALFORMED {
            self.malformed_lines.push(m);
        }
    }
}

/// Why a scan stopped early: a source could not be read, or the consumer failed (a closed pipe).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Reading failed.
    #[error(transparent)]
    Input(#[from] Error),
    /// Writing output failed.
    #[error(transparent)]
    Output(#[from] io::Error),
}

/// Reads `sources` in order, joining across them (a rotation can fall between a request and its response), and
/// calls `on_op` for each operation and `on_malformed` for each bad line. Returns the counts.
pub fn scan(
    sources: &[Source],
    options: &ScanOptions,
    on_op: &mut dyn FnMut(AuditOperation) -> io::Result<()>,
    on_malformed: &mut dyn FnMut(&Malformed),
) -> Result<ScanStats, ScanError> {
    let mut stats = ScanStats::default();
    let finders: Vec<memmem::Finder<'_>> = options.needles.iter().map(|n| memmem::Finder::new(n.as_bytes())).collect();
    let mut joiner = options.join_window.map(Joiner::new);
    for source in sources {
        // When following, lines are numbered within the current file: a rotation or truncation starts again at 1.
        let mut generation = None;
        let reader: Box<dyn io::BufRead + Send> = match (&options.follow, source) {
            (Some(follow), Source::File(path)) => {
                let reader = FollowReader::open(path, !follow.from_start, follow.poll, follow.stop.clone())?;
                generation = Some(reader.generation());
                Box::new(io::BufReader::with_capacity(256 * 1024, reader))
            }
            _ => match source.open() {
                Ok(reader) => reader,
                // One unreadable file of a rotated set must not hide the others: report it and go on.
                Err(e) => {
                    stats.files += 1;
                    stats.unreadable += 1;
                    let m = Malformed { file: source.name().into(), line: 0, error: format!("unreadable: {e}") };
                    stats.note_malformed(m, on_malformed);
                    continue;
                }
            },
        };
        let mut seen_generation = 0;
        let mut line_offset = 0;
        let name: Arc<str> = source.name().into();
        stats.files += 1;
        let mut lines = LineReader::new(reader, options.max_line);
        let mut last_line = 0;
        loop {
            let next = match lines.next_line() {
                Ok(next) => next,
                // A truncated `.gz` or a read error: what was read counts, the rest of this source is skipped, and
                // the newer files of the set are still read.
                Err(e) => {
                    stats.unreadable += 1;
                    let m = Malformed {
                        file: name.clone(),
                        line: last_line + 1,
                        error: format!("unreadable from here on ({e}); the rest of the file is skipped"),
                    };
                    stats.note_malformed(m, on_malformed);
                    break;
                }
            };
            let Some((line_no, line)) = next else { break };
            last_line = line_no;
            stats.lines += 1;
            if let Some(g) = &generation {
                let now = g.load(std::sync::atomic::Ordering::Relaxed);
                if now != seen_generation {
                    seen_generation = now;
                    line_offset = line_no - 1;
                }
            }
            let line_no = line_no - line_offset;
            let text = match line {
                Line::Text(t) => t,
                Line::TooLong(len) => {
                    stats.bytes += len;
                    let m = Malformed {
                        file: name.clone(),
                        line: line_no,
                        error: format!("line of {len} bytes is longer than the limit of {} bytes", options.max_line),
                    };
                    stats.note_malformed(m, on_malformed);
                    continue;
                }
            };
            stats.bytes += text.len() as u64 + 1;
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = match RecordView::parse(text) {
                Ok(r) => r,
                Err(e) => {
                    let m = Malformed { file: name.clone(), line: line_no, error: e.to_string() };
                    stats.note_malformed(m, on_malformed);
                    continue;
                }
            };
            stats.records += 1;
            if let Some(p) = &options.prefilter {
                let request = record.request.as_ref();
                if !p.keeps(request.and_then(|r| r.path.as_deref()), request.and_then(|r| r.operation.as_deref())) {
                    stats.skipped += 1;
                    continue;
                }
            }
            let value_match = finders.iter().any(|f| f.find(text).is_some());
            let entry = Entry::from_view(&record, Location { file: name.clone(), line: line_no }, value_match);
            match &mut joiner {
                Some(j) => j.push(entry, &mut *on_op)?,
                None => on_op(AuditOperation::single(entry))?,
            }
        }
    }
    if let Some(j) = &mut joiner {
        j.finish(&mut *on_op)?;
    }
    Ok(stats)
}

/// Reads several sources at once, one per core, each joined on its own, and folds each operation into a
/// per-thread accumulator made by `init`; returns the accumulators and the merged counts. For reports, where the
/// order of operations does not matter.
pub fn scan_parallel<A: Send>(
    sources: &[Source],
    options: &ScanOptions,
    init: impl Fn() -> A + Sync,
    fold: impl Fn(&mut A, AuditOperation) + Sync,
) -> Result<(Vec<A>, ScanStats), Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(sources.len()).max(1);
    let next = Mutex::new(0usize);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<(A, ScanStats), Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut acc = init();
                    let mut stats = ScanStats::default();
                    loop {
                        if failed.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let index = {
                            let mut n = next.lock().expect("work queue poisoned");
                            let i = *n;
                            *n += 1;
                            i
                        };
                        let Some(source) = sources.get(index) else { break };
                        let mut on_op = |op: AuditOperation| {
                            fold(&mut acc, op);
                            Ok(())
                        };
                        match scan(std::slice::from_ref(source), options, &mut on_op, &mut |_| {}) {
                            Ok(s) => stats.merge(s),
                            Err(ScanError::Input(e)) => {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                            Err(ScanError::Output(e)) => {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(Error::io(std::path::Path::new(&source.name()), e));
                            }
                        }
                    }
                    Ok((acc, stats))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut accs = Vec::new();
    let mut stats = ScanStats::default();
    for result in results {
        let (acc, s) = result?;
        accs.push(acc);
        stats.merge(s);
    }
    // Listed malformed lines in a stable order whatever the threads did.
    stats.malformed_lines.sort_by(|a, b| (a.file.as_ref(), a.line).cmp(&(b.file.as_ref(), b.line)));
    Ok((accs, stats))
}
