//! `check`: the mistakes the server accepts silently (and the ones it rejects), each with a line and a code.
//!
//! Codes are stable (CI jobs and editors key on them); messages say what the server will actually do and what
//! to write instead. Errors are rules the server rejects or that cannot mean what the author wanted;
//! warnings are legal rules that are risky or misleading.

use std::path::PathBuf;

use serde::Serialize;

use crate::matcher::{self, Acl, Kind, Step};
use crate::model::{AccessPolicy, CapSet, Capability, PolicyRule};
use crate::parse::{self, LoadError};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Legal but risky or misleading.
    Warning,
    /// Rejected by the server, or cannot mean what was written.
    Error,
}

impl Severity {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem in a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// A stable identifier such as `unknown-capability`.
    pub code: &'static str,
    /// The 1-based line (0 when the policy did not come from a file).
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Mounts that are KV version 2 in the setups this toolkit deploys; a `data/` path under one of them is a
/// KV v2 data path.
const KV2_DATA_MARKER: &str = "/data/";

/// Lints a parsed policy. `findings` from parsing are not repeated here.
pub fn check(policy: &AccessPolicy) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for rule in &policy.rules {
        let (pattern, kind) = matcher::classify(&rule.path);
        lint_pattern(rule, &pattern, kind, &mut out);
        lint_capabilities(rule, &pattern, kind, &mut out);
        if let Some((_, first)) = seen.iter().find(|(p, _)| *p == pattern) {
            out.push(warn(
                rule,
                "duplicate-path",
                format!("path {:?} already appears at line {first}; Vault merges both, so write it once", rule.path),
            ));
        } else {
            seen.push((pattern, rule.line));
        }
    }
    shadowing(policy, &mut out);
    out.sort_by_key(|f| (f.line, f.severity, f.code));
    out
}

fn warn(rule: &PolicyRule, code: &'static str, message: String) -> Finding {
    Finding { severity: Severity::Warning, code, line: rule.line, message }
}

fn error(rule: &PolicyRule, code: &'static str, message: String) -> Finding {
    Finding { severity: Severity::Error, code, line: rule.line, message }
}

fn lint_pattern(rule: &PolicyRule, pattern: &str, kind: Kind, out: &mut Vec<Finding>) {
    let path = &rule.path;
    if let Some(reason) = matcher::rejection(rule) {
        out.push(error(rule, "rejected", format!("path {path:?}: the server rejects this rule: {reason}")));
    }
    if pattern.trim_end_matches('*').contains('*') {
        out.push(error(
            rule,
            "glob-not-at-end",
            format!("path {path:?}: `*` is a glob only as the last character; here it matches a literal `*` (use `+` for one segment)"),
        ));
    }
    let glued = pattern.split('/').any(|segment| segment.contains('+') && segment != "+" && segment != "+*");
    if glued {
        out.push(warn(
            rule,
            "plus-not-segment",
            format!("path {path:?}: `+` is a wildcard only as a whole segment (`a/+/b`); here it is a literal `+`"),
        ));
    }
    if path.starts_with('/') {
        out.push(warn(rule, "leading-slash", format!("path {path:?}: the leading `/` is ignored; drop it")));
    }
    if path.contains("{{") {
        out.push(warn(
            rule,
            "templated",
            format!("path {path:?} is templated: the server fills it in per identity, offline explain and test take it literally"),
        ));
    }
    if kind != Kind::Exact && broad(pattern) && !rule.effective().is_deny() {
        let caps = rule.effective();
        let root_like = pattern == "*" || pattern.starts_with("+") || pattern.starts_with("sys/");
        let writes = [Capability::Create, Capability::Update, Capability::Delete, Capability::Sudo, Capability::Patch]
            .into_iter()
            .filter(|c| caps.contains(*c))
            .collect::<CapSet>();
        if root_like && !writes.is_empty() {
            out.push(error(
                rule,
                "root-like",
                format!("path {path:?} grants {writes} on {}: that is most of what the root token can do; grant the specific paths instead", scope(pattern)),
            ));
        } else if caps.contains(Capability::Sudo) {
            out.push(warn(
                rule,
                "broad-sudo",
                format!(
                    "path {path:?} grants `sudo` on {}; grant it only on the root-protected paths that need it",
                    scope(pattern)
                ),
            ));
        }
    }
}

/// A glob whose literal part reaches at most the first path segment (`*`, `sys/*`, `secret/*`, `+/…`).
fn broad(pattern: &str) -> bool {
    let literal = pattern.split(['*', '+']).next().unwrap_or("");
    literal.matches('/').count() <= 1
}

fn scope(pattern: &str) -> String {
    if pattern == "*" {
        "every path".to_owned()
    } else {
        format!("everything under {:?}", pattern.trim_end_matches('*'))
    }
}

fn lint_capabilities(rule: &PolicyRule, pattern: &str, kind: Kind, out: &mut Vec<Finding>) {
    let path = &rule.path;
    if let Some(legacy) = rule.policy {
        let caps: Vec<&str> = legacy.capabilities().iter().map(|c| c.as_str()).collect();
        out.push(warn(
            rule,
            "legacy-policy",
            format!(
                "path {path:?}: `policy = {:?}` is the pre-0.5 syntax; write capabilities = [\"{}\"]",
                legacy.as_str(),
                caps.join("\", \"")
            ),
        ));
    }
    let listed: CapSet = rule.capabilities.iter().copied().collect();
    if listed.is_deny() && rule.capabilities.len() > 1 {
        out.push(warn(
            rule,
            "deny-with-others",
            format!("path {path:?}: `deny` overrides everything, so the other capabilities listed do nothing"),
        ));
    }
    for cap in rule.capabilities.iter().filter(|c| c.only_on().is_some()) {
        out.push(warn(
            rule,
            "server-specific",
            format!(
                "path {path:?}: capability {:?} exists only on {}",
                cap.as_str(),
                cap.only_on().unwrap_or_default()
            ),
        ));
    }
    if rule.has_parameter_constraints() && pattern.contains(KV2_DATA_MARKER) {
        out.push(warn(
            rule,
            "kv2-parameters",
            format!("path {path:?} looks like a KV v2 data path: Vault does not support parameter constraints there (the secret's fields are nested under `data`)"),
        ));
    }
    let sudo = rule.effective().contains(Capability::Sudo);
    if sudo && kind == Kind::Exact && !matcher::requires_sudo(pattern) {
        out.push(warn(
            rule,
            "needless-sudo",
            format!("path {path:?} is not root-protected: `sudo` there grants nothing and hides intent"),
        ));
    }
    if let Some(expiration) = &rule.expiration {
        match chrono::DateTime::parse_from_rfc3339(expiration) {
            Err(_) => out.push(error(
                rule,
                "invalid-value",
                format!("path {path:?}: expiration {expiration:?} is not an RFC 3339 time"),
            )),
            Ok(t) if t < chrono::Utc::now() => {
                out.push(warn(
                    rule,
                    "expired",
                    format!("path {path:?} expired at {expiration}: the server ignores it"),
                ));
            }
            Ok(_) => {}
        }
    }
}

/// Overlapping rules where a more specific pattern wins and silently takes capabilities away from a broader one.
///
/// For each rule we build a few paths it matches and ask the matcher who decides them. When this rule wins over
/// another matching glob of the same policy that grants more, the author most likely expected the two to add up;
/// they do not. An explicit `deny` is a deliberate carve-out and is not reported.
fn shadowing(policy: &AccessPolicy, out: &mut Vec<Finding>) {
    let Ok(acl) = Acl::new(std::slice::from_ref(policy)) else { return };
    let mut reported: Vec<(String, String)> = Vec::new();
    for entry in acl.entries() {
        if entry.caps.is_deny() {
            continue;
        }
        for witness in witnesses(&entry.pattern, entry.kind) {
            let decision = acl.decide(&witness, matcher::Operation::Read);
            let Some(winner) = decision.entry else { continue };
            if winner.pattern != entry.pattern {
                continue;
            }
            let losers: Vec<_> = match decision.step {
                Step::Exact | Step::ExactWithoutSlash => {
                    acl.entries().filter(|e| e.kind != Kind::Exact && glob_matches(e, &witness)).collect()
                }
                _ => decision.candidates.iter().skip(1).map(|c| c.entry).collect(),
            };
            for loser in losers {
                let lost = loser.caps.minus(entry.caps);
                let key = (entry.pattern.clone(), loser.pattern.clone());
                if loser.caps.is_deny() || lost.is_empty() || reported.contains(&key) {
                    continue;
                }
                reported.push(key);
                let line = entry.rules.first().map_or(0, |r| r.line);
                let broader_line = loser.rules.first().map_or(0, |r| r.line);
                out.push(Finding {
                    severity: Severity::Warning,
                    code: "shadowed",
                    line,
                    message: format!(
                        "path {:?} takes priority over {:?} (line {broader_line}) for paths such as {witness:?}, so there the capabilities {lost} of the broader rule do not apply; Vault never adds them up — repeat them here or add a deny if that is the point",
                        entry.pattern, loser.pattern
                    ),
                });
            }
        }
    }
}

/// Whether `entry`, a glob, matches `path` on its own.
fn glob_matches(entry: &matcher::Entry, path: &str) -> bool {
    let single = AccessPolicy {
        rules: vec![PolicyRule::new(entry.pattern.clone(), [Capability::Read])],
        ..AccessPolicy::default()
    };
    Acl::new(&[single]).is_ok_and(|a| a.decide(path, matcher::Operation::Read).entry.is_some())
}

/// A few concrete paths a pattern matches: `+` filled in, and a final `*` both empty and filled.
fn witnesses(pattern: &str, kind: Kind) -> Vec<String> {
    let filled: String = pattern.split('/').map(|s| if s == "+" { "x" } else { s }).collect::<Vec<_>>().join("/");
    match kind {
        Kind::Exact => vec![filled],
        Kind::Prefix | Kind::Segment => match filled.strip_suffix('*') {
            Some(stem) => vec![stem.to_owned(), format!("{stem}x"), format!("{stem}x/y")],
            None => vec![filled],
        },
    }
}

/// What `check` found in a set of files.
#[derive(Debug, Default)]
pub struct FilesReport {
    /// How many files were checked (those that did not load included).
    pub files: usize,
    /// Each loaded file's findings (reading and linting), by line within the file, files in the order given.
    pub findings: Vec<(PathBuf, Finding)>,
    /// The files that could not be read or do not parse: nothing in them was checked.
    pub unloadable: Vec<LoadError>,
}

impl FilesReport {
    /// Errors: error findings, plus one for each file that did not load (it would not load on the server either,
    /// and whatever mistakes it holds went unchecked).
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|(_, f)| f.severity == Severity::Error).count() + self.unloadable.len()
    }

    /// Warning findings.
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|(_, f)| f.severity == Severity::Warning).count()
    }
}

/// Loads and checks each file; a file that does not load is recorded and the others are still checked.
pub fn check_files(files: &[PathBuf]) -> FilesReport {
    let mut report = FilesReport { files: files.len(), ..FilesReport::default() };
    for file in files {
        match parse::load(file) {
            Ok(parsed) => {
                let mut findings = parsed.findings.clone();
                findings.extend(check(&parsed.policy));
                findings.sort_by_key(|f| (f.line, f.severity, f.code));
                report.findings.extend(findings.into_iter().map(|f| (file.clone(), f)));
            }
            Err(e) => report.unloadable.push(e),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_hcl;

    fn codes(text: &str) -> Vec<(usize, &'static str)> {
        let parsed = parse_hcl("t", text).unwrap();
        check(&parsed.policy).into_iter().map(|f| (f.line, f.code)).collect()
    }

    #[test]
    fn flags_risky_and_wrong_rules() {
        assert_eq!(codes("path \"*\" {\n  capabilities = [\"read\", \"update\"]\n}\n"), [(1, "root-like")]);
        assert_eq!(codes("path \"sys/*\" {\n  capabilities = [\"create\", \"sudo\"]\n}\n"), [(1, "root-like")]);
        assert_eq!(codes("path \"secret/*\" {\n  capabilities = [\"read\", \"sudo\"]\n}\n"), [(1, "broad-sudo")]);
        assert_eq!(codes("path \"secret/*/x\" {\n  capabilities = [\"read\"]\n}\n"), [(1, "glob-not-at-end")]);
        assert_eq!(codes("path \"a/+*\" {\n  capabilities = [\"read\"]\n}\n"), [(1, "rejected")]);
        assert_eq!(codes("path \"secret/a\" {\n  policy = \"write\"\n}\n"), [(1, "legacy-policy")]);
        assert_eq!(
            codes(
                "path \"secret/data/a\" {\n  capabilities = [\"create\"]\n  allowed_parameters = { \"x\" = [] }\n}\n"
            ),
            [(1, "kv2-parameters")]
        );
        assert_eq!(codes("path \"secret/a\" {\n  capabilities = [\"read\", \"sudo\"]\n}\n"), [(1, "needless-sudo")]);
        assert_eq!(codes("path \"sys/audit\" {\n  capabilities = [\"read\", \"sudo\"]\n}\n"), []);
    }

    #[test]
    fn reports_specific_rules_that_take_capabilities_away() {
        let text = "path \"secret/data/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\npath \"secret/data/app/*\" {\n  capabilities = [\"create\"]\n}\n\npath \"secret/data/old/*\" {\n  capabilities = [\"deny\"]\n}\n";
        assert_eq!(codes(text), [(5, "shadowed")]);
        let exact = "path \"secret/+/a\" {\n  capabilities = [\"read\"]\n}\n\npath \"secret/x/a\" {\n  capabilities = [\"list\"]\n}\n";
        assert_eq!(codes(exact), [(5, "shadowed")]);
    }

    #[test]
    fn a_file_that_does_not_load_counts_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.hcl");
        let risky = dir.path().join("risky.hcl");
        std::fs::write(&bad, "path \"a\" {\n  capabilities = [\"read\",\n").unwrap();
        std::fs::write(&risky, "path \"secret/a\" {\n  policy = \"write\"\n}\n").unwrap();
        let report = check_files(&[bad, risky.clone(), dir.path().join("missing.hcl")]);
        assert_eq!(report.files, 3);
        assert_eq!(report.unloadable.len(), 2, "{:?}", report.unloadable);
        assert_eq!((report.errors(), report.warnings()), (2, 1), "{report:?}");
        assert!(report.findings.iter().all(|(file, _)| *file == risky));
        assert_eq!(check_files(&[risky]).errors(), 0);
    }

    #[test]
    fn duplicates_are_reported_once() {
        let text = "path \"a\" {\n  capabilities = [\"read\"]\n}\npath \"/a\" {\n  capabilities = [\"list\"]\n}\n";
        assert_eq!(codes(text), [(4, "duplicate-path"), (4, "leading-slash")]);
    }
}
