//! Canary read latency on a dev server: p50/p99 over N reads, thresholds on p99, and a canary that does not
//! exist.

use vault_core::{SecretMap, SecretString};

use crate::util::{
    assert_no_secret, check, dev_server, json, prometheus, root_client, sample, stdout, vault_health_with,
};

const VALUE: &str = "canary-value-that-must-not-print";

#[tokio::test]
async fn canary_reads_report_p50_and_p99() {
    let server = dev_server().await;
    let client = root_client(&server);
    let path = client.kv_path("secret/health/canary").await.unwrap();
    let data = SecretMap::from([("ok".to_owned(), SecretString::new(VALUE.to_owned()))]);
    client.kv_write(&path, &data, None).await.unwrap();
    let canary_args = ["--canary", "secret/health/canary", "--canary-reads", "7"];

    let (report, _) = json(vault_health_with(server.env()).args(canary_args));
    let canary = check(&report, "canary");
    assert_eq!(canary["status"], "ok", "{canary:#}");
    let details = &canary["details"];
    assert_eq!((details["path"].as_str(), details["reads"].as_u64()), (Some("secret/health/canary"), Some(7)));
    let (p50, p99, max) = (
        details["p50_seconds"].as_f64().unwrap(),
        details["p99_seconds"].as_f64().unwrap(),
        details["max_seconds"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max && max < 1.0, "{details:#}");
    assert!(details["sum_seconds"].as_f64().unwrap() >= 7.0 * p50 / 2.0);
    let metrics = canary["metrics"].as_array().unwrap();
    assert_eq!(metrics[0]["name"], "canary_p50");
    assert_eq!(metrics[1]["name"], "canary_p99");
    assert_eq!(metrics[1]["limits"], serde_json::json!({"warn": 0.2, "crit": 1.0, "alert_when": "above"}));
    assert!(canary["summary"].as_str().unwrap().ends_with(" over 7 reads of secret/health/canary"), "{canary:#}");

    // The thresholds judge p99.
    let (report, _) = json(vault_health_with(server.env()).args(canary_args).args(["--latency-warn", "0s"]));
    let canary = check(&report, "canary");
    assert_eq!(canary["status"], "warn", "{canary:#}");
    assert!(canary["summary"].as_str().unwrap().ends_with("(p99 above 0ms)"), "{canary:#}");
    let (report, _) =
        json(vault_health_with(server.env()).args(canary_args).args(["--latency-warn", "0s", "--latency-crit", "0s"]));
    assert_eq!(check(&report, "canary")["status"], "crit");

    // A canary that is not there cannot be timed: unknown, with the command that creates it.
    let (report, _) = json(vault_health_with(server.env()).args(["--canary", "secret/health/missing"]));
    let canary = check(&report, "canary");
    assert_eq!(canary["status"], "unknown");
    assert!(canary["summary"].as_str().unwrap().contains("`bao kv put secret/health/missing ok=1`"), "{canary:#}");

    let output = vault_health_with(server.env()).args(canary_args).args(["--format", "prometheus"]).output().unwrap();
    let samples = prometheus(&stdout(&output));
    assert!(sample(&samples, "vault_health_canary_latency_seconds", "quantile=\"0.5\"").unwrap() > 0.0);
    assert!(sample(&samples, "vault_health_canary_latency_seconds", "quantile=\"0.99\"").unwrap() < 1.0);
    assert_eq!(sample(&samples, "vault_health_canary_latency_seconds_count", ""), Some(7.0));
    for format in ["human", "json", "jsonl", "nagios", "prometheus"] {
        let output = vault_health_with(server.env()).args(canary_args).args(["--format", format]).output().unwrap();
        // (The dev server's root token is the word `root`, which policies print; the TLS tests check real tokens.)
        assert_no_secret(&output, VALUE);
    }
}
