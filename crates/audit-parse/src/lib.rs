//! audit-parse: who touched which secret, when — from Vault and OpenBao audit logs, streamed.
//!
//! - [`record`]: the typed model of one audit line ([`AuditRecord`]), borrowing from the line, unknown fields kept.
//! - [`input`]: files, folders of rotated logs in time order, gzip, stdin, and a live file followed across rotation.
//! - [`operation`]: owned summaries of lines, request and response joined by id ([`AuditOperation`]).
//! - [`scan`](mod@scan): reading sources into operations, malformed lines counted with their numbers; parallel for reports.
//! - [`filter`], [`report`], [`retain`]: the three subcommands' logic; [`render`]: their output formats.
//! - [`cli`]: the command line.

pub mod cli;
pub mod error;
pub mod filter;
pub mod input;
pub mod operation;
pub mod record;
pub mod render;
pub mod report;
pub mod retain;
pub mod scan;

pub use error::Error;
pub use filter::Filter;
pub use operation::{AuditOperation, Entry, Joiner};
pub use record::{AuditLog, AuditRecord, RecordType, RecordView};
pub use report::{Report, ReportAcc};
pub use scan::{ScanOptions, ScanStats, scan, scan_parallel};
