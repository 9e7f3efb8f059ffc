//! save to a folder and S3 at once, verify both, list; every kind of damage is detected.

use std::io::{Read, Write};

use sha2::{Digest, Sha256};
use vault_testkit::{S3Server, TlsServer};

use crate::util::{cmd, files, planted, records, write_secrets};

#[tokio::test(flavor = "multi_thread")]
async fn save_to_folder_and_s3_then_verify_list_and_detect_damage() {
    let vault = TlsServer::start().await.expect("OpenBao starts");
    let s3 = S3Server::start().await.expect("SeaweedFS starts");
    write_secrets(&vault, 50).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    let mut env = vault.env();
    env.extend(s3.env());

    let output = cmd(&env)
        .args(["save", "--to"])
        .arg(&folder)
        .args(["--to", "s3://backups/vault/prod", "--format", "jsonl"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "save failed: {stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(vault.root_token()) && !text.contains(s3.secret_key()) && !text.contains(&planted(1)));
    }
    let lines = records(&output.stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[..2].iter().all(|r| r["type"] == "destination" && r["status"] == "saved"), "{stdout}");
    let summary = &lines[2];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["saved"], 2);
    assert!(summary["raft_index"].as_u64().unwrap() > 0);
    let id = summary["id"].as_str().unwrap().to_owned();
    assert_eq!(files(&folder), [format!("{id}.manifest.json"), format!("{id}.snap.gz")], "no temp files left");

    // The manifest says what the file is.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join(format!("{id}.manifest.json"))).unwrap()).unwrap();
    let data = std::fs::read(folder.join(format!("{id}.snap.gz"))).unwrap();
    assert_eq!(manifest["sha256"], hex::encode(Sha256::digest(&data)));
    assert_eq!(manifest["size"], data.len());
    assert_eq!(manifest["encryption"], "none");
    assert!(manifest["cluster_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(manifest["seal"]["shares"], 1);
    assert_eq!(manifest["members"].as_array().unwrap().len(), 4);

    for backup in [folder.to_string_lossy().into_owned(), "s3://backups/vault/prod".to_owned()] {
        let output = cmd(&env).args(["verify", &backup, "--format", "jsonl"]).output().unwrap();
        assert!(output.status.success(), "verify {backup}: {}", String::from_utf8_lossy(&output.stdout));
        let summary = records(&output.stdout).pop().unwrap();
        assert_eq!(summary["ok"], true);
        assert_eq!(summary["sha256"], manifest["sha256"]);
        assert_eq!(summary["raft_index"], manifest["raft"]["index"]);
    }
    // A named object works too, and so does the manifest's name.
    let object = format!("s3://backups/vault/prod/{id}.snap.gz");
    cmd(&env).args(["verify", &object]).assert().success();
    cmd(&env).arg("verify").arg(folder.join(format!("{id}.manifest.json"))).assert().success();

    let output =
        cmd(&env).arg("list").arg(&folder).args(["s3://backups/vault/prod", "--format", "jsonl"]).output().unwrap();
    assert!(output.status.success());
    let listed = records(&output.stdout);
    assert_eq!(
        listed.iter().filter(|r| r["type"] == "backup" && r["state"] == "good" && r["id"] == id.as_str()).count(),
        2
    );

    // A store that cannot be reached: exit 3, the destination named, nothing saved anywhere.
    let output = cmd(&env)
        .args(["save", "--to", "s3://backups/unreachable", "--s3-endpoint", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("s3://backups/unreachable/") && stderr.contains("cannot reach the store"), "{stderr}");
    assert!(!stderr.contains(s3.secret_key()));

    // Damage: truncation at several points, and a flipped byte in every member, with the manifest as saved and
    // with a manifest rewritten to the damaged file's checksum (so only the archive's own sums can tell).
    let members = ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"];
    let mut cases: Vec<(String, Vec<u8>)> = [1, data.len() / 3, data.len() / 2, data.len() - 8, data.len() - 1]
        .into_iter()
        .map(|cut| (format!("truncated to {cut}"), data[..cut].to_vec()))
        .collect();
    for member in members {
        cases.push((format!("flipped byte in {member}"), flip_in_member(&data, member)));
    }
    for (i, position) in [10usize, data.len() / 4, data.len() / 2, data.len() - 20].into_iter().enumerate() {
        let mut damaged = data.clone();
        damaged[position] ^= 0x01;
        cases.push((format!("flipped bit {i} of the compressed file"), damaged));
    }
    for (case, damaged) in cases {
        for rewrite_manifest in [false, true] {
            // With a rewritten manifest a flip in SHA256SUMS.sealed (a signature only the unsealed cluster can
            // check) is still caught by the member list the manifest recorded at save time.
            let damaged_dir = tempfile::tempdir().unwrap();
            std::fs::write(damaged_dir.path().join(format!("{id}.snap.gz")), &damaged).unwrap();
            let mut m = manifest.clone();
            if rewrite_manifest {
                m["sha256"] = hex::encode(Sha256::digest(&damaged)).into();
                m["size"] = damaged.len().into();
            }
            std::fs::write(damaged_dir.path().join(format!("{id}.manifest.json")), m.to_string()).unwrap();
            let output =
                cmd(&env).arg("verify").arg(damaged_dir.path().join(format!("{id}.snap.gz"))).output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(1),
                "{case} (manifest rewritten: {rewrite_manifest}) not detected: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            assert!(String::from_utf8_lossy(&output.stdout).starts_with("BAD "));
        }
    }
}

/// Decompresses the snapshot, flips one byte inside `member`'s data, and compresses it again.
fn flip_in_member(data: &[u8], member: &str) -> Vec<u8> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut tar).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let (offset, size) = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy() == member)
        .map(|e| (e.raw_file_position() as usize, e.size() as usize))
        .unwrap_or_else(|| panic!("no {member} in the snapshot"));
    assert!(size > 0, "{member} is empty");
    tar[offset + size / 2] ^= 0x20;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}
