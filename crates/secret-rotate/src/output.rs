//! Writing results: human tables, one JSON document (`{"<kinds>": [...], "summary": {...}}`), or JSON Lines (one
//! `{"type": "<kind>", ...}` record per item, then a `summary`). Field names are public API (docs/vault-rotation-config.md).

use std::io::{self, Write};

use serde::Serialize;
use vault_core::output::{Format, Table, write_json, write_record};

use crate::due::DueItem;
use crate::history::HistoryRecord;
use crate::rotate::Outcome;

/// Writes items and a summary in `format`; `table` renders the human form.
pub fn emit<T: Serialize, S: Serialize>(
    out: &mut dyn Write,
    format: Format,
    kind: &str,
    items: &[T],
    summary: &S,
    table: impl FnOnce(&[T]) -> Table,
    color: bool,
) -> io::Result<()> {
    match format {
        Format::Human => {
            let t = table(items);
            if t.is_empty() { writeln!(out, "(nothing)") } else { t.write_to(out, color) }
        }
        Format::Json => {
            let mut doc = serde_json::Map::new();
            let plural = match kind {
                "history" => "history".to_owned(),
                "policy" => "policies".to_owned(),
                other => format!("{other}s"),
            };
            doc.insert(plural, serde_json::to_value(items).map_err(io::Error::other)?);
            doc.insert("summary".into(), serde_json::to_value(summary).map_err(io::Error::other)?);
            write_json(out, &doc)
        }
        Format::Jsonl => {
            for item in items {
                write_record(out, kind, item)?;
            }
            write_record(out, "summary", summary)
        }
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn version(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The `due` table.
pub fn due_table(items: &[DueItem]) -> Table {
    let mut t = Table::new(["PATH", "STATUS", "STRATEGY", "NEXT DUE", "LAST", "WINDOW", "OWNER"]);
    for i in items {
        let window = match &i.window {
            Some(w) if i.in_window => format!("{w} (open)"),
            Some(w) => w.clone(),
            None => "-".into(),
        };
        t.row([
            i.path.clone(),
            i.status.as_str().to_owned(),
            i.strategy.to_owned(),
            opt(&i.next_due),
            opt(&i.last),
            window,
            opt(&i.owner),
        ]);
    }
    t.sort();
    t
}

/// The `run` and `rollback` table.
pub fn outcome_table(items: &[Outcome]) -> Table {
    let mut t = Table::new(["PATH", "RESULT", "STRATEGY", "FROM", "TO", "NEXT DUE", "DETAIL"]);
    for o in items {
        let result =
            serde_json::to_value(o.result).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let result = if o.recovered { format!("{result} (recovered)") } else { result };
        t.row([
            o.path.clone(),
            result,
            o.strategy.to_owned(),
            version(o.from_version),
            version(o.to_version),
            opt(&o.next_due),
            opt(&o.detail),
        ]);
    }
    t.sort();
    t
}

/// The `history` table, oldest first (not sorted: the file's order is the order things happened).
pub fn history_table(items: &[HistoryRecord]) -> Table {
    let mut t = Table::new(["TIME", "PATH", "EVENT", "STRATEGY", "FROM", "TO", "DETAIL"]);
    for r in items {
        let event = serde_json::to_value(r.event).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        t.row([
            r.time.clone(),
            r.path.clone(),
            event,
            r.strategy.clone(),
            version(r.from_version),
            version(r.to_version),
            opt(&r.detail),
        ]);
    }
    t
}
