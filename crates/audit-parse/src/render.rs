//! Output: human tables, one JSON document, JSON Lines (a `type` on every record, a final `summary`), and CSV.
//!
//! Field names here are public API (documented in docs/vault-audit-logging.md). Nothing written here can hold a
//! secret: audit records carry HMACs, and the token HMAC is left out of operations on purpose.

use std::io::{self, Write};

use serde::Serialize;
use vault_core::output::{Table, write_json, write_record};

use crate::operation::AuditOperation;
use crate::report::Report;
use crate::retain::{Action, Planned};
use crate::scan::ScanStats;

vault_core::format_enum! {
    /// Output formats: the shared three, and CSV.
    pub enum OutFormat {
        /// Aligned tables for people.
        Human,
        /// One JSON document.
        Json,
        /// JSON Lines: one record per line with a `type`, ending with a `summary`.
        Jsonl,
        /// Comma-separated values with a header row.
        Csv,
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

fn csv_row<W: Write + ?Sized>(out: &mut W, fields: &[String]) -> io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", line.join(","))
}

/// A time for tables: to the second.
fn short_time(time: Option<&str>) -> String {
    match time {
        Some(t) if t.len() >= 19 => format!("{}Z", &t[..19]),
        Some(t) => t.to_owned(),
        None => "-".to_owned(),
    }
}

fn result_of(op: &AuditOperation) -> String {
    if op.denied {
        "denied".to_owned()
    } else {
        op.short_error().map_or_else(|| "ok".to_owned(), |e| format!("error: {e}"))
    }
}

fn opt(text: Option<&str>) -> String {
    text.unwrap_or("").to_owned()
}

/// The `summary` record of `filter`.
#[derive(Debug, Serialize)]
struct FilterSummary<'a> {
    #[serde(flatten)]
    stats: &'a ScanStats,
    operations: u64,
    matched: u64,
}

/// Writes `filter`'s operations as they come.
#[derive(Debug)]
pub struct FilterWriter {
    format: OutFormat,
    color: bool,
    streaming: bool,
    table: Table,
    collected: Vec<AuditOperation>,
    header_done: bool,
}

const CSV_HEADER: [&str; 17] = [
    "time",
    "response_time",
    "id",
    "operation",
    "path",
    "mount_point",
    "display_name",
    "role",
    "entity_id",
    "policies",
    "remote_address",
    "allowed",
    "denied",
    "error",
    "root",
    "file",
    "line",
];

impl FilterWriter {
    /// A writer; `streaming` (for `--follow`) prints human rows at once and flushes after each operation.
    pub fn new(format: OutFormat, color: bool, streaming: bool) -> Self {
        Self {
            format,
            color,
            streaming,
            table: Table::new(["TIME", "OPERATION", "PATH", "IDENTITY", "REMOTE", "RESULT"]),
            collected: Vec::new(),
            header_done: false,
        }
    }

    fn human_row(op: &AuditOperation) -> [String; 6] {
        [
            short_time(op.time.as_deref()),
            opt(op.operation.as_deref()),
            opt(op.path.as_deref()),
            op.identity(),
            opt(op.remote_address.as_deref()),
            result_of(op),
        ]
    }

    /// Writes (or keeps, for tables and JSON) one matching operation.
    pub fn operation<W: Write + ?Sized>(&mut self, out: &mut W, op: &AuditOperation) -> io::Result<()> {
        match self.format {
            OutFormat::Jsonl => write_record(out, "operation", op)?,
            OutFormat::Json => self.collected.push(op.clone()),
            OutFormat::Human if self.streaming => writeln!(out, "{}", Self::human_row(op).join("  "))?,
            OutFormat::Human => {
                self.table.row(Self::human_row(op));
            }
            OutFormat::Csv => {
                if !self.header_done {
                    csv_row(out, &CSV_HEADER.map(str::to_owned))?;
                    self.header_done = true;
                }
                let location = op.request_line.as_ref().or(op.response_line.as_ref());
                csv_row(
                    out,
                    &[
                        opt(op.time.as_deref()),
                        opt(op.response_time.as_deref()),
                        opt(op.id.as_deref()),
                        opt(op.operation.as_deref()),
                        opt(op.path.as_deref()),
                        opt(op.mount_point.as_deref()),
                        opt(op.display_name.as_deref()),
                        opt(op.role.as_deref()),
                        opt(op.entity_id.as_deref()),
                        op.policies.join(" "),
                        opt(op.remote_address.as_deref()),
                        op.allowed.map(|a| a.to_string()).unwrap_or_default(),
                        op.denied.to_string(),
                        op.short_error().unwrap_or_default(),
                        op.root.to_string(),
                        location.map(|l| l.file.to_string()).unwrap_or_default(),
                        location.map(|l| l.line.to_string()).unwrap_or_default(),
                    ],
                )?;
            }
        }
        if self.streaming {
            out.flush()?;
        }
        Ok(())
    }

    /// Writes what was kept and the summary.
    pub fn finish<W: Write + ?Sized>(
        mut self,
        out: &mut W,
        stats: &ScanStats,
        operations: u64,
        matched: u64,
    ) -> io::Result<()> {
        let summary = FilterSummary { stats, operations, matched };
        match self.format {
            OutFormat::Jsonl => {
                for m in &stats.malformed_lines {
                    write_record(out, "malformed", m)?;
                }
                write_record(out, "summary", &summary)
            }
            OutFormat::Json => {
                #[derive(Serialize)]
                struct Doc<'a> {
                    operations: &'a [AuditOperation],
                    summary: FilterSummary<'a>,
                }
                write_json(out, &Doc { operations: &self.collected, summary })
            }
            OutFormat::Human => {
                if !self.streaming {
                    self.table.sort();
                    self.table.write_to(out, self.color)?;
                }
                let unreadable =
                    if stats.unreadable > 0 { format!(", {} unreadable", stats.unreadable) } else { String::new() };
                vault_core::note!(
                    "{matched} operations matched ({} audit records in {} lines of {} files, {} malformed{unreadable})",
                    stats.records,
                    stats.lines,
                    stats.files,
                    stats.malformed
                );
                Ok(())
            }
            OutFormat::Csv => {
                if !self.header_done {
                    csv_row(out, &CSV_HEADER.map(str::to_owned))?;
                }
                Ok(())
            }
        }
    }
}

/// The `summary` record of `report`.
#[derive(Debug, Serialize)]
struct ReportSummary<'a> {
    operations: u64,
    reads: u64,
    denied: u64,
    root_uses: u64,
    changes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    never_read: Option<usize>,
    #[serde(flatten)]
    stats: &'a ScanStats,
}

/// Writes a report.
pub fn report<W: Write + ?Sized>(out: &mut W, format: OutFormat, r: &Report, stats: &ScanStats) -> io::Result<()> {
    let summary = ReportSummary {
        operations: r.operations,
        reads: r.reads.iter().map(|x| x.count).sum(),
        denied: r.denied.iter().map(|x| x.count).sum(),
        root_uses: r.root_uses.iter().map(|x| x.count).sum(),
        changes: r.changes.len(),
        never_read: r.inventory_given.then_some(r.never_read.len()),
        stats,
    };
    match format {
        OutFormat::Jsonl => {
            for x in &r.reads {
                write_record(out, "read", x)?;
            }
            for x in &r.denied {
                write_record(out, "denied", x)?;
            }
            for x in &r.root_uses {
                write_record(out, "root_use", x)?;
            }
            for x in &r.changes {
                write_record(out, "change", x)?;
            }
            for x in &r.busiest_paths {
                write_record(out, "busiest_path", x)?;
            }
            for x in &r.busiest_identities {
                write_record(out, "busiest_identity", x)?;
            }
            for p in &r.never_read {
                write_record(out, "never_read", &serde_json::json!({ "path": p }))?;
            }
            for m in &stats.malformed_lines {
                write_record(out, "malformed", m)?;
            }
            write_record(out, "summary", &summary)
        }
        OutFormat::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                #[serde(flatten)]
                report: &'a Report,
                malformed: &'a [crate::scan::Malformed],
                summary: ReportSummary<'a>,
            }
            write_json(out, &Doc { report: r, malformed: &stats.malformed_lines, summary })
        }
        OutFormat::Csv => report_csv(out, r),
        OutFormat::Human => report_human(out, r, stats, &summary),
    }
}

fn report_csv<W: Write + ?Sized>(out: &mut W, r: &Report) -> io::Result<()> {
    let header =
        ["section", "time", "identity", "path", "operation", "category", "count", "first", "last", "succeeded"];
    csv_row(out, &header.map(str::to_owned))?;
    let s = String::from;
    for x in &r.reads {
        let row = [s("read"), s(""), x.identity.clone(), x.path.clone(), s("read"), s(""), x.count.to_string()];
        let mut row = row.to_vec();
        row.extend([opt(x.first.as_deref()), opt(x.last.as_deref()), s("true")]);
        csv_row(out, &row)?;
    }
    for x in &r.denied {
        let row = [s("denied"), s(""), x.identity.clone(), x.path.clone(), x.operation.clone(), s("")];
        let mut row = row.to_vec();
        row.extend([x.count.to_string(), s(""), opt(x.last.as_deref()), s("false")]);
        csv_row(out, &row)?;
    }
    for x in &r.root_uses {
        let row = [s("root_use"), s(""), x.identity.clone(), x.path.clone(), x.operation.clone(), s("")];
        let mut row = row.to_vec();
        row.extend([x.count.to_string(), opt(x.first.as_deref()), opt(x.last.as_deref()), (x.failed == 0).to_string()]);
        csv_row(out, &row)?;
    }
    for x in &r.changes {
        let row = [s("change"), opt(x.time.as_deref()), x.identity.clone(), x.path.clone(), x.operation.clone()];
        let mut row = row.to_vec();
        row.extend([x.category.clone(), s("1"), s(""), s(""), x.succeeded.to_string()]);
        csv_row(out, &row)?;
    }
    for x in &r.busiest_paths {
        let row = [s("busiest_path"), s(""), s(""), x.name.clone(), s(""), s(""), x.count.to_string(), s(""), s("")];
        let mut row = row.to_vec();
        row.push(s(""));
        csv_row(out, &row)?;
    }
    for x in &r.busiest_identities {
        let row =
            [s("busiest_identity"), s(""), x.name.clone(), s(""), s(""), s(""), x.count.to_string(), s(""), s("")];
        let mut row = row.to_vec();
        row.push(s(""));
        csv_row(out, &row)?;
    }
    for p in &r.never_read {
        let row = [s("never_read"), s(""), s(""), p.clone(), s(""), s(""), s("0"), s(""), s(""), s("")];
        csv_row(out, &row)?;
    }
    Ok(())
}

fn heading<W: Write + ?Sized>(out: &mut W, color: bool, title: &str, count: usize) -> io::Result<()> {
    if color { writeln!(out, "\n\x1b[1m{title} ({count})\x1b[0m") } else { writeln!(out, "\n{title} ({count})") }
}

fn report_human<W: Write + ?Sized>(
    out: &mut W,
    r: &Report,
    stats: &ScanStats,
    summary: &ReportSummary<'_>,
) -> io::Result<()> {
    let color = false;
    writeln!(
        out,
        "{} operations in {} files ({} lines, {} malformed): {} secret reads, {} denied, {} root-token uses, {} changes",
        r.operations,
        stats.files,
        stats.lines,
        stats.malformed,
        summary.reads,
        summary.denied,
        summary.root_uses,
        summary.changes
    )?;
    heading(out, color, "Secret reads by path and identity", r.reads.len())?;
    let mut t = Table::new(["PATH", "IDENTITY", "READS", "FIRST", "LAST"]);
    for x in &r.reads {
        t.row([
            x.path.clone(),
            x.identity.clone(),
            x.count.to_string(),
            short_time(x.first.as_deref()),
            short_time(x.last.as_deref()),
        ]);
    }
    t.write_to(out, color)?;
    heading(out, color, "Denied requests", r.denied.len())?;
    let mut t = Table::new(["IDENTITY", "PATH", "OPERATION", "COUNT", "LAST"]);
    for x in &r.denied {
        t.row([
            x.identity.clone(),
            x.path.clone(),
            x.operation.clone(),
            x.count.to_string(),
            short_time(x.last.as_deref()),
        ]);
    }
    t.write_to(out, color)?;
    heading(out, color, "Root token use", r.root_uses.len())?;
    let mut t = Table::new(["IDENTITY", "OPERATION", "PATH", "REMOTE", "COUNT", "FAILED", "FIRST", "LAST"]);
    for x in &r.root_uses {
        t.row([
            x.identity.clone(),
            x.operation.clone(),
            x.path.clone(),
            opt(x.remote_address.as_deref()),
            x.count.to_string(),
            x.failed.to_string(),
            short_time(x.first.as_deref()),
            short_time(x.last.as_deref()),
        ]);
    }
    t.write_to(out, color)?;
    heading(out, color, "Changes to policies, auth methods, mounts, audit devices", r.changes.len())?;
    let mut t = Table::new(["TIME", "WHAT", "OPERATION", "PATH", "IDENTITY", "RESULT"]);
    for x in &r.changes {
        t.row([
            short_time(x.time.as_deref()),
            x.category.clone(),
            x.operation.clone(),
            x.path.clone(),
            x.identity.clone(),
            if x.succeeded { "ok".to_owned() } else { "failed".to_owned() },
        ]);
    }
    t.write_to(out, color)?;
    for (title, rows, what) in
        [("Busiest paths", &r.busiest_paths, "PATH"), ("Busiest identities", &r.busiest_identities, "IDENTITY")]
    {
        heading(out, color, title, rows.len())?;
        let mut t = Table::new([what, "OPERATIONS"]);
        for x in rows.iter() {
            t.row([x.name.clone(), x.count.to_string()]);
        }
        t.write_to(out, color)?;
    }
    if r.inventory_given {
        heading(out, color, "Secrets never read", r.never_read.len())?;
        for p in &r.never_read {
            writeln!(out, "{p}")?;
        }
    }
    Ok(())
}

/// Writes retain's plan.
pub fn retain<W: Write + ?Sized>(out: &mut W, format: OutFormat, plan: &[Planned], dry_run: bool) -> io::Result<()> {
    let count = |a: Action| plan.iter().filter(|p| p.action == a).count();
    let summary = serde_json::json!({
        "dry_run": dry_run,
        "live": count(Action::Live),
        "kept": count(Action::Keep),
        "ignored": count(Action::Ignored),
        "compressed": count(Action::Compress),
        "deleted": count(Action::Delete),
    });
    match format {
        OutFormat::Jsonl => {
            for p in plan {
                write_record(out, "file", p)?;
            }
            write_record(out, "summary", &summary)
        }
        OutFormat::Json => write_json(out, &serde_json::json!({ "files": plan, "summary": summary })),
        OutFormat::Csv => {
            csv_row(out, &["path", "action", "age_days", "bytes", "done"].map(str::to_owned))?;
            for p in plan {
                let action = serde_json::to_value(p.action).ok().and_then(|v| v.as_str().map(str::to_owned));
                csv_row(
                    out,
                    &[
                        p.path.display().to_string(),
                        action.unwrap_or_default(),
                        p.age_days.to_string(),
                        p.bytes.to_string(),
                        p.done.to_string(),
                    ],
                )?;
            }
            Ok(())
        }
        OutFormat::Human => {
            let mut t = Table::new(["FILE", "AGE", "SIZE", "ACTION"]);
            for p in plan {
                let action = match (p.action, dry_run) {
                    (Action::Live, _) => "live (untouched)",
                    (Action::Ignored, _) => "not an audit log (untouched)",
                    (Action::Keep, _) => "keep",
                    (Action::Compress, false) => "compressed",
                    (Action::Compress, true) => "would compress",
                    (Action::Delete, false) => "deleted",
                    (Action::Delete, true) => "would delete",
                };
                t.row([
                    p.path.display().to_string(),
                    format!("{}d", p.age_days),
                    vault_core::output::human_size(p.bytes),
                    action.to_owned(),
                ]);
            }
            t.write_to(out, false)
        }
    }
}
