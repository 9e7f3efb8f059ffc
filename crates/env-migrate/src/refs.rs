//! Code that still reads migrated variables: `os.environ[…]`, `os.environ.get`, `os.getenv`, Dagster's
//! `EnvVar(…)`, Rust's `std::env::var`/`env!`, `process.env.X`, and `${X}` / `$X` in compose, YAML and shell
//! files, each with file:line, so the user knows what to switch to the Dagster resource or `vault-env`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// Files larger than this are skipped: source files are smaller, and generated bundles are not the user's code.
const MAX_SOURCE: u64 = 2 * 1024 * 1024;

/// One place that reads a variable.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The variable.
    pub key: String,
    /// How it is read: `python`, `dagster`, `rust`, `javascript`, `interpolation`.
    pub kind: String,
}

fn code_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?x)
            (?P<py>os\.environ\[[\x20\t]*|os\.environ\.get\([\x20\t]*|os\.getenv\([\x20\t]*|getenv\([\x20\t]*)["'](?P<pyname>[A-Za-z_][A-Za-z0-9_]*)["']
          | (?P<dg>EnvVar(?:\.int)?\([\x20\t]*)["'](?P<dgname>[A-Za-z_][A-Za-z0-9_]*)["']
          | (?P<rs>env::var(?:_os)?\([\x20\t]*|env!\([\x20\t]*|option_env!\([\x20\t]*)"(?P<rsname>[A-Za-z_][A-Za-z0-9_]*)"
          | process\.env\.(?P<jsname>[A-Za-z_][A-Za-z0-9_]*)
          | process\.env\[[\x20\t]*["'](?P<jsname2>[A-Za-z_][A-Za-z0-9_]*)["']
          | \$\{(?P<interp>[A-Za-z_][A-Za-z0-9_]*)
            "#,
        )
        .expect("the reference pattern compiles")
    })
}

fn bare_dollar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)").expect("compiles"))
}

/// Scans one text for reads of `keys`.
pub fn scan_text(file: &str, text: &str, keys: &BTreeSet<String>, shell_like: bool) -> Vec<Reference> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for c in code_pattern().captures_iter(line) {
            let (name, kind) = if let Some(m) = c.name("pyname") {
                (m.as_str(), "python")
            } else if let Some(m) = c.name("dgname") {
                (m.as_str(), "dagster")
            } else if let Some(m) = c.name("rsname") {
                (m.as_str(), "rust")
            } else if let Some(m) = c.name("jsname").or_else(|| c.name("jsname2")) {
                (m.as_str(), "javascript")
            } else if let Some(m) = c.name("interp") {
                (m.as_str(), "interpolation")
            } else {
                continue;
            };
            if keys.contains(name) {
                out.push(Reference { file: file.into(), line: n + 1, key: name.into(), kind: kind.into() });
            }
        }
        if shell_like {
            for c in bare_dollar().captures_iter(line) {
                let name = &c["name"];
                if keys.contains(name) {
                    out.push(Reference {
                        file: file.into(),
                        line: n + 1,
                        key: name.into(),
                        kind: "interpolation".into(),
                    });
                }
            }
        }
    }
    out.dedup();
    out
}

/// Walks `paths` (git-ignore aware) and reports reads of `keys`. Env files themselves are skipped: they are
/// the sources, not readers.
pub fn scan(paths: &[PathBuf], keys: &BTreeSet<String>) -> Vec<Reference> {
    let mut out = Vec::new();
    for root in paths {
        let walker = ignore::WalkBuilder::new(root).require_git(false).build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if crate::discover::is_env_name(&name) || crate::discover::is_template_name(&name) {
                continue;
            }
            if entry.metadata().map_or(true, |m| m.len() > MAX_SOURCE) {
                continue;
            }
            let Ok(bytes) = std::fs::read(path) else { continue };
            if bytes.contains(&0) {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            out.extend(scan_text(&path.display().to_string(), &text, keys, shell_like(path)));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn shell_like(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    matches!(ext.as_str(), "yml" | "yaml" | "sh" | "bash" | "zsh")
        || path.file_name().is_some_and(|n| n == "Dockerfile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_language() {
        let keys: BTreeSet<String> = ["DB_PASSWORD", "API_TOKEN"].iter().map(|s| (*s).to_owned()).collect();
        let text = "a = os.environ[ 'DB_PASSWORD']\nb = os.getenv(\"API_TOKEN\")\nc = EnvVar(\"DB_PASSWORD\")\nlet d = std::env::var(\"API_TOKEN\");\nconst e = process.env.DB_PASSWORD;\nf: ${API_TOKEN:-x}\nos.getenv('OTHER')\n";
        let found = scan_text("x", text, &keys, false);
        let kinds: Vec<(usize, &str)> = found.iter().map(|r| (r.line, r.kind.as_str())).collect();
        assert_eq!(
            kinds,
            vec![(1, "python"), (2, "python"), (3, "dagster"), (4, "rust"), (5, "javascript"), (6, "interpolation")]
        );
        assert_eq!(scan_text("c.yml", "x: $API_TOKEN\n", &keys, true).len(), 1);
    }
}
