//! The production-like server: TLS with its own CA, seal and unseal, stop and restart on the same data, the audit
//! log, an uninitialised server, and key shares.

use reqwest::{Client, StatusCode};
use serde_json::Value;
use vault_testkit::TlsServer;

use crate::{chain, http, is_alive};

/// A client that trusts the server's CA only, as a user with `VAULT_CACERT` would have.
fn client_for(server: &TlsServer) -> Client {
    let pem = std::fs::read(server.ca_cert_path()).expect("read ca.pem");
    let ca = reqwest::Certificate::from_pem(&pem).expect("parse ca.pem");
    Client::builder().no_proxy().tls_certs_only([ca]).build().expect("an HTTPS client")
}

async fn health(client: &Client, server: &TlsServer) -> StatusCode {
    client
        .get(format!("{}/v1/sys/health", server.addr()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET sys/health: {}\nlog:\n{}", chain(&e), server.log()))
        .status()
}

#[tokio::test]
async fn tls_server_seals_unseals_stops_and_restarts_on_its_data() {
    let mut server = TlsServer::builder().audit_file(true).start().await.expect("start a TLS server");
    let client = client_for(&server);
    assert!(server.addr().starts_with("https://127.0.0.1:"));
    assert_eq!(health(&client, &server).await, StatusCode::OK);
    assert_eq!(server.unseal_keys().len(), 1);

    // Without the CA the certificate is not trusted; plain HTTP gets Go's "HTTP request to an HTTPS server".
    let untrusting = http().get(format!("{}/v1/sys/health", server.addr())).send().await;
    let error = untrusting.expect_err("a client without the CA accepted the certificate");
    assert!(chain(&error).contains("certificate"), "not a certificate error: {}", chain(&error));
    let plain = http()
        .get(server.addr().replace("https://", "http://") + "/v1/sys/health")
        .send()
        .await
        .expect("plain HTTP gets an answer");
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);

    // A request with the root token lands in the audit log, as one JSON object per line.
    let lookup = client
        .get(format!("{}/v1/auth/token/lookup-self", server.addr()))
        .header("X-Vault-Token", server.root_token())
        .send()
        .await
        .expect("token lookup-self");
    assert_eq!(lookup.status(), StatusCode::OK);
    let audit = std::fs::read_to_string(server.audit_log_path().expect("an audit log was asked for"))
        .expect("read the audit log");
    let entries: Vec<Value> =
        audit.lines().map(|line| serde_json::from_str(line).expect("a JSON audit line")).collect();
    assert!(
        entries.iter().any(|entry| entry["request"]["path"] == "auth/token/lookup-self"),
        "no audit entry for lookup-self in:\n{audit}"
    );

    server.seal().await.expect("seal");
    assert_eq!(health(&client, &server).await, StatusCode::SERVICE_UNAVAILABLE);
    server.unseal().await.expect("unseal");
    assert_eq!(health(&client, &server).await, StatusCode::OK);

    let first_pid = server.pid();
    server.stop().await;
    assert!(!server.is_running());
    assert!(!is_alive(first_pid));
    let error =
        client.get(format!("{}/v1/sys/health", server.addr())).send().await.expect_err("a stopped server answered");
    assert!(error.is_connect(), "expected connection refused, got {}", chain(&error));

    server.restart().await.expect("restart");
    assert!(server.is_running());
    assert_ne!(server.pid(), first_pid);
    assert_eq!(
        health(&client, &server).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a restarted server must come back sealed"
    );
    server.unseal().await.expect("unseal after the restart");
    assert_eq!(health(&client, &server).await, StatusCode::OK);
    // The root token from before the restart still works: the raft data survived.
    let lookup = client
        .get(format!("{}/v1/auth/token/lookup-self", server.addr()))
        .header("X-Vault-Token", server.root_token())
        .send()
        .await
        .expect("token lookup-self after the restart");
    assert_eq!(lookup.status(), StatusCode::OK);

    let env = server.env();
    for name in ["VAULT_ADDR", "VAULT_CACERT", "VAULT_TOKEN"] {
        assert!(env.iter().any(|(key, _)| key == name), "{name} missing from {env:?}");
    }
}

#[tokio::test]
async fn uninitialised_tls_server_answers_501_and_has_no_keys() {
    let server = TlsServer::builder().initialize(false).start().await.expect("start an uninitialised TLS server");
    assert_eq!(health(&client_for(&server), &server).await, StatusCode::NOT_IMPLEMENTED);
    assert!(server.unseal_keys().is_empty());
    assert!(!server.env().iter().any(|(key, _)| key == "VAULT_TOKEN"));
    let error = server.unseal().await.expect_err("unsealing without keys succeeded");
    assert!(error.to_string().contains("initialize(false)"), "{error}");
}

#[tokio::test]
async fn parallel_tls_servers_have_their_own_ports_cas_and_key_shares() {
    let (split, single) = tokio::join!(TlsServer::builder().shares(3).threshold(2).start(), TlsServer::start());
    let split = split.expect("start a TLS server with 3 shares");
    let single = single.expect("start a TLS server with 1 share");
    assert_ne!(split.addr(), single.addr());
    assert_eq!(split.unseal_keys().len(), 3);
    assert_eq!(single.unseal_keys().len(), 1);

    // Each server has a CA of its own: trusting one does not trust the other.
    let error = client_for(&split)
        .get(format!("{}/v1/sys/health", single.addr()))
        .send()
        .await
        .expect_err("one server's CA vouched for the other");
    assert!(chain(&error).contains("certificate"), "{}", chain(&error));

    let client = client_for(&split);
    split.seal().await.expect("seal");
    assert_eq!(health(&client, &split).await, StatusCode::SERVICE_UNAVAILABLE);
    split.unseal().await.expect("unseal with 2 of 3 keys");
    assert_eq!(health(&client, &split).await, StatusCode::OK);
}

#[tokio::test]
async fn dropped_tls_server_leaves_no_process_or_directory() {
    let server = TlsServer::start().await.expect("start a TLS server");
    let (pid, dir) = (server.pid(), server.dir().to_owned());
    assert!(dir.join("config.hcl").is_file() && dir.join("server-key.pem").is_file());
    drop(server);
    assert!(!is_alive(pid), "server {pid} survived its drop");
    // Unless the developer asked to keep it for a post-mortem.
    let keep = std::env::var_os("VAULT_TESTKIT_KEEP").is_some_and(|keep| keep == "1");
    assert_eq!(dir.exists(), keep, "{} exists: {}, VAULT_TESTKIT_KEEP=1: {keep}", dir.display(), dir.exists());
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_with_its_own_log() {
    let error = TlsServer::builder()
        .extra_config(r#"listener "carrier-pigeon" {}"#)
        .start()
        .await
        .expect_err("a config with an unknown listener type started");
    let message = format!("{error:?}");
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("carrier-pigeon"), "the server's own complaint is missing:\n{message}");
}
