//! The output contract: formats, JSON Lines records, human tables, colour, and where output goes.
//!
//! stdout carries data only; messages go to stderr. Machine output is public API: field names are stable.
//! Every JSON Lines record is one object on one line with a `type` field first; a stream ends with a `summary`.
//! Inside a tool (once [`crate::cli::main`] named it) each record's second field is `schema`,
//! `"TOOL.TYPE/VERSION"` (e.g. `"secret-scan.finding/1"`): the JSON Schema in `docs/schemas/TOOL.json` that
//! describes it and the version of that record type, raised only when a change could break a reader (a field
//! removed, renamed or retyped); new fields keep the version (docs/output.md).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::fsutil::{Atomic, AtomicFile, Mode};

/// The tool whose records this process writes, set once by [`crate::cli::main`].
static TOOL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The version of every record type today. A record type that changes incompatibly gets its own higher
/// version through [`write_record_versioned`].
pub const RECORD_VERSION: u32 = 1;

/// Names the tool whose records this process writes (the first name set stays): records then carry
/// `"schema":"TOOL.TYPE/VERSION"`.
pub fn set_tool(tool: &str) {
    let _ = TOOL.set(tool.to_owned());
}

/// The schema id of a record type of the current tool, `TOOL.TYPE/VERSION`; `None` outside a tool.
pub fn schema_id(kind: &str, version: u32) -> Option<String> {
    TOOL.get().map(|tool| format!("{tool}.{kind}/{version}"))
}

/// Set once a write to stdout failed because its reader went away (`tool | head -1`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout has failed with a broken pipe in this process. The shared `main` exits 0 then, however
/// the error was wrapped on its way up: the reader went away, which is not the tool's failure.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Records a failed stdout write: a broken pipe marks stdout closed (see [`stdout_closed`]). Returns the error.
/// Tools that write to stdout without going through [`Output`] pass their write errors through this.
pub fn note_stdout_error(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    error
}

/// The formats every tool offers. A tool with more (SARIF, Nagios, …) declares its enum with
/// [`format_enum!`](crate::format_enum): these three first, then its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables and sentences for people.
    #[default]
    Human,
    /// One JSON document.
    Json,
    /// One JSON object per line, each with a `type` field, ending with a `summary` record.
    Jsonl,
}

/// Declares a tool's `--format` enum: [`Format`]'s `Human` (the default), `Json` and `Jsonl`, in that order, then
/// the tool's own formats, with `common()` (the [`Format`] a value is, `None` for the tool's own) and
/// `From<Format>`. The three may carry the tool's own doc comments (what its table or document holds, shown in
/// `--help`); without them they get [`Format`]'s. The calling crate needs `clap` (for `ValueEnum`).
///
/// ```
/// vault_core::format_enum! {
///     /// The output formats of `a-tool`.
///     pub enum ToolFormat {
///         Human,
///         Json,
///         Jsonl,
///         /// Comma-separated values.
///         Csv,
///     }
/// }
/// assert_eq!(ToolFormat::default(), ToolFormat::Human);
/// assert_eq!(ToolFormat::Jsonl.common(), Some(vault_core::output::Format::Jsonl));
/// assert_eq!(ToolFormat::Csv.common(), None);
/// ```
#[macro_export]
macro_rules! format_enum {
    (
        $(#[$meta:meta])* $vis:vis enum $name:ident {
            Human, Json, Jsonl,
            $($(#[$own_meta:meta])* $own:ident),* $(,)?
        }
    ) => {
        $crate::format_enum! {
            $(#[$meta])* $vis enum $name {
                /// Aligned tables and sentences for people.
                Human,
                /// One JSON document.
                Json,
                /// One JSON object per line, each with a `type` field, ending with a `summary` record.
                Jsonl,
                $($(#[$own_meta])* $own),*
            }
        }
    };
    (
        $(#[$meta:meta])* $vis:vis enum $name:ident {
            $(#[$human:meta])+ Human,
            $(#[$json:meta])+ Json,
            $(#[$jsonl:meta])+ Jsonl,
            $($(#[$own_meta:meta])* $own:ident),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
        $vis enum $name {
            $(#[$human])+
            #[default]
            Human,
            $(#[$json])+
            Json,
            $(#[$jsonl])+
            Jsonl,
            $($(#[$own_meta])* $own),*
        }

        impl $name {
            /// The shared format this is, `None` for the tool's own formats.
            #[allow(dead_code, reason = "not every tool needs the mapping")]
            pub fn common(self) -> Option<$crate::output::Format> {
                match self {
                    $name::Human => Some($crate::output::Format::Human),
                    $name::Json => Some($crate::output::Format::Json),
                    $name::Jsonl => Some($crate::output::Format::Jsonl),
                    _ => None,
                }
            }
        }

        impl From<$crate::output::Format> for $name {
            fn from(format: $crate::output::Format) -> Self {
                match format {
                    $crate::output::Format::Human => $name::Human,
                    $crate::output::Format::Json => $name::Json,
                    $crate::output::Format::Jsonl => $name::Jsonl,
                }
            }
        }
    };
}

/// When to use colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the destination is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output going to a destination that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// The output flags every tool shares (except `--format`, whose values differ by tool).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct OutputArgs {
    /// Write output to FILE (atomically: a reader never sees half of it) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// When to use colour.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN", global = true)]
    pub color: ColorChoice,
}

impl OutputArgs {
    /// Opens the destination. Call [`Output::finish`] when done, or a file destination is discarded.
    pub fn open(&self) -> io::Result<Output> {
        Output::open(self.output.as_deref(), self.color)
    }

    /// Like [`open`](Self::open) for output that holds key material or secret fingerprints: a file is left 0600
    /// whatever mode it had before.
    pub fn open_secret(&self) -> io::Result<Output> {
        Output::open_secret(self.output.as_deref(), self.color)
    }
}

/// Where data goes: stdout, or a file written atomically (temp file in the same folder, renamed on finish).
#[derive(Debug)]
pub struct Output {
    sink: Sink,
    color: bool,
}

#[derive(Debug)]
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    Device(BufWriter<File>),
    File(BufWriter<AtomicFile>),
}

impl Output {
    /// Stdout when `path` is `None` or `-`, else an atomic file that keeps the mode of the file it replaces
    /// (0644 when new).
    pub fn open(path: Option<&Path>, color: ColorChoice) -> io::Result<Self> {
        Self::open_with(path, color, false)
    }

    /// Like [`open`](Self::open) for output that holds key material or secret fingerprints: the file is written
    /// 0600 from its first byte (the temp file is created so) and stays 0600 after the rename, even when it replaces
    /// a file that was world-readable.
    pub fn open_secret(path: Option<&Path>, color: ColorChoice) -> io::Result<Self> {
        Self::open_with(path, color, true)
    }

    fn open_with(path: Option<&Path>, color: ColorChoice, secret: bool) -> io::Result<Self> {
        match path {
            None => Ok(Self::stdout(color)),
            Some(p) if p == Path::new("-") => Ok(Self::stdout(color)),
            Some(p) => {
                // Only a regular file is replaced atomically. A device, FIFO or socket (`-o /dev/null`,
                // `-o /dev/stderr`, a named pipe) is written in place: renaming over it would replace the device.
                if crate::fsutil::writes_in_place(p) {
                    let file = std::fs::OpenOptions::new().write(true).open(p)?;
                    return Ok(Self { sink: Sink::Device(BufWriter::new(file)), color: color.enabled(false) });
                }
                // Through a symlink, replace the file it points to and keep the link.
                let mode = if secret { Mode::Exact(0o600) } else { Mode::KeepOr(0o644) };
                let file = Atomic::new(mode).follow_link().create(p)?;
                Ok(Self { sink: Sink::File(BufWriter::new(file)), color: color.enabled(false) })
            }
        }
    }

    /// Stdout.
    pub fn stdout(color: ColorChoice) -> Self {
        let stdout = io::stdout();
        let color = color.enabled(stdout.is_terminal());
        Self { sink: Sink::Stdout(BufWriter::new(stdout)), color }
    }

    /// Whether to colour what is written here.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Flushes and, for a file, renames it into place: mode 0600 for secret output, else 0644 unless it already
    /// existed with another mode.
    pub fn finish(self) -> io::Result<()> {
        match self.sink {
            Sink::Stdout(mut w) => w.flush().map_err(note_stdout_error),
            Sink::Device(mut w) => w.flush(),
            Sink::File(writer) => {
                writer.into_inner().map_err(io::IntoInnerError::into_error)?.commit()?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write(buf).map_err(note_stdout_error),
            Sink::Device(w) => w.write(buf),
            Sink::File(writer) => writer.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write_all(buf).map_err(note_stdout_error),
            Sink::Device(w) => w.write_all(buf),
            Sink::File(writer) => writer.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.flush().map_err(note_stdout_error),
            Sink::Device(w) => w.flush(),
            Sink::File(writer) => writer.flush(),
        }
    }
}

/// Writes one JSON Lines record: `{"type":"<kind>", …fields of value…}` and a newline.
///
/// `value` must serialize to a JSON object (a struct or a map); its fields follow `type`. A `type` field of its
/// own would be duplicated, so records must not have one.
pub fn write_record<W: Write + ?Sized, T: Serialize + ?Sized>(out: &mut W, kind: &str, value: &T) -> io::Result<()> {
    write_record_versioned(out, kind, RECORD_VERSION, value)
}

/// [`write_record`] for a record type at another version than [`RECORD_VERSION`].
pub fn write_record_versioned<W: Write + ?Sized, T: Serialize + ?Sized>(
    out: &mut W,
    kind: &str,
    version: u32,
    value: &T,
) -> io::Result<()> {
    write_record_as(out, kind, schema_id(kind, version).as_deref(), value)
}

/// Writes a record with an explicit `schema` (none when `schema` is `None`).
fn write_record_as<W: Write + ?Sized, T: Serialize + ?Sized>(
    out: &mut W,
    kind: &str,
    schema: Option<&str>,
    value: &T,
) -> io::Result<()> {
    let body = serde_json::to_vec(value).map_err(json_error)?;
    if body.first() != Some(&b'{') {
        return Err(io::Error::other("a JSON Lines record must serialize to an object"));
    }
    out.write_all(b"{\"type\":")?;
    serde_json::to_writer(&mut *out, kind).map_err(json_error)?;
    if let Some(schema) = schema {
        out.write_all(b",\"schema\":")?;
        serde_json::to_writer(&mut *out, schema).map_err(json_error)?;
    }
    if body.len() > 2 {
        out.write_all(b",")?;
    }
    out.write_all(&body[1..])?;
    out.write_all(b"\n")
}

/// Writes one pretty JSON document and a newline.
pub fn write_json<W: Write + ?Sized, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(json_error)?;
    out.write_all(b"\n")
}

/// A serde_json error as an I/O error that keeps the kind of the write that failed (a broken pipe stays one, so
/// `tool --format json | head` exits 0), and wraps anything else.
pub fn json_error(error: serde_json::Error) -> io::Error {
    // serde_json's conversion hands back the original io::Error for I/O failures and wraps the rest.
    io::Error::from(error)
}

/// An aligned text table for people. Columns are padded to the widest cell; the last column is not padded.
#[derive(Debug, Default, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { header: header.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are blank.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// Sorts rows by their cells, left to right.
    pub fn sort(&mut self) -> &mut Self {
        self.rows.sort();
        self
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the header (bold when `color`) and rows.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W, color: bool) -> io::Result<()> {
        let columns = self.rows.iter().map(Vec::len).chain([self.header.len()]).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |out: &mut W, row: &[String], bold: bool| -> io::Result<()> {
            let mut text = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                if i + 1 == columns {
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
                }
            }
            let text = text.trim_end();
            if bold { writeln!(out, "\x1b[1m{text}\x1b[0m") } else { writeln!(out, "{text}") }
        };
        if !self.header.is_empty() {
            line(out, &self.header, color)?;
        }
        for row in &self.rows {
            line(out, row, false)?;
        }
        Ok(())
    }
}

/// Durations for people: `850ms`, `12.3s`, `4m05s`, `3h12m`, `12d4h`.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// Sizes for people, in binary units: `512 B`, `1.5 KiB`, `20.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Finding<'a> {
        path: &'a str,
        line: u32,
    }

    #[test]
    fn records_put_type_first() {
        let mut buf = Vec::new();
        write_record(&mut buf, "finding", &Finding { path: "a.env", line: 3 }).unwrap();
        write_record(&mut buf, "summary", &serde_json::json!({})).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"type\":\"finding\",\"path\":\"a.env\",\"line\":3}\n{\"type\":\"summary\"}\n"
        );
        assert!(write_record(&mut Vec::new(), "x", &[1, 2]).is_err());
    }

    #[test]
    fn records_of_a_tool_carry_their_schema_second() {
        let mut buf = Vec::new();
        write_record_as(&mut buf, "finding", Some("secret-scan.finding/1"), &Finding { path: "a", line: 1 }).unwrap();
        write_record_as(&mut buf, "summary", Some("secret-scan.summary/2"), &serde_json::json!({})).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"type\":\"finding\",\"schema\":\"secret-scan.finding/1\",\"path\":\"a\",\"line\":1}\n\
             {\"type\":\"summary\",\"schema\":\"secret-scan.summary/2\"}\n"
        );
    }

    #[test]
    fn table_aligns() {
        let mut t = Table::new(["PATH", "VERSION", "NOTE"]);
        t.row(["secret/b", "12", ""]).row(["secret/a", "3", "x"]).sort();
        let mut buf = Vec::new();
        t.write_to(&mut buf, false).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), "PATH      VERSION  NOTE\nsecret/a  3        x\nsecret/b  12\n");
    }

    #[test]
    fn readable_units() {
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(86_400 * 12 + 3600 * 4)), "12d4h");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(20 * 1024 * 1024), "20.0 MiB");
    }

    #[test]
    fn devices_are_written_in_place_and_links_kept() {
        let out = Output::open(Some(Path::new("/dev/null")), ColorChoice::Never).unwrap();
        out.finish().unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null is still a device");

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("latest.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut out = Output::open(Some(&link), ColorChoice::Never).unwrap();
        out.write_all(b"new").unwrap();
        out.finish().unwrap();
        assert!(link.is_symlink(), "the link stays a link");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn file_output_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let mut out = Output::open(Some(&path), ColorChoice::Never).unwrap();
        out.write_all(b"{}\n").unwrap();
        assert!(!path.exists(), "nothing is visible before finish");
        out.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
    }

    #[test]
    fn secret_output_is_0600_whatever_was_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for before in [None, Some(0o666), Some(0o644), Some(0o600), Some(0o400)] {
            let path = dir.path().join(format!("plan-{before:?}.json"));
            if let Some(m) = before {
                std::fs::write(&path, "old").unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
            }
            let mut out = Output::open_secret(Some(&path), ColorChoice::Never).unwrap();
            out.write_all(b"{}\n").unwrap();
            out.finish().unwrap();
            assert_eq!(mode(&path), 0o600, "secret output over {before:?}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        }
        // Ordinary output keeps the mode of the file it replaces, so a report's readers keep reading it.
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        Output::open(Some(&path), ColorChoice::Never).unwrap().finish().unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn json_errors_keep_the_io_kind() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_json(&mut Closed, &serde_json::json!({"a": 1})).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        let e = write_record(&mut Closed, "x", &serde_json::json!({"a": 1})).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
