//! Is this environment variable a secret? The one implementation env-migrate and secret-scan share.
//!
//! A variable is classified by its value first (a reference or a placeholder is never a secret, a provider token
//! always is), then by running the scanner's rules over the `NAME=value` line as if it sat in a `.env` file, then by
//! its name, then by the value's entropy.

use std::sync::OnceLock;

use serde::Serialize;

use crate::filters;
use crate::scanner::Scanner;

/// What a variable holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A credential: move it to Vault.
    Secret,
    /// Plain configuration: leave it where it is.
    Config,
    /// A pointer to a value kept elsewhere (`${VAR}`, `vault:…`, `secretKeyRef`…).
    Reference,
    /// A stand-in to be filled in (`changeme`, `<your-key>`, empty).
    Placeholder,
}

/// The verdict on one variable, with the reason a person can check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// What the variable holds.
    pub class: Class,
    /// Why, in a few words.
    pub reason: String,
    /// The rule that recognised the value, when one did.
    pub rule_id: Option<String>,
    /// Where it belongs (`database`, `api-keys`, `cloud`…): a hint for planning Vault paths.
    pub group: String,
}

/// Name words that mark a variable as secret whatever its value looks like.
const SECRET_NAME_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
    "auth",
    "dsn",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "salt",
    "cookie",
];

/// Minimum entropy (bits per byte) and length for an unnamed value to count as a secret.
const ENTROPY_SECRET: f64 = 3.5;
const ENTROPY_MIN_LEN: usize = 16;

/// Classifies a variable with the built-in rules.
pub fn classify_env_var(name: &str, value: &str) -> Classification {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(Scanner::builtin).classify_env_var(name, value)
}

impl Scanner {
    /// Classifies a variable with this scanner's rules and filters.
    pub fn classify_env_var(&self, name: &str, value: &str) -> Classification {
        let verdict = |class, reason: &str, rule_id: Option<String>, group: String| Classification {
            class,
            reason: reason.to_owned(),
            rule_id,
            group,
        };
        let value = value.trim();
        let bytes = value.as_bytes();
        if value.is_empty() {
            return verdict(Class::Placeholder, "empty value", None, group_for_name(name));
        }
        if self.filters().reference(bytes) {
            return verdict(Class::Reference, "refers to a value kept elsewhere", None, group_for_name(name));
        }
        let plain =
            bytes.iter().all(u8::is_ascii_digit) || ["true", "false", "yes", "no", "on", "off"].contains(&value);
        if plain {
            return verdict(Class::Config, "a number or a switch", None, group_for_name(name));
        }
        if self.filters().placeholder(bytes) || self.filters().known_example(bytes) {
            return verdict(Class::Placeholder, "placeholder value", None, group_for_name(name));
        }
        let line = format!("{name}={value}\n");
        let findings = self.scan_bytes(".env", line.as_bytes());
        if let Some(best) = findings.iter().max_by_key(|f| f.confidence) {
            let rule = self.rule(&best.rule_id).expect("findings come from known rules");
            let group = if rule.group == "api-keys" || rule.group == "passwords" {
                group_for_name(name)
            } else {
                rule.group.clone()
            };
            let reason = format!("matches rule {}", rule.id);
            return verdict(Class::Secret, &reason, Some(rule.id.clone()), group);
        }
        let words: Vec<String> = SECRET_NAME_WORDS.iter().map(|w| (*w).to_owned()).collect();
        if self.filters().secret_name(name.as_bytes(), &words) {
            return verdict(Class::Secret, "the name says it is a secret", None, group_for_name(name));
        }
        if bytes.len() >= ENTROPY_MIN_LEN
            && filters::shannon_entropy(bytes) >= ENTROPY_SECRET
            && !filters::not_a_literal(bytes)
            && char_classes(bytes) >= 2
        {
            return verdict(Class::Secret, "high-entropy value", None, group_for_name(name));
        }
        verdict(Class::Config, "looks like configuration", None, group_for_name(name))
    }
}

fn char_classes(value: &[u8]) -> usize {
    let has = |f: fn(&u8) -> bool| usize::from(value.iter().any(f));
    has(u8::is_ascii_lowercase) + has(u8::is_ascii_uppercase) + has(u8::is_ascii_digit) + has(u8::is_ascii_punctuation)
}

/// A group from a variable's name, for values no specific rule recognised.
fn group_for_name(name: &str) -> String {
    let words = filters::name_segments(name.as_bytes());
    let any = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let group = if any(&[
        "db",
        "database",
        "postgres",
        "postgresql",
        "pg",
        "mysql",
        "mariadb",
        "mongo",
        "mongodb",
        "redis",
        "snowflake",
        "warehouse",
        "dsn",
        "clickhouse",
        "bigquery",
    ]) {
        "database"
    } else if any(&["aws", "s3", "gcp", "gcs", "azure", "hcloud", "hetzner", "digitalocean"]) {
        "cloud"
    } else if any(&["smtp", "mail", "email", "sendgrid", "mailgun"]) {
        "email"
    } else if any(&["password", "passwd", "pwd", "passphrase"]) {
        "passwords"
    } else {
        "api-keys"
    };
    group.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_tokens_are_secrets_with_their_rule() {
        let token = format!("ghp_{}", "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d");
        let c = classify_env_var("GH_TOKEN", &token);
        assert_eq!(c.class, Class::Secret);
        assert_eq!(c.rule_id.as_deref(), Some("github-token"));
        assert_eq!(c.group, "vcs");
    }

    #[test]
    fn names_references_placeholders_and_config() {
        assert_eq!(classify_env_var("DB_PASSWORD", "hunter22x").class, Class::Secret);
        assert_eq!(classify_env_var("DB_PASSWORD", "hunter22x").group, "database");
        assert_eq!(classify_env_var("API_TOKEN", "${API_TOKEN}").class, Class::Reference);
        assert_eq!(classify_env_var("DB_PASSWORD", "vault:secret/data/db#pw").class, Class::Reference);
        assert_eq!(classify_env_var("SECRET_KEY", "changeme").class, Class::Placeholder);
        assert_eq!(classify_env_var("SECRET_KEY", "").class, Class::Placeholder);
        assert_eq!(classify_env_var("DAGSTER_HOME", "/opt/dagster").class, Class::Config);
        assert_eq!(classify_env_var("TOKEN_TTL", "3600").class, Class::Config);
        assert_eq!(classify_env_var("LOG_LEVEL", "info").class, Class::Config);
    }

    #[test]
    fn urls_with_passwords_and_unnamed_high_entropy_values() {
        let c = classify_env_var("DATABASE_URL", "postgresql://etl:x6uX9MGE2sNVbYAbBH@db:5432/etl");
        assert_eq!(
            (c.class, c.rule_id.as_deref(), c.group.as_str()),
            (Class::Secret, Some("database-url"), "database")
        );
        let c = classify_env_var("DAGSTER_CLOUD_AGENT", "x6uX9MGE2sNVbYAbBHgigYWPn");
        assert_eq!((c.class, c.reason.as_str()), (Class::Secret, "high-entropy value"));
        assert_eq!(classify_env_var("DATABASE_URL", "postgresql://db:5432/etl").class, Class::Config);
    }
}
