//! scripts/vault/backup-vault.sh and restore-vault.sh drive the built binary.

use std::path::PathBuf;

use vault_testkit::TlsServer;

use crate::util::{client, files, write_secrets};

/// `bash scripts/vault/NAME` with a clean environment and the built binary as `VAULT_BACKUP_BIN`.
pub fn script(name: &str) -> assert_cmd::Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/vault").join(name);
    let mut std = std::process::Command::new("bash");
    vault_testkit::harness::clear_env(&mut std, &["AWS_"]);
    let mut command = assert_cmd::Command::from_std(std);
    command.arg(path);
    command.env("VAULT_BACKUP_BIN", env!("CARGO_BIN_EXE_vault-backup"));
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_script_saves_verifies_and_prunes_and_restore_script_asks_first() {
    let vault = TlsServer::start().await.expect("OpenBao starts");
    write_secrets(&vault, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    for _ in 0..2 {
        let output = script("backup-vault.sh").envs(vault.env()).arg("--prune").arg(&folder).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    // Two saves, then the default retention keeps both (48 last).
    assert_eq!(files(&folder).iter().filter(|f| f.ends_with(".snap.gz")).count(), 2);

    script("backup-vault.sh").assert().code(2);
    let output = script("restore-vault.sh")
        .envs(vault.env())
        .arg(&folder)
        .args(["--to", vault.addr(), "--key-file", "/dev/null"])
        .write_stdin("not the address\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not confirmed"));
    assert!(client(&vault).health().await.unwrap().state == vault_core::sys::NodeState::Active, "untouched");
}
