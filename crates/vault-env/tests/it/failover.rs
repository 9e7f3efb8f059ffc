//! A leader change under load: `serve --stdio`, logged in as the pipeline's AppRole through a follower of a
//! three-node raft cluster, answers 1,000 reads at a steady rate while the active node is killed, and fails none.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};
use vault_testkit::Cluster;
use vault_testkit::harness::ServeReads;

use crate::util::{planted, vault_env_std};

/// Reads sent in all; the leader is killed after [`KILL_AFTER`] of them.
const READS: usize = 1_000;
const KILL_AFTER: usize = 200;
/// The pace: one read every 5 ms, so the kill and the election fall well inside the run.
const PACE: Duration = Duration::from_millis(5);

struct Admin {
    http: Client,
    addr: String,
    token: String,
}

impl Admin {
    fn new(cluster: &Cluster, node: usize) -> Self {
        let pem = std::fs::read(cluster.ca_cert_path()).expect("read ca.pem");
        let ca = reqwest::Certificate::from_pem(&pem).expect("parse ca.pem");
        let http = Client::builder().no_proxy().tls_certs_only([ca]).build().expect("an HTTPS client");
        Admin { http, addr: cluster.addr(node).to_owned(), token: cluster.root_token().to_owned() }
    }

    /// One root call, repeated for a few seconds while the cluster is still settling (a new mount reaches the
    /// standbys a moment after the active node answers).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}/v1/{path}", self.addr))
                .header("X-Vault-Token", &self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("the node answers");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                return if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
            }
            assert!(Instant::now() < deadline, "{method} {path}: {status} {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn serve_answers_every_read_while_the_leader_is_killed() {
    let mut cluster = Cluster::start(3).await.expect("start a three-node cluster");
    let leader = cluster.leader().await.expect("a leader");
    let follower = (leader + 1) % 3;
    let admin = Admin::new(&cluster, follower);

    // What deploy sets up, on the cluster: KV v2 at secret/, a read policy, an AppRole for the pipeline.
    admin.call(Method::POST, "sys/mounts/secret", Some(json!({"type": "kv", "options": {"version": "2"}}))).await;
    let password = planted("pw");
    admin.call(Method::POST, "secret/data/app/db", Some(json!({"data": {"password": password}}))).await;
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;
    admin.call(Method::PUT, "sys/policies/acl/pipeline", Some(json!({"policy": policy}))).await;
    admin.call(Method::POST, "sys/auth/approle", Some(json!({"type": "approle"}))).await;
    admin
        .call(
            Method::POST,
            "auth/approle/role/pipeline",
            Some(json!({"token_policies": ["pipeline"], "token_ttl": "1h"})),
        )
        .await;
    let role_id = admin.call(Method::GET, "auth/approle/role/pipeline/role-id", None).await;
    let secret_id = admin.call(Method::POST, "auth/approle/role/pipeline/secret-id", None).await;
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("role-id"), role_id["data"]["role_id"].as_str().unwrap()).unwrap();
    std::fs::write(creds.path().join("secret-id"), secret_id["data"]["secret_id"].as_str().unwrap()).unwrap();

    // No cache: every read goes to the cluster.
    let child = vault_env_std()
        .env("VAULT_ADDR", cluster.addr(follower))
        .env("VAULT_CACERT", cluster.ca_cert_path())
        .env("VAULT_ROLE_ID_FILE", creds.path().join("role-id"))
        .env("VAULT_SECRET_ID_FILE", creds.path().join("secret-id"))
        .args(["serve", "--stdio", "--cache-ttl", "0s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serve = ServeReads::new(child);

    // The AppRole was made a moment ago on the active node, and the standby may not have it yet: wait until the
    // pipeline's first read works (in a real deployment the credentials are older than any run).
    let ready = (0..100).any(|id| {
        let works = serve.get(-1 - id, "secret/app/db", "password")["ok"] == true;
        if !works {
            std::thread::sleep(Duration::from_millis(100));
        }
        works
    });
    assert!(ready, "the pipeline's credentials never worked through the standby");

    let reads = serve.paced(READS, PACE, ("secret/app/db", "password", &password), |id| {
        if id == KILL_AFTER {
            cluster.kill(leader);
        }
    });
    let (failed, slowest) = (reads.failed, reads.slowest);
    let output = serve.finish();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        failed.is_empty(),
        "{} of {READS} reads failed, first: {:?}\nstderr:\n{stderr}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(!stderr.contains(&password), "the value reached stderr");
    eprintln!("{READS} reads in {:.1?}, the slowest {slowest:.1?}", reads.elapsed);

    // The old leader comes back and the cluster is whole again.
    cluster.restart(leader).await.expect("the old leader rejoins");
    assert_eq!(cluster.voters().await.unwrap().len(), 3);
}
