//! deploy's systemd mode under a real systemd: a Debian 12 container booted with systemd as its PID 1
//! (`vault_testkit::container`), the toolkit installed as a user installs it on a VPS (the `cargo xtask dist`
//! tarball, unpacked, its `install.sh`; OpenBao's binary beside it), then the runs a user meets: a first deploy,
//! every job unit and timer it installs with each timer's service run once (`systemd_jobs.rs`), the day-two flow
//! with the installed tools, a re-run that changes nothing, a `systemctl restart vault` that the next run
//! unseals, a config edited by hand, a port taken by a program that is not ours, and a last run that changes
//! nothing. No secret reaches the journal.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use vault_testkit::container::Container;

use crate::INSTALLED as TOOLS;
use crate::{root, systemd_jobs, text, xtask};

const CONFIG: &str = "/etc/vault.d/vault.hcl";
const CLIENT_ENV: &[(&str, &str)] =
    &[("BAO_ADDR", "https://127.0.0.1:8200"), ("BAO_CACERT", "/etc/vault.d/tls/ca.pem")];

/// Installs the toolkit the way the README tells a VPS user to: the dev-profile tarball `cargo xtask dist` builds
/// (it builds whatever is stale first), checked against its `.sha256`, unpacked, and its `install.sh` run with the
/// default prefix `/usr/local`. OpenBao is installed separately, as a user would, to `/usr/local/bin/bao`.
pub fn install_toolkit(machine: &Container) {
    let out = tempfile::tempdir().unwrap();
    let built = xtask(&["dist", "--profile", "dev", "--out-dir", out.path().to_str().unwrap()]);
    assert!(built.status.success(), "{}", text(&built));
    let tarball = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    let file = tarball.file_name().unwrap().to_str().unwrap().to_owned();
    let package = file.strip_suffix(".tar.gz").unwrap().to_owned();
    machine.copy_in(&tarball, &format!("/root/{file}"), 0o644).unwrap();
    machine.copy_in(&out.path().join(format!("{file}.sha256")), &format!("/root/{file}.sha256"), 0o644).unwrap();
    inside(
        machine,
        &format!("cd /root && sha256sum --quiet -c {file}.sha256 && tar xzf {file} && sh {package}/install.sh"),
    );
    for tool in TOOLS {
        let version = inside(machine, &format!("{tool} --version"));
        assert!(version.starts_with(&format!("{tool} ")), "{tool} --version: {version}");
        assert_eq!(inside(machine, &format!("command -v {tool}")), format!("/usr/local/bin/{tool}"));
    }
    assert!(inside(machine, "ls /usr/local/share/vault-toolkit/systemd").contains("vault-backup.timer"));
    let bao = vault_testkit::bao_binary().expect("the OpenBao binary must be available");
    machine.copy_in(&bao, "/usr/local/bin/bao", 0o755).unwrap();
}

struct Run {
    code: Option<i32>,
    report: Value,
    text: String,
}

impl Run {
    fn changed(&self) -> Vec<String> {
        self.steps().filter(|s| s["outcome"] == "changed").map(|s| s["step"].as_str().unwrap().to_owned()).collect()
    }

    fn steps(&self) -> impl Iterator<Item = &Value> {
        self.report["steps"].as_array().map(|a| a.iter()).into_iter().flatten()
    }

    fn step(&self, name: &str) -> &Value {
        self.steps().find(|s| s["step"] == name).unwrap_or_else(|| panic!("no step {name}:\n{}", self.text))
    }
}

/// `vault-toolkit deploy` in systemd mode, from a folder that is not a checkout (as on a VPS).
fn deploy(machine: &Container) -> Run {
    let output = machine
        .sh("cd /tmp && vault-toolkit deploy --bin /usr/local/bin/bao --pipeline-user dagster --format json")
        .unwrap();
    Run {
        code: output.status.code(),
        report: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        text: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    }
}

pub fn inside(machine: &Container, script: &str) -> String {
    let output = machine.sh(script).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "`{script}` failed ({}):\n{text}", output.status);
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn main_pid(machine: &Container) -> String {
    inside(machine, "systemctl show --property=MainPID --value vault.service")
}

fn sealed(machine: &Container) -> bool {
    let mut command = machine.command_env(CLIENT_ENV, "bao");
    command.args(["status", "-format=json"]);
    let output = command.output().unwrap();
    let status: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("bao status: {}", String::from_utf8_lossy(&output.stderr)));
    status["sealed"].as_bool().unwrap()
}

fn journal(machine: &Container) -> String {
    machine
        .sh("journalctl -u vault --no-pager -n 30")
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn installed_from_the_tarball_deploy_runs_every_job_and_day_two_converges_and_refuses_what_is_not_ours() {
    let machine = Container::boot().expect("booting the Debian container");
    install_toolkit(&machine);
    inside(&machine, "useradd --system --shell /usr/sbin/nologin dagster");

    // A first deploy on a bare host completes, from a folder that is not the build machine's checkout.
    let first = deploy(&machine);
    assert_eq!(first.code, Some(0), "{}\n{}", first.text, journal(&machine));
    assert_eq!(first.report["complete"], true);
    for step in ["config", "server", "init", "unseal", "policies", "root token", "job folders", "job units", "timers"] {
        assert!(first.changed().contains(&step.to_owned()), "{step} not changed:\n{}", first.text);
    }
    // The unit runs as vault and reads its config and key through the group; clients (any user) reach the CA.
    assert_eq!(inside(&machine, &format!("stat -c %U:%G:%a {CONFIG}")), "root:vault:640");
    assert_eq!(inside(&machine, "stat -c %U:%G:%a /etc/vault.d/tls/server-key.pem"), "root:vault:640");
    assert_eq!(
        inside(&machine, "runuser -u dagster -- cat /etc/vault.d/tls/ca.pem | head -1"),
        "-----BEGIN CERTIFICATE-----"
    );
    assert_eq!(inside(&machine, "systemctl is-enabled vault.service"), "enabled");
    assert_eq!(inside(&machine, "systemctl show --property=User --value vault.service"), "vault");
    assert_eq!(
        inside(&machine, "stat -c %U /proc/$(systemctl show --property=MainPID --value vault.service)"),
        "vault"
    );
    // Every policy file of the workspace was embedded and written, none read from a checkout.
    let shipped: BTreeSet<String> = std::fs::read_dir(root().join("policies"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".hcl").map(str::to_owned))
        .collect();
    let written = first.step("policies")["detail"].as_str().unwrap().to_owned();
    for name in &shipped {
        assert!(written.contains(name.as_str()), "policy {name} not written: {written}");
    }

    // Every job unit and timer is installed and each job succeeds once under its unit; then day two.
    systemd_jobs::every_job_succeeds_under_its_unit(&machine);
    let migrated = systemd_jobs::day_two(&machine);
    systemd_jobs::no_unit_failed(&machine);

    // After all that, a re-run finds its own vault.service on the ports and changes nothing.
    let pid = main_pid(&machine);
    let second = deploy(&machine);
    assert_eq!(second.code, Some(0), "{}", second.text);
    assert_eq!(second.changed(), Vec::<String>::new(), "{}", second.text);
    assert!(second.step("preflight: ports")["detail"].as_str().unwrap().contains("held by this deployment's server"));
    assert_eq!(main_pid(&machine), pid, "a re-run must not restart the server");

    // `systemctl reload vault` (what logrotate's postrotate runs) signals the server, which stays up and unsealed.
    let reload = machine.sh("systemctl reload vault.service").unwrap();
    assert!(reload.status.success(), "systemctl reload vault: {}\n{}", text(&reload), journal(&machine));
    assert_eq!(main_pid(&machine), pid, "a reload must not restart the server");
    assert!(!sealed(&machine), "a reload must not seal the server");

    // `systemctl restart vault` seals it; the next deploy unseals it and changes nothing else.
    inside(&machine, "systemctl restart vault.service");
    assert!(sealed(&machine), "a restarted server starts sealed");
    let third = deploy(&machine);
    assert_eq!(third.code, Some(0), "{}", third.text);
    assert_eq!(third.changed(), vec!["unseal".to_owned()], "{}", third.text);
    assert!(!sealed(&machine));

    // A config edited by hand: deploy owns the file, so it is rewritten, the server restarted (and unsealed), and
    // the edited file kept beside it.
    let rendered = inside(&machine, &format!("cat {CONFIG}"));
    inside(&machine, &format!("echo '# edited by hand' >> {CONFIG}"));
    let pid = main_pid(&machine);
    let fourth = deploy(&machine);
    assert_eq!(fourth.code, Some(0), "{}", fourth.text);
    assert_eq!(fourth.changed(), vec!["config", "server", "unseal"], "{}", fourth.text);
    assert!(fourth.step("config")["detail"].as_str().unwrap().contains("edited by hand"), "{}", fourth.text);
    assert_eq!(inside(&machine, &format!("cat {CONFIG}")), rendered);
    assert_eq!(inside(&machine, &format!("stat -c %U:%G:%a {CONFIG}")), "root:vault:640");
    assert_ne!(main_pid(&machine), pid, "the server runs the rewritten config");
    let kept = inside(&machine, "ls /etc/vault.d/ | grep '^vault.hcl.edited-'");
    assert!(inside(&machine, &format!("cat /etc/vault.d/{kept}")).ends_with("# edited by hand"));
    assert_eq!(inside(&machine, &format!("stat -c %a /etc/vault.d/{kept}")), "600");

    // The port taken by a program that is not ours while the server is stopped: a clear preflight failure, exit
    // 4, nothing changed; once the port is free again, the next run starts and unseals the server.
    inside(&machine, "systemctl stop vault.service");
    inside(&machine, "systemd-run --unit=squatter --quiet systemd-socket-activate -l 127.0.0.1:8200 /bin/cat");
    inside(
        &machine,
        "for i in $(seq 100); do grep -q ':2008 00000000:0000 0A' /proc/net/tcp && exit 0; sleep 0.05; done; exit 1",
    );
    let before =
        inside(&machine, "sha256sum /etc/vault.d/vault.hcl /etc/systemd/system/vault.service; ls -la /etc/vault.d");
    let refused = deploy(&machine);
    assert_eq!(refused.code, Some(4), "{}", refused.text);
    let ports = refused.step("preflight: ports");
    assert_eq!(ports["outcome"], "failed");
    let detail = ports["detail"].as_str().unwrap();
    assert!(detail.contains("127.0.0.1:8200 is in use by pid") && detail.contains("systemd-socket"), "{detail}");
    assert_eq!(refused.changed(), Vec::<String>::new());
    assert!(refused.steps().all(|s| s["step"].as_str().unwrap().starts_with("preflight")), "{}", refused.text);
    assert_eq!(
        inside(&machine, "sha256sum /etc/vault.d/vault.hcl /etc/systemd/system/vault.service; ls -la /etc/vault.d"),
        before
    );
    assert_eq!(machine.run(&["systemctl", "is-active", "--quiet", "vault.service"]).unwrap().status.code(), Some(3));
    inside(&machine, "systemctl stop squatter.service");
    let fifth = deploy(&machine);
    assert_eq!(fifth.code, Some(0), "{}", fifth.text);
    assert_eq!(fifth.changed(), vec!["server", "unseal"], "{}", fifth.text);

    // The last run finds everything as it left it.
    let last = deploy(&machine);
    assert_eq!(last.code, Some(0), "{}", last.text);
    assert_eq!(last.changed(), Vec::<String>::new(), "{}", last.text);

    // No credential, key share or migrated value reached the journal (every unit's output and systemd's own).
    let secrets = inside(
        &machine,
        "for f in /etc/vault.d/approle/*/secret-id /root/vault-keys/unseal-key-*; do cat \"$f\"; echo; done",
    );
    let journal_text = inside(&machine, "journalctl --no-pager -o cat");
    let mut checked = 0;
    for secret in secrets.split_whitespace().map(str::to_owned).chain(migrated) {
        assert!(secret.len() >= 16, "a secret too short to search for: {} chars", secret.len());
        assert!(!journal_text.contains(&secret), "a secret reached the journal");
        checked += 1;
    }
    assert!(checked >= 6 + 5 + 3, "only {checked} secrets searched for");

    machine.poweroff().expect("powering the container off");
}
