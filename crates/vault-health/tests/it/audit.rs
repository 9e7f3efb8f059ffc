//! Audit devices on raft + TLS servers with and without a file audit device (OpenBao enables them from its config).

use vault_testkit::TlsServer;

use crate::util::{check, json, tls_server, vault_health_with};

#[tokio::test]
async fn no_audit_device_is_critical_and_one_is_a_warning() {
    let (with, without) =
        tokio::join!(tls_server(TlsServer::builder().audit_file(true)), tls_server(TlsServer::builder()));

    let (report, exit) = json(&mut vault_health_with(without.env()));
    let audit = check(&report, "audit");
    assert_eq!(audit["status"], "crit", "{audit:#}");
    assert_eq!(audit["summary"], "no audit device enabled: nothing records who did what");
    assert_eq!(audit["details"]["devices"], serde_json::json!([]));
    assert_eq!((report["status"].as_str(), exit), (Some("crit"), 1));

    let (report, _) = json(&mut vault_health_with(with.env()));
    let audit = check(&report, "audit");
    assert_eq!(audit["status"], "warn", "{audit:#}");
    assert_eq!(
        audit["summary"],
        "1 audit device, file/ (file): Vault stops answering when no device can write; enable a second one"
    );
    let (report, exit) = json(vault_health_with(with.env()).args(["--audit-min-devices", "1"]));
    assert_eq!(check(&report, "audit")["summary"], "1 audit device: file/ (file)");
    assert_eq!((report["status"].as_str(), exit), (Some("ok"), 0), "{report:#}");
}
