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

/// Name words of passwords, whose values may be passphrases of several words.
const PASSWORD_NAME_WORDS: [&str; 4] = ["password", "passwd", "pwd", "passphrase"];

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
            return verdict(Class::Placeholder, "empty value", None, self.unset_group(name));
        }
        if self.filters().reference(bytes) {
            return verdict(Class::Reference, "refers to a value kept elsewhere", None, self.unset_group(name));
        }
        let plain =
            bytes.iter().all(u8::is_ascii_digit) || ["true", "false", "yes", "no", "on", "off"].contains(&value);
        if plain {
            return verdict(Class::Config, "a number or a switch", None, config_group(name));
        }
        if self.filters().placeholder(bytes) || self.filters().known_example(bytes) {
            return verdict(Class::Placeholder, "placeholder value", None, self.unset_group(name));
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
        let secret_name = self.filters().secret_name(name.as_bytes(), &words);
        // Prose is a description, a title or a message, whatever the name says, except for a passphrase.
        let passphrase_name = self.filters().secret_name(name.as_bytes(), &PASSWORD_NAME_WORDS.map(str::to_owned));
        if filters::sentence_like(bytes) && !passphrase_name {
            return verdict(Class::Config, "a sentence, not a credential", None, config_group(name));
        }
        if secret_name {
            return verdict(Class::Secret, "the name says it is a secret", None, group_for_name(name));
        }
        // Tokens and keys never hold whitespace: a value with spaces is only a secret by its name (above).
        if bytes.len() >= ENTROPY_MIN_LEN
            && !bytes.iter().any(u8::is_ascii_whitespace)
            && filters::shannon_entropy(bytes) >= ENTROPY_SECRET
            && !filters::not_a_literal(bytes)
            && char_classes(bytes) >= 2
        {
            return verdict(Class::Secret, "high-entropy value", None, group_for_name(name));
        }
        verdict(Class::Config, "looks like configuration", None, config_group(name))
    }
}

impl Scanner {
    /// The group of a variable whose value is not here (empty, a placeholder, a reference): a secret's group when
    /// the name says it will hold one (`API_TOKEN=` is `api-keys`), else a configuration group (`LOG_LEVEL=`).
    fn unset_group(&self, name: &str) -> String {
        let mut words: Vec<String> = SECRET_NAME_WORDS.iter().map(|w| (*w).to_owned()).collect();
        words.push("key".to_owned());
        if self.filters().secret_name(name.as_bytes(), &words) { group_for_name(name) } else { config_group(name) }
    }
}

fn char_classes(value: &[u8]) -> usize {
    let has = |f: fn(&u8) -> bool| usize::from(value.iter().any(f));
    has(u8::is_ascii_lowercase) + has(u8::is_ascii_uppercase) + has(u8::is_ascii_digit) + has(u8::is_ascii_punctuation)
}

/// The group of a variable that is not a secret: the service it configures when the name says so (`DB_HOST` is
/// `database`), else `config`. Never `api-keys`: `LOG_LEVEL` and `PORT` are not keys.
fn config_group(name: &str) -> String {
    match group_for_name(name).as_str() {
        "api-keys" | "passwords" => "config".to_owned(),
        specific => specific.to_owned(),
    }
}

/// A group from a variable's name, for secrets no specific rule recognised.
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
    fn prose_is_never_a_secret_but_a_passphrase_is() {
        for (name, value) in [
            ("JOB_DESCRIPTION", "Nightly weather report for ops"),
            ("REPORT_TITLE", "Nightly weather report for ops"),
            ("SLACK_CHANNEL_TOPIC", "Alerts for the ETL team"),
            ("AUTH_BANNER", "Please sign in to continue."),
            ("TOKEN_HELP", "Ask the platform team for one"),
            ("SECRET_QUESTION_HINT", "Name of your first pet"),
        ] {
            let c = classify_env_var(name, value);
            assert_eq!(c.class, Class::Config, "{name}={value}: {c:?}");
            assert_ne!(c.group, "api-keys", "{name}");
        }
        assert_eq!(classify_env_var("DB_PASSWORD", "correct horse battery staple").class, Class::Secret);
        assert_eq!(classify_env_var("GPG_PASSPHRASE", "my dog eats green apples").class, Class::Secret);
        // A provider token in a sentence is still found by its rule.
        let token = format!("ghp_{}", "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d");
        assert_eq!(classify_env_var("NOTE", &format!("use the token {token} for now")).class, Class::Secret);
    }

    #[test]
    fn short_real_values_are_not_placeholders() {
        for (name, value) in [("DB_USER", "etl"), ("APP_ENV", "dev"), ("DB_NAME", "ops"), ("REGION", "eu")] {
            let c = classify_env_var(name, value);
            assert_eq!(c.class, Class::Config, "{name}={value}: {c:?}");
        }
        assert_eq!(classify_env_var("DB_PASSWORD", "xxx").class, Class::Placeholder);
        assert_eq!(classify_env_var("API_KEY", "xxxx").class, Class::Placeholder);
    }

    #[test]
    fn configuration_is_not_grouped_as_keys() {
        for (name, value) in [
            ("LOG_LEVEL", "info"),
            ("PORT", "8080"),
            ("WORKERS", "4"),
            ("DEBUG", "true"),
            ("LOG_LEVEL", ""),
            ("TZ", "${TZ}"),
        ] {
            let c = classify_env_var(name, value);
            assert_eq!(c.group, "config", "{name}={value}: {c:?}");
        }
        assert_eq!(classify_env_var("DB_HOST", "db.internal").group, "database");
        assert_eq!(classify_env_var("API_TOKEN", "").group, "api-keys");
        assert_eq!(classify_env_var("API_TOKEN", "${API_TOKEN}").group, "api-keys");
        assert_eq!(classify_env_var("WORKER_SECRET", "x6uX9MGE2sNVbYAbBHgigYWPn").group, "api-keys");
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
