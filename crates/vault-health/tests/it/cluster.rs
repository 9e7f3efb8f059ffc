//! The cluster check against real raft clusters, run as the `health` identity deploy provisions (a token with
//! only the shipped `policies/health.hcl`): a three-node cluster seen through a standby can lose one node; with a
//! follower killed, autopilot's failure tolerance drops to 0, which is a Nagios WARNING and shows in the
//! Prometheus gauges; restarted, the cluster is healthy again; with two of three gone it is CRITICAL. A single
//! raft node is green right after setup, and a server whose storage is not raft skips the check. The state check
//! asks the active node a standby names, so a frozen or killed leader is never reported as the active node.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use vault_core::{Client, Config, SecretString};
use vault_testkit::{Cluster, TlsServer};

use crate::util::{
    assert_no_secret, check, code, dev_server, json, jsonl, prometheus, root_client, run_formats, sample, stdout,
    tls_server, vault_health_with,
};

/// How long autopilot may take to notice a dead or returning node: its last-contact threshold is 10 s and it
/// refreshes its state every few seconds; on a busy machine elections and joins add more.
const AUTOPILOT_NOTICES: Duration = Duration::from_secs(90);

/// The policy deploy gives the `health` AppRole, as shipped.
fn health_policy() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/health.hcl");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Writes the shipped `health` policy and returns a token with that policy alone (not even `default`), as the
/// `health` identity has.
async fn health_token(root: &Client) -> String {
    root.request(Method::PUT, "sys/policies/acl/health", Some(&json!({ "policy": health_policy() })))
        .await
        .expect("the health policy is accepted");
    let answer = root
        .request(
            Method::POST,
            "auth/token/create",
            Some(&json!({ "policies": ["health"], "no_default_policy": true, "ttl": "2h" })),
        )
        .await
        .expect("a token with the health policy")
        .expect("an answer");
    answer["auth"]["client_token"].as_str().expect("a client token").to_owned()
}

fn node_client(cluster: &Cluster, node: usize) -> Client {
    let mut config = Config::with_token(cluster.addr(node), SecretString::from(cluster.root_token())).unwrap();
    config.tls.ca_cert = Some(cluster.ca_cert_path().to_owned());
    Client::new(config).unwrap()
}

/// `VAULT_ADDR` of node `node`, the cluster's CA and `token`.
fn env(cluster: &Cluster, node: usize, token: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = cluster.env(node).into_iter().filter(|(k, _)| k != "VAULT_TOKEN").collect();
    env.push(("VAULT_TOKEN".to_owned(), token.to_owned()));
    env
}

/// Enables one file audit device from every node's config (OpenBao takes audit devices from its config only,
/// reloaded on SIGHUP), so that the audit check is green with `--audit-min-devices 1` and only the cluster
/// check decides the verdict.
async fn enable_audit(cluster: &Cluster, root: &Client) {
    let log = cluster.dir().join("audit.log");
    let stanza = format!("\naudit \"file\" \"file\" {{\n  options {{\n    file_path = {log:?}\n  }}\n}}\n");
    for node in 0..cluster.len() {
        let config = cluster.node_dir(node).join("config.hcl");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&stanza);
        std::fs::write(&config, text).unwrap();
        let pid = cluster.pid(node).expect("every node runs");
        let pid = rustix::process::Pid::from_raw(pid as i32).expect("a valid pid");
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("SIGHUP to a node");
    }
    let start = Instant::now();
    while !root.audit_devices().await.is_ok_and(|devices| !devices.is_empty()) {
        assert!(start.elapsed() < Duration::from_secs(30), "the audit device from the config was never enabled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `vault-health --format json` until the cluster check's details satisfy `done`, for at most
/// [`AUTOPILOT_NOTICES`]; returns that report.
fn wait_for_cluster(env: &[(String, String)], what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (report, _) = json(vault_health_with(env.to_vec()).args(["--audit-min-devices", "1"]));
        if done(&check(&report, "cluster")["details"]) {
            return report;
        }
        assert!(
            start.elapsed() < AUTOPILOT_NOTICES,
            "{what}: not seen within {AUTOPILOT_NOTICES:?}; last report: {:#}",
            check(&report, "cluster")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The peer called `node_id` in the cluster check's details.
fn peer<'a>(details: &'a Value, node_id: &str) -> &'a Value {
    details["peers"]
        .as_array()
        .expect("peers is an array")
        .iter()
        .find(|p| p["node_id"] == node_id)
        .unwrap_or_else(|| panic!("no peer {node_id} in {details:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_sees_the_cluster_and_a_lost_follower_leaves_no_failure_tolerance() {
    let mut cluster = Cluster::start(3).await.expect("a three-node cluster starts");
    let leader = cluster.leader().await.unwrap();
    let standby = (leader + 1) % 3;
    let follower = (leader + 2) % 3;
    let root = node_client(&cluster, leader);
    enable_audit(&cluster, &root).await;
    let token = health_token(&root).await;
    let env = env(&cluster, standby, &token);

    // All three voters, healthy: the cluster can lose one.
    wait_for_cluster(&env, "three healthy voters", |d| d["healthy"] == true && d["failure_tolerance"] == 1);
    let runs = run_formats(&env, &["--audit-min-devices", "1"]);
    for output in &runs.all {
        assert_no_secret(output, &token);
    }
    let report = &runs.json;
    assert_eq!((report["status"].as_str(), runs.json_code), (Some("ok"), 0), "{report:#}");
    let cluster_check = check(report, "cluster");
    assert_eq!(cluster_check["status"], "ok", "{cluster_check:#}");
    let summary = cluster_check["summary"].as_str().unwrap();
    assert!(summary.starts_with("3 voters, leader node"), "{summary}");
    assert!(summary.ends_with(", autopilot healthy: can lose 1 node"), "{summary}");
    let details = &cluster_check["details"];
    assert_eq!((details["voters"].as_u64(), details["quorum"].as_u64()), (Some(3), Some(2)), "{details:#}");
    assert_eq!(details["healthy_voters"], 3);
    let leader_id = details["leader_id"].as_str().unwrap();
    assert!((0..3).any(|i| cluster.node_id(i) == leader_id), "{details:#}");
    for node in 0..3 {
        let p = peer(details, cluster.node_id(node));
        assert_eq!((p["voter"].as_bool(), p["healthy"].as_bool()), (Some(true), Some(true)), "{p:#}");
        assert_eq!(p["leader"] == true, p["node_id"] == leader_id, "{details:#}");
        assert!(p["lag"].as_u64().is_some() && p["last_index"].as_u64().is_some(), "{p:#}");
        assert!(p["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{p:#}");
    }
    assert!(details["leader_index"].as_u64().unwrap() > 0);

    let human = stdout(&runs.human);
    assert!(human.contains("\nNODE   ADDRESS"), "{human}");
    assert!(human.contains("\n3 voters, quorum 2: can lose 1 node\n"), "{human}");
    for node in 0..3 {
        assert!(human.lines().any(|l| l.starts_with(&format!("{} ", cluster.node_id(node)))), "{human}");
    }
    let records = jsonl(&stdout(&runs.jsonl));
    let record = records.iter().find(|r| r["name"] == "cluster").expect("a cluster record");
    assert_eq!((record["type"].as_str(), record["schema"].as_str()), (Some("check"), Some("vault-health.check/1")));
    assert_eq!(record["details"]["failure_tolerance"], 1);
    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT OK - "), "{line}");
    assert!(
        line.contains(" raft_peers=3 raft_voters=3 raft_healthy_voters=3 raft_failure_tolerance=1;1:;0: "),
        "{line}"
    );
    assert_eq!(code(&runs.nagios), 0, "{line}");
    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_raft_voters", ""), Some(3.0));
    assert_eq!(sample(&samples, "vault_health_raft_failure_tolerance", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_raft_autopilot_healthy", ""), Some(1.0));
    let follower_label = format!("node=\"{}\"", cluster.node_id(follower));
    assert_eq!(sample(&samples, "vault_health_raft_node_healthy", &follower_label), Some(1.0));
    assert!(sample(&samples, "vault_health_raft_node_lag_index", &follower_label).is_some());

    // A follower (not the node asked, and not the leader) dies: once autopilot notices, the cluster cannot lose
    // another node. That is a warning, not a failure: it still serves.
    let dead = cluster.node_id(follower).to_owned();
    cluster.kill(follower);
    wait_for_cluster(&env, "the dead follower", |d| d["failure_tolerance"] == 0 && d["healthy"] == false);
    let runs = run_formats(&env, &["--audit-min-devices", "1"]);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schemas/vault-health.json")).unwrap(),
    )
    .unwrap();
    for record in jsonl(&stdout(&runs.jsonl)) {
        let kind = record["type"].as_str().unwrap();
        let definition = vault_testkit::schema::definition(&schema, kind).expect("every record type has a schema");
        let problems = vault_testkit::schema::validate(&schema, definition, &record);
        assert!(problems.is_empty(), "{problems:#?}\n{record:#}");
    }
    let cluster_check = check(&runs.json, "cluster");
    assert_eq!(cluster_check["status"], "warn", "{cluster_check:#}");
    let summary = cluster_check["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("autopilot unhealthy ({dead}")), "{summary}");
    assert!(summary.ends_with(": can lose 0 nodes, fewer than 1"), "{summary}");
    assert_eq!(peer(&cluster_check["details"], &dead)["healthy"], false);
    assert_eq!(cluster_check["details"]["healthy_voters"], 2);
    assert_eq!(runs.json_code, 1, "the answer is no: {:#}", runs.json);
    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT WARNING - cluster: 3 voters, leader "), "{line}");
    assert!(line.contains(" raft_failure_tolerance=0;1:;0: "), "{line}");
    assert_eq!(code(&runs.nagios), 1, "Nagios WARNING: {line}");
    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_raft_failure_tolerance", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_raft_autopilot_healthy", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_raft_healthy_voters", ""), Some(2.0));
    assert_eq!(sample(&samples, "vault_health_raft_node_healthy", &follower_label), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_check_status", "check=\"cluster\""), Some(1.0));
    // A tolerance of 0 is what the user asked to accept: autopilot's own verdict still warns.
    let (report, _) =
        json(vault_health_with(env.clone()).args(["--audit-min-devices", "1", "--min-failure-tolerance", "0"]));
    assert_eq!(check(&report, "cluster")["status"], "warn", "{report:#}");

    // Back on its data, the node rejoins and the cluster can lose one again.
    cluster.restart(follower).await.expect("the follower comes back");
    wait_for_cluster(&env, "the returned follower", |d| d["healthy"] == true && d["failure_tolerance"] == 1);
    let (report, exit) = json(vault_health_with(env.clone()).args(["--audit-min-devices", "1"]));
    assert_eq!((report["status"].as_str(), exit), (Some("ok"), 0), "{report:#}");

    // Two of three gone: no quorum, so no leader. The node asked still answers and still names the old leader,
    // but nothing can be read through it: critical.
    let leader = cluster.leader().await.unwrap();
    for node in (0..3).filter(|node| *node != standby) {
        cluster.kill(node);
    }
    let start = Instant::now();
    let (report, line, nagios_code) = loop {
        let (report, _) = json(vault_health_with(env.clone()).args(["--audit-min-devices", "1"]));
        let output =
            vault_health_with(env.clone()).args(["--format", "nagios", "--audit-min-devices", "1"]).output().unwrap();
        if check(&report, "cluster")["status"] == "crit" && code(&output) == 2 {
            break (report, stdout(&output), code(&output));
        }
        assert!(start.elapsed() < AUTOPILOT_NOTICES, "a cluster without quorum never turned critical: {report:#}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let summary = check(&report, "cluster")["summary"].as_str().unwrap().to_owned();
    assert!(summary.starts_with("no leader") || summary.contains("quorum lost: 1 of 3 voters healthy"), "{summary}");
    assert!(line.starts_with("VAULT CRITICAL - ") && line.contains("cluster: "), "{line}");
    assert_eq!(nagios_code, 2, "Nagios CRITICAL (node {leader} led): {line}");
}

/// The state check as `vault-health` run with no token against node `node` reports it (only the checks on
/// unauthenticated endpoints run, so nothing waits on a forwarded request), the exit code, and how long it took.
fn state_check(cluster: &Cluster, node: usize) -> (Value, i32, Duration) {
    let env: Vec<(String, String)> = cluster.env(node).into_iter().filter(|(k, _)| k != "VAULT_TOKEN").collect();
    let start = Instant::now();
    let (report, exit) = json(&mut vault_health_with(env));
    (check(&report, "state").clone(), exit, start.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_never_calls_a_leader_that_does_not_answer_active() {
    let mut cluster = Cluster::start(3).await.expect("a three-node cluster starts");
    let leader = cluster.leader().await.unwrap();
    let (standby, other) = ((leader + 1) % 3, (leader + 2) % 3);
    let leader_addr = cluster.addr(leader).to_owned();

    // Healthy: the standby names the leader, which answers.
    let start = Instant::now();
    let named = format!("standby; the active node is {leader_addr}");
    loop {
        let (state, exit, _) = state_check(&cluster, standby);
        if state["summary"] == named.as_str() {
            assert_eq!((state["status"].as_str(), exit), (Some("ok"), 0), "{state:#}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the standby never named the leader: {state:#}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The leader and the other standby frozen (SIGSTOP): they accept connections and never answer, and without a
    // quorum no new leader can be elected, so the standby asked keeps naming the frozen leader. The state check
    // asks that node itself, waits a bounded time and warns.
    cluster.freeze(leader);
    cluster.freeze(other);
    let (state, exit, took) = state_check(&cluster, standby);
    cluster.resume(other);
    cluster.resume(leader);
    assert_eq!(state["status"], "warn", "{state:#}");
    assert_eq!(
        state["summary"].as_str().unwrap(),
        format!(
            "standby, but the active node it names, {leader_addr}, does not answer: a leader election is under way \
             or the cluster has lost its quorum"
        ),
        "{state:#}"
    );
    assert_eq!(state["details"]["leader_address"], leader_addr.as_str(), "{state:#}");
    assert_eq!(exit, 1, "a warning: {state:#}");
    assert!(took < Duration::from_secs(8), "the frozen leader held the run up for {took:?}");

    // Thawed, the cluster settles (on the old leader or a new one) and the standby's word is good again.
    let leader = cluster.wait_until_healthy().await.expect("the thawed cluster elects a leader");
    let start = Instant::now();
    loop {
        let (state, exit, _) = state_check(&cluster, (leader + 1) % 3);
        if state["status"] == "ok" {
            assert_eq!(state["summary"], format!("standby; the active node is {}", cluster.addr(leader)).as_str());
            assert_eq!(exit, 0, "{state:#}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the thawed cluster never looked healthy: {state:#}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The leader killed: until the others elect a new one (a second or three) a standby may still name it. Whatever
    // the moment, the dead node is never reported as the active node.
    let dead_addr = cluster.addr(leader).to_owned();
    let asked = (leader + 1) % 3;
    cluster.kill(leader);
    let (state, _, _) = state_check(&cluster, asked);
    let summary = state["summary"].as_str().unwrap();
    assert!(!(state["status"] == "ok" && summary.contains(&dead_addr)), "a dead leader called active: {state:#}");
    assert!(
        summary.starts_with(&format!("standby, but the active node it names, {dead_addr}, does not answer: "))
            || summary == "standby, but no active node is known: requests cannot be served"
            || summary == "active (HA leader)"
            || (state["status"] == "ok" && summary.starts_with("standby; the active node is ")),
        "{state:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_node_is_green_and_other_storage_is_not_applicable() {
    let (server, dev) = tokio::join!(tls_server(TlsServer::builder().audit_file(true)), dev_server());
    let token = health_token(&root_client(&server)).await;
    let mut env: Vec<(String, String)> = server.env().into_iter().filter(|(k, _)| k != "VAULT_TOKEN").collect();
    env.push(("VAULT_TOKEN".to_owned(), token.clone()));

    // Right after setup, as deploy leaves one box: one voter, no failure tolerance by design, and green.
    let runs = run_formats(&env, &["--audit-min-devices", "1"]);
    assert_eq!((runs.json["status"].as_str(), runs.json_code), (Some("ok"), 0), "{:#}", runs.json);
    let cluster_check = check(&runs.json, "cluster");
    assert_eq!(cluster_check["status"], "ok");
    let summary = cluster_check["summary"].as_str().unwrap();
    assert!(summary.starts_with("1 voter, leader "), "{summary}");
    assert!(summary.ends_with(", autopilot healthy: can lose 0 nodes (a single node)"), "{summary}");
    let details = &cluster_check["details"];
    assert_eq!((details["voters"].as_u64(), details["failure_tolerance"].as_u64()), (Some(1), Some(0)));
    assert!(stdout(&runs.human).contains("\n1 voter, quorum 1: can lose 0 nodes\n"), "{}", stdout(&runs.human));
    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT OK - active, ") && line.contains(" raft_failure_tolerance=0 "), "{line}");
    assert_eq!(code(&runs.nagios), 0);
    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_raft_failure_tolerance", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_raft_peers", ""), Some(1.0));
    for output in &runs.all {
        assert_no_secret(output, &token);
    }

    // Asked for explicitly, a tolerance of one judges a single node too.
    let output = vault_health_with(env.clone())
        .args(["--format", "nagios", "--audit-min-devices", "1", "--min-failure-tolerance", "1"])
        .output()
        .unwrap();
    let line = stdout(&output);
    assert!(line.starts_with("VAULT WARNING - cluster: 1 voter, "), "{line}");
    assert!(line.contains(" raft_failure_tolerance=0;1:;0: "), "{line}");
    assert_eq!(code(&output), 1);

    // A token that may not read the raft configuration skips the check; so does storage that is not raft.
    let other = root_client(&server)
        .request(Method::POST, "auth/token/create", Some(&json!({ "policies": ["default"], "ttl": "1h" })))
        .await
        .unwrap()
        .unwrap();
    let mut other_env: Vec<(String, String)> = env.iter().filter(|(k, _)| k != "VAULT_TOKEN").cloned().collect();
    other_env.push(("VAULT_TOKEN".to_owned(), other["auth"]["client_token"].as_str().unwrap().to_owned()));
    let (report, exit) = json(&mut vault_health_with(other_env));
    let c = check(&report, "cluster");
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(c["summary"].as_str().unwrap().ends_with("(the health identity may)"), "{c:#}");
    assert_eq!(exit, 0, "a skipped check never counts: {report:#}");
    let (report, exit) = json(&mut vault_health_with(vec![
        ("VAULT_ADDR".to_owned(), dev.addr().to_owned()),
        ("VAULT_TOKEN".to_owned(), dev.root_token().to_owned()),
    ]));
    let c = check(&report, "cluster");
    assert_eq!(
        (c["status"].as_str(), c["summary"].as_str()),
        (Some("skipped"), Some("not applicable: the server's storage is not raft"))
    );
    assert!(c.get("details").is_none(), "{c:#}");
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["name"] != "cluster" || c["status"] == "skipped"));
    let _ = exit;
}
