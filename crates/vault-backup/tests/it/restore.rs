//! restore into a fresh OpenBao with the source's keys, and every one of 1,000 secrets reads back; a damaged
//! backup is refused.

use vault_testkit::TlsServer;

use crate::util::{client, client_with, cmd, planted, records, secret_file, write_secrets};

const SECRETS: usize = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn restore_into_a_fresh_server_reads_back_every_secret() {
    let (source, target) = tokio::join!(TlsServer::start(), TlsServer::start());
    let (source, target) = (source.expect("source starts"), target.expect("target starts"));
    write_secrets(&source, SECRETS).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&source.env()).args(["save", "--to"]).arg(&folder).assert().success();

    let keys = secret_file(dir.path(), "source-keys", &source.unseal_keys().join("\n"));
    let check_token = secret_file(dir.path(), "source-token", source.root_token());
    let mut env = target.env();
    // A damaged copy is refused before the target is touched.
    let damaged = tempfile::tempdir().unwrap();
    for name in crate::util::files(&folder) {
        let mut bytes = std::fs::read(folder.join(&name)).unwrap();
        if name.ends_with(".snap.gz") {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
        }
        std::fs::write(damaged.path().join(name), bytes).unwrap();
    }
    let output = cmd(&env)
        .arg("restore")
        .arg(damaged.path())
        .args(["--to", target.addr()])
        .arg("--key-file")
        .arg(&keys)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("refusing to restore"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(client(&target).health().await.unwrap().body.initialized, "the target is untouched");

    env.retain(|(k, _)| k != "VAULT_ADDR");
    let output = cmd(&env)
        .arg("restore")
        .arg(&folder)
        .args(["--to", target.addr(), "--format", "jsonl", "--key-file"])
        .arg(&keys)
        .arg("--check-token-file")
        .arg(&check_token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "restore failed: {stdout}\n{stderr}");
    for text in [&stdout, &stderr] {
        for secret in [source.root_token(), target.root_token(), source.unseal_keys()[0].as_str(), planted(7).as_str()]
        {
            assert!(!text.contains(secret), "a secret leaked into the output");
        }
    }
    let lines = records(&output.stdout);
    let steps: Vec<_> = lines
        .iter()
        .filter(|r| r["type"] == "step")
        .map(|r| (r["step"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = ["verify", "upload", "sealed", "unseal", "active", "check"]
        .iter()
        .map(|s| (s.to_string(), "ok".to_string()))
        .collect();
    assert_eq!(steps, expected, "{stdout}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["secrets_read"], SECRETS);
    assert_eq!(summary["secrets_failed"], 0);

    // Read every secret back ourselves, with the source's token, and compare the values.
    let restored = client_with(&target, source.root_token());
    let folder_path = restored.kv_path("secret/app/").await.unwrap();
    let listed = restored.kv_list_recursive(&folder_path).await.unwrap();
    assert_eq!(listed.len(), SECRETS);
    for i in 0..SECRETS {
        let path = restored.kv_path(&format!("secret/app/{:02}/s{i}", i % 10)).await.unwrap();
        let secret = restored.kv_read(&path, None).await.unwrap();
        assert_eq!(secret.data["password"].expose(), planted(i));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_with_another_seal_configuration_must_be_restarted_first() {
    let (source, target) = tokio::join!(TlsServer::start(), TlsServer::builder().shares(3).threshold(2).start());
    let (source, mut target) = (source.expect("source starts"), target.expect("target starts"));
    write_secrets(&source, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&source.env()).args(["save", "--to"]).arg(&folder).assert().success();
    let keys = secret_file(dir.path(), "keys", &source.unseal_keys().join("\n"));
    let token = secret_file(dir.path(), "token", source.root_token());

    let output = cmd(&target.env())
        .arg("restore")
        .arg(&folder)
        .args(["--to", target.addr(), "--format", "jsonl", "--key-file"])
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "pending work is 'no': {}", String::from_utf8_lossy(&output.stdout));
    let lines = records(&output.stdout);
    assert!(lines.iter().any(|r| r["step"] == "restart" && r["status"] == "pending"), "{lines:?}");

    target.restart().await.unwrap();
    let output = cmd(&target.env())
        .arg("restore")
        .arg(&folder)
        .args(["--to", target.addr(), "--resume", "--format", "jsonl", "--key-file"])
        .arg(&keys)
        .arg("--check-token-file")
        .arg(&token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(records(&output.stdout).last().unwrap()["secrets_read"], 5);
}
