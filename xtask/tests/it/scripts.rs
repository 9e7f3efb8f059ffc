//! The operator scripts are shellcheck-clean (the units are checked in `units.rs`). `cargo xtask test` installs
//! shellcheck; without it this fails with the command to install it rather than passing silently.

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
