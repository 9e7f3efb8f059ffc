//! `from-audit`: the least privilege a role needs, read from what it actually did. The audit log says which
//! paths a role's tokens touched with which operations; the minimal policy grants exactly those, and, given the
//! role's current policies, the grants it never used are listed so they can be taken away.
//!
//! Reading the log is audit-parse's job (rotated sets, gzip, request/response joined); this module only folds
//! operations into capabilities per path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::matcher::{Acl, Operation, requires_sudo};
use crate::model::{AccessPolicy, CapSet, Capability, PolicyRule};

/// What one role did, folded per path.
#[derive(Debug, Default, Serialize)]
pub struct Observation {
    /// The role.
    pub role: String,
    /// Operations of the role that the log shows.
    pub operations: u64,
    /// Allowed operations per path: capabilities used and how often.
    pub paths: BTreeMap<String, Used>,
    /// Attempts the server denied, per path and operation: left out of the policy, listed for review.
    pub denied: BTreeMap<String, BTreeMap<String, u64>>,
    /// The first and last time seen.
    pub first_seen: Option<String>,
    /// The last time seen.
    pub last_seen: Option<String>,
}

/// Capabilities used on one path.
#[derive(Debug, Default, Serialize)]
pub struct Used {
    /// The capabilities, by name.
    #[serde(serialize_with = "cap_names")]
    pub capabilities: CapSet,
    /// How many operations.
    pub count: u64,
}

fn cap_names<S: serde::Serializer>(caps: &CapSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(caps.names())
}

/// Why an operation is not part of the policy.
fn skipped(path: &str) -> bool {
    // Logins are unauthenticated: no policy grants them.
    path.starts_with("auth/") && path.ends_with("/login")
}

/// The operation an audit line names, as a policy capability. Renew, revoke and rollback need `update`.
fn operation(name: &str) -> Option<Operation> {
    match name {
        "renew" | "revoke" | "rollback" => Some(Operation::Update),
        other => other.parse().ok(),
    }
}

/// Reads the audit logs (files, rotated folders, `.gz`, `-`) and folds the role's operations.
pub fn observe(logs: &[PathBuf], role: &str) -> Result<Observation, audit_parse::Error> {
    let sources = audit_parse::input::expand(logs)?;
    let mut seen = Observation { role: role.to_owned(), ..Observation::default() };
    let mut fold = |op: audit_parse::AuditOperation| -> std::io::Result<()> {
        if op.role.as_deref() != Some(role) {
            return Ok(());
        }
        let (Some(path), Some(name)) = (op.path.as_deref(), op.operation.as_deref()) else { return Ok(()) };
        if skipped(path) {
            return Ok(());
        }
        let Some(operation) = operation(name) else { return Ok(()) };
        seen.operations += 1;
        if let Some(time) = op.time.as_deref() {
            if seen.first_seen.as_deref().is_none_or(|t| time < t) {
                seen.first_seen = Some(time.to_owned());
            }
            if seen.last_seen.as_deref().is_none_or(|t| time > t) {
                seen.last_seen = Some(time.to_owned());
            }
        }
        if op.denied {
            *seen.denied.entry(path.to_owned()).or_default().entry(operation.as_str().to_owned()).or_default() += 1;
        } else {
            let used = seen.paths.entry(path.to_owned()).or_default();
            used.capabilities.insert(operation.capability());
            if requires_sudo(path) {
                used.capabilities.insert(Capability::Sudo);
            }
            used.count += 1;
        }
        Ok(())
    };
    match audit_parse::scan(&sources, &audit_parse::ScanOptions::default(), &mut fold, &mut |_| {}) {
        Ok(_) => Ok(seen),
        Err(audit_parse::scan::ScanError::Input(e)) => Err(e),
        Err(audit_parse::scan::ScanError::Output(e)) => Err(audit_parse::Error::io(std::path::Path::new("-"), e)),
    }
}

/// The minimal policy: one rule per path the role used, with exactly the capabilities it used.
pub fn minimal_policy(name: &str, seen: &Observation) -> AccessPolicy {
    let mut policy = AccessPolicy::new(name);
    policy.header = vec![
        format!("# {name}: what role {:?} did in the audit log, and nothing more.", seen.role),
        format!(
            "# {} operations between {} and {}. Review before use: a path used once may be a mistake,",
            seen.operations,
            seen.first_seen.as_deref().unwrap_or("?"),
            seen.last_seen.as_deref().unwrap_or("?")
        ),
        "# and a path the role will need later (a new secret) is not here yet.".to_owned(),
    ];
    for (path, used) in &seen.paths {
        let mut rule = PolicyRule::new(path.clone(), used.capabilities.iter());
        rule.doc = vec![format!("# used {} times", used.count)];
        policy.rules.push(rule);
    }
    policy
}

/// A grant of the role's current policies that the log never exercised.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Unused {
    /// The policy.
    pub policy: String,
    /// The rule's pattern.
    pub pattern: String,
    /// Its line in the policy file.
    pub line: usize,
    /// Capabilities granted there and never used.
    pub capabilities: Vec<&'static str>,
    /// Whether the rule decided no observed operation at all.
    pub never_used: bool,
}

/// The grants in `acl` that no observed allowed operation used, deciding each operation the way the server does.
pub fn unused_grants(acl: &Acl, seen: &Observation) -> Vec<Unused> {
    let mut used: BTreeMap<&str, CapSet> = BTreeMap::new();
    for (path, use_) in &seen.paths {
        for cap in use_.capabilities.iter() {
            let Some(op) = Operation::ALL.into_iter().find(|o| o.capability() == cap) else { continue };
            if let Some(entry) = acl.decide(path, op).entry {
                let caps = used.entry(entry.pattern.as_str()).or_default();
                caps.insert(cap);
                if requires_sudo(path) {
                    caps.insert(Capability::Sudo);
                }
            }
        }
    }
    let mut out = Vec::new();
    for entry in acl.entries() {
        if entry.caps.is_deny() {
            continue;
        }
        let used_here = used.get(entry.pattern.as_str()).copied().unwrap_or_default();
        for rule in &entry.rules {
            let granted: BTreeSet<&'static str> = rule.capabilities.iter().copied().collect();
            let unused: Vec<&'static str> =
                granted.iter().copied().filter(|c| !used_here.names().contains(c)).collect();
            if !unused.is_empty() {
                out.push(Unused {
                    policy: rule.policy.clone(),
                    pattern: rule.pattern.clone(),
                    line: rule.line,
                    never_used: unused.len() == granted.len(),
                    capabilities: unused,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(paths: &[(&str, &[Capability])]) -> Observation {
        let mut o = Observation { role: "etl".into(), operations: paths.len() as u64, ..Observation::default() };
        for (path, caps) in paths {
            let used = o.paths.entry((*path).to_owned()).or_default();
            for cap in *caps {
                used.capabilities.insert(*cap);
            }
            used.count += 1;
        }
        o
    }

    #[test]
    fn minimal_policy_is_exact() {
        let o = seen(&[("secret/data/etl/db", &[Capability::Read]), ("secret/metadata/etl/", &[Capability::List])]);
        let hcl = crate::write::to_hcl(&minimal_policy("etl-minimal", &o));
        assert!(hcl.contains("path \"secret/data/etl/db\" {\n  capabilities = [\"read\"]"), "{hcl}");
        assert!(hcl.contains("path \"secret/metadata/etl/\" {\n  capabilities = [\"list\"]"), "{hcl}");
    }

    #[test]
    fn unused_grants_follow_the_matching_rules() {
        let text = "path \"secret/data/etl/*\" { capabilities = [\"read\", \"update\"] }\npath \"secret/data/other/*\" { capabilities = [\"read\"] }\n";
        let parsed = crate::parse::parse_hcl("etl", text).unwrap();
        let acl = Acl::new(&[parsed.policy]).unwrap();
        let o = seen(&[("secret/data/etl/db", &[Capability::Read])]);
        let unused = unused_grants(&acl, &o);
        let summary: Vec<(&str, Vec<&str>, bool)> =
            unused.iter().map(|u| (u.pattern.as_str(), u.capabilities.clone(), u.never_used)).collect();
        assert_eq!(
            summary,
            [("secret/data/etl/*", vec!["update"], false), ("secret/data/other/*", vec!["read"], true)]
        );
    }

    #[test]
    fn logins_are_not_policy() {
        assert!(skipped("auth/approle/login"));
        assert!(!skipped("auth/token/lookup-self"));
        assert_eq!(operation("renew"), Some(Operation::Update));
        assert_eq!(operation("help"), None);
    }
}
