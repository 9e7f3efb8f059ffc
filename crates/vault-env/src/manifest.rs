//! The manifest: which secrets a pipeline needs and the environment names they get.
//!
//! ```toml
//! # KV v2 secrets. Every key becomes PREFIX + KEY in upper case (non-alphanumerics as `_`).
//! [[secret]]
//! path = "secret/dagster/warehouse"
//! prefix = "WAREHOUSE_"                  # optional, default ""
//! keys = ["host", "user", "password"]    # optional: these must exist, and only these (and `env`'s) are exported
//! env = { password = "PGPASSWORD" }      # optional: explicit names, which win over the prefix
//!
//! # Database secrets engine credentials (database/creds/ROLE, or static-creds/ROLE).
//! [[database]]
//! role = "dagster-etl"
//! mount = "database"                     # optional, default "database"
//! kind = "dynamic"                       # optional: "dynamic", "static", or leave out to try both
//! prefix = "ETL_DB_"                     # default names: ETL_DB_USERNAME, ETL_DB_PASSWORD
//! env = { username = "PGUSER", password = "PGPASSWORD" }
//! ```
//!
//! Unknown fields are errors (a typo must not silently drop a secret), reported with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::db::DbKind;
use crate::error::{Error, Result};

/// A parsed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// KV v2 secrets.
    #[serde(default, rename = "secret")]
    pub secrets: Vec<SecretSpec>,
    /// Database credentials.
    #[serde(default, rename = "database")]
    pub databases: Vec<DatabaseSpec>,
    /// Where the manifest was read from, for messages.
    #[serde(skip)]
    pub origin: PathBuf,
}

/// One KV v2 secret a pipeline needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's path, `secret/app/db` (or `secret/data/app/db`).
    pub path: String,
    /// Prepended to each key's environment name.
    #[serde(default)]
    pub prefix: String,
    /// Keys that must exist; when given, only these keys (and those in `env`) are exported.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Explicit environment names for keys (key → name); these keys must exist too.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Database credentials a pipeline needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// The role name (`dagster-etl`) or a full path (`database/static-creds/dagster-etl`).
    pub role: String,
    /// The database secrets engine's mount.
    #[serde(default = "default_mount")]
    pub mount: String,
    /// Dynamic or static; both are tried when left out.
    #[serde(default)]
    pub kind: Option<DbKind>,
    /// Prepended to `USERNAME` and `PASSWORD`.
    #[serde(default)]
    pub prefix: String,
    /// Explicit names for `username` and `password`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_mount() -> String {
    "database".to_owned()
}

impl SecretSpec {
    /// Parses the `--secret PATH[=PREFIX]` form.
    pub fn parse_flag(text: &str) -> Result<Self> {
        let (path, prefix) = match text.split_once('=') {
            Some((path, prefix)) => (path, prefix),
            None => (text, ""),
        };
        if path.trim().is_empty() {
            return Err(Error::Spec(format!("--secret {text:?}: the path is empty (expected PATH or PATH=PREFIX)")));
        }
        if !prefix.is_empty() && !crate::secrets::is_env_name(prefix) {
            return Err(Error::Spec(format!(
                "--secret {text:?}: the prefix {prefix:?} cannot start an environment variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        Ok(SecretSpec { path: path.to_owned(), prefix: prefix.to_owned(), keys: None, env: BTreeMap::new() })
    }
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::Manifest { file: file.to_owned(), detail: format!("cannot read it: {e}") })?;
        Self::parse(&text, file)
    }

    /// Parses and checks manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let bad = |detail: String| Error::Manifest { file: origin.to_owned(), detail };
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| bad(toml_error(text, &e)))?;
        manifest.origin = origin.to_owned();
        for (i, spec) in manifest.secrets.iter().enumerate() {
            let at = format!("[[secret]] #{} ({})", i + 1, spec.path);
            if spec.path.trim().is_empty() {
                return Err(bad(format!("{at}: path is empty")));
            }
            if !spec.prefix.is_empty() && !crate::secrets::is_env_name(&spec.prefix) {
                return Err(bad(format!("{at}: prefix {:?} cannot start an environment variable name", spec.prefix)));
            }
            for name in spec.env.values() {
                if !crate::secrets::is_env_name(name) {
                    return Err(bad(format!("{at}: {name:?} is not a valid environment variable name")));
                }
            }
        }
        for (i, spec) in manifest.databases.iter().enumerate() {
            let at = format!("[[database]] #{} ({})", i + 1, spec.role);
            if spec.role.trim().is_empty() {
                return Err(bad(format!("{at}: role is empty")));
            }
            if !spec.prefix.is_empty() && !crate::secrets::is_env_name(&spec.prefix) {
                return Err(bad(format!("{at}: prefix {:?} cannot start an environment variable name", spec.prefix)));
            }
            for (key, name) in &spec.env {
                if key != "username" && key != "password" {
                    return Err(bad(format!("{at}: env may map username and password, not {key:?}")));
                }
                if !crate::secrets::is_env_name(name) {
                    return Err(bad(format!("{at}: {name:?} is not a valid environment variable name")));
                }
            }
        }
        Ok(manifest)
    }
}

/// toml's message with the line and column it found the problem at.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().to_owned();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
[[secret]]
path = "secret/dagster/warehouse"
prefix = "WAREHOUSE_"
keys = ["host", "user", "password"]
env = { password = "PGPASSWORD" }

[[database]]
role = "dagster-etl"
kind = "dynamic"
env = { username = "PGUSER", password = "PGPASSWORD" }
"#;
        let m = Manifest::parse(text, Path::new("m.toml")).unwrap();
        assert_eq!(m.secrets.len(), 1);
        assert_eq!(m.secrets[0].prefix, "WAREHOUSE_");
        assert_eq!(m.secrets[0].env["password"], "PGPASSWORD");
        assert_eq!(m.databases[0].mount, "database");
        assert_eq!(m.databases[0].kind, Some(DbKind::Dynamic));
    }

    #[test]
    fn typos_are_errors_with_a_line() {
        let e = Manifest::parse("[[secret]]\npath = \"secret/a\"\nprefx = \"A_\"\n", Path::new("m.toml")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("m.toml") && text.contains("line 3"), "{text}");
        let e = Manifest::parse("[[secret]]\npath = \"secret/a\"\nenv = { k = \"1BAD\" }\n", Path::new("m.toml"))
            .unwrap_err();
        assert!(e.to_string().contains("1BAD"), "{e}");
    }

    #[test]
    fn secret_flags() {
        let s = SecretSpec::parse_flag("secret/app/db=DB_").unwrap();
        assert_eq!((s.path.as_str(), s.prefix.as_str()), ("secret/app/db", "DB_"));
        assert_eq!(SecretSpec::parse_flag("secret/app").unwrap().prefix, "");
        assert!(SecretSpec::parse_flag("=X").is_err());
        assert!(SecretSpec::parse_flag("secret/a=9X").is_err());
    }
}
