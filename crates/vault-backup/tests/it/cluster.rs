//! Backups of a raft cluster: `save` through a standby (which finds the active node and takes the snapshot there:
//! the standby's own copy can lag the writes acknowledged just before), again right after the leader is killed, and
//! each backup restores into a fresh server with every secret; a backup restores into a fresh three-node cluster
//! (every node unsealed with the source's shares, the restart-and-resume flow with a node that is still down); the
//! drill runs against a cluster through a standby.

use std::time::Duration;

use vault_core::{Client, Config, SecretString};
use vault_testkit::{Cluster, TlsServer};

use crate::util::{client_with, cmd, files, planted, records, secret_file, write_secrets_with};

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

/// A client for node `node` of `cluster` with another token (e.g. the source's, after a restore).
fn node_client_with(cluster: &Cluster, node: usize, token: &str) -> Client {
    let mut config = Config::with_token(cluster.addr(node), SecretString::from(token)).unwrap();
    config.tls.ca_cert = Some(cluster.ca_cert_path().to_owned());
    Client::new(config).unwrap()
}

/// `restore --to` every node of `cluster`, a standby first: the upload must find the active node itself.
fn restore_into_cluster(cluster: &Cluster, folder: &std::path::Path, keys: &std::path::Path) -> assert_cmd::Command {
    // The token (the target's root) is what counts; VAULT_ADDR is any running node and unused (--to wins).
    let running = (0..cluster.len()).find(|&node| cluster.pid(node).is_some()).unwrap();
    let mut command = cmd(&cluster.env(running));
    command.arg("restore").arg(folder).args(["--format", "jsonl", "--key-file"]).arg(keys);
    for node in (0..cluster.len()).rev() {
        command.args(["--to", cluster.addr(node)]);
    }
    command
}

/// After a restore into `cluster`, every node is unsealed, one leads and all are raft voters, and secret 7 reads
/// back through every node with the source's token (a standby may lag by a moment: bounded retries).
async fn every_node_serves_the_source(cluster: &Cluster, source_token: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for node in 0..cluster.len() {
        let client = node_client_with(cluster, node, source_token);
        loop {
            let read = async {
                let path = client.kv_path("secret/app/07/s7").await?;
                client.kv_read(&path, None).await
            };
            match read.await {
                Ok(secret) => {
                    assert_eq!(secret.data["password"].expose(), planted(7));
                    break;
                }
                Err(e) => assert!(std::time::Instant::now() < deadline, "node {node} never served secret 7: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let active = node_client_with(cluster, cluster.wait_for_leader().await.unwrap(), source_token);
    let peers = active.raft_peers().await.unwrap();
    assert_eq!(peers.iter().filter(|peer| peer.voter).count(), cluster.len(), "{peers:?}");
    assert_eq!(peers.iter().filter(|peer| peer.leader).count(), 1, "{peers:?}");
}

fn steps(output: &std::process::Output) -> Vec<(String, String)> {
    records(&output.stdout)
        .iter()
        .filter(|r| r["type"] == "step")
        .map(|r| (r["step"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn shown(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A single server's backup restores into a fresh three-node cluster through all its nodes (with restore-vault.sh): the snapshot reaches
/// the leader although a standby is named first, every node seals, is unsealed with the SOURCE's share, and the
/// cluster is whole again — every secret reads back, through every node.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_into_a_fresh_three_node_cluster() {
    let (source, target) = tokio::join!(TlsServer::start(), Cluster::start(3));
    let (source, target) = (source.expect("the source starts"), target.expect("a three-node cluster starts"));
    crate::util::write_secrets(&source, SECRETS).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&source.env()).args(["save", "--to"]).arg(&folder).assert().success();
    let keys = secret_file(dir.path(), "source-keys", &source.unseal_keys().join("\n"));
    let check_token = secret_file(dir.path(), "source-token", source.root_token());

    // As the emergency procedure runs it: through restore-vault.sh, which asks for the first address back.
    let mut restore = crate::scripts::script("restore-vault.sh");
    restore.envs(target.env(0)).arg(&folder);
    for node in (0..3).rev() {
        restore.args(["--to", target.addr(node)]);
    }
    let output = restore
        .args(["--format", "jsonl", "--key-file"])
        .arg(&keys)
        .arg("--check-token-file")
        .arg(&check_token)
        .write_stdin(format!("{}\n", target.addr(2)))
        .output()
        .unwrap();
    assert!(output.status.success(), "restore into a cluster: {}", shown(&output));
    let expected: Vec<(String, String)> = ["verify", "upload", "sealed", "unseal", "active", "check"]
        .iter()
        .map(|s| (s.to_string(), "ok".to_string()))
        .collect();
    assert_eq!(steps(&output), expected, "{}", shown(&output));
    let summary = records(&output.stdout).last().unwrap().clone();
    assert_eq!(summary["secrets_read"], SECRETS);
    assert_eq!(summary["targets"].as_array().unwrap().len(), 3);
    for secret in [source.root_token(), target.root_token(), source.unseal_keys()[0].as_str(), planted(7).as_str()] {
        assert!(!shown(&output).contains(secret), "a secret leaked into the output");
    }
    every_node_serves_the_source(&target, source.root_token()).await;
}

/// A source with another seal configuration (3 shares, threshold 2) than the cluster's (1 of 1): every node must
/// be restarted; one node that does not answer then makes the `--resume` run unseal the others and stop with a
/// clear "unavailable" error naming it, and once it is back `--resume` finishes the job.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_restore_that_needs_a_restart_resumes_once_every_node_is_back() {
    let (source, target) = tokio::join!(TlsServer::builder().shares(3).threshold(2).start(), Cluster::start(3));
    let (source, mut target) = (source.expect("the source starts"), target.expect("a three-node cluster starts"));
    crate::util::write_secrets(&source, 20).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    cmd(&source.env()).args(["save", "--to"]).arg(&folder).assert().success();
    let keys = secret_file(dir.path(), "source-keys", &source.unseal_keys()[..2].join("\n"));

    let output = restore_into_cluster(&target, &folder, &keys).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "a restart is pending: {}", shown(&output));
    assert_eq!(steps(&output).last().unwrap(), &("restart".to_owned(), "pending".to_owned()), "{}", shown(&output));

    // Two nodes are restarted, the third is still down when the operator resumes.
    for node in 0..3 {
        target.stop(node).await;
    }
    target.restart_sealed(0).await.unwrap();
    target.restart_sealed(1).await.unwrap();
    let output = restore_into_cluster(&target, &folder, &keys).arg("--resume").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(3), "a node that does not answer is 'unavailable': {}", shown(&output));
    assert!(stderr.contains(target.addr(2)) && stderr.contains("--resume"), "the error names the node: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    // The nodes that answered are unsealed already: the cluster has its quorum back while node 3 is away.
    for node in 0..2 {
        let health = node_client(&target, node).health().await.unwrap();
        assert!(!health.body.sealed, "node {node} was left sealed");
    }

    target.restart_sealed(2).await.unwrap();
    let output = restore_into_cluster(&target, &folder, &keys).arg("--resume").output().unwrap();
    assert!(output.status.success(), "the resumed restore: {}", shown(&output));
    let expected: Vec<(String, String)> =
        [("upload", "skipped"), ("unseal", "ok"), ("active", "ok"), ("check", "skipped")]
            .iter()
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect();
    assert_eq!(steps(&output), expected, "{}", shown(&output));
    every_node_serves_the_source(&target, source.root_token()).await;
}

/// The identity deploy provisions for `role` (`backup`, `drill`): its policy from `policies/ROLE.hcl` and an AppRole
/// of that name, made through `admin`; returns the environment a job on `node` runs with (no token: the role_id
/// and a secret_id file in `dir`).
async fn identity_env(
    cluster: &Cluster,
    admin: &Client,
    node: usize,
    role: &str,
    dir: &std::path::Path,
) -> Vec<(String, String)> {
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies").join(format!("{role}.hcl"));
    admin.policy_write(role, &std::fs::read_to_string(policy).unwrap()).await.unwrap();
    if !admin.auth_methods().await.unwrap().contains_key("approle/") {
        admin.enable_auth("approle", "approle").await.unwrap();
    }
    let settings = vault_core::approle::RoleSettings {
        token_policies: vec![role.to_owned()],
        token_ttl: 3600,
        token_max_ttl: 4 * 3600,
        token_no_default_policy: true,
        ..Default::default()
    };
    admin.approle_write_role("approle", role, &settings).await.unwrap();
    let role_id = admin.approle_role_id("approle", role).await.unwrap();
    let secret_id = admin.approle_new_secret_id("approle", role).await.unwrap();
    let file = secret_file(dir, &format!("{role}-secret-id"), secret_id.expose());
    let mut env: Vec<(String, String)> = cluster.env(node).into_iter().filter(|(k, _)| k != "VAULT_TOKEN").collect();
    env.push(("VAULT_ROLE_ID".to_owned(), role_id));
    env.push(("VAULT_SECRET_ID_FILE".to_owned(), file.to_string_lossy().into_owned()));
    env
}

/// The drill against a cluster, through a standby, as the timers run them: `save` as the `backup` identity and
/// `drill` as the `drill` identity, both pointed at a standby; the newest backup restores into a throwaway server
/// and matches the live cluster.
#[tokio::test(flavor = "multi_thread")]
async fn the_drill_runs_against_a_cluster_through_a_standby() {
    let cluster = Cluster::start(3).await.expect("a three-node cluster starts");
    let leader = cluster.leader().await.unwrap();
    let active = node_client(&cluster, leader);
    let kv2 = [("version".to_owned(), "2".to_owned())].into_iter().collect();
    active.enable_mount("secret", "kv", &kv2).await.unwrap();
    write_secrets_with(&active, 40).await;
    let standby = (leader + 1) % 3;
    let dir = tempfile::tempdir().unwrap();
    let backup_env = identity_env(&cluster, &active, standby, "backup", dir.path()).await;
    let drill_env = identity_env(&cluster, &active, standby, "drill", dir.path()).await;
    let folder = dir.path().join("backups");
    let output = cmd(&backup_env).args(["save", "--to"]).arg(&folder).output().unwrap();
    assert!(output.status.success(), "save as the backup identity through a standby: {}", shown(&output));
    let keys = secret_file(dir.path(), "keys", &cluster.unseal_keys().join("\n"));

    let output = cmd(&drill_env)
        .args(["drill", "--from"])
        .arg(&folder)
        .arg("--key-file")
        .arg(&keys)
        .arg("--bin")
        .arg(vault_testkit::bao_binary().unwrap())
        .args(["--sample", "20", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(output.status.success(), "the drill against a cluster: {}", shown(&output));
    let summary = records(&output.stdout).last().unwrap().clone();
    assert_eq!(summary["ok"], true, "{}", shown(&output));
    assert_eq!(summary["compared"], 20, "{}", shown(&output));
    assert_eq!(summary["differences"], 0, "{}", shown(&output));
}
