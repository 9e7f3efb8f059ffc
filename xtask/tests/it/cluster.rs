//! `deploy --local DIR --nodes 3`: a three-node raft cluster from one command, described in `DIR/cluster.json`;
//! the pipeline's reads through `vault-env serve` survive the leader's death; a re-run brings the dead node back,
//! unsealed, as a voter, and a run after that changes nothing.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use vault_testkit::harness::ServeReads;

use crate::identities::tool;
use crate::{Stop, changed, text, xtask};

/// A loopback port P such that P..P+count are all free: node K listens on P+2(K-1) and raft on the port after.
fn free_port_run(count: u16) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = listener.local_addr().unwrap().port();
        drop(listener);
        if base.checked_add(count).is_some() && (0..count).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

fn deploy(dir: &Path, port: u16) -> (Option<i32>, Value, String) {
    let listen = format!("127.0.0.1:{port}");
    let bin = vault_testkit::bao_binary().expect("the OpenBao binary").display().to_string();
    let args = [
        "deploy",
        "--local",
        dir.to_str().unwrap(),
        "--nodes",
        "3",
        "--listen",
        &listen,
        "--bin",
        &bin,
        "--format",
        "json",
    ];
    let output = xtask(&args);
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), report, text(&output))
}

fn http(dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(dir.join("tls/ca.pem")).unwrap();
    let ca = reqwest::Certificate::from_pem(&pem).unwrap();
    reqwest::Client::builder().no_proxy().tls_certs_only([ca]).timeout(Duration::from_secs(10)).build().unwrap()
}

/// Logs in with a role's AppRole files, as the role's job would.
async fn login(http: &reqwest::Client, addr: &str, dir: &Path, role: &str) -> String {
    let creds = dir.join("approle").join(role);
    let body = json!({
        "role_id": std::fs::read_to_string(creds.join("role-id")).unwrap().trim(),
        "secret_id": std::fs::read_to_string(creds.join("secret-id")).unwrap().trim(),
    });
    let response = http.post(format!("{addr}/v1/auth/approle/login")).json(&body).send().await.unwrap();
    let answer: Value = response.json().await.unwrap();
    answer["auth"]["client_token"].as_str().unwrap_or_else(|| panic!("login as {role}: {answer}")).to_owned()
}

async fn health(http: &reqwest::Client, addr: &str) -> u16 {
    http.get(format!("{addr}/v1/sys/health")).send().await.map_or(0, |r| r.status().as_u16())
}

async fn node_states(http: &reqwest::Client, addrs: &[String]) -> Vec<u16> {
    let mut states = Vec::new();
    for addr in addrs {
        states.push(health(http, addr).await);
    }
    states
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_node_cluster_deploys_survives_its_leader_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let _stop = Stop(dir.to_owned());
    let port = free_port_run(6);

    let (code, report, out) = deploy(dir, port);
    assert_eq!(code, Some(0), "deploy --nodes 3:\n{out}");
    assert_eq!(report["complete"], true, "{out}");
    let cluster_step = report["steps"].as_array().unwrap().iter().find(|s| s["step"] == "cluster").cloned();
    let cluster_step = cluster_step.unwrap_or_else(|| panic!("no cluster step:\n{out}"));
    assert!(cluster_step["detail"].as_str().unwrap().starts_with("3 voters"), "{cluster_step}");

    // cluster.json names every node, its address, pid and data folder.
    let cluster: Value = serde_json::from_slice(&std::fs::read(dir.join("cluster.json")).unwrap()).unwrap();
    let nodes = cluster["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 3, "{cluster}");
    for (k, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("vault-{}", k + 1));
        assert_eq!(node["api_addr"], format!("https://127.0.0.1:{}", port + 2 * k as u16));
        assert!(node["pid"].as_u64().is_some(), "{node}");
        assert!(Path::new(node["data_dir"].as_str().unwrap()).join("raft").is_dir(), "{node}");
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n["api_addr"].as_str().unwrap().to_owned()).collect();
    let http = http(dir);
    let states = node_states(&http, &addrs).await;
    assert_eq!(states.iter().filter(|s| **s == 200).count(), 1, "one active node: {states:?}");
    assert_eq!(states.iter().filter(|s| **s == 429).count(), 2, "two standbys: {states:?}");
    let leader = states.iter().position(|s| *s == 200).unwrap();

    // The operator writes a secret for the pipeline, through a standby (which forwards).
    let follower = (leader + 1) % 3;
    let operator = login(&http, &addrs[follower], dir, "operator").await;
    let password = format!("pw-{}", std::process::id());
    let written = http
        .post(format!("{}/v1/secret/data/dagster/app/prod/db", addrs[follower]))
        .header("X-Vault-Token", &operator)
        .json(&json!({"data": {"password": password}}))
        .send()
        .await
        .unwrap();
    assert!(written.status().is_success(), "write through a standby: {}", written.status());

    // The pipeline reads through a standby while the leader is killed: no read fails.
    let creds = dir.join("approle/dagster");
    let serve = Command::new(tool("vault-env"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAULT_ADDR", &addrs[follower])
        .env("VAULT_CACERT", dir.join("tls/ca.pem"))
        .env("VAULT_ROLE_ID_FILE", creds.join("role-id"))
        .env("VAULT_SECRET_ID_FILE", creds.join("secret-id"))
        .args(["serve", "--stdio", "--cache-ttl", "0s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serve = ServeReads::new(serve);
    let leader_pid = nodes[leader]["pid"].as_u64().unwrap().to_string();
    let failed = serve
        .paced(400, Duration::from_millis(5), ("secret/dagster/app/prod/db", "password", &password), |id| {
            if id == 100 {
                assert!(Command::new("kill").args(["-KILL", &leader_pid]).status().unwrap().success());
            }
        })
        .failed;
    let served = serve.finish();
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(failed.is_empty(), "{} reads failed, first {:?}\n{stderr}", failed.len(), failed.first());
    assert!(!stderr.contains(&password));
    assert_eq!(health(&http, &addrs[leader]).await, 0, "the killed node does not answer");

    // A re-run brings the dead node back: started, unsealed, a voter again.
    let (code, report, out) = deploy(dir, port);
    assert_eq!(code, Some(0), "re-run after the leader died:\n{out}");
    let again = changed(&report);
    assert!(!again.is_empty(), "the dead node must be restarted: {out}");
    let states = node_states(&http, &addrs).await;
    assert!(states.iter().all(|s| *s == 200 || *s == 429), "every node serves again: {states:?}");
    assert_eq!(states.iter().filter(|s| **s == 200).count(), 1, "{states:?}");

    // And a run after that changes nothing.
    let (code, report, out) = deploy(dir, port);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(changed(&report), Vec::<String>::new(), "a converged cluster changes nothing:\n{out}");

    // vault-health, as the `health` identity deploy made, through a standby: green again once autopilot counts
    // the restarted node healthy, with three voters that can lose one.
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        let out = crate::as_role(dir, port, "health", &tool("vault-health"))
            .env("VAULT_ADDR", &addrs[follower])
            .args(["--format", "json"])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let cluster = report["checks"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "cluster")).cloned();
        let summary = cluster.as_ref().and_then(|c| c["summary"].as_str()).unwrap_or_default().to_owned();
        if out.status.code() == Some(0) && summary.starts_with("3 voters") && summary.ends_with("can lose 1 node") {
            return;
        }
        last = format!("exit {:?}: {summary}\n{}", out.status.code(), text(&out));
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("vault-health never saw the cluster whole again; last run: {last}");
}
