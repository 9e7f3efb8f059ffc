//! Reading policies: HCL (what people write) and JSON (what some tools emit) into the typed model.
//!
//! Both go through `hcl-edit`, which parses losslessly and keeps byte spans, so every rule knows its line and
//! every complaint names `file:line`. We walk the syntax tree by hand instead of deserialising into structs
//! because Vault allows the same `path` block twice (it merges them), which typed decoding rejects.
//!
//! Parsing is forgiving about content and strict about syntax: a syntax error stops with `file:line:col`; an
//! unknown key or capability becomes an error [`Finding`] and the rest of the file is still read, so `check`
//! can report every problem at once.

use std::path::{Path, PathBuf};

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, BlockLabel, Structure};

use crate::check::{Finding, Severity};
use crate::model::{AccessPolicy, Capability, LegacyPolicy, ParameterList, PolicyRule, Ttl};

/// A file that is not valid HCL or JSON, or cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not valid HCL (or JSON).
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
}

/// A policy read from text, with the problems found while reading it.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The policy.
    pub policy: AccessPolicy,
    /// Unknown keys, unknown capabilities, values of the wrong type: each one an error finding.
    pub findings: Vec<Finding>,
}

impl Parsed {
    /// The first error reading found, if any: the server would reject the policy, and a rewrite would lose it.
    pub fn first_error(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.severity == Severity::Error)
    }
}

/// Which syntax a policy text is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    /// HashiCorp Configuration Language.
    Hcl,
    /// JSON, as `vault policy write` also accepts.
    Json,
}

impl SourceFormat {
    /// JSON for `.json` files and texts that start with `{`; HCL otherwise.
    pub fn detect(path: &Path, text: &str) -> Self {
        let json_name = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json_name || text.trim_start().starts_with('{') { SourceFormat::Json } else { SourceFormat::Hcl }
    }
}

/// The policy name a file stands for: its name without the extension (`policies/dagster-secrets.hcl` →
/// `dagster-secrets`).
pub fn policy_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads and parses a policy file, naming the policy after the file.
pub fn load(path: &Path) -> Result<Parsed, LoadError> {
    let text = vault_core::cli::read_text(path).map_err(|e| match e {
        vault_core::cli::ReadTextError::Io { path, source } => LoadError::Io { path, source },
        // Not text is a syntax problem of the file, with its place, like any other (exit 2).
        vault_core::cli::ReadTextError::NotUtf8 { path, line, column } => {
            LoadError::Syntax { path, line, column, message: "not UTF-8 text".to_owned() }
        }
    })?;
    parse(&policy_name(path), &text, SourceFormat::detect(path, &text)).map_err(|e| e.in_file(path))
}

/// A syntax error before it is tied to a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl SyntaxError {
    /// The same error, naming `path`.
    pub fn in_file(self, path: &Path) -> LoadError {
        LoadError::Syntax { path: path.to_owned(), line: self.line, column: self.column, message: self.message }
    }
}

impl From<hcl_edit::parser::Error> for SyntaxError {
    fn from(e: hcl_edit::parser::Error) -> Self {
        let loc = e.location();
        SyntaxError { line: loc.line(), column: loc.column(), message: e.message().to_owned() }
    }
}

/// Parses policy text called `name`.
pub fn parse(name: &str, text: &str, format: SourceFormat) -> Result<Parsed, SyntaxError> {
    match format {
        SourceFormat::Hcl => parse_hcl(name, text),
        SourceFormat::Json => parse_json(name, text),
    }
}

/// Parses an HCL policy.
pub fn parse_hcl(name: &str, text: &str) -> Result<Parsed, SyntaxError> {
    let body = hcl_edit::parser::parse_body(text)?;
    let lines = LineIndex::new(text);
    let mut reader = Reader { lines: &lines, findings: Vec::new() };
    let mut rules = Vec::new();
    let mut spans = Vec::new();
    for structure in body.iter() {
        let line = reader.line(structure.span());
        match structure {
            Structure::Block(block) if block.ident.as_str() == "path" => {
                if let Some(rule) = reader.path_block(block, line) {
                    spans.push(block.span().map(|s| (lines.line(s.start), lines.line(s.end.saturating_sub(1)))));
                    rules.push(rule);
                }
            }
            Structure::Attribute(attr) if attr.key.as_str() == "name" => reader.name_attribute(line),
            Structure::Attribute(attr) => {
                reader.error(
                    line,
                    "unknown-key",
                    format!("unknown top-level key `{}`: a policy has only `path` blocks", attr.key.as_str()),
                );
            }
            Structure::Block(block) => {
                reader.error(
                    line,
                    "unknown-key",
                    format!("unknown block `{}`: a policy has only `path` blocks", block.ident.as_str()),
                );
            }
        }
    }
    let mut policy = AccessPolicy { name: name.to_owned(), rules, ..AccessPolicy::default() };
    attach_comments(&mut policy, &spans, &comments(text));
    Ok(Parsed { policy, findings: reader.findings })
}

/// Parses a JSON policy: `{"path": {"PATTERN": {…}, …}}`, or `{"path": [{"PATTERN": {…}}, …]}` to repeat a
/// pattern. JSON is read with the HCL expression parser, which keeps key order and positions.
pub fn parse_json(name: &str, text: &str) -> Result<Parsed, SyntaxError> {
    // The expression parser stops at the final brace and refuses what follows, even a newline.
    let expr = hcl_edit::parser::parse_expr(text.trim_end())?;
    let lines = LineIndex::new(text);
    let mut reader = Reader { lines: &lines, findings: Vec::new() };
    let mut rules = Vec::new();
    let Expression::Object(top) = &expr else {
        return Err(SyntaxError { line: 1, column: 1, message: "a JSON policy is an object with a `path` key".into() });
    };
    for (key, value) in top.iter() {
        let line = reader.line(key_span(key));
        match object_key(key).as_deref() {
            Some("path") => {
                let groups: Vec<&Expression> = match value.expr() {
                    Expression::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for group in groups {
                    let Expression::Object(paths) = group else {
                        reader.error(
                            reader.line(group.span()),
                            "invalid-value",
                            "`path` must map patterns to rules".into(),
                        );
                        continue;
                    };
                    for (pattern, rule) in paths.iter() {
                        let line = reader.line(key_span(pattern));
                        let Some(pattern) = object_key(pattern) else {
                            reader.error(line, "invalid-value", "a path pattern must be a string".into());
                            continue;
                        };
                        let mut out = PolicyRule { path: pattern, line, ..PolicyRule::default() };
                        match rule.expr() {
                            Expression::Object(attrs) => {
                                for (k, v) in attrs.iter() {
                                    let kline = reader.line(key_span(k));
                                    match object_key(k) {
                                        Some(k) => reader.rule_attribute(&mut out, &k, v.expr(), kline),
                                        None => reader.error(kline, "invalid-value", "keys must be strings".into()),
                                    }
                                }
                            }
                            other => reader.error(
                                reader.line(other.span()),
                                "invalid-value",
                                "a rule must be an object".into(),
                            ),
                        }
                        reader.require_capabilities(&out);
                        rules.push(out);
                    }
                }
            }
            Some("name") => reader.name_attribute(line),
            Some(other) => {
                reader.error(line, "unknown-key", format!("unknown top-level key `{other}`: a policy has only `path`"));
            }
            None => reader.error(line, "invalid-value", "keys must be strings".into()),
        }
    }
    let policy = AccessPolicy { name: name.to_owned(), rules, ..AccessPolicy::default() };
    Ok(Parsed { policy, findings: reader.findings })
}

struct Reader<'a> {
    lines: &'a LineIndex,
    findings: Vec<Finding>,
}

impl Reader<'_> {
    fn line(&self, span: Option<std::ops::Range<usize>>) -> usize {
        span.map_or(0, |s| self.lines.line(s.start))
    }

    fn error(&mut self, line: usize, code: &'static str, message: String) {
        self.findings.push(Finding { severity: Severity::Error, code, line, message });
    }

    fn name_attribute(&mut self, line: usize) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            code: "name-ignored",
            line,
            message: "Vault ignores `name` inside a policy (the name comes from the API path); formatting drops it"
                .into(),
        });
    }

    fn path_block(&mut self, block: &Block, line: usize) -> Option<PolicyRule> {
        let pattern = match block.labels.as_slice() {
            [BlockLabel::String(s)] => s.value().clone(),
            _ => {
                self.error(
                    line,
                    "invalid-value",
                    "a `path` block takes exactly one quoted pattern: path \"secret/*\" { … }".into(),
                );
                return None;
            }
        };
        let mut rule = PolicyRule { path: pattern, line, ..PolicyRule::default() };
        for structure in block.body.iter() {
            let at = self.line(structure.span());
            match structure {
                Structure::Attribute(attr) => self.rule_attribute(&mut rule, attr.key.as_str(), &attr.value, at),
                Structure::Block(inner) if inner.ident.as_str() == "control_group" => {
                    self.unsupported(at, "control_group");
                }
                Structure::Block(inner) => {
                    self.error(
                        at,
                        "unknown-key",
                        format!("unknown block `{}` in path {:?}", inner.ident.as_str(), rule.path),
                    );
                }
            }
        }
        self.require_capabilities(&rule);
        Some(rule)
    }

    fn unsupported(&mut self, line: usize, key: &str) {
        self.error(
            line,
            "unsupported-key",
            format!(
                "`{key}` (Vault Enterprise) is valid there but not supported by policy-gen; keep that policy by hand"
            ),
        );
    }

    /// A rule with neither `capabilities` nor `policy` is rejected by nothing, grants nothing, and still wins
    /// over broader patterns, which is never what the author meant.
    fn require_capabilities(&mut self, rule: &PolicyRule) {
        if rule.capabilities.is_empty() && rule.policy.is_none() {
            self.findings.push(Finding {
                severity: Severity::Warning,
                code: "no-capabilities",
                line: rule.line,
                message: format!("path {:?} grants nothing, yet it still overrides every broader pattern that matches the same paths", rule.path),
            });
        }
    }

    fn rule_attribute(&mut self, rule: &mut PolicyRule, key: &str, value: &Expression, line: usize) {
        let path = rule.path.clone();
        let wrong = |what: &str| format!("`{key}` in path {path:?} must be {what}");
        match key {
            "capabilities" => match value {
                Expression::Array(items) => {
                    for item in items.iter() {
                        let at = self.line(item.span()).max(line);
                        match item {
                            Expression::String(s) => match s.value().parse::<Capability>() {
                                Ok(cap) => rule.capabilities.push(cap),
                                Err(()) => self.error(at, "unknown-capability", unknown_capability(s.value(), &path)),
                            },
                            _ => self.error(at, "invalid-value", wrong("a list of strings")),
                        }
                    }
                }
                _ => self.error(line, "invalid-value", wrong("a list such as [\"read\", \"list\"]")),
            },
            "policy" => match value {
                Expression::String(s) => match LegacyPolicy::parse(s.value()) {
                    Some(p) => rule.policy = Some(p),
                    None => self.error(
                        line,
                        "invalid-value",
                        format!("invalid legacy policy {:?} in path {path:?}: use capabilities", s.value()),
                    ),
                },
                _ => self.error(line, "invalid-value", wrong("a string")),
            },
            "allowed_parameters" | "denied_parameters" => match parameters(value) {
                Some(list) if key == "allowed_parameters" => rule.allowed_parameters = list,
                Some(list) => rule.denied_parameters = list,
                None => self.error(line, "invalid-value", wrong("an object of lists, e.g. { \"ttl\" = [\"1h\"] }")),
            },
            "required_parameters" => match strings(value) {
                Some(list) => rule.required_parameters = list,
                None => self.error(line, "invalid-value", wrong("a list of strings")),
            },
            "mfa_methods" => match strings(value) {
                Some(list) => rule.mfa_methods = list,
                None => self.error(line, "invalid-value", wrong("a list of strings")),
            },
            "min_wrapping_ttl" | "max_wrapping_ttl" => match ttl(value) {
                Some(t) if key == "min_wrapping_ttl" => rule.min_wrapping_ttl = Some(t),
                Some(t) => rule.max_wrapping_ttl = Some(t),
                None => self.error(line, "invalid-value", wrong("a duration such as \"1h\" or a number of seconds")),
            },
            "pagination_limit" => match value {
                Expression::Number(n) if n.value().as_i64().is_some() => rule.pagination_limit = n.value().as_i64(),
                _ => self.error(line, "invalid-value", wrong("a whole number")),
            },
            "list_scan_response_keys_filter_path" | "expiration" | "comment" => match value {
                Expression::String(s) => {
                    let text = Some(s.value().clone());
                    match key {
                        "expiration" => rule.expiration = text,
                        "comment" => rule.comment = text,
                        _ => rule.list_scan_response_keys_filter_path = text,
                    }
                }
                _ => self.error(line, "invalid-value", wrong("a string")),
            },
            "control_group" => self.unsupported(line, key),
            other => self.error(line, "unknown-key", format!("unknown key `{other}` in path {path:?}")),
        }
    }
}

fn unknown_capability(name: &str, path: &str) -> String {
    let hint = match name {
        "write" => " (did you mean [\"create\", \"update\"]?)",
        "root" => " (`root` is a policy, not a capability)",
        "admin" | "all" | "*" => " (list the capabilities you need explicitly)",
        _ => "",
    };
    let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
    format!("unknown capability {name:?} in path {path:?}{hint}; known: {}", known.join(", "))
}

fn key_span(key: &ObjectKey) -> Option<std::ops::Range<usize>> {
    match key {
        ObjectKey::Ident(i) => i.span(),
        ObjectKey::Expression(e) => e.span(),
    }
}

fn object_key(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Ident(i) => Some(i.as_str().to_owned()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.value().clone()),
        ObjectKey::Expression(_) => None,
    }
}

fn strings(value: &Expression) -> Option<Vec<String>> {
    match value {
        Expression::Array(items) => items
            .iter()
            .map(|item| match item {
                Expression::String(s) => Some(s.value().clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn parameters(value: &Expression) -> Option<ParameterList> {
    let Expression::Object(object) = value else { return None };
    object
        .iter()
        .map(|(k, v)| {
            let key = object_key(k)?;
            let values = match v.expr() {
                Expression::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>()?,
                _ => return None,
            };
            Some((key, values))
        })
        .collect()
}

fn scalar(value: &Expression) -> Option<serde_json::Value> {
    match value {
        Expression::String(s) => Some(serde_json::Value::String(s.value().clone())),
        Expression::Bool(b) => Some(serde_json::Value::Bool(*b.value())),
        Expression::Null(_) => Some(serde_json::Value::Null),
        Expression::Number(n) => {
            let n = n.value();
            n.as_i64()
                .map(serde_json::Value::from)
                .or_else(|| n.as_u64().map(serde_json::Value::from))
                .or_else(|| n.as_f64().and_then(serde_json::Number::from_f64).map(serde_json::Value::Number))
        }
        _ => None,
    }
}

fn ttl(value: &Expression) -> Option<Ttl> {
    match value {
        Expression::Number(n) => {
            let seconds = n.value().as_u64()?;
            Some(Ttl { raw: seconds.to_string(), seconds, numeric: true })
        }
        Expression::String(s) => {
            Some(Ttl { raw: s.value().clone(), seconds: parse_duration(s.value())?, numeric: false })
        }
        _ => None,
    }
}

/// Parses a duration the way Vault does for wrapping TTLs: a bare number is seconds, otherwise a sequence of
/// `<number><unit>` with units `ms`, `s`, `m`, `h` and `d`, such as `1h30m`. Fractions of a second round down.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(number.checked_mul(unit_ms)?)?;
    }
    Some(total_ms / 1000)
}

/// Byte offset → 1-based line.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// A comment in the source, with the lines it spans.
#[derive(Debug, PartialEq, Eq)]
struct Comment {
    first: usize,
    last: usize,
    text: String,
}

/// Finds every comment in HCL text, stepping over strings and heredocs so a `#` inside a pattern is not one.
fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let lines = LineIndex::new(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                // A heredoc: skip to the line that holds only its closing identifier.
                let start = i + 2 + usize::from(bytes.get(i + 2) == Some(&b'-'));
                let end = text[start..].find('\n').map_or(bytes.len(), |n| start + n);
                let marker = text[start..end].trim();
                i = end;
                if !marker.is_empty() {
                    while i < bytes.len() {
                        let next = text[i + 1..].find('\n').map_or(bytes.len(), |n| i + 1 + n);
                        let line = text.get(i + 1..next).unwrap_or("").trim();
                        i = next;
                        if line == marker {
                            break;
                        }
                    }
                }
            }
            b'#' => i = line_comment(text, i, &lines, &mut found),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_comment(text, i, &lines, &mut found),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
                found.push(Comment {
                    first: lines.line(i),
                    last: lines.line(end.saturating_sub(1)),
                    text: text[i..end].to_owned(),
                });
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

fn line_comment(text: &str, start: usize, lines: &LineIndex, found: &mut Vec<Comment>) -> usize {
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let line = lines.line(start);
    found.push(Comment { first: line, last: line, text: text[start..end].trim_end().to_owned() });
    end
}

/// Gives each comment to the rule it belongs to: the lines right above a block are its documentation, the
/// lines inside it stay inside, a block of comments at the top separated by a blank line is the file's header,
/// and whatever follows the last rule is the footer. A blank line between comment runs is kept as `""`.
fn attach_comments(policy: &mut AccessPolicy, spans: &[Option<(usize, usize)>], comments: &[Comment]) {
    let mut pending: Vec<&Comment> = Vec::new();
    let mut iter = comments.iter().peekable();
    for (index, span) in spans.iter().enumerate() {
        let Some((first, last)) = *span else { continue };
        while let Some(c) = iter.next_if(|c| c.first < first) {
            pending.push(c);
        }
        let above = runs(&pending);
        pending.clear();
        let touching = above.last().is_some_and(|run| run.last().is_some_and(|c| c.last + 1 == first));
        let (header, doc) = match (index, touching) {
            (0, true) => (&above[..above.len() - 1], &above[above.len() - 1..]),
            (0, false) => (&above[..], &above[..0]),
            _ => (&above[..0], &above[..]),
        };
        if index == 0 {
            policy.header = join_runs(header);
        }
        let rule = &mut policy.rules[index];
        rule.doc = join_runs(doc);
        while let Some(c) = iter.next_if(|c| c.first <= last) {
            rule.inner_comments.push(c.text.clone());
        }
    }
    let rest: Vec<&Comment> = iter.collect();
    let rest = runs(&rest);
    if policy.rules.is_empty() {
        policy.header = join_runs(&rest);
    } else {
        policy.footer = join_runs(&rest);
    }
}

/// Splits comments into runs of consecutive lines.
fn runs<'a>(comments: &[&'a Comment]) -> Vec<Vec<&'a Comment>> {
    let mut out: Vec<Vec<&Comment>> = Vec::new();
    for c in comments {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|p| p.last + 1 >= c.first) => run.push(c),
            _ => out.push(vec![c]),
        }
    }
    out
}

fn join_runs(runs: &[Vec<&Comment>]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(run.iter().map(|c| c.text.clone()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# Header line one.
# Header line two.

# Reads app secrets.
path "secret/data/app/*" {
  capabilities = ["read", "list"] # trailing
}

path "secret/data/app/*" {
  policy = "deny"
}

// Parameters.
path "/auth/token/create" {
  capabilities         = ["update"]
  allowed_parameters   = { "ttl" = ["1h", 2], policies = [] }
  required_parameters  = ["ttl"]
  max_wrapping_ttl     = "1h30m"
  min_wrapping_ttl     = 60
}
# the end
"#;

    #[test]
    fn reads_rules_lines_and_comments() {
        let parsed = parse_hcl("app", SAMPLE).unwrap();
        assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
        let p = parsed.policy;
        assert_eq!(p.name, "app");
        assert_eq!(p.header, ["# Header line one.", "# Header line two."]);
        assert_eq!(p.footer, ["# the end"]);
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.rules[0].line, 5);
        assert_eq!(p.rules[0].doc, ["# Reads app secrets."]);
        assert_eq!(p.rules[0].inner_comments, ["# trailing"]);
        assert_eq!(p.rules[0].capabilities, [Capability::Read, Capability::List]);
        assert_eq!(p.rules[1].policy, Some(LegacyPolicy::Deny));
        let token = &p.rules[2];
        assert_eq!(token.doc, ["// Parameters."]);
        assert_eq!(token.allowed_parameters[0].0, "ttl");
        assert_eq!(token.allowed_parameters[0].1, [serde_json::json!("1h"), serde_json::json!(2)]);
        assert_eq!(token.allowed_parameters[1], ("policies".to_owned(), vec![]));
        assert_eq!(token.max_wrapping_ttl.as_ref().unwrap().seconds, 5400);
        assert_eq!(token.min_wrapping_ttl.as_ref().unwrap().seconds, 60);
    }

    #[test]
    fn unknown_keys_and_capabilities_are_findings_with_lines() {
        let text = "path \"a/*\" {\n  capabilities = [\"read\", \"write\"]\n  colour = \"red\"\n}\nfoo = 1\n";
        let parsed = parse_hcl("x", text).unwrap();
        let got: Vec<(usize, &str)> = parsed.findings.iter().map(|f| (f.line, f.code)).collect();
        assert_eq!(got, [(2, "unknown-capability"), (3, "unknown-key"), (5, "unknown-key")]);
        assert!(parsed.findings[0].message.contains("did you mean"));
        assert_eq!(parsed.policy.rules[0].capabilities, [Capability::Read]);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse_hcl("x", "path \"a\" {\n  capabilities = [\"read\"\n}\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
    }

    #[test]
    fn json_policies_keep_order_and_lines() {
        let text = "{\n  \"path\": {\n    \"secret/b\": {\"capabilities\": [\"read\"]},\n    \"secret/a\": {\"policy\": \"write\"}\n  }\n}\n";
        let parsed = parse_json("j", text).unwrap();
        assert!(parsed.findings.is_empty());
        let paths: Vec<(&str, usize)> = parsed.policy.rules.iter().map(|r| (r.path.as_str(), r.line)).collect();
        assert_eq!(paths, [("secret/b", 3), ("secret/a", 4)]);
        let repeated = "{\"path\": [{\"a\": {\"capabilities\": [\"read\"]}}, {\"a\": {\"capabilities\": [\"list\"]}}]}";
        assert_eq!(parse_json("j", repeated).unwrap().policy.rules.len(), 2);
    }

    #[test]
    fn comment_scanner_skips_strings() {
        let found = comments("path \"a/#/b\" { # real\n x = \"//\" // also\n}\n/* multi\nline */\n");
        let texts: Vec<&str> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["# real", "// also", "/* multi\nline */"]);
        assert_eq!((found[2].first, found[2].last), (4, 5));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("2d"), Some(172_800));
        assert_eq!(parse_duration("1500ms"), Some(1));
        assert_eq!(parse_duration("1 hour"), None);
        assert_eq!(parse_duration(""), None);
    }
}
