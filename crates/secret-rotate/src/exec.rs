//! Running the user's commands (credential makers, verifiers, hooks): an argv, never a shell string; secrets only
//! on stdin, never in arguments or the environment; a time limit after which the process is killed.
//!
//! Children start from an empty environment ([`child_env`]): only the variables on [`ALLOWED`] (and `LC_*`), the
//! names a policy lists in `pass_env`, and the `SECRET_ROTATE_*` variables documented for each program. Our own
//! credentials (`VAULT_TOKEN`, `VAULT_ROLE_ID`, `VAULT_SECRET_ID_FILE`, their `BAO_*` twins, systemd's
//! `CREDENTIALS_DIRECTORY`, …) would otherwise be inherited by every hook, which could then act as us.
//!
//! The command's stderr is passed through to ours, so its own complaints reach the journal; what it prints there
//! is its author's responsibility. Its stdout is captured (and zeroed after use) only when we need the answer.

use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::policy::Argv;

/// The most a credential command may print: more is surely a mistake.
const MAX_STDOUT: u64 = 1 << 20;

/// Variables a child inherits from us when set: what programs need to find things and print in the right language
/// and time zone, none of it a credential. `LC_*` is allowed too. Documented in docs/vault-rotation-config.md.
pub const ALLOWED: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

/// `PATH` when we have none: the usual system folders.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether a variable name may never be passed on, even when a policy's `pass_env` names it: our connection
/// settings and credentials, systemd's credentials folder, and our own `SECRET_ROTATE_*` namespace (which we set).
pub fn is_forbidden(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("VAULT_")
        || upper.starts_with("BAO_")
        || upper.starts_with("SECRET_ROTATE_")
        || upper == "CREDENTIALS_DIRECTORY"
}

/// The environment a child gets: from `parent`, the [`ALLOWED`] names, `LC_*` and the names in `pass_env` (never a
/// [forbidden](is_forbidden) one), then `extra` (the documented `SECRET_ROTATE_*` variables and the like).
pub fn child_env(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    pass_env: &[String],
    extra: &[(&str, String)],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(key, _)| {
            let Some(key) = key.to_str() else { return false };
            !is_forbidden(key)
                && (ALLOWED.contains(&key) || key.starts_with("LC_") || pass_env.iter().any(|p| p == key))
        })
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push(((*key).into(), value.into()));
    }
    env
}

/// Why a command did not succeed. Messages name the program, never its input or output.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// It could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It ran longer than its timeout and was killed.
    #[error("{program} did not finish within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The program.
        program: String,
        /// The limit.
        after: Duration,
    },
    /// It exited unsuccessfully.
    #[error("{program} failed ({status})")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
    },
    /// Talking to it failed.
    #[error("{program}: {detail}")]
    Io {
        /// The program.
        program: String,
        /// What went wrong.
        detail: String,
    },
}

/// Runs `argv` with `stdin` written to it in a clean environment ([`child_env`] with `pass_env` and `env`); returns
/// its stdout when `capture` is set.
pub async fn run(
    argv: &Argv,
    stdin: Option<&[u8]>,
    env: &[(&str, String)],
    pass_env: &[String],
    capture: bool,
) -> Result<Zeroizing<Vec<u8>>, ExecError> {
    let program = argv.argv[0].clone();
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&argv.argv[1..])
        .env_clear()
        .envs(child_env(std::env::vars_os(), pass_env, env))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(if capture { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ExecError::Spawn { program: program.clone(), source })?;
    let io = |e: std::io::Error| ExecError::Io { program: program.clone(), detail: e.to_string() };
    let work = async {
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A command that does not read its stdin closes the pipe: that is its business, not an error.
            match pipe.write_all(bytes).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(io(e)),
            }
            drop(pipe);
        }
        let mut out = Zeroizing::new(Vec::new());
        if let Some(pipe) = child.stdout.take() {
            pipe.take(MAX_STDOUT + 1).read_to_end(&mut out).await.map_err(io)?;
            if out.len() as u64 > MAX_STDOUT {
                return Err(ExecError::Io { program: program.clone(), detail: "printed more than 1 MiB".into() });
            }
        }
        let status = child.wait().await.map_err(io)?;
        if !status.success() {
            return Err(ExecError::Failed { program: program.clone(), status: status.to_string() });
        }
        Ok(out)
    };
    match tokio::time::timeout(argv.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(ExecError::Timeout { program, after: argv.timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn only_allowed_names_pass() {
        let parent = vars(&[
            ("PATH", "/bin"),
            ("HOME", "/home/x"),
            ("LC_ALL", "C.UTF-8"),
            ("VAULT_TOKEN", "s.token"),
            ("BAO_TOKEN", "s.token"),
            ("VAULT_ROLE_ID", "role"),
            ("vault_secret_id_file", "/x"),
            ("BAO_SECRET_ID_FILE", "/x"),
            ("CREDENTIALS_DIRECTORY", "/run/credentials/x"),
            ("AWS_SECRET_ACCESS_KEY", "aws"),
            ("HTTPS_PROXY", "http://proxy"),
            ("SECRET_ROTATE_PATH", "spoofed"),
        ]);
        let pass = vec!["HTTPS_PROXY".to_owned(), "VAULT_TOKEN".to_owned(), "CREDENTIALS_DIRECTORY".to_owned()];
        let env = child_env(parent, &pass, &[("SECRET_ROTATE_PATH", "secret/a".into())]);
        let names: Vec<_> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "HOME", "LC_ALL", "HTTPS_PROXY", "SECRET_ROTATE_PATH"]);
        assert_eq!(env.last().unwrap().1, "secret/a", "ours win over an inherited value");
    }

    #[test]
    fn a_missing_path_gets_the_default() {
        let env = child_env(vars(&[("HOME", "/h")]), &[], &[]);
        assert!(env.contains(&("PATH".into(), DEFAULT_PATH.into())));
    }
}
