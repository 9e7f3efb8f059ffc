//! prune from the command line over a folder of synthetic backups: exact survivors, explained decisions, dry run.

use chrono::{DateTime, Duration, TimeZone, Utc};
use vault_backup::manifest::{self, Manifest};

use crate::util::{cmd, files, records};

fn write_backup(dir: &std::path::Path, time: DateTime<Utc>, with_manifest: bool) -> String {
    let id = manifest::backup_id(time);
    let data = format!("not really a snapshot {id}");
    std::fs::write(dir.join(manifest::data_name(&id)), &data).unwrap();
    if with_manifest {
        let m = Manifest {
            format: manifest::FORMAT,
            id: id.clone(),
            file: manifest::data_name(&id),
            started: time,
            completed: time,
            size: data.len() as u64,
            sha256: String::new(),
            encryption: "none".into(),
            recipients: Vec::new(),
            plaintext: None,
            source: "https://vault.test:8200".into(),
            cluster_id: None,
            cluster_name: None,
            server_version: None,
            seal: None,
            raft: Default::default(),
            members: Vec::new(),
            tool: manifest::tool_version(),
        };
        std::fs::write(dir.join(manifest::manifest_name(&id)), serde_json::to_vec(&m).unwrap()).unwrap();
    }
    id
}

#[test]
fn prune_keeps_exactly_what_the_policy_says_and_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    // Daily backups at 03:00 for 60 days up to yesterday, plus an interrupted save 10 days ago.
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 3, 0, 0).unwrap();
    let ids: Vec<String> = (0..60).map(|d| write_backup(dir.path(), start + Duration::days(d), true)).collect();
    let incomplete = write_backup(dir.path(), start + Duration::days(50) + Duration::hours(1), false);
    std::fs::write(dir.path().join("unrelated.txt"), "left alone").unwrap();
    // The temp file of a save killed a day ago, and one of a save running now.
    let stale = dir.path().join(".tmp-vault-backup-stale");
    std::fs::write(&stale, "half").unwrap();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(day_ago).unwrap();
    std::fs::write(dir.path().join(".tmp-vault-backup-running"), "half").unwrap();

    let prune = |dry_run: bool| {
        let mut command = cmd(&[]);
        command.arg("prune").arg(dir.path()).args([
            "--keep-last",
            "3",
            "--keep-weekly",
            "2",
            "--keep-monthly",
            "2",
            "--format",
            "jsonl",
        ]);
        if dry_run {
            command.arg("--dry-run");
        }
        command.output().unwrap()
    };
    let before = files(dir.path());
    let output = prune(true);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(files(dir.path()), before, "a dry run deletes nothing");
    let lines = records(&output.stdout);
    assert_eq!(lines.len(), 63, "61 backups, the stale temp file and the summary");
    assert!(lines.iter().any(|r| r["id"] == ".tmp-vault-backup-stale" && r["action"] == "delete"));
    assert!(lines[..61].iter().all(|r| r["type"] == "decision" && !r["reasons"].as_array().unwrap().is_empty()));

    let output = prune(false);
    assert!(output.status.success());
    let summary = records(&output.stdout).pop().unwrap();
    // Days 0..59 = Jan 1 .. Mar 1, 2026. Last 3: Feb 27, 28, Mar 1. Weekly 2: Sun Mar 1 (W09), Sun Feb 22 (W08).
    // Monthly 2: Mar 1, Feb 28.
    let keep = [ids[52].clone(), ids[57].clone(), ids[58].clone(), ids[59].clone()];
    assert_eq!(summary["kept"], 4);
    assert_eq!(summary["deleted"], 58, "56 backups, the incomplete one and the stale temp file");
    let mut expected: Vec<String> =
        keep.iter().flat_map(|id| [manifest::data_name(id), manifest::manifest_name(id)]).collect();
    expected.push("unrelated.txt".into());
    expected.push(".tmp-vault-backup-running".into());
    expected.sort();
    assert_eq!(files(dir.path()), expected);
    assert!(!files(dir.path()).iter().any(|f| f.contains(&incomplete)));

    // With everything but the newest gone, a policy that keeps little still keeps the newest good backup.
    let output =
        cmd(&[]).arg("prune").arg(dir.path()).args(["--keep-monthly", "1", "--format", "jsonl"]).output().unwrap();
    assert!(output.status.success());
    let newest = records(&output.stdout).into_iter().find(|r| r["id"] == ids[59].as_str()).unwrap();
    assert_eq!(newest["action"], "keep");
    assert_eq!(newest["reasons"][0], "newest good backup");

    // No rule at all is a usage error.
    cmd(&[]).arg("prune").arg(dir.path()).assert().code(2);
}
