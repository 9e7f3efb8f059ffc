//! Secret values as a type: they never print, and their memory is zeroed when dropped.
//!
//! Every value read from Vault or from a user's `.env` file travels as a [`SecretString`]. Its `Debug` and
//! `Display` print `[redacted]`, so a stray `{:?}` in a log line, a panic message or an error chain cannot leak it.
//! The only way to see the value is [`SecretString::expose`], which makes each use easy to find in review.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::{Zeroize, Zeroizing};

/// What every secret prints as.
pub const REDACTED: &str = "[redacted]";

/// A string that is never printed and is zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a value. The caller's `String` moves in, so no copy is left behind.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The plaintext. Call it only where the value must leave the process (a request body, a child's
    /// environment, a file the user asked for).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes, which is safe to report.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A short, stable fingerprint (first 12 hex digits of SHA-256) that identifies a value without revealing it.
    ///
    /// Use [`keyed_fingerprint`] when the fingerprint is stored somewhere an attacker could brute-force low-entropy
    /// values from it.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.expose().as_bytes())
    }

    /// A prefix that helps a person recognise which credential this is (`ghp_…`), never more than four characters
    /// and never more than a quarter of the value.
    pub fn masked(&self) -> String {
        let shown = (self.0.chars().count() / 4).min(4);
        let prefix: String = self.0.chars().take(shown).collect();
        format!("{prefix}…")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Turns a JSON value from a secret's data into a [`SecretString`]: strings as they are, anything else (numbers,
/// booleans, nested objects) as compact JSON text. The `Value` is consumed and its strings zeroed.
pub fn secret_from_json(value: serde_json::Value) -> SecretString {
    match value {
        serde_json::Value::String(s) => SecretString::new(s),
        mut other => {
            let text = other.to_string();
            zeroize_json(&mut other);
            SecretString::new(text)
        }
    }
}

/// Secrets as a JSON object with their values revealed, `{"NAME": "value", …}`: for output the user asked to
/// hold the values (`vault-env get --format json`, `export --format json`, a rotation command's stdin). The caller
/// zeroes the result with [`zeroize_json`] once it is written.
pub fn revealed_json<'a, K, I>(pairs: I) -> serde_json::Map<String, serde_json::Value>
where
    K: Into<String>,
    I: IntoIterator<Item = (K, &'a SecretString)>,
{
    pairs.into_iter().map(|(k, v)| (k.into(), serde_json::Value::String(v.expose().to_owned()))).collect()
}

/// Zeroes every string inside a JSON value (keys stay: they are names, not secrets).
pub fn zeroize_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(zeroize_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

/// First 12 hex digits of the SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    hex::encode(&digest[..6])
}

/// HMAC-SHA256 of `bytes` under `key`, hex encoded: a fingerprint that cannot be brute-forced without the key.
pub fn keyed_fingerprint(key: &[u8], bytes: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revealed_json_holds_the_values() {
        let a = SecretString::from("v1");
        let b = SecretString::from("it's \"quoted\"");
        let mut map = serde_json::Value::Object(revealed_json([("A", &a), ("B", &b)]));
        assert_eq!(map, serde_json::json!({"A": "v1", "B": "it's \"quoted\""}));
        zeroize_json(&mut map);
        assert_eq!(map["A"], "");
    }

    #[test]
    fn never_prints() {
        let s = SecretString::from("hunter2-very-secret");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn masked_shows_little() {
        assert_eq!(SecretString::from("ghp_abcdefghijklmnop").masked(), "ghp_…");
        assert_eq!(SecretString::from("abc").masked(), "…");
        assert_eq!(SecretString::from("abcdefgh").masked(), "ab…");
    }

    #[test]
    fn json_values_become_text() {
        assert_eq!(secret_from_json(serde_json::json!("x")).expose(), "x");
        assert_eq!(secret_from_json(serde_json::json!(42)).expose(), "42");
        assert_eq!(secret_from_json(serde_json::json!({"a": [1, "b"]})).expose(), r#"{"a":[1,"b"]}"#);
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            keyed_fingerprint(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
