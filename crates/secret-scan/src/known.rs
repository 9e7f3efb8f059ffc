//! Known values: the current values of secrets in Vault, found verbatim anywhere in the scanned text, whatever
//! their shape (a password with spaces and punctuation matches no rule, but it is still a leak).
//!
//! The plaintext is not kept. Each value becomes, under keys drawn at random for this run, a 64-bit rolling hash
//! (to find candidates in one pass per distinct length) and an HMAC-SHA256 (to confirm a candidate); the value
//! itself is dropped, and zeroed, as soon as it is added. Scanning slides a window of each known length over the
//! text (Rabin-Karp), so the cost is one pass per distinct value length and nothing is allocated per window.

use std::collections::{BTreeMap, HashMap};

use vault_core::SecretString;
use vault_core::secret::keyed_fingerprint;

/// The rule id of findings made from known values.
pub const RULE_ID: &str = "vault-known-value";
/// Shorter values are not looked for: they would match ordinary text.
pub const MIN_LEN: usize = 8;

/// Fingerprints of known secret values.
pub struct KnownValues {
    hmac_key: [u8; 32],
    /// Multiplier of the rolling hash (odd, random per run).
    base: u64,
    by_length: BTreeMap<usize, Table>,
    sources: Vec<String>,
    skipped_short: usize,
}

/// The candidates of one length: rolling hash → (HMAC, source index).
struct Table {
    /// `base` to the power `length - 1`, to drop the byte leaving the window.
    top: u64,
    entries: HashMap<u64, Vec<(String, usize)>>,
}

/// Where a known value was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHit {
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// Which secret it is (`mount/path#key`).
    pub source: String,
}

impl std::fmt::Debug for KnownValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownValues").field("values", &self.len()).finish_non_exhaustive()
    }
}

impl Default for KnownValues {
    fn default() -> Self {
        Self::new()
    }
}

impl KnownValues {
    /// An empty set with fresh random keys.
    pub fn new() -> Self {
        Self {
            hmac_key: rand::random(),
            base: rand::random::<u64>() | 1,
            by_length: BTreeMap::new(),
            sources: Vec::new(),
            skipped_short: 0,
        }
    }

    /// Adds a value found at `source` (e.g. `secret/app/db#password`). Values shorter than [`MIN_LEN`] bytes
    /// are counted and left out.
    pub fn add(&mut self, source: &str, value: &SecretString) {
        let bytes = value.expose().as_bytes();
        if bytes.len() < MIN_LEN {
            self.skipped_short += 1;
            return;
        }
        let hash = rolling(self.base, bytes);
        let mac = keyed_fingerprint(&self.hmac_key, bytes);
        let top = self.base.wrapping_pow(bytes.len() as u32 - 1);
        let index = self.sources.len();
        self.sources.push(source.to_owned());
        self.by_length
            .entry(bytes.len())
            .or_insert_with(|| Table { top, entries: HashMap::new() })
            .entries
            .entry(hash)
            .or_default()
            .push((mac, index));
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Values left out for being shorter than [`MIN_LEN`].
    pub fn skipped_short(&self) -> usize {
        self.skipped_short
    }

    /// Every occurrence of a known value in `data`, in order of position.
    pub fn find(&self, data: &[u8]) -> Vec<KnownHit> {
        let mut hits = Vec::new();
        for (&length, table) in &self.by_length {
            if data.len() < length {
                break;
            }
            let mut hash = rolling(self.base, &data[..length]);
            let mut start = 0;
            loop {
                if let Some(candidates) = table.entries.get(&hash) {
                    let window = &data[start..start + length];
                    let mac = keyed_fingerprint(&self.hmac_key, window);
                    for (expected, source) in candidates {
                        if *expected == mac {
                            hits.push(KnownHit { start, end: start + length, source: self.sources[*source].clone() });
                        }
                    }
                }
                let next = start + length;
                if next >= data.len() {
                    break;
                }
                hash = hash
                    .wrapping_sub(u64::from(data[start]).wrapping_mul(table.top))
                    .wrapping_mul(self.base)
                    .wrapping_add(u64::from(data[next]));
                start += 1;
            }
        }
        hits.sort_by_key(|h| (h.start, h.end));
        hits
    }
}

/// Polynomial hash of `bytes` in base `base`, modulo 2^64.
fn rolling(base: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |h, &b| h.wrapping_mul(base).wrapping_add(u64::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_of_any_shape_and_only_them() {
        let mut known = KnownValues::new();
        known.add("secret/app/db#password", &SecretString::from("c0rrect horse: battery!"));
        known.add("secret/app/api#key", &SecretString::from("k3y-0123456789"));
        known.add("secret/app/x#short", &SecretString::from("abc"));
        assert_eq!((known.len(), known.skipped_short()), (2, 1));
        let text = b"conn = 'pg://etl:c0rrect horse: battery!@db' # k3y-0123456789\nc0rrect horse: battery";
        let hits = known.find(text);
        let found: Vec<(&str, &[u8])> = hits.iter().map(|h| (h.source.as_str(), &text[h.start..h.end])).collect();
        assert_eq!(
            found,
            [
                ("secret/app/db#password", &b"c0rrect horse: battery!"[..]),
                ("secret/app/api#key", &b"k3y-0123456789"[..]),
            ]
        );
        assert!(known.find(b"").is_empty());
        assert!(known.find(b"k3y-012345678").is_empty(), "one byte short is not a hit");
    }

    #[test]
    fn a_value_at_the_very_end_is_found() {
        let mut known = KnownValues::new();
        known.add("s#k", &SecretString::from("tail-value-99"));
        assert_eq!(known.find(b"xx tail-value-99").len(), 1);
        assert_eq!(known.find(b"tail-value-99").len(), 1);
    }

    #[test]
    fn overlapping_values_are_each_reported() {
        let mut known = KnownValues::new();
        known.add("a#k", &SecretString::from("abcdefgh-1234"));
        known.add("b#k", &SecretString::from("gh-1234-zzzz"));
        let scanner = crate::Scanner::builtin().with_known(known);
        let findings = scanner.scan_bytes("f.txt", b"x abcdefgh-1234-zzzz y\n");
        let sources: Vec<_> = findings.iter().map(|f| f.vault_path.as_deref().unwrap()).collect();
        assert_eq!(sources, ["a#k", "b#k"]);
    }

    #[test]
    fn debug_shows_no_value() {
        let mut known = KnownValues::new();
        known.add("s#k", &SecretString::from("never-printed-value"));
        assert!(!format!("{known:?}").contains("never-printed"));
    }
}
