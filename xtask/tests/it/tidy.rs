//! Checks that keep the tree tidy, run as ordinary tests: vault-core is the only code that talks to Vault (no
//! endpoint path and no HTTP-library type in a tool's or the xtask's source), and every path
//! docs/ARCHITECTURE.md names exists.

use std::path::{Path, PathBuf};

use crate::root;

/// Crates allowed to build requests: the client itself, and the test kit that starts servers.
const TALKS_TO_VAULT: &[&str] = &["crates/vault-core", "crates/vault-testkit"];

/// Files where Vault paths are data, never requests: audit-parse reads the paths of logged requests, and
/// policy-gen's policy model, linter, spec templates and audit-log miner reason about the paths policies name.
const PATHS_AS_DATA: &[(&str, &str)] = &[
    ("crates/audit-parse/src/", "classifies the paths of requests in audit logs"),
    ("crates/policy-gen/src/matcher.rs", "the paths Vault requires sudo on, for the offline matcher"),
    ("crates/policy-gen/src/check.rs", "lint rules about the paths a policy names"),
    ("crates/policy-gen/src/spec.rs", "spec templates: the paths a generated policy grants"),
    ("crates/policy-gen/src/from_audit.rs", "skips login paths when mining audit logs for policies"),
];

/// The folders of the packages that may not talk to Vault: the xtask and every crate but [`TALKS_TO_VAULT`].
fn tool_packages() -> Vec<PathBuf> {
    let root = root();
    let mut dirs = vec![root.join("xtask")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let relative = dir.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if !TALKS_TO_VAULT.contains(&relative.as_str()) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Every `.rs` file of the tools' and the xtask's sources.
fn tool_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in tool_packages() {
        collect_rs(&dir.join("src"), &mut files);
    }
    files.sort();
    assert!(files.len() > 50, "found only {} source files: is the walk broken?", files.len());
    files
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code of a file without its unit tests (a trailing `#[cfg(test)]` module) and comments, with the contents of
/// its string literals listed separately.
struct Code {
    /// The text outside comments and literals.
    text: String,
    /// Each string literal's contents with the line it starts on.
    literals: Vec<(usize, String)>,
}

fn scan(source: &str) -> Code {
    let source = source.split("\n#[cfg(test)]").next().unwrap_or(source);
    let bytes = source.as_bytes();
    let (mut text, mut literals) = (String::new(), Vec::new());
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            line += 1;
        }
        if source[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'r' && (source[i..].starts_with("r\"") || source[i..].starts_with("r#")) && !ident_before(bytes, i) {
            let hashes = source[i + 1..].bytes().take_while(|b| *b == b'#').count();
            if bytes.get(i + 1 + hashes) == Some(&b'"') {
                let start = i + 2 + hashes;
                let end_marker = format!("\"{}", "#".repeat(hashes));
                let end = source[start..].find(&end_marker).map_or(bytes.len(), |e| start + e);
                literals.push((line, source[start..end].to_owned()));
                line += source[start..end].matches('\n').count();
                i = end + end_marker.len();
                continue;
            }
        }
        if c == b'"' {
            let mut j = i + 1;
            let mut value = String::new();
            while j < bytes.len() && bytes[j] != b'"' {
                if bytes[j] == b'\\' {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'\n') {
                    line += 1;
                }
                let ch = source[j..].chars().next().unwrap_or(' ');
                value.push(ch);
                j += ch.len_utf8().max(1);
            }
            literals.push((line, value));
            i = j + 1;
            continue;
        }
        if c == b'\'' {
            // A character literal ('"', '\'') or a lifetime.
            if bytes.get(i + 1) == Some(&b'\\') {
                i = source[i + 2..].find('\'').map_or(bytes.len(), |e| i + 3 + e);
                continue;
            }
            let next = source[i + 1..].chars().next().map_or(1, char::len_utf8);
            if bytes.get(i + 1 + next) == Some(&b'\'') {
                i += 2 + next;
                continue;
            }
        }
        text.push(c as char);
        i += 1;
    }
    Code { text, literals }
}

fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

/// Whether a string literal is a Vault API path a request would go to.
fn is_endpoint(literal: &str) -> bool {
    let path_like = !literal.is_empty()
        && literal.chars().all(|c| c.is_ascii_alphanumeric() || "/_-.{}:+*".contains(c))
        && literal.contains('/');
    if !path_like {
        return false;
    }
    let trimmed = literal.trim_start_matches('/');
    ["v1/", "sys/", "auth/", "identity/", "database/"].iter().any(|p| trimmed.starts_with(p))
        || ["/creds/", "/static-creds/", "/static-roles/", "/rotate-role/", "/role-id", "/secret-id/"]
            .iter()
            .any(|p| literal.contains(p))
}

#[test]
fn no_vault_endpoint_path_outside_vault_core() {
    let root = root();
    let mut found = Vec::new();
    for file in tool_sources() {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if PATHS_AS_DATA.iter().any(|(prefix, _)| relative.starts_with(prefix)) {
            continue;
        }
        let code = scan(&std::fs::read_to_string(&file).unwrap());
        for (line, literal) in code.literals {
            if is_endpoint(&literal) {
                found.push(format!("{relative}:{line}: {literal:?}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Vault endpoint paths outside vault-core (give vault-core a typed method and call that):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_http_library_outside_vault_core() {
    let root = root();
    let mut found = Vec::new();
    for file in tool_sources() {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let code = scan(&std::fs::read_to_string(&file).unwrap());
        for line in code.text.lines() {
            if line.contains("reqwest::") || line.contains("use reqwest") || line.contains("rustify::") {
                found.push(format!("{relative}: {}", line.trim()));
            }
        }
    }
    // Nor as a normal dependency: tests may use it to reach servers, the code may not.
    for manifest in tool_packages().iter().map(|dir| dir.join("Cargo.toml")) {
        let text = std::fs::read_to_string(&manifest).unwrap();
        let value: toml::Table = text.parse().unwrap();
        if value.get("dependencies").and_then(|d| d.get("reqwest")).is_some() {
            found.push(format!("{}: reqwest under [dependencies]", manifest.strip_prefix(&root).unwrap().display()));
        }
    }
    assert!(found.is_empty(), "the HTTP library used outside vault-core:\n{}", found.join("\n"));
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The scanner must find literals the rules are about, and skip comments, characters and unit tests.
    let code = scan(
        "// \"sys/health\"\nlet a = \"sys/storage/raft/snapshot\";\nlet q = '\"';\nlet b = r#\"auth/token/create\"#;\nlet m = format!(\"{mount}/static-creds/{role}\");\nlet s = \"sys/health answered\";\n#[cfg(test)]\nmod tests { const X: &str = \"sys/mounts\"; }\n",
    );
    let endpoints: Vec<&str> = code.literals.iter().filter(|(_, l)| is_endpoint(l)).map(|(_, l)| l.as_str()).collect();
    assert_eq!(endpoints, ["sys/storage/raft/snapshot", "auth/token/create", "{mount}/static-creds/{role}"]);
    assert_eq!(code.literals.iter().find(|(_, l)| l.starts_with("auth/")).map(|(n, _)| *n), Some(4));
    assert!(!is_endpoint("secret/app/db") && !is_endpoint("sys/health answered HTTP {}") && !is_endpoint("approle"));
}

/// The backticked paths in docs/ARCHITECTURE.md: those from the workspace root (`crates/…`, `xtask/…`,
/// `policies/…`, …), paths inside every crate (`src/lib.rs`, `tests/it/…`) found in some crate, and file names
/// (`kv.rs`, `deploy/setup.rs`) named under a crate's heading, found in that crate.
#[test]
fn every_path_architecture_names_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let top = ["crates/", "xtask/", "policies/", "systemd/", "scripts/", "docs/", "integrations/", ".ci/"];
    let mut section: Option<PathBuf> = None;
    let mut missing = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let name = heading.split('`').nth(1).unwrap_or("").split_whitespace().next().unwrap_or("");
            section = (!name.is_empty() && root.join(name).is_dir()).then(|| root.join(name));
        } else if line.starts_with("## ") {
            section = None;
        }
        for (i, token) in line.split('`').enumerate() {
            if i % 2 == 0 || token.contains(char::is_whitespace) || token.is_empty() {
                continue;
            }
            let token = token.trim_end_matches(':');
            if top.iter().any(|t| token.starts_with(t)) {
                checked += 1;
                if !exists_glob(&root, token) {
                    missing.push(token.to_owned());
                }
            } else if token.ends_with(".rs")
                && token.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_/.-".contains(c))
                && (token.starts_with("src/") || token.starts_with("tests/"))
            {
                // A path inside every crate ("each tool's `tests/it/reliability.rs`"): some crate must have it.
                checked += 1;
                let crates = std::fs::read_dir(root.join("crates")).unwrap();
                if !crates.filter_map(Result::ok).any(|c| c.path().join(token).is_file()) {
                    missing.push(format!("{token} (in no crate)"));
                }
            } else if token.ends_with(".rs")
                && token.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_/.-".contains(c))
                && let Some(dir) = &section
            {
                checked += 1;
                let mut files = Vec::new();
                collect_rs(dir, &mut files);
                if !files.iter().any(|f| f.to_string_lossy().ends_with(&format!("/{token}"))) {
                    missing.push(format!("{token} (under {})", dir.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} paths checked: is the parser broken?");
    assert!(missing.is_empty(), "docs/ARCHITECTURE.md names paths that do not exist:\n{}", missing.join("\n"));
}

/// Whether `pattern` (a path, maybe with `*` in its last part, maybe `{a,b}` alternatives) names something.
fn exists_glob(root: &Path, pattern: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    if let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) {
        return pattern[open + 1..close]
            .split(',')
            .all(|alt| exists_glob(root, &format!("{}{alt}{}", &pattern[..open], &pattern[close + 1..])));
    }
    if !pattern.contains('*') {
        return root.join(pattern).exists();
    }
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if dir.contains('*') {
        return false;
    }
    let (prefix, suffix) = last.split_once('*').unwrap_or((last, ""));
    std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(suffix.trim_start_matches('*'))
        })
    })
}
