//! Code and configuration that still read migrated variables, what to do about each, and (for Dagster assets and
//! ops) a patch that does it.
//!
//! Python files are read with a real parser ([`crate::python`]): reads inside assets and ops can be rewritten to
//! go through `VaultSecretsResource`; every other read is listed with the reason it was not. Shell scripts,
//! Dockerfiles, compose files, systemd units, Makefiles, YAML, Rust and JavaScript are searched line by line
//! (`$X`, `${X}`, `$(X)`, `Environment=`, `EnvironmentFile=`, compose `environment:` entries, `std::env::var`,
//! `process.env.X`) and listed with what to do; they are never rewritten. Where a program reads its own
//! environment, the advice is a `vault-env run --secret PATH -- COMMAND` line ready for a systemd unit or a
//! Makefile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::plan::{Plan, Target};
use crate::python::{self, Planned, Why};

/// Files larger than this are skipped: source files are smaller, and generated bundles are not the user's code.
const MAX_SOURCE: u64 = 2 * 1024 * 1024;

/// What the patch does with a reference.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `refs --patch` rewrites it to read through `VaultSecretsResource`.
    Rewrite,
    /// Left for the user: `reason` says why, `suggestion` (when there is one) what to run instead.
    Manual,
}

/// One place that reads a variable.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The variable; empty when a Python read computes the name.
    pub key: String,
    /// How it is read: `python`, `dagster`, `shell`, `dockerfile`, `compose`, `systemd`, `make`, `rust`,
    /// `javascript`, `interpolation`.
    pub kind: String,
    /// 1-based column, for Python reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Where the read sits (Python): `asset orders`, `op load`, `function helper`, `resource Api`, `module`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `rewrite` (the patch changes it) or `manual`.
    pub action: Action,
    /// Why it is not rewritten, or what to do with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the plan put the variable, `path#key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The read has a fallback default (`os.getenv("X", "fallback")`); the value is never shown.
    pub default: bool,
    /// A command that gives the program the variable from Vault instead (`vault-env run --secret … -- …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

/// Where each planned variable went.
pub fn planned_targets(plan: &Plan) -> BTreeMap<String, Planned> {
    let mut by_key: BTreeMap<String, BTreeSet<Target>> = BTreeMap::new();
    for e in &plan.entries {
        by_key.entry(e.key.clone()).or_default().insert(e.target.clone());
    }
    by_key
        .into_iter()
        .map(|(k, set)| {
            let mut all: Vec<Target> = set.into_iter().collect();
            let p = if all.len() == 1 { Planned::One(all.remove(0)) } else { Planned::Many(all) };
            (k, p)
        })
        .collect()
}

/// What to search for and how.
#[derive(Debug, Default)]
pub struct Query {
    /// The variables.
    pub keys: BTreeSet<String>,
    /// Their targets (from a plan); without them nothing is rewritten.
    pub targets: Option<BTreeMap<String, Planned>>,
    /// Env files the plan read (their names), for systemd `EnvironmentFile=` lines.
    pub sources: BTreeMap<String, BTreeSet<String>>,
    /// Rewrite options.
    pub options: python::Options,
}

impl Query {
    /// A query for the variables of a plan.
    pub fn from_plan(plan: &Plan, options: python::Options) -> Self {
        let mut sources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in &plan.entries {
            let name = Path::new(&e.source).file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(name) = name {
                sources.entry(name).or_default().insert(e.key.clone());
            }
        }
        Self {
            keys: plan.entries.iter().map(|e| e.key.clone()).collect(),
            targets: Some(planned_targets(plan)),
            sources,
            options,
        }
    }

    fn target_text(&self, key: &str) -> Option<String> {
        match self.targets.as_ref()?.get(key)? {
            Planned::One(t) => Some(format!("{}#{}", t.path, t.key)),
            Planned::Many(all) => {
                Some(all.iter().map(|t| format!("{}#{}", t.path, t.key)).collect::<Vec<_>>().join(","))
            }
        }
    }

    /// The `--secret` paths that give these variables to a program.
    fn secret_paths<'k>(&self, keys: impl IntoIterator<Item = &'k String>) -> Vec<String> {
        let mut paths = BTreeSet::new();
        for k in keys {
            match self.targets.as_ref().and_then(|t| t.get(k)) {
                Some(Planned::One(t)) => {
                    paths.insert(t.path.clone());
                }
                Some(Planned::Many(all)) => {
                    if let Some(t) = all.first() {
                        paths.insert(t.path.clone());
                    }
                }
                None => {
                    paths.insert("PATH".to_owned());
                }
            }
        }
        paths.into_iter().collect()
    }
}

/// A whole search: the references, and the patch when one was asked for.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every reference, sorted by file and line.
    pub references: Vec<Reference>,
    /// The unified diff (`git apply` format), when asked for; empty when nothing is rewritten.
    pub patch: String,
    /// Things the user should know about the patch (a Definitions that could not be edited, none found).
    pub notes: Vec<String>,
}

/// The files a search looks at: every file under `paths` (git-ignore aware), except env files (they are the
/// sources, not readers), binary files and files over 2 MiB.
fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
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
            out.push(path.to_path_buf());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The name a file is shown (and patched) under: relative to the current folder when inside it, without `./`.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()).unwrap_or(path);
    let s = rel.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

/// Searches `paths` for reads of the query's variables; with `patch`, also builds the rewrite.
pub fn search(paths: &[PathBuf], query: &Query, patch: bool) -> Outcome {
    let mut out = Outcome::default();
    let mut python_files: Vec<(String, String, python::FileResult)> = Vec::new();
    let targets = if patch { query.targets.as_ref() } else { None };
    let mut python_texts: Vec<(String, String)> = Vec::new();
    for path in files(paths) {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        if bytes.contains(&0) {
            continue;
        }
        let Ok(text) = String::from_utf8(bytes) else { continue };
        let name = shown(&path);
        if is_python(&path, &text) {
            python_texts.push((name, text));
        } else {
            out.references.extend(scan_text(&name, &text, query, kind_of(&path, &text)));
        }
    }

    // Which names each file calls: a resource class built in another file is not rewritten.
    let called: Vec<BTreeSet<String>> = python_texts.iter().map(|(_, t)| python::called_names(t)).collect();
    let mut callers: BTreeMap<&str, usize> = BTreeMap::new();
    for names in &called {
        for n in names {
            *callers.entry(n.as_str()).or_default() += 1;
        }
    }
    for (i, (name, text)) in python_texts.into_iter().enumerate() {
        let own = &called[i];
        let elsewhere: BTreeSet<String> = callers
            .iter()
            .filter(|(n, count)| **count > usize::from(own.contains(**n)))
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let result = python::analyze_in(&text, &query.keys, targets, query.options, &elsewhere);
        python_files.push((name, text, result));
    }
    // The resource keys rewritten functions take: every Definitions must provide them.
    let keys: BTreeSet<String> = python_files.iter().flat_map(|(_, _, r)| r.resource_keys.iter().cloned()).collect();
    let mut any_definitions = false;
    for (name, text, result) in &mut python_files {
        let is_dagster = text.contains("dagster");
        let mut edits = std::mem::take(&mut result.edits);
        if (patch && !keys.is_empty() && text.contains("Definitions")) || result.needs_class {
            any_definitions |= python::has_definitions(text);
            let (more, notes) = python::definitions_edits(text, &keys, result.needs_class, result.needs_envvar);
            edits.extend(more);
            out.notes.extend(notes.into_iter().map(|n| format!("{name}: {n}")));
        }
        let mut rewritten = !edits.is_empty();
        if rewritten {
            let new = python::apply_edits(text, &edits);
            if python::Source::parse(&new).has_errors() && !python::Source::parse(text).has_errors() {
                out.notes.push(format!("{name}: the rewrite would not parse; the file is left out of the patch"));
                rewritten = false;
            } else {
                out.patch.push_str(&unified_diff(name, text, &new));
            }
        }
        let manual_keys: BTreeSet<String> = result
            .reads
            .iter()
            .filter(|r| r.outcome.as_ref().err().is_some_and(Why::wants_vault_env))
            .filter_map(|r| r.key.clone())
            .collect();
        let command =
            if is_dagster { format!("dagster code-server start -f {name}") } else { format!("python3 {name}") };
        let suggestion = (!manual_keys.is_empty()).then(|| vault_env_run(&query.secret_paths(&manual_keys), &command));
        for r in &result.reads {
            let key = r.key.clone().unwrap_or_default();
            let (action, reason, target) = match &r.outcome {
                Ok(t) if rewritten => (Action::Rewrite, None, Some(format!("{}#{}", t.path, t.key))),
                Ok(t) => (
                    Action::Manual,
                    Some("the rewrite of this file was left out of the patch".to_owned()),
                    Some(format!("{}#{}", t.path, t.key)),
                ),
                Err(why) => (Action::Manual, Some(why.to_string()), query.target_text(&key)),
            };
            let mut reason = reason;
            if r.has_default && action == Action::Rewrite {
                reason = Some(if query.options.keep_defaults {
                    "has a fallback default, kept for a key missing in Vault (a silent fallback hides a failed read)"
                        .to_owned()
                } else {
                    "had a fallback default, dropped: a missing secret now fails the run instead of falling back (--keep-defaults keeps it)".to_owned()
                });
            }
            let wants = r.outcome.as_ref().err().is_some_and(Why::wants_vault_env);
            out.references.push(Reference {
                file: name.clone(),
                line: r.line,
                key,
                kind: r.kind.to_owned(),
                column: Some(r.column),
                context: Some(r.context.clone()),
                action,
                reason,
                target,
                default: r.has_default,
                suggestion: if wants { suggestion.clone() } else { None },
            });
        }
    }
    if patch && !keys.is_empty() && !any_definitions {
        out.notes.push(format!(
            "no Definitions(...) found: add the resource{} {} where the pipeline's definitions are built",
            if keys.len() > 1 { "s" } else { "" },
            keys.iter().map(|k| format!("\"{k}\": VaultSecretsResource(...)")).collect::<Vec<_>>().join(", ")
        ));
    }
    out.references.sort();
    out.references.dedup();
    out
}

fn vault_env_run(paths: &[String], command: &str) -> String {
    let mut s = String::from("vault-env run");
    for p in paths {
        s.push_str(" --secret ");
        s.push_str(p);
    }
    s.push_str(" -- ");
    s.push_str(command);
    s
}

/// A unified diff of one file that `git apply` (and `patch -p1`) accepts.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let body = diff.unified_diff().context_radius(3).header(&format!("a/{name}"), &format!("b/{name}")).to_string();
    format!("diff --git a/{name} b/{name}\n{body}")
}

fn is_python(path: &Path, text: &str) -> bool {
    path.extension().is_some_and(|e| e == "py" || e == "pyi")
        || (path.extension().is_none()
            && text.starts_with("#!")
            && text.lines().next().is_some_and(|l| l.contains("python")))
}

/// What kind of file a non-Python file is, for the advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Shell,
    Dockerfile,
    Compose,
    Systemd,
    Make,
    Yaml,
    Other,
}

fn kind_of(path: &Path, text: &str) -> FileKind {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let yaml = ext == "yml" || ext == "yaml";
    if yaml && (name.starts_with("docker-compose") || name.starts_with("compose")) {
        FileKind::Compose
    } else if yaml {
        FileKind::Yaml
    } else if name == "Dockerfile" || name.starts_with("Dockerfile.") || ext == "dockerfile" || name == "Containerfile"
    {
        FileKind::Dockerfile
    } else if matches!(ext.as_str(), "service" | "socket" | "timer" | "target" | "path") {
        FileKind::Systemd
    } else if name == "Makefile" || name == "makefile" || name == "GNUmakefile" || ext == "mk" {
        FileKind::Make
    } else if matches!(ext.as_str(), "sh" | "bash" | "zsh" | "ksh")
        || (text.starts_with("#!") && text.lines().next().is_some_and(|l| l.contains("sh")))
    {
        FileKind::Shell
    } else {
        FileKind::Other
    }
}

fn code_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?x)
            (?P<rs>env::var(?:_os)?\([\x20\t]*|env!\([\x20\t]*|option_env!\([\x20\t]*)"(?P<rsname>[A-Za-z_][A-Za-z0-9_]*)"
          | process\.env\.(?P<jsname>[A-Za-z_][A-Za-z0-9_]*)
          | process\.env\[[\x20\t]*["'](?P<jsname2>[A-Za-z_][A-Za-z0-9_]*)["']
          | \$\{(?P<interp>[A-Za-z_][A-Za-z0-9_]*)
          | \$\((?P<make>[A-Za-z_][A-Za-z0-9_]*)\)
            "#,
        )
        .expect("the reference pattern compiles")
    })
}

fn bare_dollar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)").expect("compiles"))
}

/// `- KEY`, `- KEY=…` and `KEY: …` entries of a compose `environment:` section.
fn compose_entry() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"^\s*(?:-\s*["']?(?P<list>[A-Za-z_][A-Za-z0-9_]*)(?:=|["']?\s*$)|(?P<map>[A-Za-z_][A-Za-z0-9_]*)\s*:)"#,
        )
        .expect("compiles")
    })
}

/// Names set by a systemd `Environment=` line.
fn systemd_assignments(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .filter_map(|w| w.trim_matches('"').trim_matches('\'').split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

/// Scans one non-Python text line by line.
fn scan_text(file: &str, text: &str, query: &Query, kind: FileKind) -> Vec<Reference> {
    let keys = &query.keys;
    let mut found: Vec<(usize, String, &'static str)> = Vec::new();
    let mut in_environment = false;
    let mut env_indent = 0;
    let mut exec_start = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if kind == FileKind::Systemd {
            if let Some(cmd) = trimmed.strip_prefix("ExecStart=") {
                exec_start.get_or_insert_with(|| cmd.trim().trim_start_matches(['-', '@', '+', '!', ':']).to_owned());
            }
            if let Some(v) = trimmed.strip_prefix("Environment=") {
                for k in systemd_assignments(v) {
                    if keys.contains(&k) {
                        found.push((n + 1, k, "systemd"));
                    }
                }
            }
            if let Some(v) = trimmed.strip_prefix("EnvironmentFile=") {
                let file_name =
                    Path::new(v.trim().trim_start_matches('-')).file_name().map(|f| f.to_string_lossy().into_owned());
                if let Some(planned) = file_name.and_then(|f| query.sources.get(&f)) {
                    for k in planned {
                        found.push((n + 1, k.clone(), "systemd"));
                    }
                }
            }
        }
        if kind == FileKind::Dockerfile {
            let mut words = trimmed.split_whitespace();
            if words.next().is_some_and(|w| w.eq_ignore_ascii_case("ARG") || w.eq_ignore_ascii_case("ENV")) {
                for w in words {
                    let name = w.split(['=', ' ']).next().unwrap_or_default();
                    if keys.contains(name) {
                        found.push((n + 1, name.to_owned(), "dockerfile"));
                    }
                }
            }
        }
        if kind == FileKind::Compose {
            let indent = line.len() - trimmed.len();
            if trimmed.starts_with("environment:") {
                in_environment = true;
                env_indent = indent;
            } else if in_environment && !trimmed.is_empty() && indent <= env_indent {
                in_environment = false;
            } else if let Some(c) = compose_entry().captures(line).filter(|_| in_environment) {
                let name = c.name("list").or_else(|| c.name("map")).map(|m| m.as_str()).unwrap_or_default();
                if keys.contains(name) {
                    found.push((n + 1, name.to_owned(), "compose"));
                }
            }
        }
        for c in code_pattern().captures_iter(line) {
            let (name, k) = if let Some(m) = c.name("rsname") {
                (m.as_str(), "rust")
            } else if let Some(m) = c.name("jsname").or_else(|| c.name("jsname2")) {
                (m.as_str(), "javascript")
            } else if let Some(m) = c.name("interp") {
                (m.as_str(), "interpolation")
            } else if let Some(m) = c.name("make") {
                if kind != FileKind::Make {
                    continue;
                }
                (m.as_str(), "make")
            } else {
                continue;
            };
            if keys.contains(name) {
                found.push((n + 1, name.to_owned(), k));
            }
        }
        if matches!(kind, FileKind::Shell | FileKind::Yaml | FileKind::Compose | FileKind::Dockerfile) {
            for c in bare_dollar().captures_iter(line) {
                let name = &c["name"];
                if keys.contains(name) {
                    found.push((n + 1, name.to_owned(), "interpolation"));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    // One entry per line and variable: the most specific kind wins.
    found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let all_keys: BTreeSet<String> = found.iter().map(|f| f.1.clone()).collect();
    let paths = query.secret_paths(&all_keys);
    let (kind_name, reason, suggestion): (&str, String, Option<String>) = match kind {
        FileKind::Shell => (
            "shell",
            "the script reads it from its environment: run the script under vault-env".into(),
            Some(vault_env_run(&paths, &format!("sh {file}"))),
        ),
        FileKind::Dockerfile => (
            "dockerfile",
            "a build argument or image environment: never bake a secret into an image; give it to the container when it starts (run `docker compose`/`docker run` under vault-env)".into(),
            None,
        ),
        FileKind::Compose => (
            "compose",
            "compose takes it from the environment of `docker compose`: run compose under vault-env (and drop any value written here)".into(),
            Some(vault_env_run(&paths, "docker compose up -d")),
        ),
        FileKind::Systemd => (
            "systemd",
            "the unit sets it from its own text or an env file: remove the Environment=/EnvironmentFile= line and start ExecStart= under vault-env".into(),
            Some(format!(
                "ExecStart={}",
                vault_env_run(&paths, exec_start.as_deref().unwrap_or("COMMAND")).replacen("vault-env", "/usr/local/bin/vault-env", 1)
            )),
        ),
        FileKind::Make => (
            "make",
            "make takes it from its environment: run the recipe's command under vault-env".into(),
            Some(vault_env_run(&paths, "make")),
        ),
        FileKind::Yaml | FileKind::Other => (
            "",
            "reads it from the process environment: run the program under vault-env (or read it through the Vault resource)".into(),
            None,
        ),
    };
    found
        .into_iter()
        .map(|(line, key, k)| {
            let kind =
                if kind_name.is_empty() || (kind == FileKind::Other && k != "interpolation") { k } else { kind_name };
            Reference {
                file: file.to_owned(),
                line,
                target: query.target_text(&key),
                key,
                kind: kind.to_owned(),
                column: None,
                context: None,
                action: Action::Manual,
                reason: Some(reason.clone()),
                default: false,
                suggestion: suggestion.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(keys: &[&str]) -> Query {
        Query { keys: keys.iter().map(|s| (*s).to_owned()).collect(), ..Query::default() }
    }

    #[test]
    fn finds_each_language() {
        let q = query(&["DB_PASSWORD", "API_TOKEN"]);
        let text = "let d = std::env::var(\"API_TOKEN\");\nconst e = process.env.DB_PASSWORD;\nf: ${API_TOKEN:-x}\nos.getenv('OTHER')\n";
        let found = scan_text("x", text, &q, FileKind::Other);
        let kinds: Vec<(usize, &str)> = found.iter().map(|r| (r.line, r.kind.as_str())).collect();
        assert_eq!(kinds, vec![(1, "rust"), (2, "javascript"), (3, "interpolation")]);
        assert_eq!(scan_text("c.yml", "x: $API_TOKEN\n", &q, FileKind::Yaml).len(), 1);
    }

    #[test]
    fn shell_docker_compose_systemd_and_make() {
        let mut q = query(&["DB_PASSWORD", "API_TOKEN"]);
        q.sources.insert(".env".into(), ["DB_PASSWORD".to_owned()].into());
        let sh = scan_text(
            "run.sh",
            "#!/bin/sh\npsql \"postgres://u:$DB_PASSWORD@h/db\"\ncurl -H \"${API_TOKEN}\"\n",
            &q,
            FileKind::Shell,
        );
        assert_eq!(sh.len(), 2);
        assert!(
            sh.iter()
                .all(|r| r.kind == "shell"
                    && r.suggestion.as_deref() == Some("vault-env run --secret PATH -- sh run.sh"))
        );
        let docker = scan_text("Dockerfile", "ARG API_TOKEN\nRUN echo ${API_TOKEN}\n", &q, FileKind::Dockerfile);
        assert_eq!(docker.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 2], "{docker:?}");
        assert!(docker[0].reason.as_deref().unwrap().contains("never bake"));
        let compose = "services:\n  app:\n    environment:\n      - DB_PASSWORD\n      - OTHER=1\n      API_TOKEN: ${API_TOKEN}\n    image: x\n  db:\n    DB_PASSWORD: no\n";
        let c = scan_text("docker-compose.yml", compose, &q, FileKind::Compose);
        let lines: Vec<(usize, &str)> = c.iter().map(|r| (r.line, r.key.as_str())).collect();
        assert_eq!(lines, vec![(4, "DB_PASSWORD"), (6, "API_TOKEN")]);
        assert!(c[0].suggestion.as_deref().unwrap().ends_with("-- docker compose up -d"));
        let unit = "[Service]\nEnvironment=\"API_TOKEN=x\" OTHER=2\nEnvironmentFile=-/srv/app/.env\nExecStart=/usr/bin/python3 /srv/app/etl.py\n";
        let s = scan_text("etl.service", unit, &q, FileKind::Systemd);
        let lines: Vec<(usize, &str)> = s.iter().map(|r| (r.line, r.key.as_str())).collect();
        assert_eq!(lines, vec![(2, "API_TOKEN"), (3, "DB_PASSWORD")]);
        assert_eq!(
            s[0].suggestion.as_deref(),
            Some("ExecStart=/usr/local/bin/vault-env run --secret PATH -- /usr/bin/python3 /srv/app/etl.py")
        );
        let make = scan_text("Makefile", "load:\n\tpsql $(DB_PASSWORD)\n", &q, FileKind::Make);
        assert_eq!(make.len(), 1);
        assert_eq!(make[0].kind, "make");
    }
}
