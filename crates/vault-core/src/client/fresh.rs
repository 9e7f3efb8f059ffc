//! Reading one's own writes through a standby. A raft standby answers reads (and the read half of a patch)
//! from its own copy, which trails the active node by a moment: right after this client wrote a secret, a
//! standby may still say "no secret", show the version before, or refuse a patch's check-and-set. For a short
//! while after each of its own KV writes, the client asks again when an answer is older than what it wrote.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use super::*;
use crate::error::Result;

/// How long after its own write the client waits for a standby to catch up before believing an older answer.
pub(crate) const FRESHNESS_WAIT: Duration = Duration::from_secs(5);

/// The pause between asks while waiting for a standby to catch up.
const FRESHNESS_STEP: Duration = Duration::from_millis(50);

/// The most writes remembered; older ones are forgotten first once their wait is over.
const REMEMBERED: usize = 4096;

/// The KV versions this client wrote in the last [`FRESHNESS_WAIT`], by mount and path.
#[derive(Default)]
pub(crate) struct Writes(HashMap<(String, String), (u64, Instant)>);

impl Client {
    /// Records that this client wrote `version` of a secret.
    pub(crate) fn note_write(&self, mount: &str, path: &str, version: u64) {
        let mut writes = self.inner.writes.lock().expect("writes lock poisoned");
        if writes.0.len() >= REMEMBERED {
            writes.0.retain(|_, (_, at)| at.elapsed() < FRESHNESS_WAIT);
        }
        let entry = writes.0.entry((mount.to_owned(), path.to_owned())).or_insert((0, Instant::now()));
        *entry = (entry.0.max(version), Instant::now());
    }

    /// The version this client wrote of a secret within the last [`FRESHNESS_WAIT`], and when.
    fn written(&self, mount: &str, path: &str) -> Option<(u64, Instant)> {
        let writes = self.inner.writes.lock().expect("writes lock poisoned");
        writes.0.get(&(mount.to_owned(), path.to_owned())).copied().filter(|(_, at)| at.elapsed() < FRESHNESS_WAIT)
    }

    /// Runs `call`, and again while `stale` says its answer is older than the version this client wrote of the
    /// secret, until [`FRESHNESS_WAIT`] after that write; then the last answer stands.
    pub(crate) async fn fresh<T, F, Fut>(
        &self,
        mount: &str,
        path: &str,
        call: F,
        stale: impl Fn(&Result<T>, u64) -> bool,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        loop {
            let answer = call().await;
            match self.written(mount, path) {
                Some((version, _)) if stale(&answer, version) => {
                    tracing::debug!("an answer older than this client's write of {mount}/{path}; asking again");
                    tokio::time::sleep(FRESHNESS_STEP).await;
                }
                _ => return answer,
            }
        }
    }
}
