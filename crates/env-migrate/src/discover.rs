//! Finding env files: `.env`, `.env.*` and `*.env` in every folder of a tree (folders ignored by git are skipped,
//! but env files are found even when git ignores them, since that is exactly where secrets hide), plus the
//! `env_file:` entries of docker compose files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Env-file names that hold examples, not values: skipped when walking a tree (still read when named directly).
const TEMPLATES: &[&str] = &[".env.example", ".env.sample", ".env.template", ".env.dist", "example.env", "sample.env"];

/// Whether a file name looks like an env file.
pub fn is_env_name(name: &str) -> bool {
    name == ".env" || (name.starts_with(".env.") && name.len() > 5) || (name.ends_with(".env") && name.len() > 4)
}

/// Whether a file name is an example/template env file.
pub fn is_template_name(name: &str) -> bool {
    TEMPLATES.contains(&name)
}

fn is_compose_name(name: &str) -> bool {
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    yaml && (name.starts_with("docker-compose") || name.starts_with("compose"))
}

/// Env files under `paths` (files named directly are taken as they are), sorted and without duplicates.
pub fn find_env_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut found = BTreeSet::new();
    for root in paths {
        if root.is_file() {
            found.insert(root.clone());
            continue;
        }
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", root.display()),
            ));
        }
        let walker = ignore::WalkBuilder::new(root).hidden(true).git_ignore(true).require_git(false).build();
        for dir in walker.flatten() {
            if !dir.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(listing) = std::fs::read_dir(dir.path()) else { continue };
            for item in listing.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                if !item.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                if is_env_name(&name) && !is_template_name(&name) {
                    found.insert(item.path());
                } else if is_compose_name(&name) {
                    for file in compose_env_files(&item.path()) {
                        found.insert(file);
                    }
                }
            }
        }
    }
    // `./.env` reads better, and matches what users type, as `.env`.
    Ok(found.into_iter().map(|p| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p)).collect())
}

/// Whether a compose file in `path`'s folder or up to three folders above names it in `env_file:`: then docker
/// compose, not python-dotenv, decides the values the application sees.
pub fn used_by_compose(path: &Path) -> bool {
    let Ok(target) = std::fs::canonicalize(path) else { return false };
    target.ancestors().skip(1).take(4).any(|dir| {
        std::fs::read_dir(dir).into_iter().flatten().flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            is_compose_name(&name)
                && compose_env_files(&entry.path()).iter().any(|f| std::fs::canonicalize(f).is_ok_and(|f| f == target))
        })
    })
}

/// The `env_file:` entries of a compose file that exist, resolved against the compose file's folder. A line scan
/// (scalar, list items, and `path:` items) rather than a YAML parser: it needs no dependency and reads every
/// form compose accepts.
pub fn compose_env_files(compose: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(compose) else { return vec![] };
    let base = compose.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut in_list: Option<usize> = None;
    let clean = |s: &str| s.trim().trim_matches(['"', '\'']).to_owned();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if let Some(rest) = body.strip_prefix("env_file:") {
            let rest = rest.split(" #").next().unwrap_or("").trim();
            if rest.is_empty() {
                in_list = Some(indent);
            } else if let Some(items) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                out.extend(items.split(',').map(clean));
                in_list = None;
            } else {
                out.push(clean(rest));
                in_list = None;
            }
            continue;
        }
        if let Some(level) = in_list {
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            if indent <= level && !body.starts_with('-') {
                in_list = None;
                continue;
            }
            if let Some(item) = body.strip_prefix('-') {
                let item = item.trim();
                let item = item.strip_prefix("path:").unwrap_or(item);
                out.push(clean(item));
            } else if let Some(item) = body.strip_prefix("path:") {
                out.push(clean(item));
            }
        }
    }
    out.into_iter().filter(|p| !p.is_empty()).map(|p| base.join(p)).filter(|p| p.is_file()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for yes in [".env", ".env.production", "prod.env"] {
            assert!(is_env_name(yes), "{yes}");
        }
        for no in [".envrc", "env", ".env.", "environment.py"] {
            assert!(!is_env_name(no), "{no}");
        }
    }

    #[test]
    fn compose_forms() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.env", "b.env", "c.env", "d.env"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let compose = dir.path().join("docker-compose.yml");
        std::fs::write(
            &compose,
            "services:\n  web:\n    env_file: a.env\n  job:\n    env_file:\n      - b.env\n      - path: ./c.env\n        required: false\n    image: x\n  x:\n    env_file: [\"d.env\", missing.env]\n",
        )
        .unwrap();
        let names: Vec<String> =
            compose_env_files(&compose).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["a.env", "b.env", "c.env", "d.env"]);
    }
}
