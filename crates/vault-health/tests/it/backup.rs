//! Backup age from files whose modification times the test sets.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::util::{check, dev_server, json, prometheus, sample, stdout, vault_health_with};

fn backup(dir: &Path, name: &str, hours_old: u64) {
    let file = File::create(dir.join(name)).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(hours_old * 3600)).unwrap();
}

#[tokio::test]
async fn the_newest_matching_backup_decides() {
    let server = dev_server().await;
    let dir = tempfile::tempdir().unwrap();
    backup(dir.path(), "vault-20261101T0300Z.snap.gz", 60);
    backup(dir.path(), "vault-20261102T0300Z.snap.gz", 30);
    backup(dir.path(), "notes.txt", 0);
    let dir_arg = dir.path().to_str().unwrap();
    let run = |extra: &[&str]| json(vault_health_with(server.env()).args(["--backup-dir", dir_arg]).args(extra)).0;

    let report = run(&[]);
    let b = check(&report, "backup");
    assert_eq!(b["status"], "warn", "{b:#}");
    assert_eq!(
        b["summary"],
        format!("newest backup vault-20261102T0300Z.snap.gz is 1d6h old (2 in {dir_arg}), over 1d2h")
    );
    assert_eq!(b["details"]["files"], 2);
    assert!(b["details"]["newest"].as_str().unwrap().ends_with("vault-20261102T0300Z.snap.gz"));
    assert_eq!(b["details"]["pattern"], "*.snap*");
    let age = b["details"]["age_seconds"].as_f64().unwrap();
    assert!((30.0 * 3600.0..30.0 * 3600.0 + 60.0).contains(&age), "{age}");

    assert_eq!(check(&run(&["--backup-warn", "20h", "--backup-crit", "24h"]), "backup")["status"], "crit");
    let wrong_pattern = run(&["--backup-pattern", "*.tar"]);
    assert_eq!(check(&wrong_pattern, "backup")["status"], "crit");
    assert_eq!(check(&wrong_pattern, "backup")["summary"], format!("no backup matching \"*.tar\" in {dir_arg}"));

    backup(dir.path(), "vault-20261103T0300Z.snap.gz", 1);
    assert_eq!(check(&run(&[]), "backup")["status"], "ok");
    let output =
        vault_health_with(server.env()).args(["--backup-dir", dir_arg, "--format", "prometheus"]).output().unwrap();
    let samples = prometheus(&stdout(&output));
    let age = sample(&samples, "vault_health_backup_age_seconds", "").unwrap();
    assert!((3600.0..3660.0).contains(&age), "{age}");
    let modified = sample(&samples, "vault_health_backup_timestamp_seconds", "").unwrap();
    let expected = (SystemTime::now() - Duration::from_secs(3600)).duration_since(SystemTime::UNIX_EPOCH).unwrap();
    assert!((modified - expected.as_secs_f64()).abs() < 60.0);

    let missing = dir.path().join("not-there");
    let report = json(vault_health_with(server.env()).arg("--backup-dir").arg(&missing)).0;
    assert_eq!(check(&report, "backup")["summary"], format!("no backup folder {}", missing.display()));
    assert_eq!(check(&report, "backup")["status"], "crit");
}
