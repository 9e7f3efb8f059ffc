//! `audit-parse report`: the answers compliance questions need, from one pass over the logs — who read which
//! secret, what was denied to whom, every use of a root token, every change to policies, auth methods, mounts
//! and audit devices, the busiest paths and identities, and the secrets nobody read.
//!
//! Operations are folded into a [`ReportAcc`] per thread (files are read in parallel) and the accumulators are
//! merged; the result is a [`Report`] whose rows are sorted, so the output does not depend on thread timing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::operation::AuditOperation;

/// Reads of one secret by one identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadRow {
    /// The secret (KV version 2 paths without `data/`: `secret/app/db`).
    pub path: String,
    /// Who read it (`display_name`, `/role` for AppRole).
    pub identity: String,
    /// How many successful reads.
    pub count: u64,
    /// The first read.
    pub first: Option<String>,
    /// The last read.
    pub last: Option<String>,
}

/// Denied requests by identity, path and operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeniedRow {
    /// Who was denied.
    pub identity: String,
    /// The API path.
    pub path: String,
    /// The operation.
    pub operation: String,
    /// How many times.
    pub count: u64,
    /// The last time.
    pub last: Option<String>,
}

/// Uses of a token with the root policy, by identity, operation, path and address. Aggregated rather than listed
/// one by one so memory stays bounded on a server where root is (wrongly) used all day; `first` and `last` date
/// them, and `filter --root` lists each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RootRow {
    /// Who (the root token's display name is `root`; tokens created by root with the root policy differ).
    pub identity: String,
    /// The operation.
    pub operation: String,
    /// The API path.
    pub path: String,
    /// From where.
    pub remote_address: Option<String>,
    /// How many times.
    pub count: u64,
    /// How many of them failed.
    pub failed: u64,
    /// The first use.
    pub first: Option<String>,
    /// The last use.
    pub last: Option<String>,
}

/// One configuration change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventRow {
    /// When.
    pub time: Option<String>,
    /// What was changed: `policy`, `auth`, `mount`, `audit`.
    pub category: String,
    /// The operation.
    pub operation: String,
    /// The API path.
    pub path: String,
    /// Who.
    pub identity: String,
    /// From where.
    pub remote_address: Option<String>,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// The file and line of the request (or response) line.
    pub file: String,
    /// The line number.
    pub line: u64,
}

/// A path or identity with its number of operations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CountRow {
    /// The path or identity.
    pub name: String,
    /// Operations.
    pub count: u64,
}

/// What one thread has seen.
#[derive(Debug, Default)]
pub struct ReportAcc {
    operations: u64,
    reads: BTreeMap<(String, String), ReadRow>,
    denied: BTreeMap<(String, String, String), DeniedRow>,
    root: BTreeMap<(String, String, String, String), RootRow>,
    changes: Vec<EventRow>,
    paths: HashMap<String, u64>,
    identities: HashMap<String, u64>,
}

/// The category of a configuration change, when the operation is one: a write or delete under `sys/policy`,
/// `sys/policies`, `sys/auth`, `sys/mounts`, `sys/remount` or `sys/audit` (not `sys/audit-hash`).
pub fn change_category(op: &AuditOperation) -> Option<&'static str> {
    let operation = op.operation.as_deref()?;
    if !matches!(operation, "create" | "update" | "delete" | "patch") {
        return None;
    }
    let path = op.path.as_deref()?;
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("sys/policy") || under("sys/policies") {
        Some("policy")
    } else if under("sys/auth") {
        Some("auth")
    } else if under("sys/mounts") || under("sys/remount") {
        Some("mount")
    } else if under("sys/audit") {
        Some("audit")
    } else {
        None
    }
}

/// Whether a read is a read of a secret (not of the server's own configuration or of tokens).
fn is_secret_path(path: &str) -> bool {
    !["sys/", "auth/", "identity/", "cubbyhole/"].iter().any(|p| path.starts_with(p))
}

fn event(op: &AuditOperation, category: &str) -> EventRow {
    let location = op.request_line.as_ref().or(op.response_line.as_ref());
    EventRow {
        time: op.time.clone(),
        category: category.to_owned(),
        operation: op.operation.clone().unwrap_or_default(),
        path: op.path.clone().unwrap_or_default(),
        identity: op.identity(),
        remote_address: op.remote_address.clone(),
        succeeded: op.succeeded(),
        file: location.map(|l| l.file.to_string()).unwrap_or_default(),
        line: location.map_or(0, |l| l.line),
    }
}

fn later(a: &Option<String>, b: &Option<String>) -> Option<String> {
    // RFC 3339 times from one server compare as strings closely enough for first/last.
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y.clone() } else { x.clone() }),
        (x, y) => x.clone().or_else(|| y.clone()),
    }
}

fn earlier(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y.clone() } else { x.clone() }),
        (x, y) => x.clone().or_else(|| y.clone()),
    }
}

impl ReportAcc {
    /// Folds one operation in.
    pub fn add(&mut self, op: &AuditOperation) {
        self.operations += 1;
        let identity = op.identity();
        let path = op.path.clone().unwrap_or_default();
        *self.paths.entry(path.clone()).or_default() += 1;
        *self.identities.entry(identity.clone()).or_default() += 1;
        if op.operation.as_deref() == Some("read") && op.succeeded() && is_secret_path(&path) {
            let secret = op.secret_path().unwrap_or_default();
            let row = self.reads.entry((secret.clone(), identity.clone())).or_insert_with(|| ReadRow {
                path: secret,
                identity: identity.clone(),
                ..ReadRow::default()
            });
            row.count += 1;
            row.first = earlier(&row.first, &op.time);
            row.last = later(&row.last, &op.time);
        }
        if op.denied {
            let operation = op.operation.clone().unwrap_or_default();
            let row = self.denied.entry((identity.clone(), path.clone(), operation.clone())).or_insert_with(|| {
                DeniedRow { identity: identity.clone(), path: path.clone(), operation, ..DeniedRow::default() }
            });
            row.count += 1;
            row.last = later(&row.last, &op.time);
        }
        if op.root {
            let operation = op.operation.clone().unwrap_or_default();
            let address = op.remote_address.clone().unwrap_or_default();
            let key = (identity.clone(), path.clone(), operation.clone(), address);
            let row = self.root.entry(key).or_insert_with(|| RootRow {
                identity: identity.clone(),
                operation,
                path: path.clone(),
                remote_address: op.remote_address.clone(),
                ..RootRow::default()
            });
            row.count += 1;
            row.failed += u64::from(!op.succeeded());
            row.first = earlier(&row.first, &op.time);
            row.last = later(&row.last, &op.time);
        }
        if let Some(category) = change_category(op) {
            self.changes.push(event(op, category));
        }
    }

    /// Adds another thread's accumulator.
    pub fn merge(&mut self, other: ReportAcc) {
        self.operations += other.operations;
        for (k, v) in other.reads {
            let row = self.reads.entry(k).or_insert_with(|| ReadRow { count: 0, ..v.clone() });
            row.count += v.count;
            row.first = earlier(&row.first, &v.first);
            row.last = later(&row.last, &v.last);
        }
        for (k, v) in other.denied {
            let row = self.denied.entry(k).or_insert_with(|| DeniedRow { count: 0, ..v.clone() });
            row.count += v.count;
            row.last = later(&row.last, &v.last);
        }
        for (k, v) in other.root {
            let row = self.root.entry(k).or_insert_with(|| RootRow { count: 0, failed: 0, ..v.clone() });
            row.count += v.count;
            row.failed += v.failed;
            row.first = earlier(&row.first, &v.first);
            row.last = later(&row.last, &v.last);
        }
        self.changes.extend(other.changes);
        for (k, v) in other.paths {
            *self.paths.entry(k).or_default() += v;
        }
        for (k, v) in other.identities {
            *self.identities.entry(k).or_default() += v;
        }
    }

    /// The finished report: `top` busiest paths and identities; `inventory` (logical secret paths) gives the
    /// secrets never read.
    pub fn finish(self, top: usize, inventory: Option<&BTreeSet<String>>) -> Report {
        let busiest = |map: HashMap<String, u64>| {
            let mut rows: Vec<CountRow> = map.into_iter().map(|(name, count)| CountRow { name, count }).collect();
            rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            rows.truncate(top);
            rows
        };
        let read_paths: BTreeSet<&str> = self.reads.keys().map(|(p, _)| p.as_str()).collect();
        let never_read = inventory
            .map(|inv| inv.iter().filter(|p| !read_paths.contains(p.as_str())).cloned().collect())
            .unwrap_or_default();
        let sort_events = |mut rows: Vec<EventRow>| {
            rows.sort_by(|a, b| (&a.time, &a.file, a.line).cmp(&(&b.time, &b.file, b.line)));
            rows
        };
        Report {
            operations: self.operations,
            reads: self.reads.into_values().collect(),
            denied: self.denied.into_values().collect(),
            root_uses: self.root.into_values().collect(),
            changes: sort_events(self.changes),
            busiest_paths: busiest(self.paths),
            busiest_identities: busiest(self.identities),
            never_read,
            inventory_given: inventory.is_some(),
        }
    }
}

/// The answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Operations considered (after filtering).
    pub operations: u64,
    /// Who read what, by secret then identity.
    pub reads: Vec<ReadRow>,
    /// Denied requests by identity, path, operation.
    pub denied: Vec<DeniedRow>,
    /// Operations made with the root policy, by identity, path, operation and address.
    pub root_uses: Vec<RootRow>,
    /// Every change to policies, auth methods, mounts and audit devices, in time order.
    pub changes: Vec<EventRow>,
    /// Paths with the most operations.
    pub busiest_paths: Vec<CountRow>,
    /// Identities with the most operations.
    pub busiest_identities: Vec<CountRow>,
    /// Inventory secrets with no successful read in the period.
    pub never_read: Vec<String>,
    /// Whether an inventory was given (else `never_read` is not computed).
    #[serde(skip)]
    pub inventory_given: bool,
}

/// Turns an inventory line into a logical secret path: `/secret/data/app/db` and `secret/app/db` both become
/// `secret/app/db`. Blank lines and `#` comments give `None`.
pub fn inventory_path(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = line.trim_start_matches('/');
    if let Some((mount, rest)) = line.split_once('/')
        && let Some(rest) = rest.strip_prefix("data/")
    {
        return Some(format!("{mount}/{rest}"));
    }
    Some(line.to_owned())
}
