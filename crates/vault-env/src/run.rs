//! `run -- CMD`: start a command with secrets in its environment.
//!
//! The command inherits stdin, stdout and stderr. SIGINT, SIGTERM and SIGHUP sent to vault-env are passed on to
//! it, and vault-env exits with the command's code (128 + the signal number when a signal killed it), so a
//! wrapper is invisible to a scheduler that watches exit codes or stops jobs with signals. While the command
//! runs the token is renewed in the background; when it ends the token is revoked, which also ends the leases of
//! any database credentials it created. With `--exec` vault-env becomes the command (one process fewer, and
//! signals reach the command directly); the token then stays valid until its TTL ends, since nothing is left
//! to revoke it.

use std::ffi::OsString;
use std::process::ExitStatus;

use tokio::signal::unix::{SignalKind, signal};
use vault_core::Client;

use crate::error::{Error, Result};
use crate::secrets::EnvSet;

/// How to run the command.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// Replace vault-env's process with the command instead of waiting for it.
    pub exec: bool,
    /// Revoke the token when the command ends.
    pub revoke_token: bool,
}

/// Runs the command with `env` added to vault-env's own environment and returns its exit code.
pub async fn run_command(client: &Client, env: EnvSet, options: &RunOptions) -> Result<u8> {
    let Some((program, args)) = options.command.split_first() else {
        return Err(Error::Spec("no command to run: give it after --, e.g. vault-env run -- python job.py".into()));
    };
    let shown = program.to_string_lossy().into_owned();
    let mut command = std::process::Command::new(program);
    command.args(args);
    for (name, value) in env.iter() {
        command.env(name, value.expose());
    }
    drop(env);

    if options.exec {
        use std::os::unix::process::CommandExt;
        // exec returns only when it failed.
        let source = command.exec();
        return Err(Error::Spawn { program: shown, source });
    }

    // Handlers go in before the child starts, so a signal that arrives during start-up is not lost (the default
    // action would kill vault-env and orphan the child).
    let signal_err = |source| Error::Spawn { program: shown.clone(), source };
    let mut sigint = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(signal_err)?;

    let mut child = tokio::process::Command::from(command)
        .spawn()
        .map_err(|source| Error::Spawn { program: shown.clone(), source })?;
    let renewal = client.spawn_renewal();
    let pid = child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32));

    let forward = |sig: rustix::process::Signal| {
        if let Some(pid) = pid {
            // The child may have just exited; then there is nobody to tell.
            let _ = rustix::process::kill_process(pid, sig);
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = sigint.recv() => forward(rustix::process::Signal::INT),
            _ = sigterm.recv() => forward(rustix::process::Signal::TERM),
            _ = sighup.recv() => forward(rustix::process::Signal::HUP),
        }
    };
    renewal.abort();
    let status = status.map_err(|source| Error::Spawn { program: shown.clone(), source })?;

    // The command's result matters more than the clean-up; a failure is a warning saying what was left behind.
    client.revoke_after_run(options.revoke_token, &format!("after {shown} ended")).await;
    Ok(exit_code_of(status))
}

/// The exit code a shell would report: the command's own, or 128 + the signal that killed it.
pub fn exit_code_of(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => u8::MAX,
    }
}
