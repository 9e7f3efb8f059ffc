//! Checks before anything is changed, each with a message that says what to do: ports, swap, core dumps, clock
//! synchronisation, disk space, and the ownership and modes of the folders that hold keys.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::{Layout, Step};

/// Free space under which the deployment refuses to go on, and under which it warns.
const DISK_MIN: u64 = 512 << 20;
const DISK_WARN: u64 = 2 << 30;

/// Runs every check. `ours_running` says the ports are held by this deployment's own server.
pub fn run(layout: &Layout, listen: SocketAddr, ours_running: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    let cluster = SocketAddr::new(listen.ip(), listen.port() + 1);
    if ours_running {
        steps
            .push(Step::ok("preflight: ports", format!("{listen} and {cluster} are held by this deployment's server")));
    } else {
        let busy: Vec<String> =
            [listen, cluster].iter().filter(|a| TcpListener::bind(a).is_err()).map(|a| a.to_string()).collect();
        if busy.is_empty() {
            steps.push(Step::ok("preflight: ports", format!("{listen} and {cluster} are free")));
        } else {
            steps.push(Step::fail(
                "preflight: ports",
                format!(
                    "{} in use by another program: stop it or choose another port with --listen",
                    busy.join(" and ")
                ),
            ));
        }
    }

    let swaps = fs::read_to_string("/proc/swaps").unwrap_or_default();
    if swaps.lines().count() > 1 {
        steps.push(Step::warn(
            "preflight: swap",
            "swap is on: the server's unsealed keyring could be written to disk; the systemd unit sets MemorySwapMax=0, and `swapoff -a` removes the risk for everything",
        ));
    } else {
        steps.push(Step::ok("preflight: swap", "no swap"));
    }

    let core_limit = fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max core file size"))
            .map(|l| l.split_whitespace().nth(4).unwrap_or("").to_owned())
    });
    match core_limit.as_deref() {
        Some("0") => steps.push(Step::ok("preflight: core dumps", "off")),
        _ => steps.push(Step::ok(
            "preflight: core dumps",
            "allowed for this shell; the server is started with core dumps off (LimitCORE=0 in the unit)",
        )),
    }

    steps.push(clock_check());

    let probe = layout.data_dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    match rustix::fs::statvfs(probe) {
        Ok(stat) => {
            let free = stat.f_bavail * stat.f_frsize;
            let shown = vault_core::output::human_size(free);
            if free < DISK_MIN {
                steps.push(Step::fail(
                    "preflight: disk",
                    format!("only {shown} free under {}: raft needs room to grow and snapshot", probe.display()),
                ));
            } else if free < DISK_WARN {
                steps.push(Step::warn(
                    "preflight: disk",
                    format!("{shown} free under {}: keep at least 2 GiB for raft and snapshots", probe.display()),
                ));
            } else {
                steps.push(Step::ok("preflight: disk", format!("{shown} free under {}", probe.display())));
            }
        }
        Err(e) => steps
            .push(Step::warn("preflight: disk", format!("cannot tell the free space under {}: {e}", probe.display()))),
    }

    steps.push(ownership_check(&layout.keys_dir));
    steps
}

fn clock_check() -> Step {
    let name = "preflight: clock";
    let synced = Command::new("timedatectl").args(["show", "-p", "NTPSynchronized", "--value"]).output();
    match synced {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout).trim() == "yes" {
                Step::ok(name, "synchronised (NTP)")
            } else {
                Step::warn(
                    name,
                    "not synchronised: enable NTP (`timedatectl set-ntp true`); tokens, leases and TLS all depend on the clock",
                )
            }
        }
        _ if Path::new("/run/systemd/timesync/synchronized").exists() => {
            Step::ok(name, "synchronised (systemd-timesyncd)")
        }
        _ => Step::warn(
            name,
            "cannot tell whether the clock is synchronised here (no timedatectl); make sure NTP runs on the host",
        ),
    }
}

fn ownership_check(keys: &Path) -> Step {
    let name = "preflight: ownership";
    let Ok(meta) = fs::metadata(keys) else {
        return Step::ok(name, format!("{} will be created 0700", keys.display()));
    };
    let me = rustix::process::getuid().as_raw();
    let mode = meta.permissions().mode() & 0o777;
    if meta.uid() != me {
        Step::fail(
            name,
            format!(
                "{} belongs to uid {}, not to the user running the deployment (uid {me})",
                keys.display(),
                meta.uid()
            ),
        )
    } else if mode & 0o077 != 0 {
        Step::warn(name, format!("{} is mode {mode:o}; it will be tightened to 0700", keys.display()))
    } else {
        Step::ok(name, format!("{} is private (mode {mode:o})", keys.display()))
    }
}
