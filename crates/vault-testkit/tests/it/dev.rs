//! The dev-mode server: health, KV v2 through plain HTTP, parallel instances, and no processes left behind.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use vault_testkit::DevServer;

use crate::{chain, http, is_alive, wait_until_gone};

#[tokio::test]
async fn dev_server_answers_health_and_stores_kv_secrets() {
    let server = DevServer::start().await.expect("start a dev server");
    let http = http();

    let health = http.get(format!("{}/v1/sys/health", server.addr())).send().await.expect("GET sys/health");
    assert_eq!(health.status(), 200, "log:\n{}", server.log());

    let url = format!("{}/v1/secret/data/testkit/app", server.addr());
    let write = http
        .post(&url)
        .header("X-Vault-Token", server.root_token())
        .json(&json!({ "data": { "password": "correct horse" } }))
        .send()
        .await
        .expect("write a KV secret");
    assert_eq!(write.status(), 200, "{}", write.text().await.unwrap_or_default());
    let read: Value = http
        .get(&url)
        .header("X-Vault-Token", server.root_token())
        .send()
        .await
        .expect("read the KV secret")
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(read["data"]["data"]["password"], "correct horse");
    assert_eq!(read["data"]["metadata"]["version"], 1);

    let anonymous = http.get(&url).send().await.expect("read without a token");
    assert_eq!(anonymous.status(), 403, "the dev server must still demand a token");

    let addr = format!("http://127.0.0.1:{}", server.port());
    assert_eq!(server.addr(), addr);
    assert_eq!(server.env(), [("VAULT_ADDR".to_owned(), addr), ("VAULT_TOKEN".to_owned(), "root".to_owned())]);
}

#[tokio::test]
async fn parallel_dev_servers_get_their_own_ports_and_data() {
    let (first, second) = tokio::join!(DevServer::start(), DevServer::start());
    let (first, second) = (first.expect("start the first dev server"), second.expect("start the second dev server"));
    assert_ne!(first.port(), second.port());

    let http = http();
    let path = "/v1/secret/data/only-in-first";
    let write = http
        .post(format!("{}{path}", first.addr()))
        .header("X-Vault-Token", first.root_token())
        .json(&json!({ "data": { "k": "v" } }))
        .send()
        .await
        .expect("write to the first server");
    assert_eq!(write.status(), 200);
    let read = http
        .get(format!("{}{path}", second.addr()))
        .header("X-Vault-Token", second.root_token())
        .send()
        .await
        .expect("read from the second server");
    assert_eq!(read.status(), 404, "the second server sees the first one's data");
}

#[tokio::test]
async fn stopped_dev_server_refuses_connections_and_drop_reaps_it() {
    let mut server = DevServer::start().await.expect("start a dev server");
    let pid = server.pid();
    assert!(is_alive(pid));

    server.stop().await;
    assert!(!is_alive(pid), "the server still runs after stop");
    let error =
        http().get(format!("{}/v1/sys/health", server.addr())).send().await.expect_err("a stopped server answered");
    assert!(error.is_connect(), "expected connection refused, got {}", chain(&error));
    assert!(server.log().contains("OpenBao") || server.log().contains("Vault"), "log:\n{}", server.log());
    drop(server);
    assert!(!is_alive(pid));
}

/// Marker in the helper's output, followed by the server's PID and directory.
const MARKER: &str = "vault-testkit-helper-server:";

#[tokio::test]
async fn servers_die_with_a_killed_test_process() {
    // Run the helper below in a child test process, let it start a server, then SIGKILL it: no `Drop` runs, and
    // only the parent-death signal can take the server down.
    let mut helper = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", "dev::helper_starts_a_server_and_waits", "--ignored", "--nocapture"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the helper test process");
    let stdout = BufReader::new(helper.stdout.take().expect("piped stdout"));
    let started = tokio::task::spawn_blocking(move || {
        stdout.lines().map_while(Result::ok).find_map(|line| {
            let (pid, dir) = line.strip_prefix(MARKER)?.split_once(' ')?;
            Some((pid.parse::<u32>().ok()?, PathBuf::from(dir)))
        })
    })
    .await
    .expect("read the helper's output");
    helper.kill().expect("kill the helper");
    helper.wait().expect("reap the helper");

    let (pid, dir) = started.expect("the helper printed no server PID");
    let gone = wait_until_gone(pid).await;
    // The directory is the one thing a killed process leaves behind: removing it is `Drop`'s job.
    std::fs::remove_dir_all(&dir).expect("remove the killed helper's server directory");
    assert!(gone, "server {pid} outlived its killed test process");
}

#[tokio::test]
#[ignore = "helper of servers_die_with_a_killed_test_process, which runs it in a child process"]
async fn helper_starts_a_server_and_waits() {
    let server = DevServer::start().await.expect("start a dev server");
    println!("{MARKER}{} {}", server.pid(), server.dir().display());
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}
