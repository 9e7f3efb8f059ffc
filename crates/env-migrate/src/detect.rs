//! Detection: read env files (and optionally the process environment), resolve each variable as the
//! application sees it, and classify it with secret-scan's classifier. Values stay inside [`Variable`] as
//! [`SecretString`]s; what is reported ([`Finding`]) carries no value.

use std::path::{Path, PathBuf};

use secret_scan::{Class, Classification, classify_env_var};
use serde::Serialize;
use vault_core::SecretString;

use crate::ENVIRONMENT;
use crate::parse::{EnvFile, ParseError};

/// A variable with its value, where it came from and its classification.
#[derive(Clone, Debug)]
pub struct Variable {
    /// The env file, or [`ENVIRONMENT`].
    pub source: String,
    /// 1-based line of the statement that wins (0 for the environment).
    pub line: usize,
    /// The name.
    pub key: String,
    /// The value the application sees; `None` for a bare `KEY`.
    pub value: Option<SecretString>,
    /// Earlier statements for the same key in the same file.
    pub shadowed: Vec<usize>,
    /// Variables named in `${…}` inside the value.
    pub references: Vec<String>,
    /// Whose interpolation rules produced the value (`None` for the environment).
    pub dialect: Option<crate::parse::Dialect>,
    /// secret-scan's verdict.
    pub classification: Classification,
}

/// What `detect` reports for one variable: never the value.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The env file, or `<environment>`.
    pub file: String,
    /// 1-based line (0 for the environment).
    pub line: usize,
    /// The variable's name.
    pub key: String,
    /// `secret`, `config`, `reference` or `placeholder`.
    pub class: Class,
    /// Why, in a few words.
    pub reason: String,
    /// The secret-scan rule that matched, if any.
    pub rule_id: Option<String>,
    /// The group (`database`, `api-keys`, …) used to plan the Vault path.
    pub group: String,
    /// Whether the value came out of `${…}` interpolation (check it is what you expect).
    pub interpolated: bool,
    /// Variables the value interpolates.
    pub references: Vec<String>,
    /// Whose interpolation rules apply: `python-dotenv`, or `compose` for a file a compose file names in
    /// `env_file:`; absent for the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<crate::parse::Dialect>,
    /// Earlier lines that set the same key and lose to this one.
    pub shadowed_lines: Vec<usize>,
}

impl Variable {
    /// The report for this variable.
    pub fn finding(&self) -> Finding {
        Finding {
            file: self.source.clone(),
            line: self.line,
            key: self.key.clone(),
            class: self.classification.class,
            reason: self.classification.reason.clone(),
            rule_id: self.classification.rule_id.clone(),
            group: self.classification.group.clone(),
            interpolated: !self.references.is_empty(),
            references: self.references.clone(),
            interpolation: self.dialect,
            shadowed_lines: self.shadowed.clone(),
        }
    }
}

/// Names written as `$NAME` (no braces) in a value: python-dotenv keeps them as text, docker compose and shells
/// expand them, so the value an application sees depends on who loads the file.
pub fn unbraced_references(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            out.push(value[start..end].to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Looks a name up in the process environment (what python-dotenv falls back to when interpolating).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Reads, resolves and classifies one env file.
pub fn read_file(path: &Path) -> Result<Vec<Variable>, ParseError> {
    let file = EnvFile::read(path)?;
    Ok(variables_of(&file))
}

/// The resolved, classified variables of a parsed file.
pub fn variables_of(file: &EnvFile) -> Vec<Variable> {
    let source = file.path.display().to_string();
    file.resolve(&process_env)
        .into_iter()
        .map(|r| {
            let shown = r.value.as_ref().map_or("", |v| v.expose());
            let classification = classify_env_var(&r.key, shown);
            Variable {
                source: source.clone(),
                line: r.line,
                key: r.key,
                value: r.value,
                shadowed: r.shadowed,
                references: r.references,
                dialect: Some(file.dialect),
                classification,
            }
        })
        .collect()
}

/// The process environment's variables, classified (names that are not valid identifiers are skipped).
pub fn from_environment() -> Vec<Variable> {
    let mut vars: Vec<Variable> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| valid_name(k))
        .map(|(key, value)| {
            let classification = classify_env_var(&key, &value);
            Variable {
                source: ENVIRONMENT.to_owned(),
                line: 0,
                key,
                value: Some(SecretString::new(value)),
                shadowed: vec![],
                references: vec![],
                dialect: None,
                classification,
            }
        })
        .collect();
    vars.sort_by(|a, b| a.key.cmp(&b.key));
    vars
}

/// Whether `name` is a shell-style variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Everything found under some paths: variables, plus files that could not be read (reported, not fatal here).
#[derive(Debug, Default)]
pub struct Detection {
    /// The env files read.
    pub files: Vec<PathBuf>,
    /// Their variables (and the environment's), in file order.
    pub variables: Vec<Variable>,
    /// Files that could not be parsed, and paths that could not be looked at.
    pub errors: Vec<ParseError>,
}

/// Finds, reads and classifies env files under `paths`, plus the environment when asked.
pub fn detect(paths: &[PathBuf], environment: bool) -> std::io::Result<Detection> {
    let mut out = Detection::default();
    let found =
        if paths.is_empty() && environment { Default::default() } else { crate::discover::find_env_files(paths)? };
    for (path, why) in found.problems {
        out.errors.push(ParseError::Skipped { path: path.display().to_string(), why });
    }
    for path in found.files {
        match read_file(&path) {
            Ok(vars) => out.variables.extend(vars),
            Err(e) => out.errors.push(e),
        }
        out.files.push(path);
    }
    if environment {
        out.variables.extend(from_environment());
    }
    Ok(out)
}
