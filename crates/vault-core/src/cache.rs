//! A TTL cache for KV reads, so a pipeline reading the same secret a thousand times asks Vault once per TTL.
//!
//! Entries are keyed by mount, path and version and invalidated by the client's own writes, patches, deletes and
//! metadata changes to that path. Hit and miss counters let tools and benchmarks report what the cache did.
//! Cached values stay [`crate::SecretString`]s: zeroed when the last reference goes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::kv::KvSecret;

/// Cache of KV reads. Reached through [`crate::Client::cache`].
#[derive(Debug)]
pub struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, Arc<KvSecret>)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    mount: String,
    path: String,
    version: Option<u64>,
}

/// Hit and miss counts since the cache was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the server.
    pub misses: u64,
    /// Entries held now (expired ones included until they are next touched).
    pub entries: usize,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// How long an entry lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn get(&self, mount: &str, path: &str, version: Option<u64>) -> Option<Arc<KvSecret>> {
        let mut entries = self.entries.lock().expect("cache lock poisoned");
        // Looking up by borrowed parts would need a custom Borrow impl; the key is small and this is not the
        // server round trip we are saving, so build it.
        let key = Key { mount: mount.to_owned(), path: path.to_owned(), version };
        match entries.get(&key) {
            Some((stored, value)) if stored.elapsed() < self.ttl => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(value.clone())
            }
            Some(_) => {
                entries.remove(&key);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub(crate) fn put(&self, mount: &str, path: &str, version: Option<u64>, value: Arc<KvSecret>) {
        let key = Key { mount: mount.to_owned(), path: path.to_owned(), version };
        self.entries.lock().expect("cache lock poisoned").insert(key, (Instant::now(), value));
    }

    /// Drops every entry for a path (all versions): called on the client's own changes to it.
    pub(crate) fn invalidate(&self, mount: &str, path: &str) {
        self.entries.lock().expect("cache lock poisoned").retain(|k, _| !(k.mount == mount && k.path == path));
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.entries.lock().expect("cache lock poisoned").clear();
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.lock().expect("cache lock poisoned").len(),
        }
    }
}
