//! The library API other tools (and the xtask) call: `vault_health::check` on a `vault_core::Client`.

use vault_core::sys::NodeState;
use vault_core::{Exit, SecretMap, SecretString};
use vault_health::{CanaryOptions, CheckName, Details, Options, Status};

use crate::util::{dev_server, root_client};

#[tokio::test]
async fn check_returns_a_typed_report() {
    let server = dev_server().await;
    let client = root_client(&server);
    let path = client.kv_path("secret/health/canary").await.unwrap();
    client.kv_write(&path, &SecretMap::from([("ok".to_owned(), SecretString::new("1".into()))]), None).await.unwrap();
    let options =
        Options { canary: Some(CanaryOptions { path: "secret/health/canary".into(), reads: 3 }), ..Options::default() };
    options.validate().unwrap();

    let report = vault_health::check(&client, &options).await;
    assert_eq!(report.state, Some(NodeState::Active));
    assert_eq!(report.address, server.addr());
    let names: Vec<CheckName> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, CheckName::ALL);
    let canary = report.check(CheckName::Canary).unwrap();
    assert_eq!(canary.status, Status::Ok, "{}", canary.summary);
    let Some(Details::Canary(details)) = &canary.details else { panic!("canary details: {canary:?}") };
    assert_eq!(details.reads, 3);
    assert!(canary.get_metric("canary_p99").unwrap().value >= canary.get_metric("canary_p50").unwrap().value);
    // A dev server has no audit device: the one critical finding decides the verdict.
    assert_eq!(report.check(CheckName::Audit).unwrap().status, Status::Crit);
    assert_eq!((report.status, report.exit()), (Status::Crit, Exit::No));
    assert_eq!(report.check(CheckName::Tls).unwrap().status, Status::Skipped, "plain HTTP on loopback");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["checks"][0]["name"], "reachability");
    assert_eq!(json["state"], "active");
}
