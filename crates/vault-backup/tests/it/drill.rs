//! drill: restore the newest backup into a throwaway server and compare it with the live one.

use vault_testkit::TlsServer;

use crate::util::{client, cmd, records, secret_file, write_secrets};

#[tokio::test(flavor = "multi_thread")]
async fn the_drill_restores_into_a_throwaway_server_and_finds_the_secrets() {
    let live = TlsServer::builder().shares(3).threshold(2).start().await.expect("OpenBao starts");
    write_secrets(&client(&live), 30).await;
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
