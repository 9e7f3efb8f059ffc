//! `secret-scan install-hook`: a git pre-commit hook that scans what is about to be committed.

use std::path::{Path, PathBuf};

use crate::git;
use crate::scan::ScanError;

/// Marks hooks written by us, so that re-installing replaces ours but never someone else's.
const MARKER: &str = "# installed by secret-scan install-hook";

/// The hook script. A baseline at the repository root is honoured when present.
fn script() -> String {
    format!(
        "#!/bin/sh\n{MARKER}\n# Blocks commits that add secrets. Suppress a false positive with a `secret-scan:allow` comment,\n# a .secret-scan-ignore entry or `secret-scan baseline update .secret-scan-baseline.json`.\nset -e\nif [ -f .secret-scan-baseline.json ]; then\n  exec secret-scan --staged --baseline .secret-scan-baseline.json\nfi\nexec secret-scan --staged\n"
    )
}

/// Why the hook was not installed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Not inside a git work tree, or git failed.
    #[error(transparent)]
    Git(#[from] ScanError),
    /// Another pre-commit hook is there.
    #[error("{0} exists and was not installed by secret-scan; use --force to replace it")]
    Foreign(PathBuf),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The hook file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Writes `pre-commit` into the hooks folder of the repository containing `dir` (honouring `core.hooksPath`),
/// executable. Refuses to replace a hook we did not write unless `force`. Returns the hook's path.
pub fn install_hook(dir: &Path, force: bool) -> Result<PathBuf, HookError> {
    let root = git::repo_root(dir)?;
    let hooks = git::git_path(&root, "hooks")?;
    let path = hooks.join("pre-commit");
    let io = |source| HookError::Io { path: path.clone(), source };
    if let Ok(existing) = std::fs::read_to_string(&path)
        && !existing.contains(MARKER)
        && !force
    {
        return Err(HookError::Foreign(path));
    }
    std::fs::create_dir_all(&hooks).map_err(io)?;
    std::fs::write(&path, script()).map_err(io)?;
    set_executable(&path).map_err(io)?;
    Ok(path)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
