//! Cross-tool checks of the shared promises (issue 14): every tool that takes a connection gets the same bad
//! input and must answer it the same way — the documented exit code, a one-line error naming the variable, never
//! its value, never a panic, and within its time limit.
//!
//! Why here: a test binary can only find its own crate's binary (`CARGO_BIN_EXE_<name>`), and building other
//! crates' binaries from inside a test would fight the outer `cargo test` for the build lock. So each tool's
//! `tests/it/reliability.rs` lists its own entry points (subcommands and output formats that take a connection)
//! and hands them, with its binary, to the checks here; the classes of input live in one place, so adding a case
//! tests every tool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Values that cannot go into an HTTP header: control characters of every kind. (NUL cannot be passed through
/// the environment at all.)
pub const HEADER_BREAKERS: &[&str] =
    &["ro\x01ot", "line\nbreak", "cr\rlf", "tab\there", "esc\x1b[31m", "del\x7f", "inject\r\nX-Evil: 1"];

/// Where a tool prints its error for an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `tool: error: …` on stderr (every format but Nagios).
    Stderr,
    /// One line on stdout (Nagios's `VAULT UNKNOWN - …`).
    Stdout,
}

/// One way into a tool that connects to Vault: its arguments, what it reads on stdin, and how it reports a
/// usage error and an unavailable server (the shared table, or Nagios's codes).
#[derive(Clone, Debug)]
pub struct Entry {
    /// A name for messages, e.g. `get --format json`.
    pub name: String,
    /// The arguments after the binary.
    pub args: Vec<String>,
    /// Bytes on stdin (closed after).
    pub stdin: Vec<u8>,
    /// Exit code for bad input (2; Nagios: 3).
    pub usage_code: i32,
    /// Exit code for an unavailable server or failed authentication (3; Nagios: 2 CRITICAL or 3 UNKNOWN).
    pub unavailable_codes: Vec<i32>,
    /// Where the error goes.
    pub channel: Channel,
}

impl Entry {
    /// An entry with the shared exit codes and errors on stderr.
    pub fn new(name: impl Into<String>, args: &[&str]) -> Self {
        Entry {
            name: name.into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            stdin: Vec::new(),
            usage_code: 2,
            unavailable_codes: vec![3],
            channel: Channel::Stderr,
        }
    }

    /// With these bytes on stdin.
    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = bytes.to_vec();
        self
    }

    /// With Nagios's contract: one `VAULT UNKNOWN` line on stdout, exit 3 for bad input, 2 or 3 when the server
    /// cannot be used.
    pub fn nagios(mut self) -> Self {
        self.usage_code = 3;
        self.unavailable_codes = vec![2, 3];
        self.channel = Channel::Stdout;
        self
    }
}

/// What a run of a tool did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code; `None` when a signal (or the time limit) ended it.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
    /// Whether it was killed at the limit.
    pub killed: bool,
}

impl Outcome {
    /// Everything it printed, for assertions that nothing leaked.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A built tool binary.
#[derive(Clone, Debug)]
pub struct Tool {
    /// The binary's name, which prefixes its errors (`vault-env: error: …`).
    pub name: String,
    /// Its path (`env!("CARGO_BIN_EXE_<name>")`).
    pub bin: PathBuf,
    home: PathBuf,
}

impl Tool {
    /// A tool binary. Runs get an empty HOME (no `~/.vault-token`) and none of the caller's `VAULT_*`/`BAO_*`.
    pub fn new(name: &str, bin: impl AsRef<Path>) -> Tool {
        let home = std::env::temp_dir().join(format!("vault-testkit-home-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&home);
        Tool { name: name.to_owned(), bin: bin.as_ref().to_owned(), home }
    }

    /// Runs the tool with `args`, only `env` (plus PATH and HOME) in its environment, `stdin` fed and closed, in
    /// `dir`; kills it at `limit`.
    pub fn run(&self, args: &[String], env: &[(String, String)], stdin: &[u8], dir: &Path, limit: Duration) -> Outcome {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let started = Instant::now();
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let mut input = child.stdin.take().expect("piped stdin");
        let stdin = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            // The tool may exit without reading: a broken pipe here is not the test's concern.
            let _ = input.write_all(&stdin);
        });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut s);
            s
        });
        let mut killed = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the tool") {
                break status;
            }
            if started.elapsed() > limit {
                // Our own child, by its pid.
                let _ = child.kill();
                killed = true;
                break child.wait().expect("wait for the killed tool");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let _ = feeder.join();
        let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        Outcome { code: status.code(), stdout, stderr, elapsed, killed }
    }
}

/// A connection setting that cannot be sent, as the environment gives it: the variables to set and the name
/// the error must mention.
#[derive(Clone, Debug)]
pub struct BadSetting {
    /// What the error must name (a variable, a flag or a file).
    pub names: String,
    /// The environment.
    pub env: Vec<(String, String)>,
    /// The bad value, which must not appear in any output.
    pub value: String,
}

/// Every way a bad token, namespace, role_id, secret_id or mount reaches a tool, with every header-breaking
/// value. Files are written under `dir`.
pub fn bad_settings(dir: &Path, address: &str) -> Vec<BadSetting> {
    let mut cases = Vec::new();
    for (i, value) in HEADER_BREAKERS.iter().enumerate() {
        let value = (*value).to_owned();
        let file = dir.join(format!("bad-credential-{i}"));
        std::fs::write(&file, format!("{value}\n")).expect("write a credential file");
        let file = file.display().to_string();
        let good_secret_id = dir.join("good-secret-id");
        std::fs::write(&good_secret_id, "a-good-secret-id\n").expect("write a credential file");
        let good_secret_id = good_secret_id.display().to_string();
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            std::iter::once(("VAULT_ADDR".to_owned(), address.to_owned()))
                .chain(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
                .collect()
        };
        let mut add = |names: &str, pairs: &[(&str, &str)]| {
            cases.push(BadSetting { names: names.to_owned(), env: env(pairs), value: value.clone() });
        };
        add("VAULT_TOKEN", &[("VAULT_TOKEN", &value)]);
        add("BAO_TOKEN", &[("BAO_TOKEN", &value), ("VAULT_TOKEN", "s.fine")]);
        add("VAULT_NAMESPACE", &[("VAULT_TOKEN", "s.fine"), ("VAULT_NAMESPACE", &value)]);
        add("BAO_NAMESPACE", &[("VAULT_TOKEN", "s.fine"), ("BAO_NAMESPACE", &value)]);
        add("VAULT_ROLE_ID", &[("VAULT_ROLE_ID", &value), ("VAULT_SECRET_ID_FILE", &good_secret_id)]);
        add(&file, &[("VAULT_ROLE_ID_FILE", &file), ("VAULT_SECRET_ID_FILE", &good_secret_id)]);
        add("VAULT_SECRET_ID", &[("VAULT_ROLE_ID", "role"), ("VAULT_SECRET_ID", &value)]);
        add(&file, &[("VAULT_ROLE_ID", "role"), ("VAULT_SECRET_ID_FILE", &file)]);
        add(
            "VAULT_APPROLE_MOUNT",
            &[("VAULT_ROLE_ID", "role"), ("VAULT_SECRET_ID_FILE", &good_secret_id), ("VAULT_APPROLE_MOUNT", &value)],
        );
    }
    cases
}

/// Asserts the promises for bad input: the entry's usage code, no panic, one error line that names `names`,
/// and `value` nowhere in the output.
pub fn assert_refused(tool: &Tool, entry: &Entry, out: &Outcome, names: &str, value: &str) {
    let what = format!("{} {} ({names}={value:?})", tool.name, entry.name);
    assert!(!out.killed, "{what}: still running after {:?}", out.elapsed);
    assert!(!out.stderr.contains("panicked"), "{what}: panicked:\n{}", out.stderr);
    assert_eq!(out.code, Some(entry.usage_code), "{what}: exit code; stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    let message = match entry.channel {
        Channel::Stderr => {
            let prefix = format!("{}: error:", tool.name);
            let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&prefix)).collect();
            assert_eq!(errors.len(), 1, "{what}: one error line expected:\n{}", out.stderr);
            errors[0].to_owned()
        }
        Channel::Stdout => {
            assert_eq!(out.stdout.lines().count(), 1, "{what}: one line on stdout expected:\n{}", out.stdout);
            out.stdout.trim_end().to_owned()
        }
    };
    assert!(message.contains(names), "{what}: the error does not name {names}: {message}");
    assert!(!out.all_output().contains(value), "{what}: the value is shown:\n{}", out.all_output());
}

/// Runs every entry with every bad setting: each must be refused before anything is sent. The address is a
/// port nobody listens on, so a tool that sends anyway reports an unreachable server (exit 3), not bad input.
pub fn check_bad_settings(tool: &Tool, entries: &[Entry]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://127.0.0.1:{}", closed.local_addr().expect("port").port());
    drop(closed);
    for case in bad_settings(dir.path(), &address) {
        for entry in entries {
            let out = tool.run(&entry.args, &case.env, &entry.stdin, dir.path(), Duration::from_secs(30));
            assert_refused(tool, entry, &out, &case.names, &case.value);
        }
    }
}

/// `--client-timeout 0` and `VAULT_CLIENT_TIMEOUT=0` are refused as bad input.
pub fn check_zero_client_timeout(tool: &Tool, entries: &[Entry]) {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in entries {
        for zero in ["0", "0s"] {
            let env = vec![("VAULT_ADDR".to_owned(), "http://127.0.0.1:9".to_owned())];
            let mut args = entry.args.clone();
            // After the subcommand, where every tool accepts its connection flags (some define them on the
            // subcommand only); before everything for a tool without subcommands.
            let at = usize::from(args.first().is_some_and(|first| !first.starts_with('-')));
            args.splice(at..at, ["--client-timeout".to_owned(), zero.to_owned()]);
            let out = tool.run(&args, &env, &entry.stdin, dir.path(), Duration::from_secs(30));
            assert_refused(tool, entry, &out, "client timeout", "\u{0}never");
            let mut env = env.clone();
            env.push(("VAULT_CLIENT_TIMEOUT".to_owned(), zero.to_owned()));
            let out = tool.run(&entry.args, &env, &entry.stdin, dir.path(), Duration::from_secs(30));
            assert_refused(tool, entry, &out, "client timeout", "\u{0}never");
        }
    }
}

/// Against a server that accepts and never answers, and a port that drops connection attempts, each entry ends
/// within `limit` (its stated time limit plus start-up slack) with its unavailable code. `extra_env` sets the
/// tool's time limit (e.g. `VAULT_CLIENT_TIMEOUT=2s`).
pub fn check_time_limit(tool: &Tool, entries: &[Entry], extra_env: &[(&str, &str)], limit: Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let silent = crate::SilentServer::start().expect("silent server");
    let dropping = crate::DroppingPort::start().expect("a port that drops SYNs");
    for (kind, address) in [("accepts, never answers", silent.addr()), ("drops SYNs", dropping.addr())] {
        for entry in entries {
            let mut env = vec![
                ("VAULT_ADDR".to_owned(), address.clone()),
                ("VAULT_TOKEN".to_owned(), "s.some-token".to_owned()),
                ("VAULT_MAX_RETRIES".to_owned(), "5".to_owned()),
            ];
            env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            let out = tool.run(&entry.args, &env, &entry.stdin, dir.path(), limit * 3);
            let what = format!("{} {} against a server that {kind}", tool.name, entry.name);
            assert!(!out.killed && out.elapsed <= limit, "{what}: took {:?} (limit {limit:?})", out.elapsed);
            assert!(!out.stderr.contains("panicked"), "{what}: panicked:\n{}", out.stderr);
            assert!(
                out.code.is_some_and(|c| entry.unavailable_codes.contains(&c)),
                "{what}: exit {:?}, expected one of {:?}; stdout:\n{}\nstderr:\n{}",
                out.code,
                entry.unavailable_codes,
                out.stdout,
                out.stderr
            );
        }
    }
}

/// With a token the server does not know (revoked, expired or never issued), each entry fails as an
/// authentication failure (the unavailable code, "authentication failed"), not as "permission denied".
pub fn check_dead_token(tool: &Tool, entries: &[Entry], address: &str, dead_token: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = vec![("VAULT_ADDR".to_owned(), address.to_owned()), ("VAULT_TOKEN".to_owned(), dead_token.to_owned())];
    for entry in entries {
        let out = tool.run(&entry.args, &env, &entry.stdin, dir.path(), Duration::from_secs(60));
        let what = format!("{} {} with a dead token", tool.name, entry.name);
        assert!(!out.stderr.contains("panicked"), "{what}: panicked:\n{}", out.stderr);
        assert!(
            out.code.is_some_and(|c| entry.unavailable_codes.contains(&c)),
            "{what}: exit {:?}; stdout:\n{}\nstderr:\n{}",
            out.code,
            out.stdout,
            out.stderr
        );
        let said = out.all_output();
        assert!(said.contains("authentication failed"), "{what}: not reported as an authentication failure:\n{said}");
        assert!(!said.contains("permission denied"), "{what}: reported as a denial:\n{said}");
        assert!(!said.contains(dead_token), "{what}: the token is shown");
    }
}

/// A path far too long for any server (70,000 characters) is bad input, refused before sending: the usage
/// code and a short one-line error, not "cannot reach Vault". `entries` builds the entries for a path.
pub fn check_long_path(tool: &Tool, entries: impl Fn(&str) -> Vec<Entry>, address: &str, token: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = vec![("VAULT_ADDR".to_owned(), address.to_owned()), ("VAULT_TOKEN".to_owned(), token.to_owned())];
    for length in [9_000, 70_000] {
        let path = format!("secret/{}", "a".repeat(length));
        for entry in entries(&path) {
            let out = tool.run(&entry.args, &env, &entry.stdin, dir.path(), Duration::from_secs(60));
            let what = format!("{} {} with a {length}-character path", tool.name, entry.name);
            assert!(!out.stderr.contains("panicked"), "{what}: panicked:\n{}", out.stderr);
            assert_eq!(out.code, Some(entry.usage_code), "{what}: stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
            assert!(out.all_output().contains("bytes long"), "{what}: says why:\n{}", out.all_output());
            assert!(out.all_output().len() < 4_000, "{what}: the whole path is echoed");
        }
    }
}

/// The four connection classes as separate tests of one tool, for a test module that defines `tool() -> Tool` and
/// `entries() -> Vec<Entry>`: settings that cannot be sent, a zero client timeout, a server that never answers
/// (each entry ends within 3.5 s at a 2 s client timeout) and a dead token at start. Tools whose entry points
/// differ per class (vault-env's `serve`, vault-health's Nagios mode) call the `check_*` functions themselves.
#[macro_export]
macro_rules! connection_class_tests {
    () => {
        #[test]
        fn settings_that_cannot_be_sent_are_refused_by_every_entry_point() {
            $crate::toolcheck::check_bad_settings(&tool(), &entries());
        }

        #[test]
        fn a_zero_client_timeout_is_refused_by_every_entry_point() {
            $crate::toolcheck::check_zero_client_timeout(&tool(), &entries());
        }

        #[test]
        fn a_server_that_never_answers_is_given_up_on_within_the_client_timeout() {
            $crate::toolcheck::check_time_limit(
                &tool(),
                &entries(),
                &[("VAULT_CLIENT_TIMEOUT", "2s")],
                ::std::time::Duration::from_millis(3500),
            );
        }

        #[tokio::test]
        async fn a_dead_token_at_start_is_an_auth_failure() {
            let server = $crate::DevServer::start().await.expect("OpenBao dev server");
            let token = server.revoked_token().await.expect("a revoked token");
            $crate::toolcheck::check_dead_token(&tool(), &entries(), server.addr(), &token);
        }
    };
}
