//! audit-parse against jq on a large audit log made from real records, in one run.
//!
//! A real OpenBao (vault-testkit, file audit device) answers a realistic mix — KV writes and reads, denied reads,
//! AppRole logins, policy changes — and its log lines are repeated, with fresh request ids, up to
//! `AUDIT_BENCH_MB` megabytes (default 1024). Then the same filter (KV reads under one folder) runs with `jq` and
//! with the release `audit-parse`, both writing to /dev/null; the match counts must agree. Printed: MB/s of each,
//! the ratio, peak memory, and a parallel `report` over the log split into one file per core.
//!
//! `cargo bench -p audit-parse --bench audit` (wired as `cargo xtask bench audit`).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use reqwest::Method;
use serde_json::json;
use vault_core::{Client, Config, SecretString};

fn client(server: &vault_testkit::TlsServer, token: &str) -> Client {
    let mut config = Config::with_token(server.addr(), SecretString::from(token)).expect("address");
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    Client::new(config).expect("client")
}

/// Real audit lines from a real server.
fn real_lines() -> Vec<String> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let server = vault_testkit::TlsServer::builder().audit_file(true).start().await.expect("an OpenBao server");
        let root = client(&server, server.root_token());
        root.request(Method::POST, "sys/mounts/secret", Some(&json!({"type": "kv", "options": {"version": "2"}})))
            .await
            .expect("mount");
        let policy = r#"path "secret/data/bench/app-*" { capabilities = ["read"] }"#;
        root.request(Method::PUT, "sys/policies/acl/bench", Some(&json!({ "policy": policy }))).await.expect("policy");
        let token = root
            .request(Method::POST, "auth/token/create", Some(&json!({"policies": ["bench"], "display_name": "ci"})))
            .await
            .expect("token")
            .expect("answer")["auth"]["client_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let narrow = client(&server, &token);
        for i in 0..20 {
            let name = if i % 2 == 0 { format!("secret/bench/app-{i}") } else { format!("secret/bench/db-{i}") };
            let path = root.kv_path(&name).await.expect("path");
            let data: BTreeMap<String, SecretString> = [
                ("user".to_owned(), SecretString::from(format!("user-{i}"))),
                ("password".to_owned(), SecretString::from(format!("pw-{i}-x7"))),
            ]
            .into();
            root.kv_write(&path, &data, None).await.expect("write");
            for _ in 0..3 {
                let _ = narrow.kv_read(&path, None).await;
            }
            root.kv_read(&path, None).await.expect("read");
        }
        let log = std::fs::read_to_string(server.audit_log_path().expect("audit log")).expect("read log");
        log.lines().map(str::to_owned).collect()
    })
}

/// Writes `mb` megabytes of the lines, each repetition with its own request ids.
fn build_log(lines: &[String], path: &Path, mb: u64) -> u64 {
    let ids: Vec<Option<String>> = lines
        .iter()
        .map(|l| audit_parse::AuditRecord::parse(l.as_bytes()).ok().and_then(|r| r.request_id().map(str::to_owned)))
        .collect();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create the log"));
    let target = mb * 1_000_000;
    let mut written = 0u64;
    let mut round = 0u64;
    while written < target {
        for (line, id) in lines.iter().zip(&ids) {
            let line = match id {
                Some(id) => line.replacen(&format!("\"id\":\"{id}\""), &format!("\"id\":\"{id}-{round}\""), 1),
                None => line.clone(),
            };
            out.write_all(line.as_bytes()).expect("write");
            out.write_all(b"\n").expect("write");
            written += line.len() as u64 + 1;
        }
        round += 1;
    }
    out.flush().expect("flush");
    written
}

/// What one run took.
struct Timing {
    /// Wall-clock seconds.
    wall: f64,
    /// CPU seconds (user + system), which a loaded machine does not inflate.
    cpu: f64,
    /// Peak resident memory, KiB.
    rss: Option<u64>,
}

/// Runs a command with stdout to a file, measured by GNU time.
fn timed(name: &str, program: &str, args: &[&str], out: &Path) -> Timing {
    let rss_file = out.with_extension("rss");
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M %U %S")
        .arg("-o")
        .arg(&rss_file)
        .arg(program)
        .args(args)
        .stdout(std::fs::File::create(out).expect("output file"))
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let secs = start.elapsed().as_secs_f64();
    assert!(status.code().is_some_and(|c| c == 0 || c == 1), "{name} failed: {status}");
    let report = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let fields: Vec<f64> =
        report.lines().last().unwrap_or("").split_whitespace().filter_map(|f| f.parse().ok()).collect();
    Timing {
        wall: secs,
        cpu: fields.get(1).copied().unwrap_or(f64::NAN) + fields.get(2).copied().unwrap_or(0.0),
        rss: fields.first().map(|k| *k as u64),
    }
}

fn main() {
    let mb: u64 = std::env::var("AUDIT_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("audit-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let log = dir.join("audit.log");

    let lines = real_lines();
    println!("{} real audit lines from OpenBao", lines.len());
    let t = Instant::now();
    let bytes = build_log(&lines, &log, mb);
    println!("log: {:.0} MB in {:.1}s ({})", bytes as f64 / 1e6, t.elapsed().as_secs_f64(), log.display());
    let size = bytes as f64 / 1e6;

    let bin = env!("CARGO_BIN_EXE_audit-parse");
    let log_s = log.to_str().expect("utf-8 path");
    let jq_filter =
        r#"select((.request.path // "" | startswith("secret/data/bench/")) and .request.operation == "read")"#;
    let jq = timed("jq", "jq", &["-c", jq_filter, log_s], &dir.join("jq.out"));
    let jq_matches = std::fs::read_to_string(dir.join("jq.out")).expect("jq output").lines().count();

    let ap_args =
        ["filter", log_s, "--path", "secret/data/bench/*", "--operation", "read", "--no-join", "--format", "jsonl"];
    let ap = timed("audit-parse", bin, &ap_args, &dir.join("ap.out"));
    let ap_out = std::fs::read_to_string(dir.join("ap.out")).expect("audit-parse output");
    let ap_matches = ap_out.lines().filter(|l| l.starts_with("{\"type\":\"operation\"")).count();
    assert_eq!(ap_matches, jq_matches, "jq and audit-parse must select the same lines");

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = split(&log, &dir, cores);
    let mut report_args = vec!["report", "--format", "jsonl"];
    let part_names: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
    report_args.extend(part_names.iter().map(String::as_str));
    let parallel = timed("audit-parse report", bin, &report_args, &dir.join("report.out"));
    let single = timed("audit-parse report", bin, &["report", "--format", "jsonl", log_s], &dir.join("r1.out"));

    let kib = |r: Option<u64>| r.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    let line = |name: &str, t: &Timing| {
        println!(
            "{name:<34} {:7.2}s wall {:7.1} MB/s | {:7.2}s CPU {:7.1} MB/CPU-s | peak {}",
            t.wall,
            size / t.wall,
            t.cpu,
            size / t.cpu,
            kib(t.rss)
        );
    };
    println!("matches: {ap_matches} lines (same in both)");
    line("jq filter", &jq);
    line("audit-parse filter", &ap);
    println!(
        "ratio: audit-parse is {:.1}x faster than jq (wall clock), {:.1}x (CPU time)",
        jq.wall / ap.wall,
        jq.cpu / ap.cpu
    );
    line("audit-parse report, 1 file", &single);
    line(&format!("audit-parse report, {cores} files"), &parallel);
    for f in ["jq.out", "ap.out", "report.out", "r1.out"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for p in parts {
        let _ = std::fs::remove_file(p);
    }
}

/// Splits the log at line boundaries into `n` files (each ending with whole request/response pairs as far as the
/// repetition allows).
fn split(log: &Path, dir: &Path, n: usize) -> Vec<PathBuf> {
    use std::io::BufRead;
    let total = std::fs::metadata(log).expect("log").len();
    let per = total / n as u64 + 1;
    let reader = std::io::BufReader::new(std::fs::File::open(log).expect("log"));
    let mut paths = Vec::new();
    let mut current: Option<BufWriter<std::fs::File>> = None;
    let mut written = 0u64;
    for line in reader.split(b'\n') {
        let line = line.expect("read");
        if current.is_none() || (written >= per && line.windows(16).any(|w| w == b"\"type\":\"request\"")) {
            let path = dir.join(format!("part-{}.log", paths.len()));
            current = Some(BufWriter::new(std::fs::File::create(&path).expect("part")));
            paths.push(path);
            written = 0;
        }
        let w = current.as_mut().expect("a part is open");
        w.write_all(&line).expect("write");
        w.write_all(b"\n").expect("write");
        written += line.len() as u64 + 1;
    }
    paths
}
