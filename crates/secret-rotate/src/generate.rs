//! New values for the `generate` strategy: random characters from a charset, or the server's password policy.

use rand::Rng;
use vault_core::{Client, SecretString};

use crate::policy::GenerateSource;

/// A fresh value from `source`.
pub async fn new_value(client: &Client, source: &GenerateSource) -> vault_core::Result<SecretString> {
    match source {
        GenerateSource::Charset { chars, length } => Ok(random(chars, *length)),
        GenerateSource::PasswordPolicy(name) => client.generate_password(name).await,
    }
}

/// `length` characters drawn uniformly from `chars` with the thread-local CSPRNG (ChaCha, seeded by the OS).
pub fn random(chars: &[char], length: usize) -> SecretString {
    let mut rng = rand::rng();
    let mut value = String::with_capacity(length * 4);
    for _ in 0..length {
        value.push(chars[rng.random_range(0..chars.len())]);
    }
    SecretString::new(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_use_the_charset() {
        let chars: Vec<char> = "abc0123456".chars().collect();
        let a = random(&chars, 64);
        let b = random(&chars, 64);
        assert_eq!(a.len(), 64);
        assert!(a.expose().chars().all(|c| chars.contains(&c)));
        assert_ne!(a, b);
    }
}
