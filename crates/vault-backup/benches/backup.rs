//! vault-backup against the pair users run today, `bao operator raft snapshot save` + `aws s3 cp`, in one run.
//!
//! A real OpenBao (vault-testkit, raft + TLS) is filled with secrets of ~1 KiB each, first `BACKUP_BENCH_SECRETS`/10
//! of them, then `BACKUP_BENCH_SECRETS` (default 200,000): two snapshot sizes ten times apart (~33 MB and ~330 MB),
//! both larger than a multipart part, so the memory comparison is of the streaming path at both sizes. Filling
//! takes most of the run (about 3 minutes on 2 cores); `BACKUP_BENCH_SECRETS=20000` is a quick run. At each size the
//! release `vault-backup save --to s3://…` (one streamed pass, multipart) and the pair (snapshot to a file, then the
//! AWS CLI's upload to the same SeaweedFS) run back to back. Printed: seconds and peak RSS (GNU time) of each, and
//! the snapshot size. Target: no slower than the pair, and vault-backup's peak memory flat as the snapshot grows.
//!
//! Then the restore: the largest backup (from S3, as `vault-backup restore` reads it in production) into a second,
//! fresh OpenBao (raft + TLS), verified, streamed into `snapshot-force`, unsealed with the source's shares, beside
//! the same job with the CLI into a third fresh server: `bao operator raft snapshot restore -force` of the same
//! snapshot from a file, a wait until the server sealed itself, `bao operator unseal` with the source's shares
//! and a wait until it is unsealed. Printed: seconds and peak RSS of each (the CLI's: its largest process),
//! against the goal of at most 64 MiB for vault-backup (it streams; the snapshot never sits in memory).
//!
//! The AWS CLI comes from PyPI (`awscli`) into `target/tools/bench-awscli` on first use.
//!
//! `cargo bench -p vault-backup --bench backup` (wired as `cargo xtask bench backup`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;
use vault_core::{Client, Config, SecretString};

fn client(server: &vault_testkit::TlsServer) -> Client {
    let mut config = Config::with_token(server.addr(), SecretString::from(server.root_token())).expect("address");
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    Client::new(config).expect("client")
}

/// Writes secrets `from..to`, each with ~1 KiB of incompressible-ish text, 32 at a time.
async fn fill(client: &Client, from: usize, to: usize) {
    futures_util::stream::iter(from..to)
        .map(|i| async move {
            let path = client.kv_path(&format!("secret/bench/{:03}/s{i}", i % 500)).await.expect("path");
            let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let blob: String = (0..1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect();
            let data: BTreeMap<String, SecretString> = [("blob".to_owned(), SecretString::new(blob))].into();
            client.kv_write(&path, &data, None).await.expect("write");
        })
        .buffer_unordered(32)
        .for_each(|()| async {})
        .await;
}

/// The AWS CLI in its own venv.
fn aws_cli() -> PathBuf {
    let venv = vault_testkit::tools_dir().join("bench-awscli");
    let aws = venv.join("bin/aws");
    if aws.exists() {
        return aws;
    }
    eprintln!("bench: installing awscli into {}", venv.display());
    let ok = |cmd: &mut Command| assert!(cmd.status().expect("run").success(), "{cmd:?} failed");
    ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    ok(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "awscli>=1.30,<2"]));
    aws
}

/// Runs a command, returns (seconds, peak RSS in KiB).
fn timed(name: &str, command: &Command, dir: &Path) -> (f64, u64) {
    let rss_file = dir.join(format!("{name}.rss"));
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let envs: Vec<_> = command.get_envs().map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned))).collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(program).args(args);
    for (key, value) in envs {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    let start = Instant::now();
    let output =
        wrapped.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap_or_else(|e| panic!("{name}: {e}"));
    let secs = start.elapsed().as_secs_f64();
    assert!(output.status.success(), "{name} failed: {}", String::from_utf8_lossy(&output.stderr));
    let rss = std::fs::read_to_string(&rss_file).ok().and_then(|t| t.trim().lines().last()?.trim().parse().ok());
    (secs, rss.unwrap_or(0))
}

fn scrubbed(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") || key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
}

fn main() {
    let total: usize = std::env::var("BACKUP_BENCH_SECRETS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("backup-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let aws = aws_cli();
    let bao = vault_testkit::bao_binary().expect("an OpenBao binary");
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_vault-backup"));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (vault, s3) = rt.block_on(async {
        let (vault, s3) = tokio::join!(vault_testkit::TlsServer::start(), vault_testkit::S3Server::start());
        (vault.expect("OpenBao"), s3.expect("SeaweedFS"))
    });
    let root = client(&vault);
    rt.block_on(async {
        root.request(Method::POST, "sys/mounts/secret", Some(&json!({"type": "kv", "options": {"version": "2"}})))
            .await
            .expect("mount");
    });
    let mut env: Vec<(String, String)> = vault.env();
    env.extend(s3.env());

    println!(
        "{:>8} {:>10} | {:>22} | {:>22} {:>22} {:>9} | {:>7}",
        "secrets",
        "snapshot",
        "vault-backup s / peak",
        "bao snapshot s / peak",
        "aws s3 cp s / peak",
        "pair s",
        "speedup"
    );
    let mut written = 0;
    let mut largest = None;
    for size in [total / 10, total] {
        let t = Instant::now();
        rt.block_on(fill(&root, written, size));
        eprintln!("bench: {} secrets written in {:.1}s", size - written, t.elapsed().as_secs_f64());
        written = size;

        let mut save = scrubbed(&ours);
        save.envs(env.iter().map(|(k, v)| (k, v))).args(["save", "--to", &format!("s3://backups/ours-{size}")]);
        let (ours_secs, ours_rss) = timed(&format!("ours-{size}"), &save, &dir);

        let file = dir.join(format!("pair-{size}.snap"));
        let mut snapshot = scrubbed(&bao);
        snapshot.envs(vault.env()).args(["operator", "raft", "snapshot", "save"]).arg(&file);
        let (snap_secs, snap_rss) = timed(&format!("bao-{size}"), &snapshot, &dir);
        let bytes = std::fs::metadata(&file).expect("snapshot file").len();
        let mut upload = scrubbed(&aws);
        upload
            .envs(s3.env())
            .args(["s3", "cp", "--only-show-errors", "--endpoint-url", s3.endpoint()])
            .arg(&file)
            .arg(format!("s3://backups/pair-{size}/pair.snap"));
        let (cp_secs, cp_rss) = timed(&format!("aws-{size}"), &upload, &dir);

        let pair = snap_secs + cp_secs;
        println!(
            "{size:>8} {:>8.1}MB | {ours_secs:>9.2}s {:>9.1}MiB | {snap_secs:>9.2}s {:>9.1}MiB {cp_secs:>9.2}s {:>9.1}MiB {pair:>8.2}s | {:>6.2}x",
            bytes as f64 / 1e6,
            ours_rss as f64 / 1024.0,
            snap_rss as f64 / 1024.0,
            cp_rss as f64 / 1024.0,
            pair / ours_secs
        );
        largest = Some((size, file, bytes));
    }
    let (size, file, bytes) = largest.expect("at least one size");
    restore(&rt, &vault, &s3, &ours, &bao, &dir, size, &file, bytes);
}

/// Restores the backup of `size` secrets into a fresh server with `vault-backup restore`, then the same snapshot
/// with `bao operator raft snapshot restore -force`, and prints time and peak RSS of each.
#[allow(clippy::too_many_arguments, reason = "one call from main, with everything the phase needs")]
fn restore(
    rt: &tokio::runtime::Runtime,
    source: &vault_testkit::TlsServer,
    s3: &vault_testkit::S3Server,
    ours: &Path,
    bao: &Path,
    dir: &Path,
    size: usize,
    file: &Path,
    bytes: u64,
) {
    const GOAL_MIB: f64 = 64.0;
    let target = rt.block_on(vault_testkit::TlsServer::start()).expect("a second OpenBao");
    let keys = dir.join("source-keys");
    std::fs::write(&keys, source.unseal_keys().join("\n")).expect("key file");
    let mut env: Vec<(String, String)> = target.env();
    env.extend(s3.env());
    let mut restore = scrubbed(ours);
    restore
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["restore", &format!("s3://backups/ours-{size}"), "--to", target.addr(), "--key-file"])
        .arg(&keys);
    let (ours_secs, ours_rss) = timed(&format!("restore-ours-{size}"), &restore, dir);

    // The same job with the CLI into another fresh server: restore the file, wait until the server sealed itself
    // (the snapshot brought the source's keyring), unseal with the source's shares, wait until it is unsealed.
    let bao_target = rt.block_on(vault_testkit::TlsServer::start()).expect("a third OpenBao");
    let script = "set -e
bao=$1; file=$2
\"$bao\" operator raft snapshot restore -force \"$file\"
until \"$bao\" status >/dev/null 2>&1; [ $? -eq 2 ]; do sleep 0.05; done
for key in $UNSEAL_KEYS; do \"$bao\" operator unseal \"$key\" >/dev/null; done
until \"$bao\" status >/dev/null 2>&1; do sleep 0.05; done";
    let mut bao_restore = scrubbed(Path::new("sh"));
    bao_restore
        .envs(bao_target.env())
        .env("VAULT_TOKEN", bao_target.root_token())
        .env("BAO_TOKEN", bao_target.root_token())
        .env("UNSEAL_KEYS", source.unseal_keys().join(" "))
        .args(["-c", script, "sh"])
        .arg(bao)
        .arg(file);
    let (bao_secs, bao_rss) = timed(&format!("restore-bao-{size}"), &bao_restore, dir);
    println!();
    println!(
        "{:>10} | {:>26} | {:>26} | {:>9}",
        "snapshot", "vault-backup restore s / peak", "bao restore + unseal s / peak", "peak goal"
    );
    let verdict = if ours_rss as f64 / 1024.0 <= GOAL_MIB { "met" } else { "MISSED" };
    println!(
        "{:>8.1}MB | {ours_secs:>13.2}s {:>10.1}MiB | {bao_secs:>13.2}s {:>10.1}MiB | {GOAL_MIB:>4.0}MiB {verdict}",
        bytes as f64 / 1e6,
        ours_rss as f64 / 1024.0,
        bao_rss as f64 / 1024.0,
    );
}
