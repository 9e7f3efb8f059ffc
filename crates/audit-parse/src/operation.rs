//! From lines to operations: the owned summary of one line ([`Entry`]), the request and response lines of one
//! request joined by request id ([`AuditOperation`]), and the bounded window that joins them ([`Joiner`]).
//!
//! A line is summarised as soon as it is parsed, so the borrowed record and its line buffer can be reused; only
//! the summary (a few short strings) waits in the join window.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use crate::record::{AuditRecord, AuthView, RecordType, RecordView};

/// How many lines a request waits for its response before it is emitted alone. The server writes a response line
/// right after the request is handled, so even a busy server's pairs are a few hundred lines apart.
pub const DEFAULT_JOIN_WINDOW: u64 = 10_000;

/// Where a line was read: file name (or `-`) and line number from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, or `-` for stdin.
    pub file: Arc<str>,
    /// The line number, from 1.
    pub line: u64,
}

/// The facts of one line that filters and reports use, owned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// `time`.
    pub time: Option<String>,
    /// `type`.
    pub kind: Option<RecordType>,
    /// `request.id`.
    pub id: Option<String>,
    /// `request.operation`.
    pub operation: Option<String>,
    /// `request.path`.
    pub path: Option<String>,
    /// `request.mount_point` (or the response's).
    pub mount_point: Option<String>,
    /// `request.mount_type` (or the response's).
    pub mount_type: Option<String>,
    /// `auth.display_name` (or, for a login, the display name of the token it handed out).
    pub display_name: Option<String>,
    /// `auth.entity_id` (or the login's).
    pub entity_id: Option<String>,
    /// `auth.metadata.role_name` (AppRole), or the role a login logged into.
    pub role: Option<String>,
    /// Every policy named in `auth.policies`, `token_policies` and `identity_policies`.
    pub policies: Vec<String>,
    /// `request.remote_address`.
    pub remote_address: Option<String>,
    /// `auth.policy_results.allowed`.
    pub allowed: Option<bool>,
    /// Denied by policy or answered permission denied.
    pub denied: bool,
    /// `error`.
    pub error: Option<String>,
    /// HMAC of the token (`auth.client_token`).
    pub client_token: Option<String>,
    /// The line contains one of the HMACs searched for.
    pub value_match: bool,
    /// Where the line is.
    pub location: Option<Location>,
}

impl Entry {
    /// Summarises a parsed line.
    pub fn from_record(record: &AuditRecord<'_>, location: Location, value_match: bool) -> Self {
        let auth = record.auth.as_ref();
        let request = record.request.as_ref();
        let response = record.response.as_ref();
        let login = response.and_then(|r| r.auth.as_ref());
        let mut policies: Vec<String> = Vec::new();
        if let Some(a) = auth {
            for p in a.policies.iter().chain(&a.token_policies).chain(&a.identity_policies) {
                if !policies.contains(p) {
                    policies.push(p.clone());
                }
            }
        }
        Entry {
            time: text(record.time.as_deref()),
            kind: record.record_type(),
            id: text(record.request_id()),
            operation: text(record.operation()),
            path: text(record.path()),
            mount_point: text(request.and_then(|r| r.mount_point.as_deref()))
                .or_else(|| text(response.and_then(|r| r.mount_point.as_deref()))),
            mount_type: text(request.and_then(|r| r.mount_type.as_deref()))
                .or_else(|| text(response.and_then(|r| r.mount_type.as_deref()))),
            display_name: text(auth.and_then(|a| a.display_name.as_deref()))
                .or_else(|| text(login.and_then(|a| a.display_name.as_deref()))),
            entity_id: text(auth.and_then(|a| a.entity_id.as_deref()))
                .or_else(|| text(login.and_then(|a| a.entity_id.as_deref()))),
            role: text(record.role_name()),
            policies,
            remote_address: text(request.and_then(|r| r.remote_address.as_deref())),
            allowed: auth.and_then(|a| a.policy_results.as_ref()).and_then(|p| p.allowed),
            denied: record.is_denied(),
            error: text(record.error.as_deref()),
            client_token: text(auth.and_then(|a| a.client_token.as_deref())),
            value_match,
            location: Some(location),
        }
    }

    /// Summarises a line read through the lean [`RecordView`] (what scans use); the same facts as
    /// [`Entry::from_record`].
    pub fn from_view(record: &RecordView<'_>, location: Location, value_match: bool) -> Self {
        let auth = record.auth.as_ref();
        let request = record.request.as_ref();
        let response = record.response.as_ref();
        let login = response.and_then(|r| r.auth.as_ref());
        let mut policies: Vec<String> = Vec::new();
        if let Some(a) = auth {
            for p in a.policies.iter().chain(&a.token_policies).chain(&a.identity_policies) {
                if !policies.iter().any(|have| have == p.0.as_ref()) {
                    policies.push(p.0.clone().into_owned());
                }
            }
        }
        let role = |a: Option<&AuthView<'_>>| text(a.and_then(|a| a.metadata.as_ref()?.role_name.as_deref()));
        let allowed = auth.and_then(|a| a.policy_results.as_ref()).and_then(|p| p.allowed);
        let error = text(record.error.as_deref());
        let kind = match record.kind.as_deref() {
            Some("request") => Some(RecordType::Request),
            Some("response") => Some(RecordType::Response),
            _ => None,
        };
        Entry {
            time: text(record.time.as_deref()),
            kind,
            id: text(request.and_then(|r| r.id.as_deref())),
            operation: text(request.and_then(|r| r.operation.as_deref())),
            path: text(request.and_then(|r| r.path.as_deref())),
            mount_point: text(request.and_then(|r| r.mount_point.as_deref()))
                .or_else(|| text(response.and_then(|r| r.mount_point.as_deref()))),
            mount_type: text(request.and_then(|r| r.mount_type.as_deref()))
                .or_else(|| text(response.and_then(|r| r.mount_type.as_deref()))),
            display_name: text(auth.and_then(|a| a.display_name.as_deref()))
                .or_else(|| text(login.and_then(|a| a.display_name.as_deref()))),
            entity_id: text(auth.and_then(|a| a.entity_id.as_deref()))
                .or_else(|| text(login.and_then(|a| a.entity_id.as_deref()))),
            role: role(auth).or_else(|| role(login)),
            policies,
            remote_address: text(request.and_then(|r| r.remote_address.as_deref())),
            allowed,
            denied: allowed == Some(false) || error.as_deref().is_some_and(|e| e.contains("permission denied")),
            error,
            client_token: text(auth.and_then(|a| a.client_token.as_deref())),
            value_match,
            location: Some(location),
        }
    }
}

/// A non-empty string, owned.
fn text(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// What an [`AuditOperation`] was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Joined {
    /// A request line and its response line.
    Both,
    /// A request line whose response was not seen (within the join window), or a line read with `--no-join`.
    Request,
    /// A response line whose request was not seen.
    Response,
}

/// One request as the audit log tells it: its request line and response line merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditOperation {
    /// What it was built from.
    pub joined: Joined,
    /// When the request arrived (the request line's time, else the response line's).
    pub time: Option<String>,
    /// When it was answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time: Option<String>,
    /// The request id.
    pub id: Option<String>,
    /// `create`, `read`, `update`, `delete`, `list`, …
    pub operation: Option<String>,
    /// The API path.
    pub path: Option<String>,
    /// The mount, with its trailing slash.
    pub mount_point: Option<String>,
    /// The mount's type.
    pub mount_type: Option<String>,
    /// The token's display name.
    pub display_name: Option<String>,
    /// The identity entity.
    pub entity_id: Option<String>,
    /// The AppRole role.
    pub role: Option<String>,
    /// The token's policies.
    pub policies: Vec<String>,
    /// The client's address.
    pub remote_address: Option<String>,
    /// Whether the policies allowed it.
    pub allowed: Option<bool>,
    /// Denied by policy or answered permission denied.
    pub denied: bool,
    /// The error, from the response line when there is one.
    pub error: Option<String>,
    /// Made with a token that has the `root` policy.
    pub root: bool,
    /// The request line.
    pub request_line: Option<Location>,
    /// The response line.
    pub response_line: Option<Location>,
    /// HMAC of the token (not serialised: it identifies the token to anyone holding the device's key).
    #[serde(skip)]
    pub client_token: Option<String>,
    /// Whether a line contains an HMAC searched for.
    #[serde(skip)]
    pub value_match: bool,
}

impl AuditOperation {
    /// An operation from one line.
    pub fn single(entry: Entry) -> Self {
        let is_response = entry.kind == Some(RecordType::Response);
        let root = entry.policies.iter().any(|p| p == "root");
        let (request_line, response_line) = if is_response { (None, entry.location) } else { (entry.location, None) };
        AuditOperation {
            joined: if is_response { Joined::Response } else { Joined::Request },
            time: entry.time,
            response_time: None,
            id: entry.id,
            operation: entry.operation,
            path: entry.path,
            mount_point: entry.mount_point,
            mount_type: entry.mount_type,
            display_name: entry.display_name,
            entity_id: entry.entity_id,
            role: entry.role,
            policies: entry.policies,
            remote_address: entry.remote_address,
            allowed: entry.allowed,
            denied: entry.denied,
            error: entry.error,
            root,
            request_line,
            response_line,
            client_token: entry.client_token,
            value_match: entry.value_match,
        }
    }

    /// A request line and its response line as one operation: the request's time and identity, the response's
    /// error and mount, and whatever one line has and the other lacks (a login's role is only in its response).
    pub fn pair(request: Entry, response: Entry) -> Self {
        let mut op = AuditOperation::single(request);
        op.joined = Joined::Both;
        op.response_time = response.time;
        op.response_line = response.location;
        op.error = response.error.or(op.error);
        op.denied |= response.denied;
        if response.allowed == Some(false) {
            op.allowed = Some(false);
        }
        op.allowed = op.allowed.or(response.allowed);
        op.role = op.role.or(response.role);
        op.entity_id = op.entity_id.or(response.entity_id);
        op.display_name = op.display_name.or(response.display_name);
        op.mount_point = op.mount_point.or(response.mount_point);
        op.mount_type = op.mount_type.or(response.mount_type);
        op.remote_address = op.remote_address.or(response.remote_address);
        op.client_token = op.client_token.or(response.client_token);
        op.value_match |= response.value_match;
        if op.time.is_none() {
            op.time.clone_from(&op.response_time);
        }
        op
    }

    /// Who made the request, for reports: the display name, with the AppRole role after a slash (`approle/etl`).
    pub fn identity(&self) -> String {
        let name = self.display_name.as_deref().unwrap_or("-");
        match &self.role {
            Some(role) => format!("{name}/{role}"),
            None => name.to_owned(),
        }
    }

    /// Whether the request succeeded: allowed and without an error.
    pub fn succeeded(&self) -> bool {
        !self.denied && self.error.is_none()
    }

    /// The error on one line, for tables: `1 error occurred:\n\t* permission denied` becomes `permission denied`.
    pub fn short_error(&self) -> Option<String> {
        let error = self.error.as_deref()?;
        let parts: Vec<&str> = error
            .lines()
            .map(|l| l.trim().trim_start_matches("* ").trim())
            .filter(|l| !(l.is_empty() || l.ends_with("error occurred:") || l.ends_with("errors occurred:")))
            .collect();
        Some(if parts.is_empty() { error.trim().to_owned() } else { parts.join("; ") })
    }

    /// The logical secret path of a KV version 2 data path (`secret/data/app/db` → `secret/app/db`), or the path.
    pub fn secret_path(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        Some(logical_kv_path(path, self.mount_point.as_deref(), self.mount_type.as_deref()))
    }
}

/// `secret/data/app/db` under a `kv` mount `secret/` → `secret/app/db`; other paths unchanged.
pub fn logical_kv_path(path: &str, mount_point: Option<&str>, mount_type: Option<&str>) -> String {
    if let (Some(mount), Some("kv")) = (mount_point, mount_type)
        && let Some(rest) = path.strip_prefix(mount)
        && let Some(rest) = rest.strip_prefix("data/")
    {
        return format!("{mount}{rest}");
    }
    path.to_owned()
}

/// Joins request and response lines by request id, within a window of lines.
///
/// Requests wait in a map; a response takes its request out and the pair is emitted. A request whose response has
/// not come within [`DEFAULT_JOIN_WINDOW`] lines (or the window given) is emitted alone, so memory is bounded by
/// the window however long the log. Lines without a request id are emitted alone at once.
#[derive(Debug)]
pub struct Joiner {
    window: u64,
    seq: u64,
    pending: HashMap<String, (u64, Entry)>,
    order: VecDeque<(u64, String)>,
}

impl Joiner {
    /// A joiner with a window of `window` lines.
    pub fn new(window: u64) -> Self {
        Self { window: window.max(1), seq: 0, pending: HashMap::new(), order: VecDeque::new() }
    }

    /// Takes one line; emits what is complete or has waited too long.
    pub fn push<E, F>(&mut self, entry: Entry, emit: &mut F) -> Result<(), E>
    where
        F: FnMut(AuditOperation) -> Result<(), E> + ?Sized,
    {
        self.seq += 1;
        while let Some(&(seq, _)) = self.order.front() {
            if seq + self.window >= self.seq {
                break;
            }
            let (seq, id) = self.order.pop_front().expect("front exists");
            // The id may have been answered (and removed) already, or reused by a later request.
            if self.pending.get(&id).is_some_and(|(s, _)| *s == seq)
                && let Some((_, waiting)) = self.pending.remove(&id)
            {
                emit(AuditOperation::single(waiting))?;
            }
        }
        match (entry.kind, entry.id.clone()) {
            (Some(RecordType::Request), Some(id)) => {
                if let Some((_, earlier)) = self.pending.insert(id.clone(), (self.seq, entry)) {
                    // The same id twice without a response: the earlier one will never be joined.
                    emit(AuditOperation::single(earlier))?;
                }
                self.order.push_back((self.seq, id));
                Ok(())
            }
            (Some(RecordType::Response), Some(id)) => match self.pending.remove(&id) {
                Some((_, request)) => emit(AuditOperation::pair(request, entry)),
                None => emit(AuditOperation::single(entry)),
            },
            _ => emit(AuditOperation::single(entry)),
        }
    }

    /// Emits every request still waiting, oldest first (at the end of the input).
    pub fn finish<E, F>(&mut self, emit: &mut F) -> Result<(), E>
    where
        F: FnMut(AuditOperation) -> Result<(), E> + ?Sized,
    {
        while let Some((seq, id)) = self.order.pop_front() {
            if self.pending.get(&id).is_some_and(|(s, _)| *s == seq)
                && let Some((_, waiting)) = self.pending.remove(&id)
            {
                emit(AuditOperation::single(waiting))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: RecordType, id: &str, line: u64) -> Entry {
        Entry {
            kind: Some(kind),
            id: Some(id.to_owned()),
            location: Some(Location { file: "a".into(), line }),
            ..Entry::default()
        }
    }

    #[test]
    fn joins_pairs_and_flushes_unanswered_requests() {
        let mut out = Vec::new();
        let mut emit = |op: AuditOperation| -> Result<(), ()> {
            out.push((op.joined, op.request_line.map(|l| l.line), op.response_line.map(|l| l.line)));
            Ok(())
        };
        let mut joiner = Joiner::new(2);
        joiner.push(entry(RecordType::Request, "a", 1), &mut emit).unwrap();
        joiner.push(entry(RecordType::Request, "b", 2), &mut emit).unwrap();
        joiner.push(entry(RecordType::Response, "a", 3), &mut emit).unwrap();
        joiner.push(entry(RecordType::Response, "z", 4), &mut emit).unwrap();
        joiner.push(entry(RecordType::Request, "c", 5), &mut emit).unwrap();
        joiner.finish(&mut emit).unwrap();
        assert_eq!(
            out,
            [
                (Joined::Both, Some(1), Some(3)),
                (Joined::Response, None, Some(4)),
                (Joined::Request, Some(2), None),
                (Joined::Request, Some(5), None),
            ]
        );
    }

    #[test]
    fn kv_paths_become_logical() {
        assert_eq!(logical_kv_path("secret/data/app/db", Some("secret/"), Some("kv")), "secret/app/db");
        assert_eq!(logical_kv_path("secret/metadata/app", Some("secret/"), Some("kv")), "secret/metadata/app");
        assert_eq!(logical_kv_path("sys/mounts", Some("sys/"), Some("system")), "sys/mounts");
    }
}
