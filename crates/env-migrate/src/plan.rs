//! The plan: which variable goes to which KV v2 path and key, by a documented convention, validated, written as
//! JSON the user can review and edit. It holds a keyed fingerprint of each value (HMAC-SHA256 under a random key
//! made for this plan) so `apply` and `strip` can tell whether a file changed, never the value itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use secret_scan::Class;
use serde::{Deserialize, Serialize};
use vault_core::SecretString;
use vault_core::secret::keyed_fingerprint;

use crate::detect::Variable;

/// The default path template: `{app}`, `{env}`, `{group}`, `{file}` and `{name}` (the variable's name, slugged)
/// are filled in per variable.
pub const DEFAULT_TEMPLATE: &str = "secret/dagster/{app}/{env}/{group}";
/// The plan format version this build reads and writes.
pub const FORMAT: u32 = 1;
/// Deepest path accepted (segments, mount included).
pub const MAX_DEPTH: usize = 8;

/// A migration plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Plan format version.
    pub format: u32,
    /// The tool that wrote it.
    pub tool: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The path template used.
    pub template: String,
    /// How values are fingerprinted.
    pub fingerprint: FingerprintScheme,
    /// One entry per variable to migrate.
    pub entries: Vec<PlanEntry>,
}

/// The fingerprint scheme: HMAC-SHA256 under a per-plan random key, so a fingerprint cannot be checked against a
/// dictionary without the plan (keep the plan file private: it is written 0600).
#[derive(Clone, Serialize, Deserialize)]
pub struct FingerprintScheme {
    /// `hmac-sha256`.
    pub algorithm: String,
    /// The key, hex.
    pub key: String,
}

impl std::fmt::Debug for FingerprintScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintScheme").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl FingerprintScheme {
    /// A fresh random key.
    pub fn generate() -> Self {
        let key: [u8; 32] = rand::random();
        Self { algorithm: "hmac-sha256".into(), key: hex::encode(key) }
    }

    /// The fingerprint of a value.
    pub fn of(&self, value: &SecretString) -> String {
        let key = hex::decode(&self.key).unwrap_or_default();
        keyed_fingerprint(&key, value.expose().as_bytes())
    }
}

/// One variable's move.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanEntry {
    /// The env file (as found), or `<environment>`.
    pub source: String,
    /// Its line (0 for the environment).
    pub line: usize,
    /// The variable's name in the source.
    pub key: String,
    /// The classifier's group.
    pub group: String,
    /// Why it is a secret.
    pub reason: String,
    /// Where it goes.
    pub target: Target,
    /// HMAC-SHA256 of the value under the plan's key.
    pub fingerprint: String,
}

/// A KV v2 secret path (mount first) and a key inside it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// `secret/app/env/group`.
    pub path: String,
    /// The key inside the secret.
    pub key: String,
}

/// What decides the target of each variable.
#[derive(Clone, Debug)]
pub struct Convention {
    /// Path template.
    pub template: String,
    /// `{app}`; `None`: the folder name of the file.
    pub app: Option<String>,
    /// `{env}`; `None`: from the file name (`.env.production` → `production`, `prod.env` → `prod`, `.env` → `default`).
    pub env: Option<String>,
}

impl Default for Convention {
    fn default() -> Self {
        Self { template: DEFAULT_TEMPLATE.into(), app: None, env: None }
    }
}

/// Lowercases and replaces anything outside `[a-z0-9._-]` with `-`, so names become valid path segments.
pub fn slug(text: &str) -> String {
    let s: String =
        text.trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c.to_ascii_lowercase() } else { '-' }
            })
            .collect();
    let s = s.trim_matches(['-', '.']).to_owned();
    if s.is_empty() { "default".into() } else { s }
}

/// `{env}` from an env file's name.
pub fn env_from_file_name(name: &str) -> String {
    if name == ".env" {
        return "default".into();
    }
    if let Some(rest) = name.strip_prefix(".env.") {
        return slug(rest);
    }
    if let Some(stem) = name.strip_suffix(".env") {
        return slug(stem);
    }
    "default".into()
}

impl Convention {
    /// The target of a variable.
    pub fn target(&self, var: &Variable) -> Target {
        let path = Path::new(&var.source);
        let folder_app = || {
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            abs.parent().and_then(|p| p.file_name()).map_or_else(|| "app".into(), |n| slug(&n.to_string_lossy()))
        };
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (app, env, file) = if var.source == crate::ENVIRONMENT {
            let app = self.app.clone().map_or_else(
                || std::env::current_dir().ok().and_then(|d| d.file_name().map(|n| slug(&n.to_string_lossy()))),
                Some,
            );
            (
                app.unwrap_or_else(|| "app".into()),
                self.env.clone().unwrap_or_else(|| "default".into()),
                "environment".into(),
            )
        } else {
            (
                self.app.as_deref().map_or_else(folder_app, slug),
                self.env.as_deref().map_or_else(|| env_from_file_name(&file_name), slug),
                slug(&file_name),
            )
        };
        let path = self
            .template
            .replace("{app}", &app)
            .replace("{env}", &env)
            .replace("{group}", &slug(&var.classification.group))
            .replace("{file}", &file)
            .replace("{name}", &slug(&var.key));
        Target { path, key: var.key.clone() }
    }
}

/// Builds a plan from detected variables: every `secret` gets an entry.
pub fn build(vars: &[Variable], convention: &Convention) -> Plan {
    let scheme = FingerprintScheme::generate();
    let entries = vars
        .iter()
        .filter(|v| v.classification.class == Class::Secret)
        .filter_map(|v| {
            let value = v.value.as_ref()?;
            Some(PlanEntry {
                source: v.source.clone(),
                line: v.line,
                key: v.key.clone(),
                group: v.classification.group.clone(),
                reason: v.classification.reason.clone(),
                target: convention.target(v),
                fingerprint: scheme.of(value),
            })
        })
        .collect();
    Plan {
        format: FORMAT,
        tool: crate::TOOL.into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        template: convention.template.clone(),
        fingerprint: scheme,
        entries,
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Checks a plan (built here or edited by hand): the format, paths (characters, depth, a secret that would also
/// be a folder of another), keys, and no two variables onto one key with different values. Returns every
/// problem, each naming the source and line.
pub fn validate(plan: &Plan) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if plan.format != FORMAT {
        problems.push(format!("plan format {} is not supported (this build reads {FORMAT})", plan.format));
    }
    if plan.fingerprint.algorithm != "hmac-sha256" || hex::decode(&plan.fingerprint.key).map_or(true, |k| k.len() < 16)
    {
        problems.push("the plan's fingerprint scheme must be hmac-sha256 with a key of at least 16 bytes".into());
    }
    let paths: BTreeSet<&str> = plan.entries.iter().map(|e| e.target.path.as_str()).collect();
    let mut by_target: BTreeMap<&Target, &PlanEntry> = BTreeMap::new();
    let mut by_source: BTreeSet<(&str, &str)> = BTreeSet::new();
    for e in &plan.entries {
        let at = format!("{}:{} {}", e.source, e.line, e.key);
        let segments: Vec<&str> = e.target.path.split('/').collect();
        if let Some(bad) = segments.iter().find(|s| !valid_segment(s)) {
            problems.push(format!(
                "{at}: target path {:?} has an invalid segment {bad:?} (allowed: letters, digits, . _ -)",
                e.target.path
            ));
        } else if segments.len() < 2 {
            problems.push(format!("{at}: target path {:?} needs a mount and a secret name", e.target.path));
        } else if segments.len() > MAX_DEPTH {
            problems.push(format!("{at}: target path {:?} is deeper than {MAX_DEPTH} segments", e.target.path));
        }
        if !valid_segment(&e.target.key) {
            problems.push(format!("{at}: target key {:?} is invalid (allowed: letters, digits, . _ -)", e.target.key));
        }
        let folder = format!("{}/", e.target.path);
        if let Some(child) = paths.iter().find(|p| p.starts_with(&folder)) {
            problems.push(format!("{at}: target path {} is also a folder of {child}", e.target.path));
        }
        if let Some(other) = by_target.get(&e.target) {
            if other.fingerprint != e.fingerprint {
                problems.push(format!(
                    "{at}: goes to {}#{} like {}:{} {}, with a different value",
                    e.target.path, e.target.key, other.source, other.line, other.key
                ));
            }
        } else {
            by_target.insert(&e.target, e);
        }
        if !by_source.insert((&e.source, &e.key)) {
            problems.push(format!("{at}: the same variable is listed twice"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Rewrites the sources of a plan about to be written to `plan_path` relative to the plan's folder (when they are
/// inside it), so the plan works from any working directory and moves with the repository.
pub fn relativize(plan: &mut Plan, plan_path: &Path) {
    let Some(base) = plan_path
        .parent()
        .and_then(|p| std::path::absolute(if p.as_os_str().is_empty() { Path::new(".") } else { p }).ok())
    else {
        return;
    };
    for e in &mut plan.entries {
        if e.source == crate::ENVIRONMENT {
            continue;
        }
        if let Ok(abs) = std::path::absolute(&e.source) {
            let abs = normalize(&abs);
            e.source = match abs.strip_prefix(normalize(&base)) {
                Ok(rel) => rel.display().to_string(),
                Err(_) => abs.display().to_string(),
            };
        }
    }
}

/// Removes `.` and resolves `..` components lexically.
fn normalize(path: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Reads a plan file. Relative sources are taken from the plan's folder.
pub fn load(path: &Path) -> anyhow::Result<Plan> {
    use anyhow::Context;
    let text = vault_core::cli::read_text(path).context("reading the plan")?;
    let plan: Plan = serde_json::from_str(&text)
        .map_err(|e| vault_core::cli::UsageError(format!("{}: not a valid plan: {e}", path.display())))?;
    if let Err(problems) = validate(&plan) {
        vault_core::usage_bail!("{}: invalid plan:\n  {}", path.display(), problems.join("\n  "));
    }
    let mut plan = plan;
    if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        for e in &mut plan.entries {
            if e.source != crate::ENVIRONMENT && Path::new(&e.source).is_relative() {
                e.source = base.join(&e.source).display().to_string();
            }
        }
    }
    Ok(plan)
}
