//! The kit's servers for the Python harness in `integrations/dagster`, so it runs the very same OpenBao and
//! PostgreSQL as the Rust tests:
//!
//! - `vault-testkit tools` finds (installing on first use) the server binaries and prints them as shell
//!   assignments, `BAO_BIN='…'` and `PG_BIN_DIR='…'`: `eval "$(cargo run -q -p vault-testkit -- tools)"`.
//! - `vault-testkit cluster [N]` starts an N-node (default 3) raft cluster of TLS nodes and prints one JSON line
//!   on stdout: `{"type":"cluster","nodes":[{"addr":…,"pid":…}],"leader":I,"ca_cert":…,"root_token":…}`. It then
//!   takes one command a line on stdin and answers each with one JSON line: `leader` (waits for an active node:
//!   `{"leader":I}`), `kill-leader` (SIGKILL to the active node: `{"killed":I}`), `kill I`, `restart I`
//!   (`{"restarted":I}`), `healthy` (waits until every running node is an unsealed voter: `{"leader":I}`). A
//!   failed command answers `{"error":"…"}`. End of input stops every node and exits.

use std::io::BufRead;
use std::process::ExitCode;

use serde_json::{Value, json};
use vault_testkit::Cluster;

const USAGE: &str = "usage: vault-testkit tools        (prints BAO_BIN=… and PG_BIN_DIR=… for a shell's eval)\n       vault-testkit cluster [N]  (runs an N-node raft cluster, commands on stdin)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["tools"] => tools(),
        ["cluster"] => cluster(3),
        ["cluster", n] => match n.parse::<usize>() {
            Ok(n) if n >= 1 => cluster(n),
            _ => {
                eprintln!("vault-testkit: error: the node count must be a positive number, not {n:?}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn tools() -> ExitCode {
    let found = vault_testkit::bao_binary().and_then(|bao| Ok((bao, vault_testkit::postgres_bin_dir()?)));
    match found {
        Ok((bao, pg)) => {
            println!("BAO_BIN={}", quote(&bao.display().to_string()));
            println!("PG_BIN_DIR={}", quote(&pg.display().to_string()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vault-testkit: error: {e}");
            ExitCode::from(3)
        }
    }
}

fn cluster(size: usize) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vault-testkit: error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async {
        let mut cluster = match Cluster::start(size).await {
            Ok(cluster) => cluster,
            Err(e) => {
                eprintln!("vault-testkit: error: {e}");
                return ExitCode::from(3);
            }
        };
        let leader = cluster.leader().await.ok();
        let nodes: Vec<Value> =
            (0..cluster.len()).map(|i| json!({ "addr": cluster.addr(i), "pid": cluster.pid(i) })).collect();
        say(&json!({
            "type": "cluster",
            "nodes": nodes,
            "leader": leader,
            "ca_cert": cluster.ca_cert_path(),
            "root_token": cluster.root_token(),
        }));
        let (lines, mut commands) = tokio::sync::mpsc::channel::<String>(1);
        // Stdin is read on its own thread; its end (the test is done, or died) stops the cluster.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = commands.recv().await {
            say(&command(&mut cluster, line.trim()).await);
        }
        ExitCode::SUCCESS
    })
}

async fn command(cluster: &mut Cluster, line: &str) -> Value {
    let node = |text: &str| text.parse::<usize>().ok().filter(|&i| i < cluster.len());
    let words: Vec<&str> = line.split_whitespace().collect();
    let result = match words.as_slice() {
        ["leader"] => cluster.wait_for_leader().await.map(|i| json!({ "leader": i })).map_err(|e| e.to_string()),
        ["healthy"] => cluster.wait_until_healthy().await.map(|i| json!({ "leader": i })).map_err(|e| e.to_string()),
        ["kill-leader"] => match cluster.leader().await {
            Ok(i) => {
                cluster.kill(i);
                Ok(json!({ "killed": i }))
            }
            Err(e) => Err(e.to_string()),
        },
        ["kill", n] => match node(n) {
            Some(i) => {
                cluster.kill(i);
                Ok(json!({ "killed": i }))
            }
            None => Err(format!("no node {n:?}")),
        },
        ["restart", n] => match node(n) {
            Some(i) => cluster.restart(i).await.map(|()| json!({ "restarted": i })).map_err(|e| e.to_string()),
            None => Err(format!("no node {n:?}")),
        },
        _ => Err(format!("unknown command {line:?}: leader, healthy, kill-leader, kill I, restart I")),
    };
    result.unwrap_or_else(|error| json!({ "error": error }))
}

/// Prints one JSON line and flushes it, since the reader waits for it.
fn say(value: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Single-quotes a value for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
