//! `explain`: why a token carrying a set of policies may or may not do one request, as a model the command line
//! renders: the deciding rule (and every rule merged into it, with file and line), the globs it beat and why, the
//! conditions still to meet, and the verdict in one sentence. The decision itself is the offline
//! [`crate::matcher`]'s.

use std::path::PathBuf;

use serde::Serialize;

use crate::matcher::{Acl, Entry, Kind, Operation, Step};
use crate::parse::Parsed;

/// The JSON form of `explain`.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The request path (leading `/` removed).
    pub path: String,
    /// The operation judged.
    pub operation: Operation,
    /// Whether the ACL lets the operation through.
    pub allowed: bool,
    /// What `sys/capabilities` would answer for the path.
    pub capabilities: Vec<&'static str>,
    /// The deciding pattern, or `null` when nothing matches.
    pub decided_by: Option<Decider>,
    /// Matching globs that lost, best first, with why they lost.
    pub outranked: Vec<Outranked>,
    /// What else the request must satisfy.
    pub conditions: Vec<String>,
    /// The decision in one sentence.
    pub reason: String,
}

/// The deciding pattern and the rules merged into it.
#[derive(Debug, Serialize)]
pub struct Decider {
    /// The pattern.
    pub pattern: String,
    /// Its kind.
    pub kind: Kind,
    /// The lookup step that found it.
    pub step: Step,
    /// Its merged capabilities (canonical order).
    pub capabilities: Vec<&'static str>,
    /// Every rule with this pattern, in every policy.
    pub rules: Vec<RuleRef>,
}

/// A rule in a file.
#[derive(Debug, Serialize)]
pub struct RuleRef {
    /// The policy.
    pub policy: String,
    /// The file.
    pub file: PathBuf,
    /// The pattern as written.
    pub pattern: String,
    /// The line.
    pub line: usize,
    /// The capabilities that rule grants.
    pub capabilities: Vec<&'static str>,
}

/// A matching glob that lost.
#[derive(Debug, Serialize)]
pub struct Outranked {
    /// The pattern.
    pub pattern: String,
    /// Its merged capabilities.
    pub capabilities: Vec<&'static str>,
    /// Its rules.
    pub rules: Vec<RuleRef>,
    /// Why the winner beats it.
    pub why: String,
}

fn rule_refs(entry: &Entry, files: &[(PathBuf, Parsed)]) -> Vec<RuleRef> {
    entry
        .rules
        .iter()
        .map(|s| RuleRef {
            policy: s.policy.clone(),
            file: files.iter().find(|(_, p)| p.policy.name == s.policy).map(|(f, _)| f.clone()).unwrap_or_default(),
            pattern: s.pattern.clone(),
            line: s.line,
            capabilities: s.capabilities.clone(),
        })
        .collect()
}

/// Explains `op` on `path` for a token carrying `files`' policies.
pub fn explanation(acl: &Acl, files: &[(PathBuf, Parsed)], path: &str, op: Operation) -> Explanation {
    let d = acl.decide(path, op);
    let caps_of = |e: &Entry| e.caps.iter().map(|c| c.as_str()).collect::<Vec<_>>();
    let winner = d.candidates.first();
    let outranked: Vec<Outranked> = d
        .candidates
        .iter()
        .skip(1)
        .map(|c| Outranked {
            pattern: c.entry.pattern.clone(),
            capabilities: caps_of(c.entry),
            rules: rule_refs(c.entry, files),
            why: winner.map(|w| w.priority.why_over(&c.priority)).unwrap_or_default(),
        })
        .collect();
    let how = match (d.step, d.entry) {
        (_, None) => "no rule matches, so it is denied by default".to_owned(),
        (Step::Exact, Some(e)) => format!("the exact rule {:?} decides (an exact rule beats every glob)", e.pattern),
        (Step::ExactWithoutSlash, Some(e)) => {
            format!("for listing, the exact rule {:?} for the path without its trailing `/` decides", e.pattern)
        }
        (step, Some(e)) => {
            let slash = if step == Step::GlobWithoutSlash { " (for the path without its trailing `/`)" } else { "" };
            let mut text = format!("the glob {:?} is the highest-priority match{slash}", e.pattern);
            if let Some(first) = outranked.first() {
                text.push_str(&format!(", beating {:?} because {}", first.pattern, first.why));
            }
            text
        }
    };
    let caps = d.caps();
    let verdict = if d.allowed() {
        format!("{op} is allowed")
    } else if caps.is_deny() {
        format!("{op} is denied: the rule says deny")
    } else if caps.contains(op.capability()) {
        format!("{op} is denied: the path is root-protected and `sudo` is missing")
    } else if d.entry.is_some() {
        format!("{op} is denied: the deciding rule grants {caps} only, and other rules never add to it")
    } else {
        format!("{op} is denied")
    };
    Explanation {
        path: d.path.clone(),
        operation: op,
        allowed: d.allowed(),
        capabilities: acl.capabilities(path).names(),
        decided_by: d.entry.map(|e| Decider {
            pattern: e.pattern.clone(),
            kind: e.kind,
            step: d.step,
            capabilities: caps_of(e),
            rules: rule_refs(e, files),
        }),
        outranked,
        conditions: d.conditions(),
        reason: format!("{verdict}; {how}"),
    }
}
