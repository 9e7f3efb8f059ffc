//! A three-node raft cluster and a client that only knows one standby: writes reach the active node; when the
//! leader is killed, reads, lists, metadata reads, check-and-set writes and a token mint go on through the
//! election without the caller retrying, each within a bounded time; and when no leader can be elected (quorum
//! lost), a write gives up after the failover wait with a one-line "no active Vault node" error and exit 3.

use std::time::{Duration, Instant};

use vault_core::client::FAILOVER_WAIT;
use vault_core::token::TokenRequest;
use vault_core::{Client, Config, Error, Exit, KvPath, SecretString};
use vault_testkit::Cluster;

use crate::{eventually, map};

/// Secrets written before the kill and updated after it.
const SECRETS: usize = 10;

/// How long one call may take through an election: the failover wait plus the backoff and answer time around it.
const CALL_LIMIT: Duration = Duration::from_secs(FAILOVER_WAIT.as_secs() + 10);

fn node_config(cluster: &Cluster, node: usize) -> Config {
    let mut config = Config::with_token(cluster.addr(node), SecretString::from(cluster.root_token())).unwrap();
    config.tls.ca_cert = Some(cluster.ca_cert_path().to_path_buf());
    config
}

fn path(i: usize) -> KvPath {
    KvPath::parse(&format!("secret/failover/s{i}")).unwrap()
}

/// Runs one call, failing the test when it takes longer than [`CALL_LIMIT`]; returns its result and duration.
async fn timed<T>(what: &str, call: impl Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let result = tokio::time::timeout(CALL_LIMIT, call).await.unwrap_or_else(|_| panic!("{what} hung"));
    (result, start.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_on_a_standby_follows_the_leader_through_an_election() {
    let mut cluster = Cluster::start(3).await.expect("start a three-node cluster");
    let leader = cluster.leader().await.expect("a leader");
    let standby = (leader + 1) % 3;
    // The default settings a tool runs with: two retries, the 60 s client timeout.
    let client = Client::new(node_config(&cluster, standby)).unwrap();
    let answer = client.leader().await.unwrap().expect("sys/leader answers");
    assert!(answer.ha_enabled && !answer.is_self, "the client talks to a standby: {answer:?}");

    // Writes sent to the standby reach the active node.
    let version = [("version".to_owned(), "2".to_owned())].into();
    client.enable_mount("secret", "kv", &version).await.expect("a mount through the standby");
    // A standby answers reads itself and learns of the mount a moment after the active node made it.
    assert!(
        eventually(Duration::from_secs(15), async || client
            .mounts()
            .await
            .is_ok_and(|mounts| mounts.contains_key("secret/")))
        .await,
        "the standby never learned of the mount"
    );
    for i in 0..SECRETS {
        let written = client.kv_write(&path(i), &map(&[("v", &format!("{i}-first"))]), Some(0)).await;
        assert_eq!(written.expect("a create-only write through the standby").version, 1);
    }
    let active = Client::new(node_config(&cluster, leader)).unwrap();
    for i in 0..SECRETS {
        let secret = active.kv_read(&path(i), None).await.expect("the active node holds the write");
        assert_eq!(secret.data["v"].expose(), format!("{i}-first"));
    }
    // The standby answers reads itself: wait until it has caught up before the leader goes.
    assert!(
        eventually(Duration::from_secs(15), async || client
            .kv_list(&KvPath::parse("secret/failover/").unwrap())
            .await
            .is_ok_and(|keys| keys.len() == SECRETS))
        .await,
        "the standby never caught up"
    );

    cluster.kill(leader);
    let killed = Instant::now();
    let mut slowest = Duration::ZERO;
    // Check-and-set writes, straight away and without retries of the test's own: the client waits out the
    // election and each makes exactly one new version.
    for i in 0..SECRETS {
        let (written, took) =
            timed("a CAS write", client.kv_write(&path(i), &map(&[("v", &format!("{i}-second"))]), Some(1))).await;
        slowest = slowest.max(took);
        let written = written.unwrap_or_else(|e| panic!("CAS write {i} through the election: {e}"));
        assert_eq!(written.version, 2, "one write, one version");
    }
    // Minting a token, which is retried only after failures that prove it had no effect.
    let request = TokenRequest {
        policies: vec!["default".into()],
        no_default_policy: false,
        ttl: "5m".into(),
        renewable: false,
        display_name: "failover".into(),
    };
    let (minted, took) = timed("a token mint", client.token_create(&request)).await;
    slowest = slowest.max(took);
    minted.expect("a token minted after the election");
    // Reads, lists and metadata reads.
    let folder = KvPath::parse("secret/failover/").unwrap();
    let (keys, took) = timed("a list", client.kv_list(&folder)).await;
    slowest = slowest.max(took);
    assert_eq!(keys.expect("a list").len(), SECRETS);
    for i in 0..SECRETS {
        let (metadata, took) = timed("a metadata read", client.kv_metadata(&path(i))).await;
        slowest = slowest.max(took);
        assert_eq!(metadata.expect("a metadata read").current_version, 2, "no duplicate version of s{i}");
        let (secret, took) = timed("a read", client.kv_read(&path(i), None)).await;
        slowest = slowest.max(took);
        assert_eq!(secret.expect("a read").data["v"].expose(), format!("{i}-second"));
    }
    eprintln!(
        "through the election: all calls done {:.1?} after the kill, the slowest {slowest:.1?}",
        killed.elapsed()
    );

    // Quorum lost: one node of three is left. A write cannot succeed; it gives up after the failover wait with a
    // one-line error that says what is going on, and the exit code for "unavailable".
    let new_leader = cluster.wait_for_leader().await.expect("a new leader");
    let survivors: Vec<usize> = (0..3).filter(|&n| n != leader).collect();
    for &node in &survivors {
        if node != standby || new_leader == standby {
            // Kill every survivor but the standby, unless the standby leads; then kill the other one.
            if node != standby {
                cluster.kill(node);
            }
        }
    }
    let (result, took) =
        timed("a write without quorum", client.kv_write(&path(0), &map(&[("v", "third")]), Some(2))).await;
    let error = result.expect_err("no write succeeds without quorum");
    let message = error.to_string();
    assert!(matches!(error, Error::NoActiveNode { .. } | Error::Unreachable { .. }), "{error:?}");
    assert_eq!(error.exit(), Exit::Unavailable, "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    if matches!(error, Error::NoActiveNode { .. }) {
        assert!(took >= FAILOVER_WAIT, "the client waited for a leader before giving up: {took:?}");
        assert!(message.contains("still so after waiting"), "{message}");
    }
    eprintln!("without quorum the write gave up after {took:.1?}: {message}");
}

/// Read your writes: a client that only knows a standby reads back every write at once — the new version, the
/// new key in a list, the new metadata — although the standby answers reads from a copy that trails the active
/// node. The client sends the raft index of its last answer, and the standby waits until it has applied it.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_on_a_standby_reads_its_own_writes_at_once() {
    const ROUNDS: usize = 150;
    let cluster = Cluster::start(3).await.expect("start a three-node cluster");
    let leader = cluster.leader().await.expect("a leader");
    let client = Client::new(node_config(&cluster, (leader + 1) % 3)).unwrap();
    // The mount too: made through the standby, it is there for the next request through the standby.
    let version = [("version".to_owned(), "2".to_owned())].into();
    client.enable_mount("secret", "kv", &version).await.expect("a KV mount");
    let folder = KvPath::parse("secret/ryw/").unwrap();
    let started = Instant::now();
    for i in 0..ROUNDS {
        let secret = KvPath::parse(&format!("secret/ryw/s{}", i % 10)).unwrap();
        let value = format!("value-{i}");
        let written = client.kv_write(&secret, &map(&[("v", &value)]), None).await.expect("a write");
        let read = client.kv_read(&secret, None).await.expect("reading back what was just written");
        assert_eq!(read.metadata.version, written.version, "round {i}: the standby answered an older version");
        assert_eq!(read.data["v"].expose(), value, "round {i}");
        if i < 10 {
            let names = client.kv_list(&folder).await.expect("a list");
            assert!(names.contains(&format!("s{i}")), "round {i}: the new secret is missing from {names:?}");
        }
        let patched = client.kv_patch(&secret, &map(&[("w", "patched")]), Some(written.version)).await;
        let patched = patched.expect("a check-and-set patch of the version just written");
        let metadata = client.kv_metadata(&secret).await.expect("metadata");
        assert_eq!(metadata.current_version, patched.version, "round {i}: stale metadata");
    }
    eprintln!("{ROUNDS} rounds of write, read, patch, metadata through a standby in {:?}", started.elapsed());
}
