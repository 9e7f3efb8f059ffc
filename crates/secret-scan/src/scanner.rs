//! The engine: a keyword prefilter, then each rule's regex only near the keyword hits, then the precision filters.
//!
//! One Aho-Corasick automaton (DFA, ASCII case-insensitive) holds every rule's keywords. For each hit, the rules
//! owning that keyword run their `regex::bytes` pattern (compiled without Unicode classes) over the hit's line,
//! clipped to a bounded window, or, for multiline rules, from the hit's line onward for a bounded distance. Text
//! without keywords is never seen by a regex, and nothing is allocated per line. A rule runs at most once over the
//! same window, and a hit inside a match already found by the same rule is skipped.
//!
//! Rule regexes are compiled lazily, on the first keyword hit of their rule: compiling all of them took most of the
//! start-up time, and a typical tree hits only a handful of rules. Patterns are still parsed (not compiled) when
//! the scanner is built, so a bad pattern fails at once; `rules check` compiles every rule ([`Scanner::compile_all`]).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use globset::GlobSet;
use regex::bytes::{CaptureLocations, Regex, RegexBuilder};
use regex_syntax::hir::HirKind;
use vault_core::SecretString;

use crate::context;
use crate::filters::{self, CompiledFilters};
use crate::finding::{self, Finding};
use crate::known::{self, KnownValues};
use crate::rules::{Confidence, EXAMPLE_SPLIT, Rule, RuleError, RuleKind, RuleSet};

/// How far before a keyword hit a single-line rule looks, within the hit's line.
const BEFORE_HIT: usize = 512;
/// How far after a keyword hit a single-line rule looks, within the hit's line.
const AFTER_HIT: usize = 1024;
/// How far after a keyword hit a multiline rule looks.
const MULTILINE_SPAN: usize = 64 * 1024;
/// The inline comments that suppress findings on their line: ours, and gitleaks' for teams moving from it.
pub const ALLOW_MARKERS: [&[u8]; 2] = [b"secret-scan:allow", b"gitleaks:allow"];
/// Default minimum entropy of a secret when a rule sets none.
const DEFAULT_ENTROPY: f64 = 2.0;

/// A rule, ready to run: its pattern is parsed and checked, and compiled on first use.
#[derive(Debug)]
struct Compiled {
    rule: Rule,
    /// Filled by the first thread that needs it; the walker's threads share it. An error (only a pattern over the
    /// compiled size limit gets past the parser) leaves the rule inert; `rules check` reports it.
    regex: OnceLock<Result<Regex, String>>,
    name_group: Option<usize>,
    secret_group: Option<usize>,
    paths: Option<GlobSet>,
    entropy: f64,
}

impl Compiled {
    fn regex(&self) -> Option<&Regex> {
        self.regex.get_or_init(|| compile(&self.rule.pattern)).as_ref().ok()
    }
}

/// Compiles a rule pattern: over bytes, without Unicode classes.
fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern).unicode(false).size_limit(16 << 20).build().map_err(|e| format!("bad pattern: {e}"))
}

/// Parses a pattern with the same settings as [`compile`], and returns the indices of its `name` and `secret`
/// groups. Parsing is a small fraction of compiling.
fn parse(pattern: &str) -> Result<(Option<usize>, Option<usize>), String> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| format!("bad pattern: {e}"))?;
    let (mut name, mut secret) = (None, None);
    let mut stack = vec![&hir];
    while let Some(hir) = stack.pop() {
        match hir.kind() {
            HirKind::Capture(capture) => {
                let index = usize::try_from(capture.index).ok();
                match capture.name.as_deref() {
                    Some("name") => name = name.or(index),
                    Some("secret") => secret = secret.or(index),
                    _ => {}
                }
                stack.push(&capture.sub);
            }
            HirKind::Repetition(repetition) => stack.push(&repetition.sub),
            HirKind::Concat(subs) | HirKind::Alternation(subs) => stack.extend(subs),
            HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => {}
        }
    }
    Ok((name, secret))
}

/// A compiled rule set: build once, then scan any number of buffers from any number of threads.
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Compiled>,
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the rules that own that keyword.
    keyword_rules: Vec<Vec<usize>>,
    filters: CompiledFilters,
    known: Option<KnownValues>,
}

/// A rule example that did not behave: `secret-scan rules check` lists these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// The rule.
    pub rule_id: String,
    /// The example, with the split marker removed.
    pub example: String,
    /// `true` when an example did not match, `false` when a negative example matched.
    pub missed: bool,
}

/// A match that passed the filters, before line numbers and fingerprints.
#[derive(Clone, Copy, Debug)]
struct Raw {
    rule: usize,
    start: usize,
    end: usize,
}

/// Per-buffer scratch space, allocated once per buffer, not per line.
struct Scratch {
    /// The last window each rule ran over, and the end of its last match.
    last: Vec<(usize, usize, usize)>,
    locations: Vec<Option<CaptureLocations>>,
    raw: Vec<Raw>,
    encrypted: Option<bool>,
}

impl Scanner {
    /// Compiles a rule set.
    pub fn new(set: &RuleSet) -> Result<Self, RuleError> {
        let filters = CompiledFilters::new(&set.filters)?;
        let mut rules = Vec::with_capacity(set.rules.len());
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for rule in &set.rules {
            let invalid = |message: String| RuleError::Invalid { id: rule.id.clone(), message };
            if rule.id.is_empty() {
                return Err(invalid("the id is empty".into()));
            }
            if rule.pattern.is_empty() || rule.keywords.is_empty() {
                return Err(invalid("needs a pattern and at least one keyword".into()));
            }
            let (name_group, secret_group) = parse(&rule.pattern).map_err(&invalid)?;
            if rule.kind != RuleKind::Provider && (name_group.is_none() || secret_group.is_none()) {
                return Err(invalid("generic and url rules need groups named `name` and `secret`".into()));
            }
            if rule.kind == RuleKind::Generic && rule.name_words.is_empty() {
                return Err(invalid("generic rules need `name_words`".into()));
            }
            let paths = if rule.paths.is_empty() {
                None
            } else {
                let set = filters::glob_set(&rule.paths).map_err(&invalid)?;
                match &rule.example_path {
                    Some(p) if set.is_match(p) => {}
                    _ if rule.examples.is_empty() && rule.negative_examples.is_empty() => {}
                    _ => return Err(invalid("`paths` needs an `example_path` that matches one of them".into())),
                }
                Some(set)
            };
            let index = rules.len();
            for keyword in &rule.keywords {
                if keyword.len() < 2 {
                    return Err(invalid(format!("keyword {keyword:?} is shorter than 2 bytes")));
                }
                let lower = keyword.to_ascii_lowercase();
                match keywords.iter().position(|k| *k == lower) {
                    Some(k) => keyword_rules[k].push(index),
                    None => {
                        keywords.push(lower);
                        keyword_rules.push(vec![index]);
                    }
                }
            }
            rules.push(Compiled {
                entropy: rule.entropy.unwrap_or(DEFAULT_ENTROPY),
                rule: rule.clone(),
                regex: OnceLock::new(),
                name_group,
                secret_group,
                paths,
            });
        }
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(&keywords)
            .map_err(|e| RuleError::Invalid { id: "keywords".into(), message: e.to_string() })?;
        Ok(Self { rules, prefilter, keyword_rules, filters, known: None })
    }

    /// Also reports every occurrence of these known values (`--vault-known`), whatever their shape. Where a
    /// rule's finding overlaps a known value, the known value's finding replaces it: it names the Vault secret.
    pub fn with_known(mut self, known: KnownValues) -> Self {
        self.known = Some(known);
        self
    }

    /// The built-in rules, compiled.
    pub fn builtin() -> Self {
        Self::new(&RuleSet::builtin()).expect("the built-in rules compile (tested)")
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl ExactSizeIterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    pub(crate) fn filters(&self) -> &CompiledFilters {
        &self.filters
    }

    /// Looks a rule up by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules().find(|r| r.id == id)
    }

    /// Finds the secrets in one buffer. `path` is the file's path relative to the scan root, with `/` separators:
    /// rules restricted to some files match it, and fingerprints include it. The findings' `path` is `path`;
    /// callers that display another path replace it.
    pub fn scan_bytes(&self, path: &str, data: &[u8]) -> Vec<Finding> {
        if self.filters.skip_path(path) {
            return Vec::new();
        }
        let mut findings = self.scan_with(path, data, None);
        if let Some(known) = &self.known {
            add_known(known, path, data, &mut findings);
        }
        findings
    }

    /// Compiles every rule's regex now, rather than on its first keyword hit, and reports the first that fails.
    pub fn compile_all(&self) -> Result<(), RuleError> {
        for compiled in &self.rules {
            if let Err(message) = compiled.regex.get_or_init(|| compile(&compiled.rule.pattern)) {
                return Err(RuleError::Invalid { id: compiled.rule.id.clone(), message: message.clone() });
            }
        }
        Ok(())
    }

    /// Whether a rule's regex has been compiled yet (by a keyword hit or [`Scanner::compile_all`]).
    pub fn is_compiled(&self, id: &str) -> bool {
        self.rules.iter().any(|c| c.rule.id == id && c.regex.get().is_some())
    }

    /// Runs every rule's examples and negative examples, each rule on its own.
    pub fn check_examples(&self) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        for (index, compiled) in self.rules.iter().enumerate() {
            let rule = &compiled.rule;
            let path = rule.example_path.as_deref().unwrap_or("example.txt");
            let cases =
                rule.examples.iter().map(|e| (e, true)).chain(rule.negative_examples.iter().map(|e| (e, false)));
            for (example, must_match) in cases {
                let text = example.replace(EXAMPLE_SPLIT, "");
                let matched = !self.scan_with(path, text.as_bytes(), Some(index)).is_empty();
                if matched != must_match {
                    failures.push(CheckFailure { rule_id: rule.id.clone(), example: text, missed: must_match });
                }
            }
        }
        failures
    }

    fn scan_with(&self, path: &str, data: &[u8], only: Option<usize>) -> Vec<Finding> {
        let mut scratch: Option<Scratch> = None;
        let mut path_ok: Option<Vec<bool>> = None;
        for hit in self.prefilter.find_overlapping_iter(data) {
            for &index in &self.keyword_rules[hit.pattern().as_usize()] {
                if only.is_some_and(|o| o != index) {
                    continue;
                }
                let compiled = &self.rules[index];
                if compiled.paths.is_some() {
                    let ok = path_ok.get_or_insert_with(|| {
                        self.rules.iter().map(|c| c.paths.as_ref().is_none_or(|g| g.is_match(path))).collect()
                    });
                    if !ok[index] {
                        continue;
                    }
                }
                let scratch = scratch.get_or_insert_with(|| Scratch {
                    last: vec![(0, 0, 0); self.rules.len()],
                    locations: (0..self.rules.len()).map(|_| None).collect(),
                    raw: Vec::new(),
                    encrypted: None,
                });
                self.run_rule(index, data, hit.start(), scratch);
            }
        }
        let Some(mut scratch) = scratch else { return Vec::new() };
        self.finish(path, data, &mut scratch.raw)
    }

    /// Runs one rule around one keyword hit.
    fn run_rule(&self, index: usize, data: &[u8], hit: usize, scratch: &mut Scratch) {
        let compiled = &self.rules[index];
        let line_start = memchr::memrchr(b'\n', &data[..hit]).map_or(0, |i| i + 1);
        let (start, end) = if compiled.rule.multiline {
            (line_start, (hit + MULTILINE_SPAN).min(data.len()))
        } else {
            let line_end = memchr::memchr(b'\n', &data[hit..]).map_or(data.len(), |i| hit + i);
            (line_start.max(hit.saturating_sub(BEFORE_HIT)), line_end.min(hit + AFTER_HIT))
        };
        let (last_start, last_end, last_match_end) = scratch.last[index];
        if (start >= last_start && end <= last_end && last_end > 0) || hit < last_match_end {
            return;
        }
        if compiled.rule.kind == RuleKind::Generic {
            let encrypted = *scratch.encrypted.get_or_insert_with(|| self.filters.encrypted_document(data));
            if encrypted {
                return;
            }
        }
        let Some(regex) = compiled.regex() else { return };
        let mut match_end = last_match_end;
        let locations = scratch.locations[index].get_or_insert_with(|| regex.capture_locations());
        let haystack = &data[..end];
        let mut at = start;
        while at <= end {
            let Some(whole) = regex.captures_read_at(locations, haystack, at) else { break };
            let (secret_start, secret_end) = secret_span(compiled, locations, (whole.start(), whole.end()));
            if self.accept(compiled, data, locations, secret_start, secret_end) {
                scratch.raw.push(Raw { rule: index, start: secret_start, end: secret_end });
            }
            match_end = match_end.max(whole.end());
            at = if whole.end() > whole.start() { whole.end() } else { whole.end() + 1 };
        }
        scratch.last[index] = (start, end, match_end);
    }

    /// Whether a match is a finding.
    fn accept(&self, compiled: &Compiled, data: &[u8], locations: &CaptureLocations, start: usize, end: usize) -> bool {
        let value = &data[start..end];
        if value.is_empty()
            || self.filters.known_example(value)
            || self.filters.placeholder(value)
            || self.filters.encoded_placeholder(value)
            || self.filters.reference(value)
            || filters::shannon_entropy(value) < compiled.entropy
        {
            return false;
        }
        let name = compiled.name_group.and_then(|g| locations.get(g)).map_or(&b""[..], |(s, e)| &data[s..e]);
        match compiled.rule.kind {
            RuleKind::Provider => true,
            RuleKind::Generic => {
                self.filters.secret_name(name, &compiled.rule.name_words)
                    && !filters::not_a_literal(value)
                    && !filters::sentence_like(value)
            }
            RuleKind::Url => !name.eq_ignore_ascii_case(value),
        }
    }

    /// Resolves overlaps, applies inline allow comments, and computes positions and fingerprints.
    fn finish(&self, path: &str, data: &[u8], raw: &mut Vec<Raw>) -> Vec<Finding> {
        if raw.is_empty() {
            return Vec::new();
        }
        // Where two matches overlap, the more confident rule wins, then a provider rule over a generic one,
        // then the earlier rule.
        raw.sort_by_key(|r| (r.start, r.end, r.rule));
        raw.dedup_by_key(|r| (r.start, r.end, r.rule));
        let rank = |r: &Raw| {
            let c = &self.rules[r.rule];
            (c.rule.confidence, c.rule.kind == RuleKind::Provider, std::cmp::Reverse(r.rule))
        };
        let mut kept: Vec<Raw> = Vec::with_capacity(raw.len());
        for &candidate in raw.iter() {
            let overlapping: Vec<usize> =
                (0..kept.len()).filter(|&k| kept[k].start < candidate.end && candidate.start < kept[k].end).collect();
            if overlapping.iter().all(|&k| rank(&candidate) > rank(&kept[k])) {
                for k in overlapping.into_iter().rev() {
                    kept.remove(k);
                }
                kept.push(candidate);
            }
        }
        kept.sort_by_key(|r| r.start);

        let mut findings = Vec::with_capacity(kept.len());
        let mut cursor = Position::default();
        for r in kept {
            let rule = &self.rules[r.rule].rule;
            let Some(mut found) = locate(&mut cursor, path, data, (r.start, r.end), &rule.id, rule.confidence) else {
                continue;
            };
            let line_start = memchr::memrchr(b'\n', &data[..r.start]).map_or(0, |i| i + 1);
            let reason = context::reason(path, data, line_start, r.start, r.end).or_else(|| {
                (rule.kind == RuleKind::Generic).then(|| context::generic_value_reason(&data[r.start..r.end])).flatten()
            });
            if reason.is_some() {
                found.confidence = Confidence::Low;
                found.reason = reason;
            }
            findings.push(found);
        }
        findings
    }
}

/// Turns a span into a finding with its position, unless its line carries the allow comment. `cursor` only moves
/// forward, so spans must come in order.
fn locate(
    cursor: &mut Position,
    path: &str,
    data: &[u8],
    (start, end): (usize, usize),
    rule_id: &str,
    confidence: Confidence,
) -> Option<Finding> {
    let begin = cursor.advance(data, start);
    let line_end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
    let line = &data[begin.line_start..line_end];
    if ALLOW_MARKERS.iter().any(|marker| memchr::memmem::find(line, marker).is_some()) {
        return None;
    }
    // A copy: the next span may start before this one ends (known values can overlap).
    let mut end_cursor = *cursor;
    let last = end_cursor.advance(data, end);
    let value = &data[start..end];
    let secret = SecretString::new(String::from_utf8_lossy(value).into_owned());
    Some(Finding {
        path: path.to_owned(),
        root_path: path.to_owned(),
        commit: None,
        line: begin.line,
        column: begin.column,
        end_line: last.line,
        end_column: last.column,
        rule_id: rule_id.to_owned(),
        confidence,
        reason: None,
        fingerprint: finding::fingerprint(rule_id, path, value),
        redacted: finding::redact(&secret),
        secret,
        vault_path: None,
    })
}

/// Adds the known values found in `data`, replacing rule findings at the same place.
fn add_known(known: &KnownValues, path: &str, data: &[u8], findings: &mut Vec<Finding>) {
    let hits = known.find(data);
    if hits.is_empty() {
        return;
    }
    let mut cursor = Position::default();
    for hit in hits {
        let Some(mut found) = locate(&mut cursor, path, data, (hit.start, hit.end), known::RULE_ID, Confidence::High)
        else {
            continue;
        };
        found.vault_path = Some(hit.source);
        let overlaps = |f: &Finding| {
            (f.line, f.column) < (found.end_line, found.end_column)
                && (found.line, found.column) < (f.end_line, f.end_column)
        };
        findings.retain(|f| f.vault_path.is_some() || !overlaps(f));
        findings.push(found);
    }
    findings.sort_by_key(|f| (f.line, f.column));
}

/// A position in a buffer, advanced forward only, so that positions of sorted matches cost one pass.
#[derive(Clone, Copy, Debug, Default)]
struct Position {
    offset: usize,
    /// 0-based line of `offset`.
    line0: usize,
    line_start: usize,
}

/// A resolved position: 1-based line and character column, and where its line starts.
struct LineColumn {
    line: usize,
    column: usize,
    line_start: usize,
}

impl Position {
    fn advance(&mut self, data: &[u8], to: usize) -> LineColumn {
        let span = &data[self.offset..to];
        self.line0 += memchr::memchr_iter(b'\n', span).count();
        if let Some(i) = memchr::memrchr(b'\n', span) {
            self.line_start = self.offset + i + 1;
        }
        self.offset = to;
        // Characters, not bytes: count the bytes that start a UTF-8 sequence.
        let column = data[self.line_start..to].iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
        LineColumn { line: self.line0 + 1, column, line_start: self.line_start }
    }
}

/// The secret inside a match: the `secret` group, else the first group that took part, else the whole match.
fn secret_span(compiled: &Compiled, locations: &CaptureLocations, whole: (usize, usize)) -> (usize, usize) {
    if let Some(span) = compiled.secret_group.and_then(|g| locations.get(g)) {
        return span;
    }
    (1..locations.len()).find_map(|g| locations.get(g)).unwrap_or(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        // Built at run time so that no complete token shape is stored in the source.
        format!("ghp_{}", "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d")
    }

    #[test]
    fn builtin_examples_pass() {
        let failures = Scanner::builtin().check_examples();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn positions_are_one_based_characters() {
        let text = format!("first line\n  é = \"{}\"\n", token());
        let findings = Scanner::builtin().scan_bytes("a.py", text.as_bytes());
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!((f.line, f.column, f.end_line, f.end_column), (2, 8, 2, 48));
        assert_eq!(f.rule_id, "github-token");
        assert_eq!(f.redacted, "ghp_…");
    }

    #[test]
    fn provider_rule_wins_over_generic() {
        let text = format!("GITHUB_TOKEN = \"{}\"\n", token());
        let findings = Scanner::builtin().scan_bytes("a.py", text.as_bytes());
        assert_eq!(findings.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(), ["github-token"]);
    }

    #[test]
    fn allow_comment_and_lock_files() {
        let scanner = Scanner::builtin();
        let text = format!("t = \"{}\"  # secret-scan:allow\n", token());
        assert!(scanner.scan_bytes("a.py", text.as_bytes()).is_empty());
        let text = format!("t = \"{}\"\n", token());
        assert!(scanner.scan_bytes("sub/Cargo.lock", text.as_bytes()).is_empty());
    }

    #[test]
    fn invalid_utf8_is_scanned_as_bytes() {
        let mut data = b"\xff\xfe junk \xc3\x28\n".to_vec();
        data.extend_from_slice(format!("x = \"{}\"\n", token()).as_bytes());
        let findings = Scanner::builtin().scan_bytes("bin.dat", &data);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].line, 2);
    }

    #[test]
    fn regexes_compile_on_the_first_keyword_hit_only() {
        let scanner = Scanner::builtin();
        assert!(scanner.rules().all(|r| !scanner.is_compiled(&r.id)), "a rule compiled before any scan");
        // Text with no keyword compiles nothing.
        assert!(scanner.scan_bytes("a.txt", b"nothing to see here\n").is_empty());
        assert!(scanner.rules().all(|r| !scanner.is_compiled(&r.id)), "a rule compiled without a keyword hit");
        // A hit compiles the rules owning that keyword, and only those.
        let text = format!("x = \"{}\"\n", token());
        assert_eq!(scanner.scan_bytes("a.py", text.as_bytes()).len(), 1);
        assert!(scanner.is_compiled("github-token"));
        let owners: Vec<&str> = scanner
            .rules()
            .filter(|r| r.keywords.iter().any(|k| text.to_ascii_lowercase().contains(&k.to_ascii_lowercase())))
            .map(|r| r.id.as_str())
            .collect();
        let compiled: Vec<&str> =
            scanner.rules().filter(|r| scanner.is_compiled(&r.id)).map(|r| r.id.as_str()).collect();
        assert_eq!(compiled, owners);
        assert!(compiled.len() < scanner.rules().len() / 4, "{compiled:?}");
        scanner.compile_all().unwrap();
        assert!(scanner.rules().all(|r| scanner.is_compiled(&r.id)));
    }

    #[test]
    fn parsed_groups_agree_with_the_compiled_regex() {
        // The `name` and `secret` indices come from the parser; the compiled regex must number groups the same way.
        let set = RuleSet::builtin();
        let mut patterns: Vec<String> = set.rules.iter().map(|r| r.pattern.clone()).collect();
        patterns.push(r"(a)(?:(?P<secret>b)|(c))(?P<name>d)(?P<x>e)".into());
        patterns.push(r"(?P<name>a)|(?P<secret>b)|(?P<name2>c)".into());
        for pattern in patterns {
            let regex = compile(&pattern).unwrap();
            let index = |name: &str| regex.capture_names().position(|n| n == Some(name));
            assert_eq!(parse(&pattern).unwrap(), (index("name"), index("secret")), "{pattern}");
        }
    }

    #[test]
    fn a_pattern_too_big_to_compile_fails_the_check_not_the_scan() {
        let mut set = RuleSet::builtin();
        set.merge_str(
            "[[rule]]\nid = \"huge\"\npattern = 'huge_(?:(?:[a-z0-9]{1000}){1000}){100}'\nkeywords = [\"huge_\"]\n",
            "u.toml",
        )
        .unwrap();
        let scanner = Scanner::new(&set).unwrap();
        assert!(scanner.scan_bytes("a.txt", b"huge_abc\n").is_empty());
        let err = scanner.compile_all().unwrap_err().to_string();
        assert!(err.starts_with("rule huge: bad pattern"), "{err}");
    }

    #[test]
    fn bad_rules_are_rejected() {
        let mut set = RuleSet::builtin();
        set.merge_str("[[rule]]\nid = \"x\"\npattern = '('\nkeywords = [\"xx\"]\n", "u.toml").unwrap();
        let err = Scanner::new(&set).unwrap_err().to_string();
        assert!(err.starts_with("rule x: bad pattern"), "{err}");
    }
}
