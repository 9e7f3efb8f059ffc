//! Robustness: mutated snapshot archives, manifests, backup names and retention inputs never panic the library;
//! mutated command lines never panic the binary; a closed stdout exits 0 for every format of `list` and `prune`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use sha2::{Digest, Sha256};
use vault_backup::manifest::{self, Manifest};
use vault_backup::retention::{self, Candidate, Policy};
use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, each_mutation, fuzz_argv, rng};

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn snapshot_tar() -> Vec<u8> {
    let meta = br#"{"Version":1,"ID":"2-17-1","Index":17,"Term":2,"Peers":"","Size":3}"#;
    let state = b"state-bytes";
    let sums = format!(
        "{}  meta.json\n{}  state.bin\n",
        hex::encode(Sha256::digest(meta)),
        hex::encode(Sha256::digest(state))
    );
    tar(&[("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums.as_bytes()), ("SHA256SUMS.sealed", b"sig")])
}

fn manifest_json(id: &str) -> String {
    let data = gz(&snapshot_tar());
    serde_json::json!({
        "format": 1, "id": id, "file": manifest::data_name(id),
        "started": "2026-11-28T13:00:00Z", "completed": "2026-11-28T13:00:01Z",
        "size": data.len(), "sha256": hex::encode(Sha256::digest(&data)), "encryption": "none",
        "source": "https://127.0.0.1:8200", "cluster_id": "c", "cluster_name": "vault", "server_version": "2.7.2",
        "seal": {"type": "shamir", "shares": 5, "threshold": 3},
        "raft": {"index": 17, "term": 2, "snapshot_id": "2-17-1", "version": 1},
        "members": [{"name": "meta.json", "size": 70, "sha256": "00"}],
        "tool": "vault-backup 0.1.0"
    })
    .to_string()
}

#[test]
fn mutated_archives_manifests_and_names_never_panic() {
    // The tar inside the gzip (where the structure is), and the gzip itself.
    let inner = snapshot_tar();
    let mut sound = 0usize;
    each_mutation(0x5eed_bac1, &[&inner], 800, 20_000, |input| {
        if vault_backup::archive::inspect(&gz(input)[..]).is_ok() {
            sound += 1;
        }
    });
    let outer = gz(&inner);
    each_mutation(0x5eed_bac2, &[&outer], 800, 5_000, |input| {
        let _ = vault_backup::archive::inspect(input);
    });
    assert!(sound > 0, "some mutations leave the archive sound");

    let id = manifest::backup_id(Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap());
    let json = manifest_json(&id);
    each_mutation(0x5eed_bac3, &[json.as_bytes()], 1500, 5_000, |input| {
        if let Ok(m) = serde_json::from_slice::<Manifest>(input) {
            let _ = (m.data_file(), m.encrypted());
            let _ = serde_json::to_string(&m).unwrap();
        }
    });
    let names = [manifest::manifest_name(&id), manifest::data_name(&id), manifest::encrypted_data_name(&id)];
    let seeds: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    each_mutation(0x5eed_bac4, &seeds, 3000, 200, |input| {
        let name = String::from_utf8_lossy(input);
        let _ = manifest::classify(&name);
        let _ = manifest::parse_id(&name);
    });
}

#[test]
fn retention_never_panics_and_keeps_the_newest_good_backup() {
    use vault_testkit::fuzz::Rng;
    let mut r = rng(0x5eed_bac5);
    for _ in 0..2000 {
        let n = r.random_range(0..40);
        let candidates: Vec<Candidate> = (0..n)
            .map(|_| {
                // Anywhere from the epoch to far in the future, duplicates included.
                let secs = r.random_range(-1_000_000_000i64..8_000_000_000);
                let time = Utc.timestamp_opt(secs, 0).unwrap();
                Candidate { id: manifest::backup_id(time), time, good: r.random_bool(0.8) }
            })
            .collect();
        let policy = Policy {
            keep_last: r.random_range(0..5),
            keep_daily: [0, 1, 7, u32::MAX][r.random_range(0..4)],
            keep_weekly: r.random_range(0..5),
            keep_monthly: [0, 12, u32::MAX][r.random_range(0..3)],
        };
        let now = Utc.timestamp_opt(r.random_range(0..8_000_000_000), 0).unwrap();
        let decisions = retention::plan(&candidates, &policy, now);
        assert_eq!(decisions.len(), candidates.len(), "one decision per backup");
        if let Some(newest) = candidates.iter().filter(|c| c.good).map(|c| c.time).max() {
            assert!(
                decisions.iter().any(|d| d.time == newest && d.action == retention::Action::Keep),
                "the newest good backup stays whatever the policy: {policy:?}"
            );
        }
    }
}

fn bin() -> Command {
    let mut c = vault_testkit::harness::tool_command(env!("CARGO_BIN_EXE_vault-backup"));
    vault_testkit::harness::clear_env(&mut c, &["AWS_"]);
    c.env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "fuzz").env("VAULT_MAX_RETRIES", "0");
    c
}

/// A folder of `n` complete (if fake) backups, a day apart.
fn backups(dir: &Path, n: i64) {
    let data = gz(&snapshot_tar());
    for i in 0..n {
        let id = manifest::backup_id(Utc.timestamp_opt(1_780_000_000 + i * 86_400, 0).unwrap());
        std::fs::write(dir.join(manifest::data_name(&id)), &data).unwrap();
        std::fs::write(dir.join(manifest::manifest_name(&id)), manifest_json(&id)).unwrap();
    }
}

#[test]
fn a_closed_stdout_exits_0_for_every_format() {
    let dir = tempfile::tempdir().unwrap();
    backups(dir.path(), 300);
    let d = dir.path().to_str().unwrap();
    for format in ["human", "json", "jsonl"] {
        for args in [vec!["list", d], vec!["prune", d, "--keep-last", "2", "--dry-run"]] {
            let label = format!("vault-backup {} --format {format}", args.join(" "));
            assert_broken_pipe_exits_0(
                || {
                    let mut c = bin();
                    c.args(&args).args(["--format", format]);
                    c
                },
                &label,
            );
        }
    }
}

#[test]
fn mutated_command_lines_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("b")).unwrap();
    backups(&d.join("b"), 3);
    std::fs::write(d.join("age.key"), "AGE-SECRET-KEY-1NOTAKEY\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["list", "b"]),
            s(&["verify", "b"]),
            s(&["verify", "b", "--identity", "age.key"]),
            s(&["prune", "b", "--keep-last", "1", "--keep-daily", "7", "--dry-run"]),
            s(&["save", "--to", "b"]),
            s(&["restore", "b", "--unseal-keys-file", "age.key"]),
            s(&["drill", "--from", "b"]),
        ],
        words: s(&[
            "list",
            "verify",
            "prune",
            "save",
            "restore",
            "drill",
            "--to",
            "--from",
            "--keep-last",
            "--keep-daily",
            "--keep-weekly",
            "--keep-monthly",
            "--dry-run",
            "--yes",
            "--identity",
            "--recipient",
            "--format",
            "-o",
            "--color",
            "--s3-endpoint",
            "--s3-region",
            "--unseal-keys-file",
            "--client-timeout",
        ]),
        values: s(&["b", "missing", "s3://bucket/prefix", "s3://", "s3:///x", "age.key", "0", "4294967296", "json"]),
    };
    let codes = fuzz_argv(0x5eed_bac6, &space, 150, Duration::from_secs(5), || {
        let mut c = bin();
        c.current_dir(d);
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
}
