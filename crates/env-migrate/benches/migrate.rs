//! `cargo bench -p env-migrate --bench migrate` (and `cargo xtask bench migrate`): 1,000 variables in 20 env files
//! migrated and verified by `env-migrate apply` against a local raft+TLS OpenBao, beside a loop of `bao kv put`
//! (what a user scripts today: one process per variable, no read-back), in one run.
//!
//! Both write 1,000 secrets (the plan uses `secret/{app}/{env}/{name}`, one secret per variable, as the loop
//! does). `BENCH_LOOP_SAMPLE=N` times only N `bao kv put`s and scales up, for a quick run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vault_core::{Client, Config, SecretString};
use vault_testkit::TlsServer;

const FILES: usize = 20;
const PER_FILE: usize = 50;

fn value(f: usize, i: usize) -> String {
    let mut x = ((f * 1000 + i) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
    x ^= x >> 29;
    format!("bench-{f}-{i}-{:016x}{:016x}", x, x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9))
}

fn make_repo(dir: &Path) {
    for f in 0..FILES {
        let mut text = String::from("# generated for the benchmark\nLOG_LEVEL=info\n");
        for i in 0..PER_FILE {
            text.push_str(&format!("SECRET_KEY_{i}={}\n", value(f, i)));
        }
        std::fs::write(dir.join(format!("svc{f}.env")), text).expect("write env file");
    }
}

fn env_migrate(dir: &Path, env: &[(String, String)], args: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_env-migrate"))
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args)
        .output()
        .expect("env-migrate runs");
    let took = started.elapsed();
    assert!(out.status.success(), "env-migrate {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::main]
async fn main() {
    let server = TlsServer::builder().start().await.expect("the OpenBao raft+TLS server must start");
    let env = server.env();
    let mut config =
        Config::with_token(server.addr(), SecretString::new(server.root_token().to_owned())).expect("config");
    config.tls.ca_cert = Some(server.ca_cert_path().to_path_buf());
    let client = Client::new(config).expect("client");
    let mount = serde_json::json!({"type": "kv", "options": {"version": "2"}});
    client.request(reqwest::Method::POST, "sys/mounts/secret", Some(&mount)).await.expect("mount secret/");

    let dir = tempfile::tempdir().expect("temp dir");
    make_repo(dir.path());
    let (plan_time, _) = env_migrate(
        dir.path(),
        &env,
        &["plan", "--app", "bench", "--template", "secret/{app}/{env}/{name}", "-o", "plan.json"],
    );
    let (apply_time, stdout) = env_migrate(dir.path(), &env, &["apply", "plan.json", "--yes", "-f", "jsonl"]);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().expect("summary")).expect("json");
    assert_eq!(summary["verified"], FILES * PER_FILE, "every value verified: {summary}");
    let (rerun_time, _) = env_migrate(dir.path(), &env, &["apply", "plan.json", "--yes", "-f", "jsonl"]);

    // The loop users write today: `bao kv put` per variable (the static binary, not the ~20 ms Python shim).
    let bao = vault_testkit::bao_binary().expect("bao binary");
    let total = FILES * PER_FILE;
    let sample: usize =
        std::env::var("BENCH_LOOP_SAMPLE").ok().and_then(|s| s.parse().ok()).unwrap_or(total).clamp(1, total);
    let started = Instant::now();
    let mut done = 0;
    'outer: for f in 0..FILES {
        for i in 0..PER_FILE {
            if done == sample {
                break 'outer;
            }
            let status = Command::new(&bao)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("HOME", dir.path())
                .args(["kv", "put", "-mount=secret", &format!("loop/svc{f}/secret_key_{i}")])
                .arg(format!("SECRET_KEY_{i}={}", value(f, i)))
                .stdout(std::process::Stdio::null())
                .status()
                .expect("bao runs");
            assert!(status.success(), "bao kv put failed");
            done += 1;
        }
    }
    let loop_time = started.elapsed().mul_f64(total as f64 / sample as f64);

    let speedup = loop_time.as_secs_f64() / apply_time.as_secs_f64();
    println!("migrate: {total} variables in {FILES} files, raft+TLS OpenBao {}", server.addr());
    println!("  env-migrate plan                     {:>8.2} s", plan_time.as_secs_f64());
    println!("  env-migrate apply --yes (+read-back) {:>8.2} s", apply_time.as_secs_f64());
    println!("  env-migrate apply --yes (re-run)     {:>8.2} s", rerun_time.as_secs_f64());
    println!(
        "  bao kv put loop                      {:>8.2} s{}",
        loop_time.as_secs_f64(),
        if sample < total { format!(" (scaled from {sample})") } else { String::new() }
    );
    println!("  speed-up                             {speedup:>8.1}x (target: 20x)");
    println!(
        "{}",
        serde_json::json!({
            "type": "bench", "name": "migrate", "variables": total, "files": FILES,
            "plan_s": plan_time.as_secs_f64(), "apply_s": apply_time.as_secs_f64(),
            "rerun_s": rerun_time.as_secs_f64(), "loop_s": loop_time.as_secs_f64(),
            "loop_sampled": sample, "speedup": speedup,
        })
    );
}
