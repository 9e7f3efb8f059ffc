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

/// Runs every check. `ours` is the pid of this deployment's own server when it runs (the supervised process, or
/// vault.service's main process): ports held by it are a re-run, not a conflict.
pub fn run(layout: &Layout, listen: SocketAddr, ours: Option<u32>) -> Vec<Step> {
    let mut steps = Vec::new();
    steps.push(ports_check(listen, ours));

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

/// The API and cluster ports must be free, or held by our own server.
pub(super) fn ports_check(listen: SocketAddr, ours: Option<u32>) -> Step {
    let name = "preflight: ports";
    let cluster = SocketAddr::new(listen.ip(), listen.port() + 1);
    let mut by_others = Vec::new();
    let mut by_us = false;
    for addr in [listen, cluster] {
        if TcpListener::bind(addr).is_ok() {
            continue;
        }
        let holders = listeners_on(addr.port());
        match ours {
            // Without permission to see the holder (not root), our running server is the likely one.
            Some(pid) if holders.is_empty() || holders.iter().all(|h| *h == pid) => by_us = true,
            _ if holders.is_empty() => by_others.push(format!("{addr} is in use by another program")),
            _ => {
                let who: Vec<String> =
                    holders.iter().map(|pid| format!("pid {pid} ({})", command_name(*pid))).collect();
                by_others.push(format!("{addr} is in use by {}", who.join(", ")));
            }
        }
    }
    if !by_others.is_empty() {
        return Step::fail(
            name,
            format!(
                "{}, not by this deployment's server: stop that program or choose another port with --listen",
                by_others.join("; ")
            ),
        );
    }
    match ours {
        Some(pid) if by_us => {
            Step::ok(name, format!("{listen} and {cluster} are held by this deployment's server (pid {pid})"))
        }
        _ => Step::ok(name, format!("{listen} and {cluster} are free")),
    }
}

/// The pids of the processes with a listening TCP socket on `port` (IPv4 or IPv6, any address), found through
/// `/proc/net/tcp*` (socket inode) and `/proc/PID/fd` (which process holds that inode). Processes whose fds this
/// user may not read are missing from the answer.
pub fn listeners_on(port: u16) -> Vec<u32> {
    let mut inodes = std::collections::BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        inodes.extend(text.lines().skip(1).filter_map(|line| listening_inode(line, port)));
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut pids = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else { return pids };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .ok()
                .and_then(|target| {
                    let target = target.to_string_lossy().into_owned();
                    target.strip_prefix("socket:[")?.strip_suffix(']')?.parse::<u64>().ok()
                })
                .is_some_and(|inode| inodes.contains(&inode))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

/// The socket inode of a `/proc/net/tcp` line when it is a listener (state 0A) on `port`.
fn listening_inode(line: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    let local_port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
    (local_port == port && *fields.get(3)? == "0A").then(|| fields.get(9)?.parse().ok())?
}

fn command_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim().to_owned()).unwrap_or_else(|_| "?".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_line_gives_its_inode_and_other_states_or_ports_do_not() {
        let listen = "   3: 0100007F:2008 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 123456 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(listen, 8200), Some(123456));
        assert_eq!(listening_inode(listen, 8201), None);
        let established = listen.replace(" 0A ", " 01 ");
        assert_eq!(listening_inode(&established, 8200), None);
        let v6 = "   0: 00000000000000000000000000000000:2009 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inode(v6, 8201), Some(777));
        assert_eq!(listening_inode("garbage", 8200), None);
    }

    #[test]
    fn this_process_is_found_as_the_holder_of_its_listener_and_others_are_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = std::process::id();
        assert_eq!(listeners_on(addr.port()), vec![me]);
        // The listener as `ours`: a re-run. A port whose successor is taken by us too is still ours.
        let ours = ports_check(addr, Some(me));
        assert_eq!(ours.outcome, super::super::Outcome::Ok, "{}", ours.detail);
        // Held by someone else (pid 1 is never this test): refused, naming the holder.
        let theirs = ports_check(addr, Some(1));
        assert_eq!(theirs.outcome, super::super::Outcome::Failed);
        assert!(theirs.detail.contains(&format!("pid {me}")), "{}", theirs.detail);
        let nobody = ports_check(addr, None);
        assert_eq!(nobody.outcome, super::super::Outcome::Failed);
    }
}
