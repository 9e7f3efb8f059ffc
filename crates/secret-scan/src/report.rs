//! Output formats: human lines, one JSON document, JSON Lines, SARIF 2.1.0 for code-scanning services, and
//! GitLab's secret-detection report (`artifacts:reports:secret_detection`).
//!
//! JSON Lines records are streamed as findings arrive (unordered across files) and end with a `summary` record;
//! the other formats are sorted by path, commit and position. Values appear only with `show_secrets`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};
use vault_core::output::{Table, write_json, write_record};

use crate::finding::Finding;
use crate::rules::Confidence;
use crate::scan::Summary;
use crate::scanner::Scanner;

vault_core::format_enum! {
    /// The output formats of `secret-scan`: the shared three, described as secret-scan writes them, and two for
    /// code-scanning services.
    pub enum Format {
        /// `path:line:col  rule  redacted  confidence`, sorted; a summary on stderr.
        Human,
        /// One JSON document: `{"findings": […], "summary": {…}}`.
        Json,
        /// One JSON object per line: `finding` records, then a `summary` record.
        Jsonl,
        /// SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
        Sarif,
        /// GitLab's secret-detection report (schema 15), for `artifacts:reports:secret_detection`.
        Gitlab,
    }
}

/// Writes findings in one format.
#[derive(Debug)]
pub struct Reporter<W> {
    format: Format,
    out: W,
    show_secrets: bool,
    held: Vec<Finding>,
    started: chrono::DateTime<chrono::Utc>,
}

impl<W: Write> Reporter<W> {
    /// A reporter writing to `out`.
    pub fn new(format: Format, out: W, show_secrets: bool) -> Self {
        Self { format, out, show_secrets, held: Vec::new(), started: chrono::Utc::now() }
    }

    /// Takes one finding: JSON Lines writes it now, the other formats hold it to sort.
    pub fn finding(&mut self, finding: Finding) -> io::Result<()> {
        if self.format == Format::Jsonl {
            write_record(&mut self.out, "finding", &finding.record(self.show_secrets))
        } else {
            self.held.push(finding);
            Ok(())
        }
    }

    /// Writes what was held and the summary; returns the destination to be finished.
    pub fn finish(mut self, scanner: &Scanner, summary: &Summary) -> io::Result<W> {
        self.held.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        match self.format {
            Format::Jsonl => write_record(&mut self.out, "summary", summary)?,
            Format::Human => self.write_human()?,
            Format::Json => {
                let findings: Vec<_> = self.held.iter().map(|f| f.record(self.show_secrets)).collect();
                write_json(&mut self.out, &json!({ "findings": findings, "summary": summary }))?;
            }
            Format::Sarif => write_json(&mut self.out, &sarif(scanner, &self.held, self.show_secrets))?,
            Format::Gitlab => {
                write_json(&mut self.out, &gitlab(scanner, &self.held, self.started, chrono::Utc::now()))?;
            }
        }
        Ok(self.out)
    }

    fn write_human(&mut self) -> io::Result<()> {
        let mut table = Table::new(Vec::<String>::new());
        for f in &self.held {
            let location = match &f.commit {
                Some(commit) => format!("{}:{}:{}:{}", &commit[..12.min(commit.len())], f.path, f.line, f.column),
                None => format!("{}:{}:{}", f.path, f.line, f.column),
            };
            let shown = if self.show_secrets { f.secret.expose().to_owned() } else { f.redacted.clone() };
            let confidence = match f.reason {
                Some(reason) => format!("{} ({reason})", f.confidence.as_str()),
                None => f.confidence.as_str().to_owned(),
            };
            table.row([location, f.rule_id.clone(), shown, confidence]);
        }
        table.write_to(&mut self.out, false)
    }
}

/// The one-line summary people see on stderr.
pub fn summary_line(summary: &Summary) -> String {
    let noun = if summary.findings == 1 { "finding" } else { "findings" };
    let mut line = format!(
        "{} {noun} in {} files ({}) in {}",
        summary.findings,
        summary.files_scanned,
        vault_core::output::human_size(summary.bytes_scanned),
        vault_core::output::human_duration(std::time::Duration::from_millis(summary.duration_ms)),
    );
    let extras = [
        (summary.suppressed, "suppressed"),
        (summary.below_min_confidence, "below --min-confidence (--min-confidence low shows them)"),
        (summary.files_skipped_binary, "binary files skipped"),
        (summary.files_skipped_too_large, "files over --max-file-size skipped"),
        (summary.errors, "unreadable files"),
    ];
    for (count, what) in extras {
        if count > 0 {
            line.push_str(&format!(", {count} {what}"));
        }
    }
    line
}

fn sarif_level(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "error",
        Confidence::Medium => "warning",
        Confidence::Low => "note",
    }
}

/// Percent-encodes a relative path for a SARIF `uri`, keeping `/` and unreserved characters.
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule<'a> {
    id: &'a str,
    name: &'a str,
    short_description: Value,
    full_description: Value,
    default_configuration: Value,
    properties: Value,
}

/// The SARIF 2.1.0 log: one run, every rule in the driver, one result per finding with a stable
/// `partialFingerprints` entry (`secretFingerprint/v1`) so that services deduplicate across runs.
fn sarif(scanner: &Scanner, findings: &[Finding], show_secrets: bool) -> Value {
    let rules: Vec<_> = scanner.rules().collect();
    let driver_rules: Vec<SarifRule<'_>> = rules
        .iter()
        .map(|r| SarifRule {
            id: &r.id,
            name: &r.id,
            short_description: json!({ "text": r.description }),
            full_description: json!({ "text": format!("{} (group: {}, confidence: {})", r.description, r.group, r.confidence.as_str()) }),
            default_configuration: json!({ "level": sarif_level(r.confidence) }),
            properties: json!({
                "tags": ["security", "secret", r.group],
                "precision": match r.confidence { Confidence::High => "high", Confidence::Medium => "medium", Confidence::Low => "low" },
                "security-severity": match r.confidence { Confidence::High => "9.0", Confidence::Medium => "7.0", Confidence::Low => "4.0" },
            }),
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r.id == f.rule_id);
            let shown = if show_secrets { f.secret.expose() } else { &f.redacted };
            let mut message = format!("{} found: {shown}", f.rule_id);
            if let Some(commit) = &f.commit {
                message.push_str(&format!(" (introduced in commit {commit})"));
            }
            if let Some(reason) = f.reason {
                message.push_str(&format!("; confidence lowered: {reason}"));
            }
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": sarif_level(f.confidence),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri_path(&f.root_path), "uriBaseId": "%SRCROOT%" },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        }
                    }
                }],
                "partialFingerprints": { "secretFingerprint/v1": f.fingerprint },
                "properties": { "confidence": f.confidence.as_str(), "redacted": f.redacted, "reason": f.reason },
            });
            if let Some(index) = index {
                result["ruleIndex"] = json!(index);
            }
            if let Some(commit) = &f.commit {
                result["properties"]["commit"] = json!(commit);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "secret-scan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/example/vault-toolkit/blob/main/docs/secret-scan.md",
                    "rules": driver_rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// GitLab's report schema version this output follows.
pub const GITLAB_SCHEMA_VERSION: &str = "15.0.7";

/// GitLab's severity for a finding: a provider's token is a live credential until proven otherwise (`Critical`,
/// as GitLab's own analyzer rates leaks); a secret recognised by context is `High`; a bare high-entropy string,
/// `Medium`.
fn gitlab_severity(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::High => "Critical",
        Confidence::Medium => "High",
        Confidence::Low => "Medium",
    }
}

/// A UUID-shaped id, stable across runs, for one occurrence: GitLab tracks vulnerabilities by it.
fn occurrence_id(finding: &Finding) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(finding.fingerprint.as_bytes());
    hasher.update([0]);
    hasher.update(finding.root_path.as_bytes());
    hasher.update([0]);
    hasher.update(finding.line.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(finding.commit.as_deref().unwrap_or("").as_bytes());
    let h = hex::encode(&hasher.finalize()[..16]);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// GitLab's secret-detection report: `scan` (analyzer, scanner, times, status) and one vulnerability per finding,
/// located by its path from the repository root, its lines and its commit (`0000000` for the work tree, as
/// GitLab's own analyzer writes). The value never appears, not even with `--show-secrets`: GitLab shows reports
/// to everyone who can see the pipeline.
fn gitlab(
    scanner: &Scanner,
    findings: &[Finding],
    started: chrono::DateTime<chrono::Utc>,
    ended: chrono::DateTime<chrono::Utc>,
) -> Value {
    const TIME: &str = "%Y-%m-%dT%H:%M:%S";
    let tool = json!({
        "id": "secret-scan",
        "name": "secret-scan",
        "version": env!("CARGO_PKG_VERSION"),
        "url": "https://github.com/example/vault-toolkit/blob/main/docs/secret-scan.md",
        "vendor": { "name": "vault-toolkit" },
    });
    let vulnerabilities: Vec<Value> = findings
        .iter()
        .map(|f| {
            let rule = scanner.rule(&f.rule_id);
            let title = rule.map_or(f.rule_id.as_str(), |r| r.description.as_str());
            json!({
                "id": occurrence_id(f),
                "name": title,
                "description": format!(
                    "{title} ({}) in {} at line {}: the value starts with {} (fingerprint {}).{}",
                    f.rule_id, f.root_path, f.line, f.redacted, f.fingerprint,
                    f.reason.map_or(String::new(), |r| format!(" Confidence lowered: {r}."))
                ),
                "severity": gitlab_severity(f.confidence),
                "solution": "Revoke and rotate the credential, then remove it from the code (and from the git history). Keep it in Vault and read it at run time.",
                "identifiers": [{
                    "type": "secret_scan_rule_id",
                    "name": format!("secret-scan rule {}", f.rule_id),
                    "value": f.rule_id,
                    "url": "https://github.com/example/vault-toolkit/blob/main/docs/secret-scan.md#rules",
                }],
                "location": {
                    "file": f.root_path,
                    "start_line": f.line,
                    "end_line": f.end_line,
                    "commit": { "sha": f.commit.as_deref().unwrap_or("0000000") },
                },
            })
        })
        .collect();
    json!({
        "version": GITLAB_SCHEMA_VERSION,
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "secret_detection",
            "start_time": started.format(TIME).to_string(),
            "end_time": ended.format(TIME).to_string(),
            "status": "success",
        },
        "vulnerabilities": vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri_path("src/my file#1.py"), "src/my%20file%231.py");
    }

    #[test]
    fn summary_line_mentions_what_happened() {
        let summary =
            Summary { findings: 1, files_scanned: 3, bytes_scanned: 2048, suppressed: 2, ..Summary::default() };
        assert_eq!(summary_line(&summary), "1 finding in 3 files (2.0 KiB) in 0ms, 2 suppressed");
    }
}
