//! Running the server: under systemd with the hardened unit from `systemd/vault.service`, or, with `--local`, as
//! a supervised process of our own (pid file, log file, restarted by the next run when it is not running).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal};

use super::Layout;
use super::files::write_file;

/// The pid of the local server, when the pid file names a live server process.
pub fn running_pid(layout: &Layout) -> Option<u32> {
    let pid: u32 = fs::read_to_string(&layout.pid_file).ok()?.trim().parse().ok()?;
    // A recycled pid would belong to some other program: check it is a server on our config.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let config = layout.config_file.to_string_lossy();
    String::from_utf8_lossy(&cmdline).contains(config.as_ref()).then_some(pid)
}

/// Starts the local server detached (own process group, so it outlives this command and ignores the terminal's
/// Ctrl-C), without core dumps (the equivalent of the unit's `LimitCORE=0`).
pub fn start_local(layout: &Layout, bin: &Path) -> anyhow::Result<u32> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&layout.log_file)
        .with_context(|| format!("opening {}", layout.log_file.display()))?;
    // Children inherit the limit: the server's memory, which holds the keyring once unsealed, never lands in a core file.
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit { current: Some(0), maximum: Some(0) },
    )
    .context("disabling core dumps")?;
    let child = Command::new(bin)
        .arg("server")
        .arg(format!("-config={}", layout.config_file.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    write_file(&layout.pid_file, child.id().to_string().as_bytes(), 0o644)?;
    Ok(child.id())
}

/// Stops the local server: SIGTERM, then SIGKILL after 20 s (raft needs a few seconds to close cleanly).
pub fn stop_local(layout: &Layout) -> anyhow::Result<Option<u32>> {
    let Some(pid) = running_pid(layout) else {
        let _ = fs::remove_file(&layout.pid_file);
        return Ok(None);
    };
    let target = Pid::from_raw(pid as i32).context("invalid pid")?;
    rustix::process::kill_process(target, Signal::TERM).context("sending SIGTERM to the server")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        if Instant::now() >= deadline {
            let _ = rustix::process::kill_process(target, Signal::KILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = fs::remove_file(&layout.pid_file);
    Ok(Some(pid))
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

/// The last lines of the server's log, for error messages.
pub fn log_tail(layout: &Layout, lines: usize) -> String {
    let log = fs::read_to_string(&layout.log_file).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether systemd manages this machine.
pub fn systemd_present() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The main process of a systemd unit when it runs (`systemctl show -p MainPID`; 0 means none).
pub fn systemd_main_pid(unit: &str) -> Option<u32> {
    let out = Command::new("systemctl").args(["show", "--property=MainPID", "--value", unit]).output().ok()?;
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (out.status.success() && pid != 0).then_some(pid)
}

/// Installs the hardened unit (when it differs), reloads systemd, enables the unit and starts or restarts it.
/// Returns a sentence for the report and whether anything changed.
pub fn install_systemd_unit(
    template: &str,
    bin: &Path,
    config: &Path,
    restart: bool,
) -> anyhow::Result<(String, bool)> {
    let unit = template.replace("@BIN@", &bin.display().to_string()).replace("@CONFIG@", &config.display().to_string());
    let path = Path::new("/etc/systemd/system/vault.service");
    let changed = super::files::write_if_changed(path, unit.as_bytes(), 0o644)?;
    let systemctl = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("systemctl")
            .args(args)
            .status()
            .with_context(|| format!("running systemctl {}", args.join(" ")))?;
        if !status.success() {
            bail!("systemctl {} failed ({status}); see `journalctl -u vault`", args.join(" "));
        }
        Ok(())
    };
    if changed {
        systemctl(&["daemon-reload"])?;
    }
    systemctl(&["enable", "--quiet", "vault.service"])?;
    let active =
        Command::new("systemctl").args(["is-active", "--quiet", "vault.service"]).status().is_ok_and(|s| s.success());
    if !active {
        // A unit that failed to start several times (say, before its config was readable) is held back by
        // StartLimitBurst until its failures are forgotten.
        systemctl(&["reset-failed", "vault.service"])?;
        systemctl(&["start", "vault.service"])?;
        return Ok(("started vault.service".into(), true));
    }
    if changed || restart {
        systemctl(&["restart", "vault.service"])?;
        return Ok(("restarted vault.service with the new unit or config".into(), true));
    }
    Ok(("vault.service is enabled and running".into(), false))
}
