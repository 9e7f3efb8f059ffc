//! Rules as data: the TOML schema, the built-in rule file, and merging user rule files into it by id.
//!
//! The schema is documented at the top of `rules/default.toml`, which is compiled into the binary. A user file adds
//! rules, replaces a built-in rule that has the same id, or turns one off with `disabled = true`; its `[filters]`
//! lists are appended to the built-in ones. Compiling and checking rules is [`crate::Scanner`]'s job.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The built-in rule file.
pub const DEFAULT_RULES: &str = include_str!("../rules/default.toml");

/// Removed from examples before they are scanned: it keeps complete token shapes out of rule files.
pub const EXAMPLE_SPLIT: &str = "%%";

/// How sure a rule is that a match is a live credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A shape that is often something else (high-entropy strings).
    Low,
    /// A secret by context (an assignment to a password name, a JWT, a URL with a password).
    Medium,
    /// A provider's own token format.
    High,
}

impl Confidence {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// How a rule's match is validated beyond its pattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// A provider's token format: the pattern says it all.
    #[default]
    Provider,
    /// `name = value`: the name must hold one of the rule's `name_words`, and the value must look like a value
    /// rather than code, a path, a word or an identifier.
    Generic,
    /// A URL with `user:password@`: the password must differ from the user and not be a well-known default.
    Url,
}

/// One detection rule, as written in a rule file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable identifier, used in output, baselines and overrides.
    pub id: String,
    /// One line saying what the rule finds.
    #[serde(default)]
    pub description: String,
    /// What the credential is for (`cloud`, `database`, `api-keys`…).
    #[serde(default = "default_group")]
    pub group: String,
    /// How sure a match is.
    #[serde(default = "default_confidence")]
    pub confidence: Confidence,
    /// Literals that must occur, ASCII case-insensitively, for the pattern to be tried.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The regular expression (over bytes, without Unicode classes).
    #[serde(default)]
    pub pattern: String,
    /// How matches are validated.
    #[serde(default)]
    pub kind: RuleKind,
    /// Whether a match may span lines.
    #[serde(default)]
    pub multiline: bool,
    /// Minimum Shannon entropy of the secret, in bits per byte.
    pub entropy: Option<f64>,
    /// Globs restricting the rule to some files.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The file name examples are scanned as.
    pub example_path: Option<String>,
    /// For generic rules: words of the assigned name that make it a secret.
    #[serde(default)]
    pub name_words: Vec<String>,
    /// Text that must produce a finding of this rule.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Text that must not.
    #[serde(default)]
    pub negative_examples: Vec<String>,
    /// In a user file: remove the rule with this id.
    #[serde(default)]
    pub disabled: bool,
}

fn default_group() -> String {
    "other".to_owned()
}

fn default_confidence() -> Confidence {
    Confidence::Medium
}

/// Lists that filter matches of every rule. Their meaning is documented in `rules/default.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    /// Globs of files that are never scanned.
    pub skip_paths: Vec<String>,
    /// Published example values that are never findings.
    pub known_examples: Vec<String>,
    /// A secret containing one of these is a placeholder.
    pub placeholder_substrings: Vec<String>,
    /// A secret equal to one of these is a placeholder.
    pub placeholder_values: Vec<String>,
    /// A secret starting with one of these is a reference.
    pub reference_prefixes: Vec<String>,
    /// A secret containing one of these is a reference.
    pub reference_substrings: Vec<String>,
    /// A file containing one of these holds ciphertext: generic rules skip it.
    pub encrypted_markers: Vec<String>,
    /// Last words of a name that say its value is not a secret.
    pub ignore_name_suffixes: Vec<String>,
}

impl Filters {
    fn extend(&mut self, other: Filters) {
        self.skip_paths.extend(other.skip_paths);
        self.known_examples.extend(other.known_examples);
        self.placeholder_substrings.extend(other.placeholder_substrings);
        self.placeholder_values.extend(other.placeholder_values);
        self.reference_prefixes.extend(other.reference_prefixes);
        self.reference_substrings.extend(other.reference_substrings);
        self.encrypted_markers.extend(other.encrypted_markers);
        self.ignore_name_suffixes.extend(other.ignore_name_suffixes);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: Option<u32>,
    #[serde(default)]
    filters: Filters,
    #[serde(default, rename = "rule")]
    rules: Vec<Rule>,
}

/// Why rules could not be loaded or compiled.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not follow the schema.
    #[error("invalid rule file {origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// One rule is unusable.
    #[error("rule {id}: {message}")]
    Invalid {
        /// The rule.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// The rules and filters a scanner is built from: the built-in file plus any user files, merged.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// Rules in file order; ids are unique.
    pub rules: Vec<Rule>,
    /// Filters applied to every rule.
    pub filters: Filters,
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> Self {
        let mut set = Self { rules: Vec::new(), filters: Filters::default() };
        set.merge_str(DEFAULT_RULES, "built-in rules").expect("the built-in rule file parses (tested)");
        set
    }

    /// Merges a user rule file.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), RuleError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RuleError::Io { path: path.display().to_string(), source })?;
        self.merge_str(&text, &path.display().to_string())
    }

    /// Merges rule-file text: rules with a known id replace (or, when disabled, remove) the existing rule.
    pub fn merge_str(&mut self, text: &str, origin: &str) -> Result<(), RuleError> {
        let file: RuleFile =
            toml::from_str(text).map_err(|e| RuleError::Parse { origin: origin.to_owned(), message: e.to_string() })?;
        if let Some(version) = file.version
            && version != 1
        {
            return Err(RuleError::Parse {
                origin: origin.to_owned(),
                message: format!("unsupported version {version} (this build reads version 1)"),
            });
        }
        self.filters.extend(file.filters);
        for rule in file.rules {
            let existing = self.rules.iter().position(|r| r.id == rule.id);
            match (existing, rule.disabled) {
                (Some(i), true) => {
                    self.rules.remove(i);
                }
                (Some(i), false) => self.rules[i] = rule,
                (None, true) => {
                    return Err(RuleError::Invalid {
                        id: rule.id,
                        message: "disables a rule that does not exist".into(),
                    });
                }
                (None, false) => self.rules.push(rule),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_with_unique_ids() {
        let set = RuleSet::builtin();
        assert!(set.rules.len() >= 30);
        let mut ids: Vec<_> = set.rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), set.rules.len());
    }

    #[test]
    fn user_files_override_add_and_disable() {
        let mut set = RuleSet::builtin();
        let before = set.rules.len();
        set.merge_str(
            r#"
            [[rule]]
            id = "jwt"
            pattern = 'x'
            keywords = ["x"]
            confidence = "low"

            [[rule]]
            id = "acme-token"
            pattern = 'acme_[a-z]{8}'
            keywords = ["acme_"]

            [[rule]]
            id = "bearer-token"
            disabled = true
            "#,
            "user.toml",
        )
        .unwrap();
        assert_eq!(set.rules.len(), before);
        assert_eq!(set.rules.iter().find(|r| r.id == "jwt").unwrap().confidence, Confidence::Low);
        assert!(set.rules.iter().any(|r| r.id == "acme-token"));
        assert!(!set.rules.iter().any(|r| r.id == "bearer-token"));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let mut set = RuleSet::builtin();
        let err = set.merge_str("[[rule]]\nid = 3\n", "bad.toml").unwrap_err();
        assert!(err.to_string().starts_with("invalid rule file bad.toml:"), "{err}");
        let err = set.merge_str("[[rule]]\nid = \"nope\"\ndisabled = true\n", "u.toml").unwrap_err();
        assert_eq!(err.to_string(), "rule nope: disables a rule that does not exist");
    }
}
