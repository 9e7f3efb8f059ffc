//! The operator files: scripts are shellcheck-clean and the systemd unit is valid and hardened. `cargo xtask test` installs shellcheck; without it this fails
//! with the command to install it rather than passing silently.

use std::process::Command;

use crate::root;

#[test]
fn scripts_are_shellcheck_clean() {
    let scripts = root().join("scripts/vault");
    let mut files: Vec<_> =
        std::fs::read_dir(&scripts).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    assert!(!files.is_empty());
    let output = Command::new("shellcheck")
        .arg("--severity=style")
        .args(&files)
        .output()
        .expect("shellcheck must be installed: `apt-get install shellcheck` (cargo xtask test does it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

/// The unit as deploy installs it is valid for systemd and scores as well hardened (exposure under 2.5 of 10).
#[test]
fn systemd_unit_is_valid_and_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(root().join("systemd/vault.service"))
        .unwrap()
        .replace("@BIN@", "/bin/true")
        .replace("@CONFIG@", "/etc/hostname");
    let path = dir.path().join("vault.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze must be installed (Debian package systemd; cargo xtask test does it)");
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", String::from_utf8_lossy(&verify.stderr));
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=25", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(security.status.success(), "exposure above 2.5:\n{report}");
}
