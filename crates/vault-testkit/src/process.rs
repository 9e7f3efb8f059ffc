//! Server processes: started so that they cannot outlive the tests, logged to a file, stopped by PID.
//!
//! Dropping a server kills it, but `Drop` does not run when the test binary is killed (a timeout, Ctrl-C, a CI
//! runner ending the job). So every process is started through util-linux's `setpriv --pdeathsig KILL`, which sets
//! the parent-death signal and then execs the server in place: the PID stays the server's, and the kernel kills it
//! when its parent goes away. The workspace forbids `unsafe`, which rules out calling `prctl` in `pre_exec`.
//!
//! The kernel ties that signal to the *thread* that forked the child, not to the process. Test threads end after
//! each test, and a server kept in a `static` for several tests would die with the first one; so servers are forked
//! by one thread that lives as long as the process.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::error::{Error, Result, tail};
use crate::install::find_on_path;

/// How often readiness and exit are polled: short enough that a 0.15 s start is not padded much.
const POLL: Duration = Duration::from_millis(20);

/// How much of a log an error message shows.
const LOG_TAIL_LINES: usize = 30;

/// A `Command` for `program` that dies with the test process, run as `user` when one is given (PostgreSQL refuses
/// to run as root). Without `setpriv` it is a plain command, and running as another user is an error.
pub(crate) fn command(program: &Path, user: Option<&str>) -> Result<Command> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(setpriv) = SETPRIV.get_or_init(|| find_on_path("setpriv")) else {
        return match user {
            None => Ok(Command::new(program)),
            Some(user) => Err(Error::Setup {
                problem: format!("setpriv is not on PATH, and it is needed to run {} as {user}", program.display()),
                fix: "install util-linux (Debian: apt-get install -y util-linux)".to_owned(),
            }),
        };
    };
    let mut command = Command::new(setpriv);
    if let Some(user) = user {
        // The parent-death signal is cleared when the uid changes; setpriv sets it after switching.
        command.arg(format!("--reuid={user}")).arg(format!("--regid={user}")).arg("--init-groups");
    }
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    Ok(command)
}

/// Removes inherited variables whose names start with one of `prefixes`, so that a developer's `VAULT_ADDR` or
/// `PGPORT` cannot steer the servers the tests start.
pub(crate) fn scrub_env(command: &mut Command, prefixes: &[&str]) {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|name| prefixes.iter().any(|prefix| name.starts_with(prefix))) {
            command.env_remove(name);
        }
    }
}

/// A command line as a user would type it, for messages.
pub(crate) fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a short helper command (initdb, psql, pg_isready) to completion and returns its stdout.
pub(crate) async fn run(command: Command) -> Result<String> {
    let line = command_line(&command);
    let mut command = tokio::process::Command::from(command);
    command.stdin(Stdio::null()).kill_on_drop(true);
    let output = command.output().await.map_err(|e| Error::Command {
        command: line.clone(),
        outcome: format!("could not run ({e})"),
        output: String::new(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::Command {
        command: line,
        outcome: format!("failed ({})", output.status),
        output: tail(&format!("{stdout}{stderr}"), LOG_TAIL_LINES),
    })
}

/// Forks `command` on the long-lived spawner thread (see the module comment).
fn spawn_on_keeper_thread(command: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("vault-testkit-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    // The requester may have gone (its test panicked); the child then dies with its handle.
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("cannot start the vault-testkit spawner thread");
        requests
    });
    let (reply, answer) = mpsc::channel();
    spawner.send((command, reply)).expect("the spawner thread lives as long as the process");
    answer.recv().expect("the spawner thread always answers")
}

/// A running (or stopped) server process whose output goes to a log file.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    name: &'static str,
    pid: u32,
    // Behind a lock so that `is_running` can reap the child through `&self`.
    child: Mutex<Child>,
    log_path: PathBuf,
    /// The signal `drop` sends first: `KILL` where the data is thrown away anyway, `QUIT` for PostgreSQL so that the
    /// postmaster takes its backends down with it.
    drop_signal: Signal,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr appended to `log_path`.
    pub(crate) fn spawn(
        name: &'static str,
        mut command: Command,
        log_path: &Path,
        drop_signal: Signal,
    ) -> Result<Self> {
        let open_log = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_path)
                .map_err(|e| Error::io(format!("cannot open the {name} log {}", log_path.display()), e))
        };
        command.stdin(Stdio::null()).stdout(open_log()?).stderr(open_log()?);
        let line = command_line(&command);
        let child =
            spawn_on_keeper_thread(command).map_err(|e| Error::io(format!("cannot start the {name}: `{line}`"), e))?;
        Ok(ServerProcess {
            name,
            pid: child.id(),
            child: Mutex::new(child),
            log_path: log_path.to_owned(),
            drop_signal,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exit status once the process has exited (reaping it).
    fn exit_status(&self) -> Option<ExitStatus> {
        self.child().try_wait().ok().flatten()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub(crate) fn log(&self) -> String {
        fs::read(&self.log_path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        tail(&self.log(), LOG_TAIL_LINES)
    }

    /// Sends `signal` to the process if it has not exited. The child is checked and signalled under the lock: a
    /// child that is not reaped keeps its PID, so the signal cannot reach a process that reused it.
    fn signal(&self, signal: Signal) {
        let mut child = self.child();
        if matches!(child.try_wait(), Ok(None)) {
            // ESRCH cannot happen for an unreaped child; any other error shows up as the process not exiting.
            let _ = kill_process(Pid::from_child(&child), signal);
        }
    }

    /// Sends `signal` (e.g. SIGSTOP to freeze the process) if it has not exited.
    pub(crate) fn send(&self, signal: Signal) {
        self.signal(signal);
    }

    fn kill_and_reap(&self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends `signal`, waits up to `grace` for the process to exit, then kills it. Returns once it is gone.
    pub(crate) async fn stop(&self, signal: Signal, grace: Duration) {
        self.signal(signal);
        let deadline = Instant::now() + grace;
        while self.is_running() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.kill_and_reap();
    }

    /// Polls `probe` until it succeeds, the process exits, or `timeout` passes. `probe` answers why the server is not
    /// ready yet, and the last answer goes into the timeout error next to the server's log.
    pub(crate) async fn wait_for<T, F, Fut>(&self, timeout: Duration, mut probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(Error::Exited { server: self.name, status: status.to_string(), log_tail: self.log_tail() });
            }
            match probe().await {
                Ok(ready) => return Ok(ready),
                Err(reason) if start.elapsed() >= timeout => {
                    return Err(Error::NotReady {
                        server: self.name,
                        waited: start.elapsed(),
                        reason,
                        log_tail: self.log_tail(),
                    });
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.drop_signal != Signal::KILL {
            self.signal(self.drop_signal);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.is_running() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        self.kill_and_reap();
    }
}
