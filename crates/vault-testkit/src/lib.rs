//! Real servers on loopback for the toolkit's integration tests: OpenBao (or HashiCorp Vault) in dev mode and in a
//! production-like TLS + raft setup, SeaweedFS as an S3 store, and PostgreSQL.
//!
//! Every server owns a temporary directory and free loopback ports, is ready when `start` returns, and is killed
//! when dropped, so a test that panics leaves nothing behind. Servers also carry a parent-death signal, so they die
//! with the test process even when it is killed (only their directories stay then). A missing server binary is
//! installed on first use (see [`install_all`]); when that fails the error says why, and the test fails rather than
//! skips.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let vault = vault_testkit::DevServer::start().await?;
//! let health = reqwest::get(format!("{}/v1/sys/health", vault.addr())).await?;
//! assert_eq!(health.status(), 200);
//! // Run the tool under test with `vault.env()` (VAULT_ADDR, VAULT_TOKEN) in its environment.
//! # Ok(()) }
//! ```
//!
//! [`Cluster`] runs a raft cluster of TLS nodes that can be killed, frozen and restarted, for leader changes.
//!
//! [`container::Container`] boots a Debian machine with its own systemd, for what runs under systemd.
//!
//! [`harness`] holds what every tool's tests do around the tool: the binary with a clean environment, stdout,
//! stderr and exit code, JSON Lines, "this value never appears", servers that fail the test, a root client
//! ([`root_client!`]) and a KV v2 mount.
//!
//! Set `VAULT_TESTKIT_KEEP=1` to keep each server's directory (config, data, log) for a post-mortem.

mod blackhole;
mod cluster;
pub mod container;
mod dev;
mod error;
pub mod fuzz;
pub mod harness;
mod http;
mod install;
mod ports;
mod postgres;
mod process;
mod s3;
pub mod schema;
mod tls;
pub mod toolcheck;
mod workdir;

pub use blackhole::{DroppingPort, SilentServer};
pub use cluster::Cluster;
pub use dev::DevServer;
pub use error::{Error, Result};
pub use install::{Tools, bao_binary, install_all, postgres_bin_dir, tools_dir, weed_binary};
pub use postgres::PostgresServer;
pub use s3::S3Server;
pub use tls::{TlsServer, TlsServerBuilder};

/// Runs a blocking install step off the async runtime's threads: a first `pip install` takes seconds.
async fn blocking<T: Send + 'static>(step: fn() -> Result<T>) -> Result<T> {
    tokio::task::spawn_blocking(step).await.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// Starts a server, and starts it again on other ports when another program took one of its ports between our
/// check and the server's bind. That window is a few milliseconds, but a suite starts hundreds of servers.
async fn start_with_retry<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    const ATTEMPTS: usize = 3;
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if error.is_port_clash() && tries < ATTEMPTS => tries += 1,
            result => return result,
        }
    }
}

/// A random alphanumeric string, for generated credentials.
fn random_string(len: usize) -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(log_tail: &str) -> Error {
        Error::Exited { server: "test server", status: "exit status: 1".to_owned(), log_tail: log_tail.to_owned() }
    }

    #[tokio::test]
    async fn start_is_retried_on_a_port_clash_only() {
        let mut calls = 0;
        let started = start_with_retry(|| {
            calls += 1;
            let clash = calls < 3;
            async move {
                if clash { Err(exited("listen tcp 127.0.0.1:10001: bind: address already in use")) } else { Ok(calls) }
            }
        })
        .await;
        assert_eq!(started.expect("the third attempt starts"), 3);

        let mut calls = 0;
        let failed = start_with_retry(|| {
            calls += 1;
            async { Err::<(), _>(exited("error loading configuration")) }
        })
        .await;
        assert!(failed.is_err());
        assert_eq!(calls, 1, "a broken config must not be retried");
    }
}
