//! Waiting for a node to reach a seal state: active after an unseal (a node answers "standby" for a moment
//! while it takes over), or sealed after a snapshot restore replaced its keyring. One implementation for deploy,
//! restore and the restore drill.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::Client;
use crate::error::Result;
use crate::sys::{Health, NodeState};

/// How often the waits ask the server.
const POLL: Duration = Duration::from_millis(50);

impl Client {
    /// Polls `sys/health` until the node is active or `within` has passed, and returns the last state seen
    /// ([`NodeState::Active`] on success). A poll that fails (the listener not up yet) is retried until the
    /// time is up; the last failure is returned when no answer came at all by then.
    pub async fn wait_until_active(&self, within: Duration) -> Result<NodeState> {
        self.wait_for_health(within, |health| health.state == NodeState::Active).await.map(|health| health.state)
    }

    /// Polls `sys/seal-status` until the node reports itself sealed or `within` has passed; returns whether it
    /// did. Failed polls count as "not yet".
    pub async fn wait_until_sealed(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.seal_status().await.is_ok_and(|status| status.sealed) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_for_health(&self, within: Duration, done: impl Fn(&Health) -> bool) -> Result<Health> {
        let deadline = Instant::now() + within;
        loop {
            let answer = self.health().await;
            if let Ok(health) = &answer
                && done(health)
            {
                return answer;
            }
            if Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
