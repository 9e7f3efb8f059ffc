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

/// What a search found: env files to read, and what could not be looked at (each named, with why).
#[derive(Debug, Default)]
pub struct Found {
    /// Env files, sorted, without duplicates.
    pub files: Vec<PathBuf>,
    /// Paths skipped and why: unreadable folders, symlinks leading outside the tree or in a loop, FIFOs and other
    /// things that are not files, paths the system refuses (too long). Never silent: callers report and count them.
    pub problems: Vec<(PathBuf, String)>,
}

/// What kind of thing a non-regular file is, for messages.
fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Why a path could not be looked at, in words (a loop and an over-long path say so).
fn why(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(40) => "a symlink loop".to_owned(),
        Some(36) => "the path is longer than the system allows".to_owned(),
        _ => e.to_string(),
    }
}

/// Env files under `paths` (files named directly are taken as they are), sorted and without duplicates, and
/// everything that could not be looked at. Only a path that does not exist at all is an error: it is a typo.
///
/// A named path that is a FIFO, socket or device is reported, never opened (reading a FIFO would block). In a
/// tree, an env-named symlink is followed when its target is a regular file inside the tree, and reported when it
/// leads outside (a link to `/etc/…` is not this project's), dangles, or loops.
pub fn find_env_files(paths: &[PathBuf]) -> std::io::Result<Found> {
    let mut found = BTreeSet::new();
    let mut problems = Vec::new();
    for root in paths {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && root.symlink_metadata().is_err() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: no such file or folder", root.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push((root.clone(), "a symlink whose target does not exist".to_owned()));
                continue;
            }
            Err(e) => {
                problems.push((root.clone(), why(&e)));
                continue;
            }
        };
        if meta.is_file() {
            found.insert(root.clone());
            continue;
        }
        if !meta.is_dir() {
            problems.push((root.clone(), format!("{}, not an env file; not read", kind_of(meta.file_type()))));
            continue;
        }
        let tree = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        let walker = ignore::WalkBuilder::new(root).hidden(true).git_ignore(true).require_git(false).build();
        for dir in walker {
            let dir = match dir {
                Ok(d) => d,
                Err(e) => {
                    let path = match &e {
                        ignore::Error::WithPath { path, .. } => path.clone(),
                        _ => root.clone(),
                    };
                    let text = e.io_error().map_or_else(|| e.to_string(), why);
                    problems.push((path, format!("cannot search: {text}")));
                    continue;
                }
            };
            if !dir.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            let listing = match std::fs::read_dir(dir.path()) {
                Ok(l) => l,
                Err(e) => {
                    problems.push((dir.path().to_path_buf(), format!("cannot list the folder: {}", why(&e))));
                    continue;
                }
            };
            for item in listing {
                let item = match item {
                    Ok(i) => i,
                    Err(e) => {
                        problems.push((dir.path().to_path_buf(), format!("cannot list the folder: {}", why(&e))));
                        continue;
                    }
                };
                let name = item.file_name().to_string_lossy().into_owned();
                let env_named = is_env_name(&name) && !is_template_name(&name);
                if !env_named && !is_compose_name(&name) {
                    continue;
                }
                let path = item.path();
                let Ok(t) = item.file_type() else { continue };
                if t.is_symlink() {
                    if !env_named {
                        continue;
                    }
                    match std::fs::canonicalize(&path) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            problems.push((path, "a symlink whose target does not exist".to_owned()));
                        }
                        Err(e) => problems.push((path, why(&e))),
                        Ok(target) if !target.starts_with(&tree) => problems
                            .push((path, format!("a symlink to {}, outside the tree; not followed", target.display()))),
                        Ok(target) => match std::fs::metadata(&target) {
                            Ok(m) if m.is_file() => {
                                found.insert(path);
                            }
                            Ok(m) => problems.push((
                                path,
                                format!("a symlink to {}, not an env file; not read", kind_of(m.file_type())),
                            )),
                            Err(e) => problems.push((path, why(&e))),
                        },
                    }
                    continue;
                }
                if !t.is_file() {
                    if env_named && !t.is_dir() {
                        problems.push((path, format!("{}, not an env file; not read", kind_of(t))));
                    }
                    continue;
                }
                if env_named {
                    found.insert(path);
                } else {
                    for file in compose_env_files(&path) {
                        found.insert(file);
                    }
                }
            }
        }
    }
    // `./.env` reads better, and matches what users type, as `.env`.
    let tidy = |p: PathBuf| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p);
    Ok(Found {
        files: found.into_iter().map(tidy).collect(),
        problems: problems.into_iter().map(|(p, w)| (tidy(p), w)).collect(),
    })
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
