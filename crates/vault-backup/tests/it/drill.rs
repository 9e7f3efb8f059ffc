//! drill: restore the newest backup into a throwaway server and compare it with the live one.

use vault_testkit::TlsServer;

use crate::util::{cmd, records, secret_file, write_secrets};

#[tokio::test(flavor = "multi_thread")]
async fn the_drill_restores_into_a_throwaway_server_and_finds_the_secrets() {
    let live = TlsServer::builder().shares(3).threshold(2).start().await.expect("OpenBao starts");
    write_secrets(&live, 30).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&live.env()).args(["save", "--to"]).arg(&folder).assert().success();
    let keys = secret_file(dir.path(), "keys", &live.unseal_keys()[..2].join("\n"));
    let bin = vault_testkit::bao_binary().unwrap();

    let output = cmd(&live.env())
        .args(["drill", "--from"])
        .arg(&folder)
        .arg("--key-file")
        .arg(&keys)
        .arg("--bin")
        .arg(&bin)
        .args(["--sample", "20", "--format", "jsonl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines = records(&output.stdout);
    let summary = lines.last().unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["compared"], 20);
    assert!(lines.iter().any(|r| r["step"] == "teardown"));
    assert!(!stdout.contains(live.root_token()));
}

/// Installed as a tool runs it, with no `--bin` and no `BAO_BIN`/`VAULT_BIN`: the drill finds `bao` on `PATH`
/// and says which binary it started; a variable naming something that is not a binary is a usage error (exit 2)
/// reported before anything slow, naming the variable.
#[tokio::test(flavor = "multi_thread")]
async fn the_drill_finds_the_server_binary_without_bin() {
    let live = TlsServer::builder().shares(1).threshold(1).start().await.expect("OpenBao starts");
    write_secrets(&live, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&live.env()).args(["save", "--to"]).arg(&folder).assert().success();
    let keys = secret_file(dir.path(), "keys", &live.unseal_keys()[0]);
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(vault_testkit::bao_binary().unwrap(), bin_dir.join("bao")).unwrap();

    let not_a_binary = secret_file(dir.path(), "not-a-binary", "text");
    let bad = cmd(&live.env())
        .env("BAO_BIN", &not_a_binary)
        .args(["drill", "--from"])
        .arg(&folder)
        .arg("--key-file")
        .arg(&keys)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("BAO_BIN={}: not an executable file", not_a_binary.display())), "{stderr}");

    let output = cmd(&live.env())
        .env("PATH", &bin_dir)
        .args(["drill", "--from"])
        .arg(&folder)
        .arg("--key-file")
        .arg(&keys)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = records(&output.stdout);
    let start = lines.iter().find(|r| r["step"] == "start").expect("a start step");
    assert!(start["detail"].as_str().unwrap().starts_with(&bin_dir.join("bao").display().to_string()), "{start}");
    assert_eq!(lines.last().unwrap()["ok"], true);
}
