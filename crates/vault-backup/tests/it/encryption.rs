//! Encryption at rest: a backup encrypted to an age public key, in a folder and in S3, verified with and without
//! the private key, damage detected, and drilled (decrypted, restored, compared) from the bucket.

use age::secrecy::ExposeSecret;
use vault_testkit::{S3Server, TlsServer};

use crate::util::{cmd, planted, records, secret_file, write_secrets};

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_backup_verifies_restores_and_detects_damage() {
    let (vault, s3) = tokio::join!(TlsServer::start(), S3Server::start());
    let (vault, s3) = (vault.expect("OpenBao starts"), s3.expect("SeaweedFS starts"));
    write_secrets(&vault, 20).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let identity_file = secret_file(
        dir.path(),
        "backup.key",
        &format!("# public key: {public}\n{}\n", identity.to_string().expose_secret()),
    );
    let mut env = vault.env();
    env.extend(s3.env());

    let output = cmd(&env)
        .args(["save", "--to"])
        .arg(&folder)
        .args(["--to", "s3://backups/enc", "--encrypt-to", &public, "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = records(&output.stdout).pop().unwrap();
    assert_eq!(summary["encryption"], "age");
    let id = summary["id"].as_str().unwrap().to_owned();
    let data = std::fs::read(folder.join(format!("{id}.snap.gz.age"))).unwrap();
    assert!(data.starts_with(b"age-encryption.org/v1"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join(format!("{id}.manifest.json"))).unwrap()).unwrap();
    assert_eq!(manifest["encryption"], "age");
    assert_eq!(manifest["recipients"][0], public.as_str());
    assert!(manifest["plaintext"]["sha256"].as_str().is_some_and(|s| s.len() == 64));

    // Without the key: the outer checksum only; with it: the archive inside too, from the folder and the bucket.
    let output = cmd(&env).arg("verify").arg(&folder).args(["--format", "jsonl"]).output().unwrap();
    assert!(output.status.success());
    let summary = records(&output.stdout).pop().unwrap();
    assert_eq!((summary["ok"].as_bool(), summary["archive_checked"].as_bool()), (Some(true), Some(false)));
    for backup in [folder.to_string_lossy().into_owned(), "s3://backups/enc".to_owned()] {
        let output = cmd(&env)
            .args(["verify", &backup, "--format", "jsonl", "--identity"])
            .arg(&identity_file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        let summary = records(&output.stdout).pop().unwrap();
        assert_eq!(summary["archive_checked"], true);
        assert_eq!(summary["raft_index"], manifest["raft"]["index"]);
    }

    // A flipped byte fails with the manifest as saved, and with a manifest rewritten to match (decryption fails).
    for rewrite in [false, true] {
        let damaged_dir = tempfile::tempdir().unwrap();
        let mut damaged = data.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x04;
        std::fs::write(damaged_dir.path().join(format!("{id}.snap.gz.age")), &damaged).unwrap();
        let mut m = manifest.clone();
        if rewrite {
            use sha2::Digest;
            m["sha256"] = hex::encode(sha2::Sha256::digest(&damaged)).into();
        }
        std::fs::write(damaged_dir.path().join(format!("{id}.manifest.json")), m.to_string()).unwrap();
        let output =
            cmd(&env).arg("verify").arg(damaged_dir.path()).arg("--identity").arg(&identity_file).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "damage not detected (manifest rewritten: {rewrite})");
    }

    // The drill decrypts the newest backup from the bucket, restores it and finds every secret.
    let keys = secret_file(dir.path(), "keys", &vault.unseal_keys().join("\n"));
    let output = cmd(&env)
        .args(["drill", "--from", "s3://backups/enc", "--key-file"])
        .arg(&keys)
        .arg("--bin")
        .arg(vault_testkit::bao_binary().unwrap())
        .args(["--format", "jsonl", "--identity"])
        .arg(&identity_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(records(&output.stdout).pop().unwrap()["compared"], 20);
    // Without the key the drill refuses rather than restoring something it could not check.
    let output = cmd(&env)
        .args(["drill", "--from", "s3://backups/enc", "--key-file"])
        .arg(&keys)
        .arg("--bin")
        .arg(vault_testkit::bao_binary().unwrap())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--identity"));
    for text in [stdout.as_ref(), String::from_utf8_lossy(&output.stderr).as_ref()] {
        assert!(!text.contains(identity.to_string().expose_secret()) && !text.contains(&planted(3)));
    }
}
