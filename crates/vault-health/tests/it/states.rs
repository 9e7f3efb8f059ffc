//! Each server state — active, sealed (mid-unseal), uninitialised, stopped — in each output format, with the exit
//! codes of the shared table and of Nagios.

use vault_core::SecretString;
use vault_testkit::TlsServer;

use crate::util::{
    assert_no_secret, check, code, jsonl, prometheus, run_formats, sample, statuses, stderr, stdout, tls_server,
    vault_health_with,
};

const ALL_CHECKS: [&str; 11] =
    ["reachability", "state", "seal", "version", "clock_skew", "tls", "canary", "audit", "token", "backup", "cluster"];

#[tokio::test]
async fn an_active_server_is_healthy_in_every_format() {
    let server = tls_server(TlsServer::builder().audit_file(true)).await;
    // One audit device is what the testkit configures; the default asks for two.
    let runs = run_formats(&server.env(), &["--audit-min-devices", "1"]);

    let report = &runs.json;
    assert_eq!((report["status"].as_str(), runs.json_code), (Some("ok"), 0), "{report:#}");
    assert_eq!(report["state"], "active");
    assert_eq!(report["address"], server.addr());
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ALL_CHECKS, "every check, in a stable order");
    let tls = &check(report, "tls")["details"];
    assert_eq!((tls["verified"].as_bool(), tls["san_matches"].as_bool()), (Some(true), Some(true)), "{tls:#}");
    assert_eq!((tls["chain_length"].as_u64(), tls["server_name"].as_str()), (Some(1), Some("127.0.0.1")));
    assert!(tls["san"].as_array().unwrap().contains(&"IP:127.0.0.1".into()), "{tls:#}");
    let seal = &check(report, "seal")["details"];
    assert_eq!(
        (seal["sealed"].as_bool(), seal["threshold"].as_u64(), seal["shares"].as_u64()),
        (Some(false), Some(1), Some(1))
    );
    assert_eq!(check(report, "state")["details"]["ha_enabled"], true, "raft storage is HA");
    assert_eq!(check(report, "audit")["details"]["devices"], serde_json::json!([{"path": "file/", "type": "file"}]));
    assert_eq!(check(report, "token")["summary"], "never expires (policies: root)");
    assert_eq!(check(report, "canary")["status"], "skipped");
    assert!(report["duration_seconds"].as_f64().unwrap() > 0.0);

    let records = jsonl(&stdout(&runs.jsonl));
    assert_eq!(records.len(), 12, "eleven checks and a summary");
    assert!(records[..11].iter().zip(ALL_CHECKS).all(|(r, name)| r["type"] == "check" && r["name"] == name));
    let summary = &records[11];
    assert_eq!((summary["type"].as_str(), summary["status"].as_str()), (Some("summary"), Some("ok")));
    assert_eq!(summary["counts"], serde_json::json!({"ok": 9, "warn": 0, "crit": 0, "unknown": 0, "skipped": 2}));
    assert_eq!(code(&runs.jsonl), 0);

    let line = stdout(&runs.nagios);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("VAULT OK - active, version "), "{line}");
    assert!(line.contains(", 9 checks OK, 2 skipped | response_time="), "{line}");
    assert!(line.contains(" cert_expiry=") && line.contains("s;2592000:;259200: cert_chain=1 "), "{line}");
    assert!(line.contains(" audit_devices=1;1:;1:"), "{line}");
    assert_eq!(code(&runs.nagios), 0);

    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_up", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_status", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_sealed", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_initialized", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_cert_verified", ""), Some(1.0));
    assert!(sample(&samples, "vault_health_cert_expiry_seconds", "").unwrap() > 365.0 * 86_400.0);
    assert_eq!(sample(&samples, "vault_health_audit_devices", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_check_status", "check=\"tls\""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_info", "state=\"active\""), Some(1.0));
    assert_eq!(code(&runs.prometheus), 0);

    let human = stdout(&runs.human);
    assert!(human.starts_with(&format!("{}: OK (active, version ", server.addr())), "{human}");
    assert!(
        human.contains("\nCHECK         STATUS   SUMMARY\nreachability  ok       sys/health answered HTTP 200"),
        "{human}"
    );
    assert!(!human.contains('\x1b'), "no colour when stdout is not a terminal");
    assert_eq!(code(&runs.human), 0);

    let colored =
        vault_health_with(server.env()).args(["--color", "always", "--audit-min-devices", "1"]).output().unwrap();
    assert!(stdout(&colored).contains("\x1b[32mok     \x1b[0m  sys/health"), "{}", stdout(&colored));

    for output in &runs.all {
        assert_no_secret(output, server.root_token());
        assert!(stderr(output).is_empty(), "nothing to complain about: {}", stderr(output));
    }
}

#[tokio::test]
async fn a_sealed_server_mid_unseal_is_critical_and_unavailable() {
    let server = tls_server(TlsServer::builder().shares(3).threshold(2)).await;
    server.seal().await.unwrap();
    // Unsealing needs no token, and a client with one would try to look it up on the sealed server first.
    let mut config = vault_core::Config::with_token(server.addr(), SecretString::new(String::new())).unwrap();
    config.auth = vault_core::config::AuthConfig::None;
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    let client = vault_core::Client::new(config).unwrap();
    let progress = client.unseal(&SecretString::new(server.unseal_keys()[0].clone())).await.unwrap();
    assert_eq!(progress.progress, 1);

    let runs = run_formats(&server.env(), &[]);
    let report = &runs.json;
    assert_eq!((report["status"].as_str(), report["state"].as_str()), (Some("crit"), Some("sealed")), "{report:#}");
    assert_eq!(runs.json_code, 3, "sealed is 'unavailable' in the shared table");
    let s = statuses(report);
    assert_eq!(s["reachability"], "ok", "the server answers, sealed");
    assert_eq!((s["state"].as_str(), s["seal"].as_str()), ("crit", "crit"));
    assert_eq!(s["tls"], "ok", "a sealed server still serves its certificate");
    for needs_unsealed in ["token", "audit", "cluster"] {
        assert_eq!(check(report, needs_unsealed)["status"], "skipped");
        assert_eq!(check(report, needs_unsealed)["summary"], "the server is sealed");
    }
    assert_eq!(check(report, "seal")["summary"], "sealed: 1 of 2 key shares entered (3 exist)");
    assert_eq!(check(report, "reachability")["details"]["http_status"], 503);

    let line = stdout(&runs.nagios);
    assert!(
        line.starts_with(
            "VAULT CRITICAL - state: sealed: unseal it with a threshold of key shares; seal: sealed: 1 of 2"
        ),
        "{line}"
    );
    assert_eq!(code(&runs.nagios), 2, "CRITICAL");

    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_up", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_sealed", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_seal_progress", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_seal_threshold", ""), Some(2.0));
    assert_eq!(sample(&samples, "vault_health_status", ""), Some(2.0));
    assert_eq!(sample(&samples, "vault_health_token_ttl_seconds", ""), None, "not measured");
    assert_eq!(code(&runs.prometheus), 3);

    assert!(stdout(&runs.human).contains(": CRIT (sealed, version "), "{}", stdout(&runs.human));
    assert_eq!(code(&runs.human), 3);
    let records = jsonl(&stdout(&runs.jsonl));
    assert_eq!(records.last().unwrap()["state"], "sealed");
    assert_eq!(code(&runs.jsonl), 3);

    for output in &runs.all {
        assert_no_secret(output, server.root_token());
        for key in server.unseal_keys() {
            assert_no_secret(output, key);
        }
    }
}

#[tokio::test]
async fn an_uninitialised_server_says_so() {
    let server = tls_server(TlsServer::builder().initialize(false)).await;
    let runs = run_formats(&server.env(), &[]);
    let report = &runs.json;
    assert_eq!((report["status"].as_str(), report["state"].as_str()), (Some("crit"), Some("uninitialized")));
    assert_eq!(runs.json_code, 3);
    assert_eq!(check(report, "reachability")["details"]["http_status"], 501);
    assert_eq!(check(report, "state")["summary"], "not initialised: run `cargo xtask deploy` or `bao operator init`");
    assert_eq!(check(report, "seal")["status"], "skipped");
    assert_eq!(check(report, "token")["summary"], "the server is not initialised");

    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT CRITICAL - state: not initialised"), "{line}");
    assert_eq!(code(&runs.nagios), 2);
    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_initialized", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_info", "state=\"uninitialized\""), Some(1.0));
    assert_eq!(code(&runs.prometheus), 3);
    assert_eq!(jsonl(&stdout(&runs.jsonl)).last().unwrap()["counts"]["crit"], 1);
    assert!(stdout(&runs.human).contains(": CRIT (not initialised, "), "{}", stdout(&runs.human));
}

#[tokio::test]
async fn a_stopped_server_is_unreachable() {
    let mut server = tls_server(TlsServer::builder()).await;
    let env = server.env();
    server.stop().await;
    let runs = run_formats(&env, &["--max-retries", "0"]);
    let report = &runs.json;
    assert_eq!((report["status"].as_str(), report["state"].as_str()), (Some("crit"), None), "{report:#}");
    assert_eq!(runs.json_code, 3);
    let reachability = check(report, "reachability");
    assert_eq!(reachability["status"], "crit");
    assert!(
        reachability["summary"].as_str().unwrap().starts_with(&format!("cannot reach Vault at {}", server.addr())),
        "{reachability:#}"
    );
    let s = statuses(report);
    assert!(ALL_CHECKS[1..].iter().all(|name| s[*name] == "skipped"), "{s:?}");
    assert!(check(report, "tls")["summary"].as_str().unwrap().starts_with("cannot connect to 127.0.0.1:"));

    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT CRITICAL - reachability: cannot reach Vault at "), "{line}");
    assert!(!line.contains(" | "), "nothing was measured: {line}");
    assert_eq!(code(&runs.nagios), 2);
    let samples = prometheus(&stdout(&runs.prometheus));
    assert_eq!(sample(&samples, "vault_health_up", ""), Some(0.0));
    assert_eq!(sample(&samples, "vault_health_sealed", ""), None);
    assert_eq!(code(&runs.prometheus), 3);
    assert!(stdout(&runs.human).contains(": CRIT (unreachable, checked in "), "{}", stdout(&runs.human));
    assert_eq!(code(&runs.jsonl), 3);

    // With the default retries it still ends, a little later, with the same verdict.
    let output = vault_health_with(env).output().unwrap();
    assert_eq!(code(&output), 3, "{}", stdout(&output));
}
