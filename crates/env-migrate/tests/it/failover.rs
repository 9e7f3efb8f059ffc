//! A leader change in the middle of `apply`: 300 variables go to a three-node raft cluster through a standby,
//! the active node is killed once some are written, and `apply` either waits out the election and finishes or
//! stops with the "unavailable" exit code. The env file is untouched either way; a re-run, started at once
//! (during or just after the election), converges: every value is in Vault, right, at version 1 (one
//! check-and-set write per secret, none repeated); then `strip` rewrites the file, checking Vault first.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vault_core::{Client, Config, KvPath, SecretString};
use vault_testkit::Cluster;

use crate::util::{cmd_for, code, run};

const VARIABLES: usize = 300;
/// Secrets written before the leader is killed.
const KILL_AT: usize = 40;

fn node_client(cluster: &Cluster, node: usize) -> Client {
    let mut config = Config::with_token(cluster.addr(node), SecretString::from(cluster.root_token())).unwrap();
    config.tls.ca_cert = Some(cluster.ca_cert_path().to_path_buf());
    Client::new(config).unwrap()
}

/// One `.env` of [`VARIABLES`] secrets; returns (variable, value) pairs.
fn make_env(dir: &Path) -> Vec<(String, String)> {
    let mut text = String::from("# pipeline settings\nLOG_LEVEL=info\n");
    let mut pairs = Vec::new();
    for i in 0..VARIABLES {
        let key = format!("SERVICE_{i}_SECRET_KEY");
        let value = format!("s{i}-{:016x}{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), !(i as u64) << 7);
        text.push_str(&format!("{key}={value}\n"));
        pairs.push((key, value));
    }
    std::fs::write(dir.join(".env"), text).unwrap();
    pairs
}

fn path_of(key: &str) -> String {
    format!("secret/failover/default/{}", key.to_ascii_lowercase())
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_through_a_leader_change_converges_on_a_rerun() {
    let mut cluster = Cluster::start(3).await.expect("start a three-node cluster");
    let leader = cluster.leader().await.expect("a leader");
    let standby = (leader + 1) % 3;
    let client = node_client(&cluster, standby);
    let version = [("version".to_owned(), "2".to_owned())].into();
    client.enable_mount("secret", "kv", &version).await.expect("KV v2 at secret/");
    // The standby answers reads itself; the mount reaches it a moment after the active node made it.
    let started = Instant::now();
    while !client.mounts().await.is_ok_and(|m| m.contains_key("secret/")) {
        assert!(started.elapsed() < Duration::from_secs(15), "the standby never learned of the mount");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let pairs = make_env(dir.path());
    let original = std::fs::read(dir.path().join(".env")).unwrap();
    let env = cluster.env(standby);
    let (out, _, stderr) = run(cmd_for(dir.path(), &env).args([
        "plan",
        "--app",
        "failover",
        "--template",
        "secret/{app}/{env}/{name}",
        "-o",
        "plan.json",
    ]));
    assert_eq!(code(&out), 0, "{stderr}");

    let mut child = cmd_for(dir.path(), &env)
        .args(["apply", "plan.json", "--yes", "-f", "jsonl"])
        .stdout(std::fs::File::create(dir.path().join("first-apply.jsonl")).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let folder = KvPath::parse("secret/failover/default/").unwrap();
    let started = Instant::now();
    loop {
        let written = client.kv_list(&folder).await.map(|l| l.len()).unwrap_or(0);
        if written >= KILL_AT {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "apply finished ({}) before the leader could be killed: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(dir.path().join("first-apply.jsonl"))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.contains("\"verified\":true"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(started.elapsed() < Duration::from_secs(60), "apply never started writing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.kill(leader);
    let killed = Instant::now();

    // apply either waits out the election and finishes, or stops as "unavailable" with a one-line reason.
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match code(&out) {
        0 => {}
        3 => assert!(
            stderr.contains("no active Vault node") || stderr.contains("cannot reach Vault"),
            "a clear reason: {stderr}"
        ),
        other => {
            let records = std::fs::read_to_string(dir.path().join("first-apply.jsonl")).unwrap();
            let odd: Vec<&str> = records.lines().filter(|l| !l.contains("\"verified\":true")).take(6).collect();
            panic!("apply through the leader change exited {other}: {stderr}\n{}", odd.join("\n"))
        }
    }
    eprintln!("the first apply exited {} {:.1?} after the kill", code(&out), killed.elapsed());
    assert_eq!(std::fs::read(dir.path().join(".env")).unwrap(), original, "apply never touches the env file");
    for (_, value) in &pairs {
        assert!(!stderr.contains(value.as_str()), "a value reached stderr");
    }

    // The re-run starts at once, maybe still during the election, and finishes the job.
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "the re-run converges: {stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["verified"], VARIABLES, "{summary}");
    assert_eq!(summary["conflicts"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(std::fs::read(dir.path().join(".env")).unwrap(), original, "apply never touches the env file");

    // Nothing lost, nothing written twice: every value right, each secret at version 1.
    for (key, value) in &pairs {
        let path = client.kv_path(&path_of(key)).await.unwrap();
        let secret = client.kv_read(&path, None).await.unwrap_or_else(|e| panic!("{key}: {e}"));
        let got = secret.data.get(key).map(|v| v.expose().to_owned());
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key} holds a wrong value");
        assert_eq!(secret.metadata.version, 1, "{key} was written more than once");
    }

    // Only now is the env file rewritten; strip reads every value from Vault again first.
    let (out, _, stderr) = run(cmd_for(dir.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let stripped = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    for (key, value) in &pairs {
        assert!(!stripped.contains(value.as_str()), "{key} still in the env file");
    }
    assert!(stripped.starts_with("# pipeline settings\nLOG_LEVEL=info\n"), "{stripped}");
}
