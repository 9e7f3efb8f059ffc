//! `cargo xtask bench cluster`: what a raft cluster costs a reader, and what a leader change does to one. The same
//! vault-core reads (uncached, one at a time, as a pipeline makes them) against a single TLS node, a cluster's
//! active node, and a standby (which answers reads from its own copy); then reads through a standby at a steady pace
//! while the active node is killed: failed reads, the longest wait, and the time until a new leader serves.

use std::time::{Duration, Instant};

use anyhow::Context;
use vault_core::{Client, Config, KvPath, SecretMap, SecretString};
use vault_testkit::{Cluster, TlsServer};

use crate::bench::{Row, fmt_duration};

#[derive(clap::Args)]
pub struct Args {
    /// Reads per contender.
    #[arg(long, default_value_t = 2000)]
    reads: usize,
    /// Reads through a standby while the leader is killed (one every 5 ms).
    #[arg(long, default_value_t = 1000)]
    election_reads: usize,
}

fn client(addr: &str, ca: &std::path::Path, token: &str) -> anyhow::Result<Client> {
    let mut config = Config::with_token(addr, SecretString::from(token))?;
    config.tls.ca_cert = Some(ca.to_owned());
    Ok(Client::new(config)?)
}

async fn seed(client: &Client, path: &KvPath) -> anyhow::Result<()> {
    let options = [("version".to_owned(), "2".to_owned())].into_iter().collect();
    client.enable_mount("secret", "kv", &options).await?;
    let mut data = SecretMap::new();
    for (k, v) in [("host", "db.internal"), ("user", "etl"), ("password", "bench-password-3f9a"), ("port", "5432")] {
        data.insert(k.to_owned(), SecretString::from(v));
    }
    // A new mount reaches the standbys a moment later; the write goes to the active node.
    client.kv_write(path, &data, None).await?;
    Ok(())
}

/// `reads` timed reads after a warm-up that also waits for the data to be visible on this node.
async fn timed(client: &Client, path: &KvPath, reads: usize) -> anyhow::Result<Vec<Duration>> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.kv_read(path, None).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the secret never became readable through {}", client.address());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..50 {
        client.kv_read(path, None).await?;
    }
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        let start = Instant::now();
        client.kv_read(path, None).await?;
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    crate::runtime()?.block_on(bench(args))
}

async fn bench(args: &Args) -> anyhow::Result<()> {
    let path = KvPath::parse("secret/bench/warehouse")?;
    let single = TlsServer::start().await.context("starting a single TLS node")?;
    eprintln!("bench cluster: single node at {}", single.addr());
    let mut cluster = Cluster::start(3).await.context("starting a three-node cluster")?;
    eprintln!("bench cluster: cluster at {}", cluster.addrs().join(", "));

    let one = client(single.addr(), single.ca_cert_path(), single.root_token())?;
    seed(&one, &path).await?;
    let leader = cluster.leader().await?;
    let standby = (leader + 1) % cluster.len();
    let active = client(cluster.addr(leader), cluster.ca_cert_path(), cluster.root_token())?;
    seed(&active, &path).await?;
    let forwarded = client(cluster.addr(standby), cluster.ca_cert_path(), cluster.root_token())?;

    let mut rows = Vec::new();
    rows.push(Row::new("single node", timed(&one, &path, args.reads).await?)?);
    rows.push(Row::new("cluster: active node", timed(&active, &path, args.reads).await?)?);
    rows.push(Row::new("cluster: standby (reads served there)", timed(&forwarded, &path, args.reads).await?)?);

    // Reads through the standby at a steady pace while the active node dies.
    let pace = Duration::from_millis(5);
    let kill_at = args.election_reads / 5;
    let mut latencies = Vec::with_capacity(args.election_reads);
    let mut failed = 0;
    let mut killed_at = None;
    let mut served_again = None;
    let started = Instant::now();
    for i in 0..args.election_reads {
        if i == kill_at {
            cluster.kill(leader);
            killed_at = Some(Instant::now());
        }
        let start = Instant::now();
        let ok = forwarded.kv_read(&path, None).await.is_ok();
        latencies.push(start.elapsed());
        failed += usize::from(!ok);
        if ok && served_again.is_none() && killed_at.is_some() {
            served_again = Some(Instant::now());
        }
        tokio::time::sleep(pace.saturating_sub(start.elapsed())).await;
    }
    let elapsed = started.elapsed();
    let new_leader = cluster.wait_for_leader().await?;
    rows.push(Row::new("standby, leader killed", latencies.clone())?);

    println!("{:<32} {:>10} {:>10} {:>12} {:>14}", "reads through", "p50", "p99", "reads/s", "p50 vs single");
    let base = rows[0].p50.as_secs_f64();
    for row in &rows {
        let total: Duration = row.latencies_sum;
        println!(
            "{:<32} {:>10} {:>10} {:>12.0} {:>13.2}x",
            row.name,
            fmt_duration(row.p50),
            fmt_duration(row.p99),
            row.samples as f64 / total.as_secs_f64(),
            row.p50.as_secs_f64() / base,
        );
    }
    let longest = latencies.iter().max().copied().unwrap_or_default();
    println!();
    println!(
        "election: {} reads in {:.1?} through node {} with node {} killed after {kill_at}: {failed} failed, the longest \
         took {}, node {new_leader} leads now",
        args.election_reads,
        elapsed,
        standby + 1,
        leader + 1,
        fmt_duration(longest),
        new_leader = new_leader + 1,
    );
    Ok(())
}
