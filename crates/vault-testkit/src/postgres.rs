//! A PostgreSQL server for database secret-rotation tests, with a password-protected superuser for OpenBao's
//! database engine and a trusted Unix socket for the test's own checks.
//!
//! The postmaster runs in the foreground as the kit's child rather than daemonised by `pg_ctl start`: only a child
//! can carry the parent-death signal that kills it with the test process, and its PID is known without reading
//! `postmaster.pid`. `stop` sends SIGQUIT, which is exactly what `pg_ctl stop -m immediate` sends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustix::process::{Signal, geteuid};

use crate::error::{Error, Result};
use crate::install::postgres_bin_dir;
use crate::ports::Ports;
use crate::process::{self, ServerProcess};
use crate::workdir::WorkDir;

const NAME: &str = "PostgreSQL server";
const SUPERUSER: &str = "vaultadmin";
/// The bootstrap superuser, reachable without a password over the socket only, so that `psql` keeps working when
/// a test lets OpenBao rotate [`SUPERUSER`]'s password (`rotate-root`).
const BOOTSTRAP_USER: &str = "postgres";
const HOST: &str = "127.0.0.1";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A PostgreSQL server on a free loopback port, with superuser `vaultadmin` and a random password.
///
/// Stopped (SIGQUIT, like `pg_ctl stop -m immediate`) and its directory removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    // Fields drop in order: the process must be gone before its directory is removed.
    process: ServerProcess,
    dir: WorkDir,
    _ports: Ports,
    bin: PathBuf,
    port: u16,
    password: String,
}

impl PostgresServer {
    /// Runs `initdb`, starts the server and creates the superuser; returns once it accepts connections.
    pub async fn start() -> Result<PostgresServer> {
        let bin = crate::blocking(postgres_bin_dir).await?;
        crate::start_with_retry(|| Self::start_once(&bin)).await
    }

    async fn start_once(bin: &Path) -> Result<PostgresServer> {
        let ports = Ports::reserve(1, &[0])?;
        let port = ports.get(0);
        let dir = WorkDir::new("postgres")?;
        // PostgreSQL refuses to run as root: then it runs as the `postgres` user, in a directory that user owns.
        let user = geteuid().is_root().then_some(BOOTSTRAP_USER);
        if let Some(user) = user {
            give_to(dir.path(), user).await?;
        }
        let data = dir.path().join("data");

        let mut initdb = pg_command(bin, "initdb", user, dir.path())?;
        initdb
            .arg("--pgdata")
            .arg(&data)
            .arg(format!("--username={BOOTSTRAP_USER}"))
            // Trust on the socket, which only this directory's owner and root can reach; passwords over TCP.
            .args(["--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"])
            // A test database need not survive a power cut: skipping fsync saves most of initdb's 2 s.
            .args(["--no-sync", "--no-instructions"]);
        process::run(initdb).await?;

        let mut postgres = pg_command(bin, "postgres", user, dir.path())?;
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", &format!("listen_addresses={HOST}"), "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off"]);
        let process = ServerProcess::spawn(NAME, postgres, &dir.path().join("server.log"), Signal::QUIT)?;

        let password = crate::random_string(24);
        let server = PostgresServer { process, dir, _ports: ports, bin: bin.to_owned(), port, password };
        server
            .process
            .wait_for(START_TIMEOUT, || async {
                // pg_isready exits 0 only once the server accepts connections (not while it is starting up).
                let mut ready =
                    pg_command(&server.bin, "pg_isready", None, server.dir.path()).map_err(|e| e.to_string())?;
                ready.arg("--host").arg(server.dir.path()).args(["--port", &port.to_string(), "--dbname=postgres"]);
                process::run(ready).await.map_err(|e| e.to_string())
            })
            .await?;
        server.psql(&format!("CREATE ROLE {SUPERUSER} WITH LOGIN SUPERUSER PASSWORD '{}'", server.password)).await?;
        Ok(server)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on, `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The superuser for OpenBao's database engine, `vaultadmin`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// [`superuser`](Self::superuser)'s password (until a test rotates it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://vaultadmin:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}:{}@{HOST}:{}/postgres?sslmode=disable", self.password, self.port)
    }

    /// Runs SQL with `psql` as the bootstrap superuser over the Unix socket (unaffected by password rotation) and
    /// returns its unaligned, tuples-only output without the final newline: `psql("select 1")` is `"1"`.
    pub async fn psql(&self, sql: &str) -> Result<String> {
        let mut psql = pg_command(&self.bin, "psql", None, self.dir.path())?;
        psql.args(["--no-psqlrc", "--quiet", "--no-align", "--tuples-only", "--set=ON_ERROR_STOP=1"])
            .arg("--host")
            .arg(self.dir.path())
            .args([
                "--port",
                &self.port.to_string(),
                "--username",
                BOOTSTRAP_USER,
                "--dbname=postgres",
                "--command",
                sql,
            ]);
        let output = process::run(psql).await?;
        Ok(output.strip_suffix('\n').unwrap_or(&output).to_owned())
    }

    /// The server's own directory, with its log (`server.log`) and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process ID (the postmaster's).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything the server printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Stops the server at once (SIGQUIT, as `pg_ctl stop -m immediate`; SIGKILL after 10 s). Its port stays
    /// reserved until the value is dropped.
    pub async fn stop(&mut self) {
        self.process.stop(Signal::QUIT, Duration::from_secs(10)).await;
    }
}

/// One of PostgreSQL's programs, run in `dir` as `user`, with the developer's `PG*` variables (PGPORT, PGPASSWORD,
/// ...) removed so that only our arguments count.
fn pg_command(bin: &Path, program: &str, user: Option<&str>, dir: &Path) -> Result<Command> {
    let mut command = process::command(&bin.join(program), user)?;
    command.current_dir(dir);
    process::scrub_env(&mut command, &["PG"]);
    Ok(command)
}

/// Makes `user` the owner of `dir`.
async fn give_to(dir: &Path, user: &str) -> Result<()> {
    let id = |flag: &str| {
        let mut command = Command::new("id");
        command.args([flag, user]);
        async {
            let text = process::run(command).await?;
            text.trim().parse::<u32>().map_err(|_| Error::Setup {
                problem: format!("`id` printed {text:?} for user {user}"),
                fix: "install PostgreSQL's server package, which creates the postgres user".to_owned(),
            })
        }
    };
    let (uid, gid) = (id("-u").await?, id("-g").await?);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| Error::io(format!("cannot give {} to {user}", dir.display()), e))
}
