//! Backups of a raft cluster: `save` through a standby (which finds the active node and takes the snapshot there:
//! the standby's own copy can lag the writes acknowledged just before), again right after the leader is killed, and
//! each backup restores into a fresh server with every secret.

use vault_core::{Client, Config, SecretString};
use vault_testkit::{Cluster, TlsServer};

use crate::util::{client_with, cmd, files, planted, secret_file, write_secrets_with};

const SECRETS: usize = 200;

fn node_client(cluster: &Cluster, node: usize) -> Client {
    let mut config = Config::with_token(cluster.addr(node), SecretString::from(cluster.root_token())).unwrap();
    config.tls.ca_cert = Some(cluster.ca_cert_path().to_owned());
    Client::new(config).unwrap()
}

/// Restores the newest backup in `folder` into a fresh server with the cluster's keys and checks every secret.
async fn restores_everything(cluster: &Cluster, folder: &std::path::Path) {
    let target = TlsServer::start().await.expect("a fresh server starts");
    let dir = tempfile::tempdir().unwrap();
    let keys = secret_file(dir.path(), "keys", &cluster.unseal_keys().join("\n"));
    let output = cmd(&target.env())
        .arg("restore")
        .arg(folder)
        .args(["--to", target.addr(), "--key-file"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "restore of a cluster's backup: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let restored = client_with(&target, cluster.root_token());
    let folder_path = restored.kv_path("secret/app/").await.unwrap();
    assert_eq!(restored.kv_list_recursive(&folder_path).await.unwrap().len(), SECRETS);
    let path = restored.kv_path("secret/app/07/s7").await.unwrap();
    assert_eq!(restored.kv_read(&path, None).await.unwrap().data["password"].expose(), planted(7));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_is_saved_through_a_standby_and_after_a_leader_change() {
    let mut cluster = Cluster::start(3).await.expect("a three-node cluster starts");
    let leader = cluster.leader().await.unwrap();
    let active = node_client(&cluster, leader);
    let kv2 = [("version".to_owned(), "2".to_owned())].into_iter().collect();
    active.enable_mount("secret", "kv", &kv2).await.unwrap();
    write_secrets_with(&active, SECRETS).await;
    let follower = (leader + 1) % 3;

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let output = cmd(&cluster.env(follower)).args(["save", "--to"]).arg(&first).output().unwrap();
    assert!(output.status.success(), "save through a standby: {}", String::from_utf8_lossy(&output.stderr));
    cmd(&[]).arg("verify").arg(&first).assert().success();
    restores_everything(&cluster, &first).await;

    // The leader dies; the next save, through the same standby, waits out the election or fails as
    // unavailable — and never leaves a backup that verify accepts but is cut short.
    cluster.kill(leader);
    let second = dir.path().join("second");
    let output = cmd(&cluster.env(follower)).args(["save", "--to"]).arg(&second).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        cmd(&[]).arg("verify").arg(&second).assert().success();
        restores_everything(&cluster, &second).await;
    } else {
        assert_eq!(output.status.code(), Some(3), "a save cut short by the election is 'unavailable': {stderr}");
        let left: Vec<String> = if second.exists() { files(&second) } else { Vec::new() };
        assert!(left.iter().all(|name| !name.ends_with(".snap.gz")), "a cut-short save left {left:?}");
        // Once a new leader is there, the save succeeds.
        cluster.wait_for_leader().await.unwrap();
        let output = cmd(&cluster.env(follower)).args(["save", "--to"]).arg(&second).output().unwrap();
        assert!(output.status.success(), "save after the election: {}", String::from_utf8_lossy(&output.stderr));
        restores_everything(&cluster, &second).await;
    }
}
