//! The raft cluster: three TLS nodes that elect a new leader when the active one dies, take a restarted node back
//! as a voter, and keep answering through a frozen (partitioned) follower.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use vault_testkit::Cluster;

fn client_for(cluster: &Cluster) -> Client {
    let pem = std::fs::read(cluster.ca_cert_path()).expect("read ca.pem");
    let ca = reqwest::Certificate::from_pem(&pem).expect("parse ca.pem");
    Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTPS client")
}

async fn write(client: &Client, cluster: &Cluster, node: usize, path: &str, body: Value) -> StatusCode {
    client
        .post(format!("{}/v1/{path}", cluster.addr(node)))
        .header("X-Vault-Token", cluster.root_token())
        .json(&body)
        .send()
        .await
        // During leadership churn standbys can redirect in a loop: the callers retry, as a client would.
        .map_or(StatusCode::SERVICE_UNAVAILABLE, |response| response.status())
}

async fn read(client: &Client, cluster: &Cluster, node: usize, path: &str) -> Value {
    let response = client
        .get(format!("{}/v1/{path}", cluster.addr(node)))
        .header("X-Vault-Token", cluster.root_token())
        .send()
        .await
        .expect("a read reaches the node");
    assert_eq!(response.status(), StatusCode::OK, "GET {path} on node {node}");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn cluster_survives_the_leader_dying_and_takes_it_back() {
    let mut cluster = Cluster::start(3).await.expect("start a three-node cluster");
    assert_eq!(cluster.len(), 3);
    let client = client_for(&cluster);
    let mut voters = cluster.voters().await.expect("raft configuration");
    voters.sort();
    assert_eq!(voters, ["node1", "node2", "node3"]);

    // A write through a standby is forwarded to the active node and readable everywhere.
    let leader = cluster.leader().await.expect("a leader");
    let follower = (leader + 1) % 3;
    let status =
        write(&client, &cluster, leader, "sys/mounts/kv", json!({ "type": "kv", "options": { "version": "2" } })).await;
    assert!(status.is_success(), "mount kv: {status}");
    // The new mount reaches the standby a moment later (its KV v2 backend upgrades itself first).
    let mut status = StatusCode::NOT_FOUND;
    for _ in 0..100 {
        status = write(&client, &cluster, follower, "kv/data/app", json!({ "data": { "k": "v1" } })).await;
        if status.is_success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(status.is_success(), "write through a standby: {status}");

    // The leader dies: another node takes over, and the data is there.
    let old_pid = cluster.pid(leader).expect("the leader runs");
    cluster.kill(leader);
    assert!(!cluster.is_running(leader));
    let next = cluster.wait_for_leader().await.expect("a new leader");
    assert_ne!(next, leader, "the killed node cannot lead");
    assert_eq!(read(&client, &cluster, next, "kv/data/app").await["data"]["data"]["k"], "v1");

    // It comes back on its data, unsealed, as a voter.
    cluster.restart(leader).await.expect("restart the old leader");
    assert_ne!(cluster.pid(leader), Some(old_pid));
    assert_eq!(cluster.voters().await.expect("raft configuration").len(), 3);
    assert_eq!(read(&client, &cluster, leader, "kv/data/app").await["data"]["data"]["k"], "v1");

    // A frozen follower does not stop the cluster from serving writes; thawed, it catches up.
    let leader = cluster.leader().await.expect("a leader");
    let frozen = (leader + 1) % 3;
    cluster.freeze(frozen);
    // A write may meet a moment of leadership churn (the restarted node just rejoined): a client retries a 5xx.
    let mut status = StatusCode::INTERNAL_SERVER_ERROR;
    for _ in 0..100 {
        status = write(&client, &cluster, leader, "kv/data/app", json!({ "data": { "k": "v2" } })).await;
        if status.is_success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(status.is_success(), "write with a frozen follower: {status}");
    cluster.resume(frozen);
    cluster.wait_until_healthy().await.expect("healthy again");
    let mut caught_up = false;
    for _ in 0..50 {
        if read(&client, &cluster, frozen, "kv/data/app").await["data"]["data"]["k"] == "v2" {
            caught_up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(caught_up, "the thawed node did not catch up");
}
