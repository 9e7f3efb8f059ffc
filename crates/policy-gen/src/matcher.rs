//! Vault's ACL decision, offline: which rule of which policy decides a request, and why.
//!
//! This follows the server's algorithm step by step, because users rely on it to predict what the server does
//! and the live agreement test holds it to that:
//!
//! 1. Rules are merged per pattern across all policies (and within one): the same pattern's capabilities are
//!    united, except that `deny` in any of them leaves only `deny`. Different patterns are never merged.
//! 2. Patterns fall in three kinds: *exact* (no wildcard), *prefix* (ends in `*`, no `+` segment) and
//!    *segment* (has a `+` segment: `+` alone, `+/…`, or `…/+…`; it may end in `*`).
//! 3. An exact rule for the path decides outright. For `list` (and OpenBao's `scan`), an exact rule for the
//!    path without its trailing `/` decides too. For a listing of a path ending in `/`, the globs are also
//!    tried on the path without the `/`: HashiCorp Vault does that *before* trying the path itself, OpenBao
//!    only *after* nothing matched it. The live agreement test found this difference (the documentation of
//!    neither server mentions it), so [`Flavor`] picks which server to model.
//! 4. Otherwise every matching glob competes: the longest matching prefix rule and each matching segment rule.
//!    The winner is decided by, in order: the first wildcard (`+` or `*`) comes later; not ending in `*`;
//!    fewer `+` segments; a longer pattern; a lexicographically greater pattern.
//! 5. `sys/capabilities` answers with the `list` flavour of this lookup, sorted, and `["deny"]` when nothing
//!    (or `deny`) applies.
//!
//! Quirks kept on purpose because the server has them: `+` matches an empty segment, a `+` glued to other
//! characters (`a+b`) is literal, a `*` anywhere but at the end is literal, and `+*` is rejected.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::model::{AccessPolicy, CapSet, Capability};

/// A request operation, as `explain --op` and test matrices name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// GET.
    Read,
    /// LIST.
    List,
    /// POST/PUT creating a path.
    Create,
    /// POST/PUT updating a path (also renew, revoke and rollback).
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OpenBao's SCAN.
    Scan,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::Read,
        Operation::List,
        Operation::Create,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
        Operation::Scan,
    ];

    /// The capability the operation needs.
    pub fn capability(self) -> Capability {
        match self {
            Operation::Read => Capability::Read,
            Operation::List => Capability::List,
            Operation::Create => Capability::Create,
            Operation::Update => Capability::Update,
            Operation::Patch => Capability::Patch,
            Operation::Delete => Capability::Delete,
            Operation::Scan => Capability::Scan,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        self.capability().as_str()
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Operation::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
            format!("unknown operation {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Which server's behaviour to model where OpenBao and HashiCorp Vault differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// OpenBao (the toolkit's reference server).
    #[default]
    Openbao,
    /// HashiCorp Vault.
    Vault,
}

/// The kind of a pattern, which decides how it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No wildcard: matches one path.
    Exact,
    /// Ends in `*` without `+` segments: matches every path that starts with the rest.
    Prefix,
    /// Has `+` segments (and maybe a final `*`).
    Segment,
}

impl Kind {
    /// The name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Prefix => "prefix",
            Kind::Segment => "segment",
        }
    }
}

/// The pattern as Vault stores it: the leading `/` removed, and its kind.
pub fn classify(pattern: &str) -> (String, Kind) {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern).to_owned();
    let kind = if pattern == "+" || pattern.contains("/+") || pattern.starts_with("+/") {
        Kind::Segment
    } else if pattern.ends_with('*') {
        Kind::Prefix
    } else {
        Kind::Exact
    };
    (pattern, kind)
}

/// One rule of one policy that contributed to a merged pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The policy's name.
    pub policy: String,
    /// The pattern as written in that policy.
    pub pattern: String,
    /// Its line in the policy's file (0 when unknown).
    pub line: usize,
    /// The capabilities that rule grants on its own.
    pub capabilities: Vec<&'static str>,
}

/// A pattern with the merged permissions of every rule that has it.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// The pattern, leading `/` removed.
    pub pattern: String,
    /// Its kind.
    pub kind: Kind,
    /// The merged capabilities.
    #[serde(skip)]
    pub caps: CapSet,
    /// The rules merged into it, in policy order.
    pub rules: Vec<Source>,
    /// The smallest `min_wrapping_ttl` set, in seconds.
    #[serde(skip)]
    pub min_wrapping_ttl: Option<u64>,
    /// The smallest `max_wrapping_ttl` set, in seconds.
    #[serde(skip)]
    pub max_wrapping_ttl: Option<u64>,
    /// Every required parameter.
    #[serde(skip)]
    pub required_parameters: Vec<String>,
    /// Whether any rule restricts parameters with `allowed_parameters` or `denied_parameters`.
    #[serde(skip)]
    pub restricts_parameters: bool,
}

impl Entry {
    fn merge(&mut self, rule: &crate::model::PolicyRule, caps: CapSet) {
        // The server's order: an existing deny absorbs everything; a new deny replaces everything.
        if self.caps.is_deny() {
            return;
        }
        if caps.is_deny() {
            self.caps = caps;
            self.restricts_parameters = false;
            return;
        }
        self.caps = self.caps.union(caps);
        let lesser = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if a > 0 && b > 0 => Some(a.min(b)),
            (a, b) => a.filter(|v| *v > 0).or(b.filter(|v| *v > 0)),
        };
        self.min_wrapping_ttl = lesser(self.min_wrapping_ttl, rule.min_wrapping_ttl.as_ref().map(|t| t.seconds));
        self.max_wrapping_ttl = lesser(self.max_wrapping_ttl, rule.max_wrapping_ttl.as_ref().map(|t| t.seconds));
        for p in &rule.required_parameters {
            if !self.required_parameters.contains(p) {
                self.required_parameters.push(p.clone());
            }
        }
        self.restricts_parameters |= !rule.allowed_parameters.is_empty() || !rule.denied_parameters.is_empty();
    }
}

/// A policy the server would refuse to store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy:?}, path {pattern:?} (line {line}): {reason}")]
pub struct Rejected {
    /// The policy.
    pub policy: String,
    /// The pattern.
    pub pattern: String,
    /// Its line.
    pub line: usize,
    /// Why the server refuses it.
    pub reason: &'static str,
}

/// The rules the server refuses outright, so the matcher never models a policy that cannot exist.
pub fn rejection(rule: &crate::model::PolicyRule) -> Option<&'static str> {
    if rule.path.contains("+*") {
        return Some("'+*' is forbidden: use '+' for one segment or end the pattern with '/*'");
    }
    if let (Some(min), Some(max)) = (&rule.min_wrapping_ttl, &rule.max_wrapping_ttl)
        && min.seconds > 0
        && max.seconds > 0
        && max.seconds < min.seconds
    {
        return Some("max_wrapping_ttl cannot be less than min_wrapping_ttl");
    }
    None
}

/// The merged rules of a set of policies: what a token carrying exactly those policies may do.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    flavor: Flavor,
    exact: BTreeMap<String, Entry>,
    /// Keyed by the pattern without its final `*`, as the server keys its prefix tree.
    prefix: BTreeMap<String, Entry>,
    segment: BTreeMap<String, Entry>,
}

impl Acl {
    /// Merges `policies` as OpenBao does for a token that carries them (see [`Acl::with_flavor`]).
    pub fn new(policies: &[AccessPolicy]) -> Result<Acl, Rejected> {
        Acl::with_flavor(policies, Flavor::default())
    }

    /// Merges `policies` as the `flavor` of server does for a token that carries them. Rules whose
    /// `expiration` has passed are left out, as the server leaves them out.
    pub fn with_flavor(policies: &[AccessPolicy], flavor: Flavor) -> Result<Acl, Rejected> {
        let now = chrono::Utc::now();
        let mut acl = Acl { flavor, ..Acl::default() };
        for policy in policies {
            for rule in &policy.rules {
                if let Some(reason) = rejection(rule) {
                    return Err(Rejected {
                        policy: policy.name.clone(),
                        pattern: rule.path.clone(),
                        line: rule.line,
                        reason,
                    });
                }
                let expired = rule
                    .expiration
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t < now);
                if expired {
                    continue;
                }
                let (pattern, kind) = classify(&rule.path);
                let (map, key) = match kind {
                    Kind::Exact => (&mut acl.exact, pattern.clone()),
                    Kind::Prefix => (&mut acl.prefix, pattern[..pattern.len() - 1].to_owned()),
                    Kind::Segment => (&mut acl.segment, pattern.clone()),
                };
                let caps = rule.effective();
                let entry = map.entry(key).or_insert_with(|| Entry {
                    pattern,
                    kind,
                    caps: CapSet::EMPTY,
                    rules: Vec::new(),
                    min_wrapping_ttl: None,
                    max_wrapping_ttl: None,
                    required_parameters: Vec::new(),
                    restricts_parameters: false,
                });
                entry.rules.push(Source {
                    policy: policy.name.clone(),
                    pattern: rule.path.clone(),
                    line: rule.line,
                    capabilities: caps.iter().map(Capability::as_str).collect(),
                });
                entry.merge(rule, caps);
            }
        }
        Ok(acl)
    }

    /// What `sys/capabilities` answers for `path`.
    pub fn capabilities(&self, path: &str) -> CapSet {
        self.decide(path, Operation::List).caps()
    }

    /// Decides `op` on `path`, with every glob that competed.
    pub fn decide(&self, path: &str, op: Operation) -> Decision<'_> {
        let path = path.trim_start_matches('/');
        let listing = match self.flavor {
            Flavor::Openbao => matches!(op, Operation::List | Operation::Scan),
            Flavor::Vault => op == Operation::List,
        };
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let decided = |entry, step, candidates| Decision { path: path.to_owned(), op, entry, step, candidates };
        if let Some(entry) = self.exact.get(path) {
            return decided(Some(entry), Step::Exact, Vec::new());
        }
        if listing && let Some(entry) = self.exact.get(trimmed) {
            return decided(Some(entry), Step::ExactWithoutSlash, Vec::new());
        }
        // Where the servers differ: Vault tries the globs on the path without its trailing `/` before the
        // path itself, OpenBao only after nothing matched the path itself (and for scan too).
        let without_slash = path.ends_with('/')
            && match self.flavor {
                Flavor::Openbao => listing,
                Flavor::Vault => op == Operation::List,
            };
        if without_slash && self.flavor == Flavor::Vault {
            let candidates = self.candidates(trimmed);
            if let Some(best) = candidates.first() {
                return decided(Some(best.entry), Step::GlobWithoutSlash, candidates);
            }
        }
        let candidates = self.candidates(path);
        if let Some(best) = candidates.first() {
            return decided(Some(best.entry), Step::Glob, candidates);
        }
        if without_slash && self.flavor == Flavor::Openbao {
            let candidates = self.candidates(trimmed);
            if let Some(best) = candidates.first() {
                return decided(Some(best.entry), Step::GlobWithoutSlash, candidates);
            }
        }
        decided(None, Step::NoMatch, Vec::new())
    }

    /// Every glob entry that matches `path`, best first.
    fn candidates(&self, path: &str) -> Vec<Candidate<'_>> {
        let mut found: Vec<Candidate<'_>> = self
            .prefix
            .iter()
            .filter(|(key, _)| path.starts_with(key.as_str()))
            .map(|(key, entry)| Candidate {
                entry,
                priority: Priority { first_wildcard: key.len(), is_prefix: true, wildcards: 0, stem: key.clone() },
            })
            .collect();
        let parts: Vec<&str> = path.split('/').collect();
        found.extend(self.segment.values().filter_map(|entry| {
            segment_priority(&entry.pattern, &parts).map(|priority| Candidate { entry, priority })
        }));
        found.sort_by(|a, b| b.priority.cmp(&a.priority));
        found
    }

    /// Every merged pattern, for checks that reason about the whole set.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.exact.values().chain(self.prefix.values()).chain(self.segment.values())
    }
}

/// How a segment pattern matches `parts`, and its priority when it does.
fn segment_priority(pattern: &str, parts: &[&str]) -> Option<Priority> {
    // The server measures the first wildcard as the first `+` character anywhere, even a literal one.
    let first_wildcard = pattern.find('+').unwrap_or(pattern.len());
    let (stem, is_prefix) = match pattern.strip_suffix('*') {
        Some(stem) => (stem, true),
        None => (pattern, false),
    };
    let pattern_parts: Vec<&str> = stem.split('/').collect();
    if parts.len() < pattern_parts.len() || (!is_prefix && parts.len() != pattern_parts.len()) {
        return None;
    }
    let mut wildcards = 0;
    for (i, part) in pattern_parts.iter().enumerate() {
        let last = i + 1 == pattern_parts.len();
        if *part == "+" {
            wildcards += 1;
        } else if *part == parts[i] || (is_prefix && last && parts[i].starts_with(part)) {
            continue;
        } else {
            return None;
        }
    }
    Some(Priority { first_wildcard, is_prefix, wildcards, stem: stem.to_owned() })
}

/// The server's priority between two matching globs; greater wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Priority {
    /// Byte position of the first `+` or, for prefix rules, of the final `*`.
    pub first_wildcard: usize,
    /// Whether the pattern ends in `*`.
    pub is_prefix: bool,
    /// How many `+` segments it has.
    pub wildcards: usize,
    /// The pattern without its final `*`.
    pub stem: String,
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        self.first_wildcard
            .cmp(&other.first_wildcard)
            .then_with(|| other.is_prefix.cmp(&self.is_prefix))
            .then_with(|| other.wildcards.cmp(&self.wildcards))
            .then_with(|| self.stem.len().cmp(&other.stem.len()))
            .then_with(|| self.stem.cmp(&other.stem))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Priority {
    /// Why `self` beats `other`, in words: the first rule of the order that tells them apart.
    pub fn why_over(&self, other: &Priority) -> String {
        if self.first_wildcard != other.first_wildcard {
            format!(
                "its first wildcard comes later (character {} vs {})",
                self.first_wildcard + 1,
                other.first_wildcard + 1
            )
        } else if self.is_prefix != other.is_prefix {
            "it does not end in `*`".to_owned()
        } else if self.wildcards != other.wildcards {
            format!("it has fewer `+` segments ({} vs {})", self.wildcards, other.wildcards)
        } else if self.stem.len() != other.stem.len() {
            format!("it is longer ({} vs {} characters)", self.stem.len(), other.stem.len())
        } else {
            "it sorts later lexicographically (the server's last tie-breaker)".to_owned()
        }
    }
}

/// A glob that matched, with its priority.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    /// The merged entry.
    pub entry: &'a Entry,
    /// Its priority.
    pub priority: Priority,
}

/// Which step of the lookup decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// An exact rule for the path.
    Exact,
    /// For list/scan: an exact rule for the path without its trailing `/`.
    ExactWithoutSlash,
    /// For listing: the best glob for the path without its trailing `/` (see [`Flavor`]).
    GlobWithoutSlash,
    /// The best glob for the path.
    Glob,
    /// Nothing matched: denied by default.
    NoMatch,
}

/// The outcome of [`Acl::decide`].
#[derive(Clone, Debug)]
pub struct Decision<'a> {
    /// The path, leading `/` removed.
    pub path: String,
    /// The operation.
    pub op: Operation,
    /// The deciding entry, if any.
    pub entry: Option<&'a Entry>,
    /// Which step decided.
    pub step: Step,
    /// The globs that competed in the deciding step, best first.
    pub candidates: Vec<Candidate<'a>>,
}

impl Decision<'_> {
    /// The capabilities the deciding entry gives (empty when nothing matched).
    pub fn caps(&self) -> CapSet {
        self.entry.map_or(CapSet::EMPTY, |e| e.caps)
    }

    /// Whether the ACL lets the operation through: the deciding rule grants its capability and, on a
    /// root-protected path, `sudo` as well. Wrapping and parameter conditions are reported by
    /// [`Decision::conditions`], not judged here.
    pub fn allowed(&self) -> bool {
        let caps = self.caps();
        !caps.is_deny()
            && caps.contains(self.op.capability())
            && (!requires_sudo(&self.path) || caps.contains(Capability::Sudo))
    }

    /// What else a request must satisfy to pass, beyond the capability.
    pub fn conditions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if requires_sudo(&self.path) {
            let has = self.caps().contains(Capability::Sudo);
            out.push(format!(
                "{} is root-protected: the token also needs `sudo` ({})",
                self.path,
                if has { "granted" } else { "missing" }
            ));
        }
        let Some(entry) = self.entry.filter(|e| !e.caps.is_deny()) else { return out };
        match (entry.min_wrapping_ttl, entry.max_wrapping_ttl) {
            (None, None) => {}
            (min, max) => out.push(format!(
                "the request must ask for a wrapped response{}{}",
                min.map(|s| format!(", TTL at least {s}s")).unwrap_or_default(),
                max.map(|s| format!(", TTL at most {s}s")).unwrap_or_default()
            )),
        }
        if !entry.required_parameters.is_empty() && self.op != Operation::List {
            out.push(format!("the request must send {}", entry.required_parameters.join(", ")));
        }
        if entry.restricts_parameters {
            out.push("the request's parameters are restricted by allowed_parameters/denied_parameters".into());
        }
        out
    }
}

/// Paths the server protects so that even a granted capability needs `sudo` too (the `sys` backend's and the
/// token store's root paths, as OpenBao and Vault declare them). A trailing `*` is a prefix.
pub const SUDO_PATHS: &[&str] = &[
    "sys/auth/*",
    "sys/remount",
    "sys/audit",
    "sys/audit/*",
    "sys/raw",
    "sys/raw/*",
    "sys/rotate",
    "sys/config/cors",
    "sys/config/auditing/*",
    "sys/config/ui/headers/*",
    "sys/plugins/catalog/*",
    "sys/revoke-prefix/*",
    "sys/revoke-force/*",
    "sys/leases/revoke-prefix/*",
    "sys/leases/revoke-force/*",
    "sys/leases/lookup/*",
    "sys/leases",
    "sys/internal/inspect/*",
    "sys/seal",
    "sys/step-down",
    "auth/token/accessors*",
    "auth/token/revoke-orphan/*",
];

/// Whether a request to `path` needs `sudo` on top of its capability.
pub fn requires_sudo(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    SUDO_PATHS.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p || path.strip_suffix('/') == Some(p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PolicyRule;
    use Capability::*;

    fn policy(name: &str, rules: &[(&str, &[Capability])]) -> AccessPolicy {
        AccessPolicy {
            name: name.into(),
            rules: rules.iter().map(|(p, c)| PolicyRule::new(*p, c.iter().copied())).collect(),
            ..AccessPolicy::default()
        }
    }

    fn caps(acl: &Acl, path: &str) -> Vec<&'static str> {
        acl.capabilities(path).names()
    }

    #[test]
    fn documented_examples() {
        let acl = Acl::new(&[policy(
            "p",
            &[
                ("secret/foo", &[Read]),
                ("secret/bar/*", &[Read]),
                ("secret/zip-*", &[Read]),
                ("secret/+/teamb", &[Update]),
            ],
        )])
        .unwrap();
        assert_eq!(caps(&acl, "secret/foo"), ["read"]);
        assert_eq!(caps(&acl, "secret/food"), ["deny"]);
        assert_eq!(caps(&acl, "secret/foo/bar"), ["deny"]);
        assert_eq!(caps(&acl, "secret/bar/zip/zap"), ["read"]);
        assert_eq!(caps(&acl, "secret/bars/zip"), ["deny"]);
        assert_eq!(caps(&acl, "secret/zip-zap/zong"), ["read"]);
        assert_eq!(caps(&acl, "secret/zip/zap"), ["deny"]);
        assert_eq!(caps(&acl, "secret/any/teamb"), ["update"]);
        assert_eq!(caps(&acl, "secret/a/b/teamb"), ["deny"]);
    }

    #[test]
    fn priority_follows_the_documented_order() {
        // Rule 3 of the documentation: same first wildcard, both end in `*`, more `+` loses.
        let acl = Acl::new(&[policy("p", &[("secret/*", &[Read]), ("secret/+/+/foo/*", &[List])])]).unwrap();
        assert_eq!(caps(&acl, "secret/a/b/foo/c"), ["read"]);
        // Rule 1: the first wildcard later wins, whatever the kind.
        let acl = Acl::new(&[policy("p", &[("a/+/c", &[Read]), ("a/b/*", &[List])])]).unwrap();
        assert_eq!(caps(&acl, "a/b/c"), ["list"]);
        // Rule 2: not ending in `*` wins.
        let acl = Acl::new(&[policy("p", &[("a/+/c*", &[Read]), ("a/+/c", &[List])])]).unwrap();
        assert_eq!(caps(&acl, "a/b/c"), ["list"]);
        assert_eq!(caps(&acl, "a/b/cd"), ["read"]);
        // Rule 4: longer wins.
        let acl = Acl::new(&[policy("p", &[("a/+/b*", &[Read]), ("a/+/ba*", &[List])])]).unwrap();
        assert_eq!(caps(&acl, "a/x/bar"), ["list"]);
        // Exact beats every glob.
        let acl = Acl::new(&[policy("p", &[("a/b", &[Read]), ("a/+", &[List])])]).unwrap();
        assert_eq!(caps(&acl, "a/b"), ["read"]);
    }

    #[test]
    fn merging_across_policies() {
        let a = policy("a", &[("secret/*", &[Read]), ("secret/x", &[Read])]);
        let b = policy("b", &[("secret/*", &[List]), ("secret/x/*", &[Deny])]);
        let acl = Acl::new(&[a, b]).unwrap();
        assert_eq!(caps(&acl, "secret/y"), ["list", "read"], "same pattern: united");
        assert_eq!(caps(&acl, "secret/x"), ["read"], "the exact rule decides, no merging with the glob");
        assert_eq!(caps(&acl, "secret/x/y"), ["deny"]);
        let c = policy("c", &[("secret/*", &[Deny])]);
        let acl = Acl::new(&[policy("a", &[("secret/*", &[Read])]), c]).unwrap();
        assert_eq!(caps(&acl, "secret/y"), ["deny"], "deny wins whatever the order");
    }

    #[test]
    fn list_looks_past_the_trailing_slash() {
        let policies = [policy("p", &[("secret/metadata/app", &[List]), ("secret/metadata/*", &[Read])])];
        let acl = Acl::new(&policies).unwrap();
        assert!(acl.decide("secret/metadata/app/", Operation::List).allowed());
        assert_eq!(acl.decide("secret/metadata/app/", Operation::List).step, Step::ExactWithoutSlash);
        // Other operations do not look past the slash: the glob decides, and it does not grant list.
        let read = acl.decide("secret/metadata/app/", Operation::Read);
        assert_eq!((read.step, read.allowed()), (Step::Glob, true));
        assert!(!read.caps().contains(List));
    }

    #[test]
    fn vault_and_openbao_try_the_path_without_its_slash_in_a_different_order() {
        let policies = [policy("p", &[("b/+", &[Patch]), ("b/ab/*", &[Read])])];
        let openbao = Acl::new(&policies).unwrap();
        assert_eq!(caps(&openbao, "b/ab/"), ["read"], "measured on OpenBao 2.7.2");
        assert_eq!(caps(&openbao, "b/c/"), ["patch"], "OpenBao falls back to the path without the slash");
        let vault = Acl::with_flavor(&policies, Flavor::Vault).unwrap();
        assert_eq!(caps(&vault, "b/ab/"), ["patch"]);
        assert_eq!(vault.decide("b/ab/", Operation::List).step, Step::GlobWithoutSlash);
        assert_eq!(caps(&vault, "b/ab/x"), ["read"]);
    }

    #[test]
    fn server_quirks() {
        let acl = Acl::new(&[policy("p", &[("a/+", &[Read]), ("x+y/+/z", &[List]), ("b/*/c", &[Read])])]).unwrap();
        assert_eq!(caps(&acl, "a/"), ["read"], "`+` matches an empty segment");
        assert_eq!(caps(&acl, "x+y/q/z"), ["list"]);
        assert_eq!(caps(&acl, "xzy/q/z"), ["deny"], "a glued `+` is literal");
        assert_eq!(caps(&acl, "b/*/c"), ["read"], "a `*` in the middle is literal");
        assert_eq!(caps(&acl, "b/x/c"), ["deny"]);
        let err = Acl::new(&[policy("p", &[("a/+*", &[Read])])]).unwrap_err();
        assert!(err.reason.contains("forbidden"));
    }

    #[test]
    fn sudo_paths() {
        assert!(requires_sudo("sys/audit"));
        assert!(requires_sudo("sys/audit/file"));
        assert!(requires_sudo("sys/auth/approle"));
        assert!(!requires_sudo("sys/auth"));
        assert!(!requires_sudo("sys/policies/acl/x"));
        let acl = Acl::new(&[policy("p", &[("sys/audit", &[Read])])]).unwrap();
        assert!(!acl.decide("sys/audit", Operation::Read).allowed());
    }

    #[test]
    fn explanations_name_the_deciding_criterion() {
        let acl = Acl::new(&[policy("p", &[("secret/*", &[Read]), ("secret/data/+/x", &[List])])]).unwrap();
        let d = acl.decide("secret/data/a/x", Operation::Read);
        assert_eq!(d.entry.unwrap().pattern, "secret/data/+/x");
        let why = d.candidates[0].priority.why_over(&d.candidates[1].priority);
        assert_eq!(why, "its first wildcard comes later (character 13 vs 8)");
    }
}
