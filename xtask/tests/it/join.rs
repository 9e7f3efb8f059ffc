//! `deploy --join URL`: separate deployments become one cluster, as the second and third VPS join the first.
//! Node 1 is an ordinary `deploy --local DIR1`; nodes 2 and 3 are `deploy --local DIRK --join https://node1`
//! with node 1's CA and CA key (certificates issued here) and node 1's audit paths. Node 2 has the shares and the
//! operator's credentials copied over, as an operator would; node 3 has neither at first and waits for its key
//! holders, and without the operator's credentials skips autopilot; with them copied over a re-run sets
//! dead-server cleanup for three voters. Then: three voters, the pipeline reads through node 3 with its AppRole,
//! a re-run changes nothing (autopilot included, and a minimum quorum the operator raised stays), a killed node 2
//! comes back with a re-run, node 3 dies for good and a fourth deployment replaces it without counting the dead
//! voter toward the minimum quorum, and bad input (a `--local` join without `--leader-dir` too) stops before
//! anything is written. Then the same on
//! systemd hosts: two booted Debian machines on one network, node 2 joining node 1 under `vault.service`.

use std::path::Path;

use serde_json::Value;
use vault_testkit::container::Container;

use crate::identities::tool;
use crate::systemd::{inside, install_toolkit};
use crate::{Stop, approle, as_role, changed, free_port_pair, text, xtask};

fn bao() -> String {
    vault_testkit::bao_binary().expect("the OpenBao binary").display().to_string()
}

/// `deploy --local DIR --listen 127.0.0.1:PORT` plus `extra`, as JSON; the exit code, the report and all output.
fn deploy(dir: &Path, port: u16, extra: &[&str]) -> (Option<i32>, Value, String) {
    let listen = format!("127.0.0.1:{port}");
    let bin = bao();
    let mut args = vec!["deploy", "--local", dir.to_str().unwrap(), "--listen", &listen, "--bin", &bin];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    let output = xtask(&args);
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), report, text(&output))
}

/// The flags that join the deployment in `leader` (listening on `port`).
fn join_flags(leader: &Path, port: u16) -> Vec<String> {
    vec![
        "--join".into(),
        format!("https://127.0.0.1:{port}"),
        "--tls-ca".into(),
        leader.join("tls/ca.pem").display().to_string(),
        "--tls-ca-key".into(),
        leader.join("keys/ca-key.pem").display().to_string(),
        "--leader-dir".into(),
        leader.display().to_string(),
    ]
}

fn strs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    let steps = report["steps"].as_array().unwrap();
    steps.iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("no {name} step: {report}"))
}

/// Copies `names` from `from` into `to` (made 0700), as an operator copies files between hosts.
fn copy(from: &Path, to: &Path, names: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for name in names {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn second_and_third_deployments_join_the_first_and_converge() {
    let base = tempfile::tempdir().unwrap();
    let [dir1, dir2, dir3, dir4, other, fresh] =
        ["n1", "n2", "n3", "n4", "other", "fresh"].map(|n| base.path().join(n));
    let _stops = [&dir1, &dir2, &dir3, &dir4, &other].map(|d| Stop(d.clone()));
    let [p1, p2, p3, p4, p_other, p_fresh] = std::array::from_fn(|_| free_port_pair());

    // Node 1: an ordinary deployment, which keeps its generated CA's key for the nodes to come.
    let (code, _, out) = deploy(&dir1, p1, &[]);
    assert_eq!(code, Some(0), "node 1:\n{out}");
    let ca_key = dir1.join("keys/ca-key.pem");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&ca_key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the CA key is private");

    // Bad input: a one-line error, the shared exit code, and nothing written.
    let flags = join_flags(&dir1, p1);
    let unreachable = free_port_pair();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            [&["--join".to_owned(), format!("http://127.0.0.1:{p1}")][..], &flags[2..]].concat(),
            2,
            "is not an https:// URL",
        ),
        ([&flags[..], &["--nodes".to_owned(), "3".to_owned()][..]].concat(), 2, "does not go with --nodes"),
        (flags[..2].to_vec(), 2, "--join needs --tls-ca"),
        (
            [&["--join".to_owned(), format!("https://127.0.0.1:{unreachable}")][..], &flags[2..]].concat(),
            3,
            "the first node does not answer",
        ),
        // The leader's own certificate is no CA key's partner: an input error.
        (
            [&flags[..4], &["--tls-ca-key".to_owned(), dir1.join("tls/server-key.pem").display().to_string()][..]]
                .concat(),
            2,
            "does not belong to the CA",
        ),
        // A --local node without node 1's folder would name audit files of its own and never serve.
        (flags[..6].to_vec(), 2, "needs --leader-dir"),
        (
            [&flags[..7], &[base.path().join("nowhere").display().to_string()][..]].concat(),
            2,
            "no config/vault.hcl there",
        ),
    ];
    for (args, want, message) in &cases {
        let (code, _, out) = deploy(&fresh, p_fresh, &strs(args));
        assert_eq!(code, Some(*want), "{args:?}:\n{out}");
        assert!(out.contains(message), "{args:?}: wanted {message:?} in\n{out}");
        assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
        assert!(!fresh.exists(), "{args:?} wrote {}", fresh.display());
    }
    // Joining node 1 from its own folder: it already is a deployment of its own.
    let config1 = std::fs::read(dir1.join("config/vault.hcl")).unwrap();
    let (code, _, out) = deploy(&dir1, p1, &strs(&flags));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("already holds a deployment of its own"), "{out}");
    assert_eq!(std::fs::read(dir1.join("config/vault.hcl")).unwrap(), config1, "nothing rewritten");

    // Node 2, with three of node 1's shares and the operator's credentials copied over: it joins as a voter.
    copy(&dir1.join("keys"), &dir2.join("keys"), &["unseal-key-1", "unseal-key-2", "unseal-key-3"]);
    copy(&dir1.join("approle/operator"), &dir2.join("approle/operator"), &["role-id", "secret-id"]);
    let (code, report, out) = deploy(&dir2, p2, &strs(&flags));
    assert_eq!(code, Some(0), "node 2:\n{out}");
    assert_eq!(step(&report, "join")["outcome"], "changed", "{out}");
    let cluster = step(&report, "cluster")["detail"].as_str().unwrap().to_owned();
    assert!(cluster.starts_with(&format!("127.0.0.1-{p2} is a raft voter; 2 voters")), "{cluster}");
    assert_eq!(step(&report, "autopilot")["outcome"], "ok", "two voters: nothing to set yet\n{out}");
    let hcl = std::fs::read_to_string(dir2.join("config/vault.hcl")).unwrap();
    assert!(hcl.contains(&format!("leader_api_addr = \"https://127.0.0.1:{p1}\"")), "{hcl}");
    assert!(hcl.contains(&format!("node_id = \"127.0.0.1-{p2}\"")), "{hcl}");
    assert!(hcl.contains(&dir1.join("audit/audit.log").display().to_string()), "node 1's audit path: {hcl}");
    // Nothing that belongs to the cluster ran here: no init, no root token, no job units, no setup steps.
    assert!(!dir2.join("keys/root-token").exists() && !dir2.join("systemd").exists());
    let names: Vec<&str> = report["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    for cluster_step in ["init", "unseal", "policies", "root token", "kv", "canary"] {
        assert!(!names.contains(&cluster_step), "a joining node ran {cluster_step}: {names:?}");
    }

    // Node 3 without shares: it waits for its key holders (exit 1), and joins once they are there.
    let (code, report, out) = deploy(&dir3, p3, &strs(&flags));
    assert_eq!(code, Some(1), "node 3 without shares:\n{out}");
    assert_eq!(step(&report, "join")["outcome"], "pending", "{out}");
    assert!(step(&report, "join")["detail"].as_str().unwrap().contains("scripts/vault/unseal"), "{out}");
    copy(&dir1.join("keys"), &dir3.join("keys"), &["unseal-key-2", "unseal-key-4", "unseal-key-5"]);
    let (code, report, out) = deploy(&dir3, p3, &strs(&flags));
    assert_eq!(code, Some(0), "node 3 with shares:\n{out}");
    assert_eq!(step(&report, "join")["outcome"], "changed", "{out}");
    node3_sets_autopilot_with_the_operators_credentials(&dir1, p1, &dir3, p3, &report, &strs(&flags)).await;

    // Three voters, read with node 1's operator credentials.
    let operator = approle(&dir1, p1, &dir1.join("approle/operator"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let voters = loop {
        let peers = operator.raft_peers().await.unwrap();
        let voters: Vec<String> = peers.iter().filter(|p| p.voter).map(|p| p.node_id.clone()).collect();
        if voters.len() == 3 || std::time::Instant::now() > deadline {
            break voters;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(voters.len(), 3, "{voters:?}");
    for id in ["vault-1".to_owned(), format!("127.0.0.1-{p2}"), format!("127.0.0.1-{p3}")] {
        assert!(voters.contains(&id), "{id} is not a voter: {voters:?}");
    }

    // The operator writes a secret on node 1; the pipeline reads it through node 3 with its own AppRole.
    let password = format!("pw-{}", std::process::id());
    let path = operator.kv_path("secret/dagster/app/prod/db").await.unwrap();
    let data = [("password".to_owned(), vault_core::SecretString::from(password.clone()))].into();
    operator.kv_write(&path, &data, None).await.unwrap();
    let read = as_role(&dir1, p3, "dagster", &tool("vault-env"))
        .args(["get", "secret/dagster/app/prod/db", "--field", "password"])
        .output()
        .unwrap();
    assert!(read.status.success(), "read through node 3: {}", text(&read));
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), password);

    // A re-run of a joined node changes nothing.
    let (code, report, out) = deploy(&dir2, p2, &strs(&flags));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(changed(&report), Vec::<String>::new(), "a joined node changes nothing:\n{out}");
    autopilot_unchanged(&report, 3);
    // A minimum quorum the operator raised is never lowered by a node's run.
    let mut raised = operator.autopilot_config().await.unwrap();
    raised.min_quorum = 5;
    operator.set_autopilot_config(&raised).await.unwrap();

    // Node 2's server dies; a re-run starts it, unseals it with its shares, and it is a voter again.
    let pid = std::fs::read_to_string(dir2.join("server.pid")).unwrap();
    assert!(std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (code, report, out) = deploy(&dir2, p2, &strs(&flags));
    assert_eq!(code, Some(0), "node 2 after its death:\n{out}");
    assert_eq!(changed(&report), ["server", "join"], "{out}");
    assert!(step(&report, "cluster")["detail"].as_str().unwrap().contains("3 voters"), "{out}");
    autopilot_unchanged(&report, 5);
    assert_eq!(operator.autopilot_config().await.unwrap().min_quorum, 5);

    // Node 3 dies for good and a fourth host replaces it. The dead node is still a voter, but the join counts
    // the live ones (3), so the minimum quorum stays 3 and autopilot can still remove the dead node.
    raised.min_quorum = 3;
    operator.set_autopilot_config(&raised).await.unwrap();
    let pid = std::fs::read_to_string(dir3.join("server.pid")).unwrap();
    assert!(std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().unwrap().success());
    let node3 = format!("127.0.0.1-{p3}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let state = operator.autopilot_state().await.unwrap();
        let server = state.servers.get(&node3).cloned().unwrap_or_default();
        if !server.healthy && server.last_contact_seconds().is_some_and(|s| s >= 31.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "autopilot never saw node 3 dead: {server:?}");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    copy(&dir1.join("keys"), &dir4.join("keys"), &["unseal-key-1", "unseal-key-3", "unseal-key-5"]);
    copy(&dir1.join("approle/operator"), &dir4.join("approle/operator"), &["role-id", "secret-id"]);
    let (code, report, out) = deploy(&dir4, p4, &strs(&flags));
    assert_eq!(
        code,
        Some(0),
        "node 4 replacing node 3:
{out}"
    );
    let cluster = step(&report, "cluster")["detail"].as_str().unwrap().to_owned();
    assert!(cluster.contains("4 voters (3 alive)") && cluster.ends_with("it can lose 0 node(s)"), "{cluster}");
    autopilot_unchanged(&report, 3);
    assert_eq!(operator.autopilot_config().await.unwrap().min_quorum, 3);

    // A node that is part of one cluster does not join another; a CA that does not verify the leader stops a
    // join before anything is written.
    let (code, _, out) = deploy(&other, p_other, &[]);
    assert_eq!(code, Some(0), "another cluster:\n{out}");
    let config2 = std::fs::read(dir2.join("config/vault.hcl")).unwrap();
    let (code, _, out) = deploy(&dir2, p2, &strs(&join_flags(&other, p_other)));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("already initialised as another cluster"), "{out}");
    assert_eq!(std::fs::read(dir2.join("config/vault.hcl")).unwrap(), config2, "nothing rewritten");
    let wrong_ca = [
        &flags[..2],
        &strs(&join_flags(&other, p_other)[2..6]).iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()[..],
        &flags[6..],
    ]
    .concat();
    let (code, _, out) = deploy(&fresh, p_fresh, &strs(&wrong_ca));
    assert_eq!(code, Some(3), "a CA that does not verify the leader:\n{out}");
    assert!(out.contains("TLS"), "{out}");
    assert!(!fresh.exists());
}

/// Node 3 has joined without the operator's credentials: the autopilot step is skipped with what sets it. With
/// node 1's credentials copied over, a re-run sets dead-server cleanup for the three voters.
async fn node3_sets_autopilot_with_the_operators_credentials(
    dir1: &Path,
    p1: u16,
    dir3: &Path,
    p3: u16,
    report: &Value,
    flags: &[&str],
) {
    let skipped = step(report, "autopilot");
    assert_eq!(skipped["outcome"], "warning", "{report}");
    let detail = skipped["detail"].as_str().unwrap();
    assert!(detail.starts_with("skipped: "), "{detail}");
    assert!(detail.contains(&dir3.join("approle/operator").display().to_string()), "{detail}");
    assert!(
        detail.contains(
            "`bao operator raft autopilot set-config -cleanup-dead-servers=true \
             -dead-server-last-contact-threshold=24h -min-quorum=3`"
        ),
        "{detail}"
    );

    copy(&dir1.join("approle/operator"), &dir3.join("approle/operator"), &["role-id", "secret-id"]);
    let (code, report, out) = deploy(dir3, p3, flags);
    assert_eq!(code, Some(0), "node 3 with the operator's credentials:\n{out}");
    assert_eq!(changed(&report), ["autopilot"], "{out}");
    assert!(step(&report, "cluster")["detail"].as_str().unwrap().contains("3 voters"), "{out}");
    assert_eq!(
        step(&report, "autopilot")["detail"],
        "dead servers are removed after 24h, never below 3 voters",
        "{out}"
    );
    let config = approle(dir1, p1, &dir1.join("approle/operator")).autopilot_config().await.unwrap();
    assert!(config.cleanup_dead_servers, "{config:?}");
    assert_eq!(config.min_quorum, 3, "{config:?}");
    assert_eq!(
        vault_core::config::parse_duration(&config.dead_server_last_contact_threshold).unwrap().as_secs(),
        86400
    );
}

/// The autopilot step of a run on a cluster whose autopilot is already set, with a minimum quorum of `min_quorum`.
fn autopilot_unchanged(report: &Value, min_quorum: u32) {
    let autopilot = step(report, "autopilot");
    assert_eq!(autopilot["outcome"], "ok", "{report}");
    let want = format!("dead servers are removed after 24h, never below {min_quorum} voters");
    assert_eq!(autopilot["detail"], want.as_str(), "{report}");
}

/// `vault-toolkit deploy` in systemd mode inside `machine`, with `extra` flags, as JSON.
fn deploy_on(machine: &Container, extra: &str) -> (Option<i32>, Value, String) {
    let output =
        machine.sh(&format!("cd /tmp && vault-toolkit deploy --bin /usr/local/bin/bao {extra} --format json")).unwrap();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code(),
        report,
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

/// Copies a file from one machine to another, as an operator does over SSH.
fn carry(from: &Container, to: &Container, path: &str, target: &str, mode: u32) {
    to.copy_in(&from.root().join(path.trim_start_matches('/')), target, mode).unwrap();
}

/// The host flow under a real systemd: two Debian machines booted with systemd as PID 1 and sharing a network
/// (node 1 on 127.0.0.1, node 2 on 127.0.0.2), the toolkit installed from the tarball on each. Node 2 joins with
/// node 1's CA, CA key, shares and operator credentials carried over, and converges as a node does.
#[test]
fn under_systemd_a_second_host_joins_the_first() {
    let one = Container::boot().expect("booting node 1's container");
    let two = Container::boot_beside(&one).expect("booting node 2's container on node 1's network");
    install_toolkit(&one);
    install_toolkit(&two);

    let (code, _, out) = deploy_on(&one, "");
    assert_eq!(code, Some(0), "node 1:\n{out}");
    carry(&one, &two, "/etc/vault.d/tls/ca.pem", "/root/ca.pem", 0o644);
    carry(&one, &two, "/root/vault-keys/ca-key.pem", "/root/ca-key.pem", 0o600);
    for n in 1..=3 {
        carry(
            &one,
            &two,
            &format!("/root/vault-keys/unseal-key-{n}"),
            &format!("/root/vault-keys/unseal-key-{n}"),
            0o600,
        );
    }
    for file in ["role-id", "secret-id"] {
        let path = format!("/etc/vault.d/approle/operator/{file}");
        carry(&one, &two, &path, &path, 0o400);
    }
    inside(&two, "chmod 700 /root/vault-keys /etc/vault.d/approle/operator");

    let join =
        "--listen 127.0.0.2:8200 --join https://127.0.0.1:8200 --tls-ca /root/ca.pem --tls-ca-key /root/ca-key.pem";
    let (code, report, out) = deploy_on(&two, join);
    assert_eq!(code, Some(0), "node 2:\n{out}");
    assert_eq!(step(&report, "join")["outcome"], "changed", "{out}");
    assert!(
        step(&report, "cluster")["detail"].as_str().unwrap().starts_with("127.0.0.2 is a raft voter; 2 voters"),
        "{out}"
    );
    assert_eq!(inside(&two, "systemctl is-active vault.service"), "active");
    assert_eq!(inside(&two, "systemctl show --property=User --value vault.service"), "vault");
    let hcl = inside(&two, "cat /etc/vault.d/vault.hcl");
    assert!(hcl.contains("leader_api_addr = \"https://127.0.0.1:8200\""), "{hcl}");
    assert!(hcl.contains("leader_ca_cert_file = \"/etc/vault.d/tls/ca.pem\""), "{hcl}");
    assert!(hcl.contains("file_path = \"/var/log/vault/audit.log\""), "{hcl}");
    assert_eq!(inside(&two, "stat -c %U:%G:%a /etc/vault.d/tls/server-key.pem"), "root:vault:640");
    // No job units on a joining node: the jobs are node 1's.
    assert_eq!(inside(&two, "ls /etc/systemd/system | grep -c '^vault-backup' || true"), "0");

    // A re-run changes nothing; after a restart (sealed) the next run only unseals, which rejoins it.
    let (code, report, out) = deploy_on(&two, join);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(changed(&report), Vec::<String>::new(), "{out}");
    inside(&two, "systemctl restart vault.service");
    let (code, report, out) = deploy_on(&two, join);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(changed(&report), ["join"], "{out}");
    assert!(step(&report, "cluster")["detail"].as_str().unwrap().contains("2 voters"), "{out}");

    two.poweroff().expect("powering node 2 off");
    one.poweroff().expect("powering node 1 off");
}
