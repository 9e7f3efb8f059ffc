//! The TLS check against what a real OpenBao listener serves: a certificate about to expire (installed into a
//! running server with SIGHUP, the way an operator renews one), a certificate file that differs from the served
//! one, an untrusted CA, a name the certificate does not cover, and verification turned off.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use vault_testkit::TlsServer;

use crate::util::{
    check, code, json, jsonl, prometheus, run_formats, sample, short_lived_certificate, stderr, stdout, tls_server,
    vault_health_with,
};

/// `env` with `VAULT_CACERT` pointing at `ca` instead.
fn trusting(env: &[(String, String)], ca: &std::path::Path) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != "VAULT_CACERT").cloned().collect();
    env.push(("VAULT_CACERT".into(), ca.to_string_lossy().into_owned()));
    env
}

#[tokio::test]
async fn a_certificate_expiring_in_5_days_warns_and_a_stale_file_is_noticed() {
    let server = tls_server(TlsServer::builder().audit_file(true)).await;
    let cert_file = server.dir().join("server.pem");
    let cert_arg = cert_file.to_str().unwrap().to_owned();
    let args = ["--audit-min-devices", "1", "--cert-file", &cert_arg];

    // Renew the certificate on disk, as an operator would, but do not tell the server yet.
    let (ca, leaf, key) = short_lived_certificate(time::Duration::days(5) + time::Duration::hours(2));
    let scratch = tempfile::tempdir().unwrap();
    let new_ca = scratch.path().join("new-ca.pem");
    std::fs::write(&new_ca, ca).unwrap();
    std::fs::write(&cert_file, leaf).unwrap();
    std::fs::write(server.dir().join("server-key.pem"), key).unwrap();

    let (report, exit) = json(vault_health_with(server.env()).args(args));
    let tls = check(&report, "tls");
    assert_eq!(tls["status"], "warn", "{tls:#}");
    let summary = tls["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("{cert_arg} differs from the served certificate (the file expires ")),
        "{summary}"
    );
    assert!(summary.ends_with("send the server SIGHUP to load it"), "{summary}");
    assert_eq!(tls["details"]["cert_file"]["matches_served"], false);
    assert_eq!(tls["details"]["verified"], true, "the old certificate is still served and trusted");
    assert_eq!(exit, 1);

    // SIGHUP makes the listener load the new files.
    let pid = Pid::from_raw(i32::try_from(server.pid()).unwrap()).unwrap();
    kill_process(pid, Signal::HUP).unwrap();
    let env = trusting(&server.env(), &new_ca);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (report, _) = json(vault_health_with(env.clone()).args(args));
        if check(&report, "tls")["details"]["cert_file"]["matches_served"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not reload its certificate: {report:#}\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let runs = run_formats(&env, &args);
    let report = &runs.json;
    let tls = check(report, "tls");
    assert_eq!((report["status"].as_str(), tls["status"].as_str()), (Some("warn"), Some("warn")), "{report:#}");
    assert!(tls["summary"].as_str().unwrap().starts_with("certificate for 127.0.0.1 expires in 5 days ("), "{tls:#}");
    let expires_in = tls["details"]["expires_in_seconds"].as_i64().unwrap();
    assert!((5 * 86_400..5 * 86_400 + 7200).contains(&expires_in), "{expires_in}");
    assert_eq!(tls["details"]["issuer"], "CN=vault-health test CA");
    assert_eq!(runs.json_code, 1, "a warning is 'the answer is no'");

    let line = stdout(&runs.nagios);
    assert!(line.starts_with("VAULT WARNING - tls: certificate for 127.0.0.1 expires in 5 days ("), "{line}");
    let perfdata = line.trim_end().split(" | ").nth(1).expect("perfdata");
    let expiry = perfdata.split(' ').find_map(|p| p.strip_prefix("cert_expiry=")).expect("cert_expiry perfdata");
    let (seconds, thresholds) = expiry.split_once("s;").unwrap();
    assert!((5 * 86_400..5 * 86_400 + 7200).contains(&seconds.parse::<i64>().unwrap()), "{line}");
    assert_eq!(thresholds, "2592000:;259200:", "warn and crit below 30 and 3 days");
    assert_eq!(code(&runs.nagios), 1, "WARNING");

    let samples = prometheus(&stdout(&runs.prometheus));
    let expiry = sample(&samples, "vault_health_cert_expiry_seconds", "").unwrap();
    assert!((5.0 * 86_400.0..5.0 * 86_400.0 + 7200.0).contains(&expiry), "{expiry}");
    assert_eq!(sample(&samples, "vault_health_cert_file_match", ""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_check_status", "check=\"tls\""), Some(1.0));
    assert_eq!(sample(&samples, "vault_health_status", ""), Some(1.0));
    assert_eq!(code(&runs.prometheus), 1);

    let records = jsonl(&stdout(&runs.jsonl));
    assert!(records.iter().any(|r| r["name"] == "tls" && r["status"] == "warn"));
    assert_eq!(records.last().unwrap()["counts"]["warn"], 1);
    let human = stdout(&runs.human);
    assert!(human.contains("\ntls           warn     certificate for 127.0.0.1 expires in 5 days"), "{human}");

    // Tighter thresholds make the same certificate critical.
    let (report, exit) = json(vault_health_with(env).args(args).args(["--cert-crit-days", "6"]));
    assert_eq!((check(&report, "tls")["status"].as_str(), exit), (Some("crit"), 1));
}

#[tokio::test]
async fn an_untrusted_or_misnamed_certificate_is_critical() {
    let server = tls_server(TlsServer::builder()).await;

    // Without VAULT_CACERT the system's CAs do not know the server's: neither the client nor the check trusts it.
    let env: Vec<_> = server.env().into_iter().filter(|(k, _)| k != "VAULT_CACERT").collect();
    let (report, exit) = json(vault_health_with(env.clone()).args(["--max-retries", "0"]));
    assert_eq!(exit, 3, "a TLS failure makes the server unavailable: {report:#}");
    assert!(check(&report, "reachability")["summary"].as_str().unwrap().starts_with("TLS handshake with "));
    let tls = check(&report, "tls");
    assert_eq!(tls["status"], "crit");
    assert!(
        tls["summary"].as_str().unwrap().contains("not trusted: invalid peer certificate: UnknownIssuer"),
        "{tls:#}"
    );
    assert_eq!(tls["details"]["verified"], false);
    assert_eq!(tls["details"]["issuer"], "CN=vault-testkit CA", "the untrusted certificate is still described");

    // The right CA, but a name the certificate does not cover.
    let (report, exit) =
        json(vault_health_with(server.env()).args(["--max-retries", "0", "--tls-server-name", "vault.example.com"]));
    let tls = check(&report, "tls");
    assert_eq!((tls["status"].as_str(), exit), (Some("crit"), 3), "{report:#}");
    assert_eq!(tls["details"]["server_name"], "vault.example.com");
    assert_eq!(tls["details"]["san_matches"], false);
    assert!(
        tls["summary"]
            .as_str()
            .unwrap()
            .contains("its names (DNS:localhost, IP:127.0.0.1) do not cover vault.example.com"),
        "{tls:#}"
    );

    // With verification off the client goes ahead (loudly), and the check still says the certificate is not trusted.
    let output = vault_health_with(env).args(["--tls-skip-verify", "--format", "json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["state"], "active", "{report:#}");
    assert_eq!(check(&report, "tls")["status"], "crit");
    assert!(stderr(&output).contains("warning: TLS certificate verification is OFF"), "{}", stderr(&output));
    assert_eq!(code(&output), 1);
}
