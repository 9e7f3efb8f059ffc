//! A Debian 12 machine with its own systemd as PID 1, for testing what runs under systemd (deploy's systemd mode,
//! the units and their timers) on a host whose PID 1 is not systemd.
//!
//! The root file system is built once with `debootstrap` (minbase plus systemd, dbus and ca-certificates) from the
//! Debian mirror this machine's apt already uses, and cached under `<target>/tools/debian-bookworm`; it is built
//! into a temporary name and renamed, so a killed build never leaves half a root behind. Each [`Container`] boots a
//! private copy of it with `systemd-nspawn` (loopback-only network, its own machine name), commands run inside
//! through `nsenter` with a clean environment, and dropping it powers the machine off (SIGKILL to its init if it
//! does not stop in time) and removes the copy.
//!
//! ```no_run
//! let machine = vault_testkit::container::Container::boot()?;
//! machine.copy_in(std::path::Path::new("target/debug/vault-health"), "/usr/local/bin/vault-health", 0o755)?;
//! let out = machine.run(&["systemctl", "is-system-running"])?;
//! assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "running");
//! # Ok::<(), vault_testkit::Error>(())
//! ```
//!
//! Needs root (debootstrap, nspawn and nsenter all do), `debootstrap` and `systemd-container`; both are installed
//! with apt when missing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::error::{Error, Result, tail};
use crate::install::{find_on_path, lock_installs, run_install, tools_dir};
use crate::process::command_line;

/// The Debian release of the container: the one this project runs on (same glibc, so host binaries run inside).
pub const SUITE: &str = "bookworm";

/// Machine names of test containers start with this.
const NAME_PREFIX: &str = "vault-testkit-";

/// How long a boot may take before the kit gives up, and how long a poweroff may take before it kills.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment commands inside get: nothing from the test process (no `VAULT_*`, no cargo variables).
const INSIDE_ENV: &[&str] =
    &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb"];

/// A booted Debian machine with systemd as its PID 1, powered off when dropped.
#[derive(Debug)]
pub struct Container {
    name: String,
    /// The per-run copy of the root; `None` once removed.
    dir: Option<tempfile::TempDir>,
    nspawn: Child,
    init: u32,
}

impl Container {
    /// Boots a fresh copy of the cached Debian root (building the cache first when missing) and waits until
    /// systemd reports `running` or `degraded`.
    pub fn boot() -> Result<Container> {
        Self::boot_with_network(None)
    }

    /// Boots another machine like [`Container::boot`] that shares `other`'s network namespace instead of having a
    /// loopback of its own: two hosts that reach each other, each listening on its own loopback address
    /// (`127.0.0.1`, `127.0.0.2`, …), as the nodes of a cluster on a private network do.
    pub fn boot_beside(other: &Container) -> Result<Container> {
        Self::boot_with_network(Some(other.init))
    }

    fn boot_with_network(share_with: Option<u32>) -> Result<Container> {
        let image = root_image()?;
        let runs = tools_dir().join("containers");
        reap_orphans(&runs);
        fs::create_dir_all(&runs).map_err(|e| Error::io(format!("cannot create {}", runs.display()), e))?;
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&runs)
            .map_err(|e| Error::io(format!("cannot create a folder under {}", runs.display()), e))?;
        let root = dir.path().join("root");
        let mut copy = Command::new("cp");
        copy.args(["-a", "--reflink=auto"]).arg(&image).arg(&root);
        run_checked(copy)?;

        // The folder's random suffix makes the machine name unique among concurrent runs.
        let suffix = dir.path().file_name().and_then(|n| n.to_str()).unwrap_or("run").trim_start_matches("run-");
        let name = format!("{NAME_PREFIX}{}", suffix.to_ascii_lowercase());
        let log = dir.path().join("console.log");
        let console = fs::File::create(&log).map_err(|e| Error::io(format!("cannot create {}", log.display()), e))?;
        let mut nspawn = Command::new(nspawn_binary()?);
        nspawn
            .args(["--register=no", "--keep-unit", "--console=passive", "--quiet"])
            .arg(match share_with {
                Some(init) => format!("--network-namespace-path=/proc/{init}/ns/net"),
                None => "--private-network".to_owned(),
            })
            .arg(format!("--machine={name}"))
            .arg("--directory")
            .arg(&root)
            .arg("--boot")
            .stdin(Stdio::null())
            .stdout(console.try_clone().map_err(|e| Error::io("cannot share the console log", e))?)
            .stderr(console);
        let line = command_line(&nspawn);
        let mut nspawn = nspawn.spawn().map_err(|e| Error::io(format!("cannot start `{line}`"), e))?;

        let started = Instant::now();
        let init = loop {
            if let Some(init) = child_of(nspawn.id()) {
                break init;
            }
            if let Ok(Some(status)) = nspawn.try_wait() {
                return Err(Error::Exited {
                    server: "systemd-nspawn",
                    status: status.to_string(),
                    log_tail: tail(&fs::read_to_string(&log).unwrap_or_default(), 30),
                });
            }
            if started.elapsed() > BOOT_TIMEOUT {
                let _ = nspawn.kill();
                let _ = nspawn.wait();
                return Err(not_ready("systemd-nspawn", started, "its init never appeared".into(), &log));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let machine = Container { name, dir: Some(dir), nspawn, init };
        machine.wait_running(started)?;
        Ok(machine)
    }

    /// The machine name (also its hostname).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's root folder as seen from the host: files written under it appear inside.
    pub fn root(&self) -> PathBuf {
        self.dir.as_ref().expect("the folder lives until drop").path().join("root")
    }

    /// The host pid of the container's systemd.
    pub fn init_pid(&self) -> u32 {
        self.init
    }

    /// A command that runs `program` inside the container, as root, with a clean environment (`PATH`, `HOME`,
    /// `LANG`) plus `env`. Add arguments to it and run it like any `Command`.
    pub fn command_env(&self, env: &[(&str, &str)], program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("--target")
            .arg(self.init.to_string())
            .args(["--all", "--", "/usr/bin/env", "-i"])
            .args(INSIDE_ENV)
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// [`Container::command_env`] without extra variables.
    pub fn command(&self, program: &str) -> Command {
        self.command_env(&[], program)
    }

    /// Runs `argv` inside and returns its output, whatever its exit status (check `status` yourself).
    pub fn run(&self, argv: &[&str]) -> Result<Output> {
        let (program, args) = argv.split_first().expect("a command line has a program");
        let mut command = self.command(program);
        command.args(args);
        let line = command_line(&command);
        command.output().map_err(|e| Error::io(format!("cannot run `{line}`"), e))
    }

    /// Runs `argv` inside and returns its stdout; a failure is an error carrying its output.
    pub fn run_ok(&self, argv: &[&str]) -> Result<String> {
        let (program, args) = argv.split_first().expect("a command line has a program");
        let mut command = self.command(program);
        command.args(args);
        run_checked(command)
    }

    /// Runs a shell script inside (`/bin/sh -c SCRIPT`) and returns its output, whatever its exit status.
    pub fn sh(&self, script: &str) -> Result<Output> {
        self.run(&["/bin/sh", "-c", script])
    }

    /// Copies a host file to `inside` (an absolute path in the container) with `mode`, creating its folder.
    pub fn copy_in(&self, from: &Path, inside: &str, mode: u32) -> Result<()> {
        let bytes = fs::read(from).map_err(|e| Error::io(format!("cannot read {}", from.display()), e))?;
        self.write_file(inside, &bytes, mode)
    }

    /// Writes `bytes` to `inside` (an absolute path in the container), owned by root, with `mode`.
    pub fn write_file(&self, inside: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let target = self.root().join(inside.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        fs::write(&target, bytes).map_err(|e| Error::io(format!("cannot write {}", target.display()), e))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("cannot set the mode of {}", target.display()), e))
    }

    /// Powers the machine off and waits for it to stop; kills its init (and with it every process inside) when it
    /// has not stopped within 30 s. The root copy is removed.
    pub fn poweroff(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        if self.nspawn.try_wait().ok().flatten().is_none() {
            let _ = self.run(&["systemctl", "poweroff", "--no-block"]);
            let deadline = Instant::now() + POWEROFF_TIMEOUT;
            while self.nspawn.try_wait().ok().flatten().is_none() {
                if Instant::now() >= deadline {
                    // Killing a PID namespace's init kills everything in it; then nspawn exits. The pid is
                    // checked first: it must still be this container's init, not a recycled pid.
                    let runs = tools_dir().join("containers");
                    if is_our_init(self.init, &runs)
                        && let Some(pid) = Pid::from_raw(self.init as i32)
                    {
                        let _ = kill_process(pid, Signal::KILL);
                    }
                    let _ = self.nspawn.kill();
                    let _ = self.nspawn.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(dir) = self.dir.take() {
            if std::env::var_os("VAULT_TESTKIT_KEEP").is_some_and(|keep| keep == "1") {
                eprintln!("vault-testkit: kept {}", dir.keep().display());
            } else {
                let path = dir.path().to_path_buf();
                dir.close().map_err(|e| Error::io(format!("cannot remove {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// Waits for `systemctl is-system-running` to say `running` or `degraded`.
    fn wait_running(&self, started: Instant) -> Result<()> {
        let mut last = String::new();
        while started.elapsed() < BOOT_TIMEOUT {
            if let Ok(out) = self.run(&["systemctl", "is-system-running"]) {
                last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if last == "running" || last == "degraded" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.dir.as_ref().map(|d| d.path().join("console.log")).unwrap_or_default();
        Err(not_ready("the container's systemd", started, format!("is-system-running says {last:?}"), &log))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("vault-testkit: stopping container {}: {error}", self.name);
        }
    }
}

/// The cached Debian root, built with debootstrap on first use (under the kit's install lock, so concurrent test
/// binaries build it once).
pub fn root_image() -> Result<PathBuf> {
    let image = tools_dir().join(format!("debian-{SUITE}"));
    let ready = |image: &Path| image.join("usr/lib/systemd/systemd").exists();
    if ready(&image) {
        return Ok(image);
    }
    let _lock = lock_installs()?;
    if ready(&image) {
        return Ok(image);
    }
    let debootstrap = match find_on_path("debootstrap") {
        Some(path) => path,
        None => {
            apt_install("debootstrap")?;
            find_on_path("debootstrap").unwrap_or_else(|| PathBuf::from("/usr/sbin/debootstrap"))
        }
    };
    let mirror = debian_mirror(&apt_sources()).ok_or_else(|| Error::Setup {
        problem: format!("no Debian {SUITE} `deb` source with the main component in /etc/apt/sources.list(.d)"),
        fix: "run the tests on Debian 12, whose apt sources name the mirror to build the container from".to_owned(),
    })?;
    // Leftovers of killed builds go first; the build lands under a temporary name and is renamed when complete.
    let parent = image.parent().expect("the image lives in the tools folder");
    fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    let prefix = format!("debian-{SUITE}.tmp-");
    for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let building = parent.join(format!("{prefix}{}", std::process::id()));
    run_install(
        "the Debian container root",
        Command::new(debootstrap)
            .args(["--variant=minbase", "--include=systemd,systemd-sysv,dbus,ca-certificates", SUITE])
            .arg(&building)
            .arg(&mirror),
        "check that the Debian mirror in apt's sources is reachable; the tests need root for debootstrap",
    )?;
    fs::rename(&building, &image)
        .map_err(|e| Error::io(format!("cannot move {} to {}", building.display(), image.display()), e))?;
    Ok(image)
}

/// The contents of apt's source lists: `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}`.
fn apt_sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    let mut extra: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
        .collect();
    extra.sort();
    files.extend(extra);
    files.into_iter().filter_map(|p| fs::read_to_string(&p).ok().map(|text| (p, text))).collect()
}

/// The first mirror that serves `SUITE` with `main` as a `deb` source, from one-line (`.list`) or deb822
/// (`.sources`) files.
fn debian_mirror(sources: &[(PathBuf, String)]) -> Option<String> {
    for (path, text) in sources {
        let deb822 = path.extension().is_some_and(|e| e == "sources");
        let found = if deb822 { deb822_mirror(text) } else { one_line_mirror(text) };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn one_line_mirror(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace().peekable();
        if words.next()? != "deb" {
            return None;
        }
        // Options in brackets may span several words: `[arch=amd64 signed-by=…]`.
        if words.peek()?.starts_with('[') {
            for word in words.by_ref() {
                if word.ends_with(']') {
                    break;
                }
            }
        }
        let uri = words.next()?;
        let suite = words.next()?;
        (suite == SUITE && words.any(|c| c == "main")).then(|| uri.to_owned())
    })
}

fn deb822_mirror(text: &str) -> Option<String> {
    // Stanzas are separated by blank lines; fields are `Name: value`, names case-insensitive.
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.split_whitespace().map(str::to_owned).collect())
            })
        };
        let types: Vec<String> = field("Types")?;
        let suites: Vec<String> = field("Suites")?;
        let components: Vec<String> = field("Components")?;
        let enabled = field("Enabled").is_none_or(|v: Vec<String>| v.first().is_none_or(|e| e != "no"));
        let uris: Vec<String> = field("URIs")?;
        (enabled
            && types.iter().any(|t| t == "deb")
            && suites.iter().any(|s| s == SUITE)
            && components.iter().any(|c| c == "main"))
        .then(|| uris.into_iter().next())?
    })
}

fn nspawn_binary() -> Result<PathBuf> {
    if let Some(path) = find_on_path("systemd-nspawn") {
        return Ok(path);
    }
    apt_install("systemd-container")?;
    find_on_path("systemd-nspawn").ok_or_else(|| Error::Setup {
        problem: "apt-get installed systemd-container, yet systemd-nspawn is not on PATH".to_owned(),
        fix: "install systemd-container yourself".to_owned(),
    })
}

fn apt_install(package: &'static str) -> Result<()> {
    let fix = "run the tests as root on Debian, or install the package yourself";
    run_install(package, Command::new("apt-get").arg("update"), fix)?;
    run_install(
        package,
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        fix,
    )
}

/// The container's init: the child of nspawn that lives in another PID namespace and has become systemd. nspawn
/// first forks a helper in the host's namespaces, and the init is `systemd-nspawn` until it execs: entering either
/// of those would run commands on the host.
fn child_of(parent: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    let own_ns = fs::read_link("/proc/self/ns/pid").ok()?;
    children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).find(|pid| {
        fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns != own_ns)
            && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "systemd")
    })
}

/// Whether `pid` is the init of a container booted from a copy under `runs` (its root mount comes from there).
fn is_our_init(pid: u32, runs: &Path) -> bool {
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    // `ID PARENT MAJ:MIN ROOT MOUNTPOINT …`: the line mounted at `/` names the host folder it came from.
    mountinfo.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 4 && fields[4] == "/" && Path::new(fields[3]).starts_with(runs)
    })
}

/// Kills test containers whose `systemd-nspawn` is gone (a test binary killed before it could power them off):
/// an init re-parented to PID 1, started by nspawn, whose root is a copy under the kit's `containers` folder.
fn reap_orphans(runs: &Path) {
    let Ok(procs) = fs::read_dir("/proc") else { return };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        let nspawned = environ.split(|b| *b == 0).any(|v| v == b"container=systemd-nspawn");
        if ppid == Some(1)
            && nspawned
            && is_our_init(pid, runs)
            && let Some(target) = Pid::from_raw(pid as i32)
        {
            eprintln!("vault-testkit: killing an orphaned test container (init pid {pid})");
            let _ = kill_process(target, Signal::KILL);
        }
    }
}

fn run_checked(mut command: Command) -> Result<String> {
    let line = command_line(&command);
    let output = command.output().map_err(|e| Error::Command {
        command: line.clone(),
        outcome: format!("could not run ({e})"),
        output: String::new(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    Err(Error::Command {
        command: line,
        outcome: format!("failed ({})", output.status),
        output: tail(&format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)), 30),
    })
}

fn not_ready(server: &'static str, started: Instant, reason: String, log: &Path) -> Error {
    Error::NotReady {
        server,
        waited: started.elapsed(),
        reason,
        log_tail: tail(&fs::read_to_string(log).unwrap_or_default(), 30),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        files.iter().map(|(p, t)| (PathBuf::from(p), (*t).to_owned())).collect()
    }

    #[test]
    fn the_mirror_comes_from_a_deb822_stanza_for_the_suite_with_main() {
        let text = "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let found = debian_mirror(&sources(&[("/etc/apt/sources.list.d/debian.sources", text)]));
        assert_eq!(found.as_deref(), Some("http://mirror.example/debian"));
    }

    #[test]
    fn sources_that_do_not_serve_the_suite_main_or_binaries_are_skipped() {
        let text = "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n\
                    Types: deb\nURIs: http://other.example/debian\nSuites: trixie\nComponents: main\n\n\
                    Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n\
                    Types: deb\nURIs: http://contrib.example/debian\nSuites: bookworm\nComponents: contrib\n";
        assert_eq!(debian_mirror(&sources(&[("/x/a.sources", text)])), None);
        let list = "# deb http://commented.example/debian bookworm main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://list.example/debian bookworm main contrib\n";
        let found = debian_mirror(&sources(&[("/x/a.sources", text), ("/etc/apt/sources.list", list)]));
        assert_eq!(found.as_deref(), Some("http://list.example/debian"));
    }
}
