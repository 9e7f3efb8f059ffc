//! `scripts/vault/health-check.sh`: shellcheck-clean (checked when shellcheck is installed; the test installs
//! nothing), and a working wrapper that writes the Prometheus textfile.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{dev_server, prometheus, sample};

fn script() -> PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_owned();
    repo.join("scripts/vault/health-check.sh")
}

#[test]
fn the_script_is_shellcheck_clean() {
    let Ok(output) = Command::new("shellcheck").arg("--version").output() else {
        eprintln!("shellcheck is not installed: only the script's syntax is checked (bash -n)");
        let output = Command::new("bash").arg("-n").arg(script()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        return;
    };
    assert!(output.status.success());
    let output = Command::new("shellcheck").arg(script()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

#[tokio::test]
async fn the_script_writes_the_textfile() {
    let server = dev_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(script());
    vault_testkit::harness::clear_env(&mut command, &[]);
    let output = command
        .envs(server.env())
        .env("VAULT_HEALTH_BIN", env!("CARGO_BIN_EXE_vault-health"))
        .arg("--textfile-dir")
        .arg(dir.path())
        .args(["--audit-min-devices", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A dev server has no audit device: unhealthy, and the script passes the exit code on.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    let text = std::fs::read_to_string(dir.path().join("vault_health.prom")).unwrap();
    let samples = prometheus(&text);
    assert_eq!(sample(&samples, "vault_health_up", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_check_status", "check=\"audit\""), Some(2.0));

    let help = Command::new(script()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--textfile-dir DIR"));
}
