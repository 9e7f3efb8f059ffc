//! Crash safety: kill `apply` at several points, and stop the server in the middle of an apply; every value in
//! Vault is then either absent or right, the env files are untouched, and a re-run finishes the job.

use std::path::Path;
use std::time::{Duration, Instant};

use vault_core::Client;
use vault_testkit::TlsServer;

use crate::util::{cmd_for, code, dev, run};

const FILES: usize = 20;
const PER_FILE: usize = 50;

/// 20 env files of 50 secrets each, one Vault path per variable (so apply has 1,000 secrets to write).
fn make_repo(dir: &Path) -> Vec<(String, String, String)> {
    let mut expected = Vec::new();
    for f in 0..FILES {
        let mut text = String::from("# service settings\nLOG_LEVEL=info\n");
        for i in 0..PER_FILE {
            let key = format!("SECRET_KEY_{i}");
            let value = format!("v{f}x{i}-{}", hex_id(f * 1000 + i));
            text.push_str(&format!("{key}={value}\n"));
            expected.push((format!("secret/crash/svc{f}/{}", key.to_ascii_lowercase()), key, value));
        }
        std::fs::write(dir.join(format!("svc{f}.env")), text).unwrap();
    }
    expected
}

fn hex_id(n: usize) -> String {
    // Deterministic, high-entropy looking, distinct per variable.
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::new();
    for _ in 0..3 {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        s.push_str(&format!("{x:016x}"));
    }
    s
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".env"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn plan(dir: &Path) {
    let (out, _, stderr) = run(crate::util::cmd(dir).args([
        "plan",
        "--app",
        "crash",
        "--template",
        "secret/{app}/{env}/{name}",
        "-o",
        "plan.json",
    ]));
    assert_eq!(code(&out), 0, "{stderr}");
}

/// Every planned value in Vault is absent or exactly right; returns how many are present.
async fn check_vault(client: &Client, expected: &[(String, String, String)]) -> usize {
    let mut present = 0;
    for (path, key, value) in expected {
        let p = client.kv_path(path).await.unwrap();
        match client.kv_read(&p, None).await {
            Ok(s) => {
                let got = s.data.get(key).map(|v| v.expose().to_owned());
                assert_eq!(got.as_deref(), Some(value.as_str()), "{path}#{key} holds a wrong value");
                present += 1;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("reading {path}: {e}"),
        }
    }
    present
}

fn final_apply(dir: &Path, env: &[(String, String)]) {
    let (out, stdout, stderr) = run(cmd_for(dir, env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "the re-run finishes the job: {stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["verified"], FILES * PER_FILE, "{summary}");
    assert_eq!(summary["conflicts"], 0);
    let (out, stdout, _) = run(cmd_for(dir, env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["written"], 0, "idempotent: {summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_apply_at_many_points_loses_nothing() {
    let server = dev().await;
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    let expected = make_repo(dir.path());
    let before = snapshot(dir.path());
    plan(dir.path());
    let client = crate::util::client(&server);
    let mut last = 0;
    for delay in [40u64, 120, 250, 400, 700] {
        let mut child = cmd_for(dir.path(), &env)
            .args(["apply", "plan.json", "--yes", "-f", "jsonl"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let present = check_vault(&client, &expected).await;
        assert!(present >= last, "values never disappear");
        last = present;
        assert_eq!(snapshot(dir.path()), before, "apply never touches the env files");
    }
    final_apply(dir.path(), &env);
    assert_eq!(check_vault(&client, &expected).await, expected.len());

    // strip killed at several points: each file is the original or completely stripped, never in between.
    for delay in [5u64, 20, 60, 150] {
        let mut child = cmd_for(dir.path(), &env)
            .args(["strip", "plan.json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        for ((name, bytes), (_, original)) in snapshot(dir.path()).iter().zip(&before) {
            if bytes == original {
                continue;
            }
            let text = String::from_utf8(bytes.clone()).unwrap();
            let stripped =
                text.lines().filter(|l| l.starts_with("SECRET_KEY_")).all(|l| l.contains("=\"\" # in Vault: "));
            assert!(
                stripped && text.starts_with("# service settings\nLOG_LEVEL=info\n"),
                "{name} half-written:\n{text}"
            );
        }
    }
    let (out, _, stderr) = run(cmd_for(dir.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let (out, _, stderr) = run(crate::util::cmd(dir.path()).args(["rollback", "--plan", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    assert_eq!(snapshot(dir.path()), before, "rollback restores every file");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_mid_apply_loses_nothing() {
    let mut server = TlsServer::builder().start().await.expect("the OpenBao raft+TLS server must start");
    let env = server.env();
    let client = vault_testkit::root_client!(&server);
    vault_testkit::harness::mount_kv2(&server, "secret").await;
    let dir = tempfile::tempdir().unwrap();
    let expected = make_repo(dir.path());
    let before = snapshot(dir.path());
    plan(dir.path());
    let folder = client.kv_path("secret/crash/").await.unwrap();

    // Stop the server at two points (some secrets written, about half written), restart it, check, go on.
    for threshold in [30, 500] {
        let mut child = cmd_for(dir.path(), &env)
            .args(["apply", "plan.json", "--yes", "--max-retries", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let written = client.kv_list_recursive(&folder).await.map(|l| l.len()).unwrap_or(0);
            if written >= threshold {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("apply finished ({status}) before the server could be stopped");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "apply never started writing");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.stop().await;
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "apply reports the server unavailable: {stderr}");
        assert_eq!(snapshot(dir.path()), before, "env files untouched");

        server.restart().await.unwrap();
        server.unseal().await.unwrap();
        let present = check_vault(&client, &expected).await;
        assert!(present >= threshold && present < expected.len(), "stopped mid-way: {present} of {}", expected.len());
    }
    final_apply(dir.path(), &env);
    assert_eq!(check_vault(&client, &expected).await, expected.len());
}
