//! A finding: where a secret is, which rule found it, and how to refer to it without revealing it.

use serde::Serialize;
use vault_core::SecretString;

use crate::rules::Confidence;

/// One secret found in one place.
///
/// The value travels as a [`SecretString`], so a stray `{:?}` prints `[redacted]`. Output shows `redacted` and the
/// `fingerprint`; the value only with `--show-secrets`.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Where it is, as the user will read it: the path given on the command line joined with the file's relative
    /// path, a repository-relative path for git sources, `-` for stdin.
    pub path: String,
    /// The path relative to the repository root (the git work tree's top folder) when the file is inside one,
    /// else relative to the scan root: what fingerprints, baselines, SARIF and GitLab reports use, so that a scan
    /// of a subfolder names files the way a scan of the whole repository does.
    pub root_path: String,
    /// For history scans, the commit that introduced the blob.
    pub commit: Option<String>,
    /// 1-based line of the secret's first byte.
    pub line: usize,
    /// 1-based column, in characters, of the secret's first byte.
    pub column: usize,
    /// 1-based line of the secret's last byte.
    pub end_line: usize,
    /// 1-based column just past the secret's last character.
    pub end_column: usize,
    /// The rule that matched.
    pub rule_id: String,
    /// The rule's confidence, lowered to `low` when the context says the value is a fixture or an example.
    pub confidence: Confidence,
    /// Why the confidence was lowered (a test fixture, documentation, a value marked as an example…), if it was.
    pub reason: Option<&'static str>,
    /// Identifies this secret in this file for baselines, ignore files and SARIF: see [`fingerprint`].
    pub fingerprint: String,
    /// A prefix that helps a person recognise the credential; never more than four characters of it.
    pub redacted: String,
    /// The value.
    pub secret: SecretString,
    /// For `vault-known-value` findings, the Vault secret and key the value belongs to (`secret/app/db#password`).
    pub vault_path: Option<String>,
}

/// Stable fingerprint of a finding: 16 hex digits of SHA-256 over the rule id, the path relative to the scan root
/// (or repository) and the value. It survives edits elsewhere in the file and line moves; it changes when the file
/// is renamed or the secret rotated, which is when a suppression should be reviewed again.
pub fn fingerprint(rule_id: &str, relative_path: &str, value: &[u8]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(rule_id.as_bytes());
    hasher.update([0]);
    hasher.update(relative_path.as_bytes());
    hasher.update([0]);
    hasher.update(value);
    hex::encode(&hasher.finalize()[..8])
}

/// What a finding shows instead of the value: the `-----BEGIN … -----` line of a private key, else a masked
/// prefix of at most four characters.
pub fn redact(secret: &SecretString) -> String {
    let value = secret.expose();
    if value.starts_with("-----BEGIN") {
        let header_end = value[5..].find("-----").map_or(value.len(), |i| i + 10);
        return format!("{}…", &value[..header_end.min(value.len())]);
    }
    secret.masked()
}

/// The JSON shape of a finding (JSON Lines `finding` records, the `json` format's array).
#[derive(Debug, Serialize)]
pub struct FindingRecord<'a> {
    /// See [`Finding::path`].
    pub path: &'a str,
    /// See [`Finding::commit`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<&'a str>,
    /// See [`Finding::line`].
    pub line: usize,
    /// See [`Finding::column`].
    pub column: usize,
    /// See [`Finding::end_line`].
    pub end_line: usize,
    /// See [`Finding::end_column`].
    pub end_column: usize,
    /// See [`Finding::rule_id`].
    pub rule_id: &'a str,
    /// See [`Finding::confidence`].
    pub confidence: Confidence,
    /// See [`Finding::reason`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// See [`Finding::fingerprint`].
    pub fingerprint: &'a str,
    /// See [`Finding::redacted`].
    pub redacted: &'a str,
    /// See [`Finding::vault_path`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_path: Option<&'a str>,
    /// The value, only with `--show-secrets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
}

impl Finding {
    /// The record for machine output; `show_secret` adds the value.
    pub fn record(&self, show_secret: bool) -> FindingRecord<'_> {
        FindingRecord {
            path: &self.path,
            commit: self.commit.as_deref(),
            line: self.line,
            column: self.column,
            end_line: self.end_line,
            end_column: self.end_column,
            rule_id: &self.rule_id,
            confidence: self.confidence,
            reason: self.reason,
            fingerprint: &self.fingerprint,
            redacted: &self.redacted,
            vault_path: self.vault_path.as_deref(),
            secret: show_secret.then(|| self.secret.expose()),
        }
    }

    /// Sort key for people: path, commit, position, rule.
    pub fn sort_key(&self) -> (&str, Option<&str>, usize, usize, &str) {
        (&self.path, self.commit.as_deref(), self.line, self.column, &self.rule_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a = fingerprint("github-token", "src/a.py", b"value");
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint("github-token", "src/a.py", b"value"));
        assert_ne!(a, fingerprint("github-token", "src/b.py", b"value"));
        assert_ne!(a, fingerprint("jwt", "src/a.py", b"value"));
    }

    #[test]
    fn private_keys_show_their_header_only() {
        let key = SecretString::from("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----");
        assert_eq!(redact(&key), "-----BEGIN RSA PRIVATE KEY-----…");
        assert_eq!(redact(&SecretString::from("ghp_abcdefghijklmnopqrstuvwxyz")), "ghp_…");
    }
}
