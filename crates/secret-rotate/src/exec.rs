//! Running the user's commands (credential makers, verifiers, hooks): an argv, never a shell string; secrets only
//! on stdin, never in arguments or the environment; a time limit after which the process is killed.
//!
//! The command's stderr is passed through to ours, so its own complaints reach the journal; what it prints there
//! is its author's responsibility. Its stdout is captured (and zeroed after use) only when we need the answer.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::policy::Argv;

/// The most a credential command may print: more is surely a mistake.
const MAX_STDOUT: u64 = 1 << 20;

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

/// Runs `argv` with `stdin` written to it and `env` added; returns its stdout when `capture` is set.
pub async fn run(
    argv: &Argv,
    stdin: Option<&[u8]>,
    env: &[(&str, String)],
    capture: bool,
) -> Result<Zeroizing<Vec<u8>>, ExecError> {
    let program = argv.argv[0].clone();
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&argv.argv[1..])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
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
