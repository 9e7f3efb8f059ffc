//! Precision: the checks that turn a pattern match into a finding or drop it.
//!
//! A match is dropped when its value is a published example, a placeholder, a reference to a value kept elsewhere,
//! too uniform (low entropy), or, for generic assignments, when the name does not name a secret or the value looks
//! like code, a word, an identifier, a path, a UUID or a template rather than a literal secret.

use std::collections::HashSet;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::rules::{Filters, RuleError};

/// The filter lists, compiled.
#[derive(Debug)]
pub(crate) struct CompiledFilters {
    skip_paths: GlobSet,
    known_examples: HashSet<Vec<u8>>,
    placeholder_substrings: AhoCorasick,
    placeholder_values: HashSet<Vec<u8>>,
    reference_prefixes: Vec<Vec<u8>>,
    reference_substrings: AhoCorasick,
    encrypted_markers: AhoCorasick,
    ignore_name_suffixes: HashSet<String>,
}

impl CompiledFilters {
    pub(crate) fn new(filters: &Filters) -> Result<Self, RuleError> {
        let invalid = |message: String| RuleError::Invalid { id: "filters".into(), message };
        let substrings = |words: &[String], case_insensitive: bool| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(case_insensitive)
                .match_kind(MatchKind::LeftmostFirst)
                .build(words)
                .map_err(|e| invalid(e.to_string()))
        };
        Ok(Self {
            skip_paths: glob_set(&filters.skip_paths).map_err(invalid)?,
            known_examples: filters.known_examples.iter().map(|s| s.as_bytes().to_vec()).collect(),
            placeholder_substrings: substrings(&filters.placeholder_substrings, true)?,
            placeholder_values: filters
                .placeholder_values
                .iter()
                .map(|s| s.to_ascii_lowercase().into_bytes())
                .collect(),
            reference_prefixes: filters.reference_prefixes.iter().map(|s| s.as_bytes().to_vec()).collect(),
            reference_substrings: substrings(&filters.reference_substrings, false)?,
            encrypted_markers: substrings(&filters.encrypted_markers, false)?,
            ignore_name_suffixes: filters.ignore_name_suffixes.iter().map(|s| s.to_ascii_lowercase()).collect(),
        })
    }

    /// Whether a file is never scanned (lock files).
    pub(crate) fn skip_path(&self, path: &str) -> bool {
        self.skip_paths.is_match(path)
    }

    /// Whether a file holds ciphertext, so generic rules do not apply to it.
    pub(crate) fn encrypted_document(&self, data: &[u8]) -> bool {
        data.starts_with(b"$ANSIBLE_VAULT;") || self.encrypted_markers.is_match(data)
    }

    /// Whether a value is a published example.
    pub(crate) fn known_example(&self, value: &[u8]) -> bool {
        self.known_examples.contains(value)
    }

    /// Whether a value is a placeholder: a listed word, a marked fake, `<…>`, or too few distinct bytes.
    pub(crate) fn placeholder(&self, value: &[u8]) -> bool {
        if self.placeholder_values.contains(&value.to_ascii_lowercase()) || self.placeholder_substrings.is_match(value)
        {
            return true;
        }
        if value.len() >= 2 && value[0] == b'<' && value[value.len() - 1] == b'>' {
            return true;
        }
        // `yourStrongPassword`, `yourTopSecret`: "your" starting a camelCase phrase tells the reader what to put.
        if value.len() > 5 && value[..4].eq_ignore_ascii_case(b"your") && value[4].is_ascii_uppercase() {
            return true;
        }
        // `admin:secret`: a user and a password that are both stand-ins.
        if let Some(colon) = memchr::memchr(b':', value)
            && colon > 0
            && colon + 1 < value.len()
            && memchr::memchr(b':', &value[colon + 1..]).is_none()
        {
            let known = |part: &[u8]| self.placeholder_values.contains(&part.to_ascii_lowercase());
            if known(&value[..colon]) && known(&value[colon + 1..]) {
                return true;
            }
        }
        repetitive(value)
    }

    /// Whether a value is base64 of a placeholder (`ZXhhbXBsZS1hcHAtc2VjcmV0` is `example-app-secret`): Kubernetes
    /// Secret manifests and Helm values carry their examples encoded.
    pub(crate) fn encoded_placeholder(&self, value: &[u8]) -> bool {
        use base64::Engine;
        if value.len() < 8 || !value.len().is_multiple_of(4) {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value) else { return false };
        // `echo test-api-key | base64` encodes the newline too.
        let decoded = decoded.trim_ascii_end();
        if !decoded.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return false;
        }
        // Decoded text is readable, so a `test` word in it is a fixture's label (`test-api-key`), not chance.
        let test_word = name_segments(decoded).iter().any(|w| w == "test");
        test_word || self.placeholder(decoded) || self.known_example(decoded)
    }

    /// Whether a value refers to a secret kept elsewhere (environment, Vault, a template, ciphertext).
    pub(crate) fn reference(&self, value: &[u8]) -> bool {
        // `{passwd}`, `{0}`: a format string's field, filled in at run time.
        let field = value.len() > 2
            && value[0] == b'{'
            && value[value.len() - 1] == b'}'
            && value[1..value.len() - 1].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        field
            || self.reference_prefixes.iter().any(|p| value.starts_with(p))
            || self.reference_substrings.is_match(value)
    }

    /// Whether an assignment's name names a secret: one of its words (or two adjacent words joined) is in `words`,
    /// and its last word is not one that says the value is something else (`_path`, `_ttl`, `_id`…).
    pub(crate) fn secret_name(&self, name: &[u8], words: &[String]) -> bool {
        let segments = name_segments(name);
        let Some(last) = segments.last() else { return false };
        if self.ignore_name_suffixes.contains(last) {
            return false;
        }
        let hit = |w: &str| words.iter().any(|x| x == w);
        // A long name word may end a word that is not split (`PGPASSWORD`, `rootpassword`, `clientsecret`); short
        // ones may not (`bypass`, `compass`).
        let ends_with_long =
            |s: &str| words.iter().any(|x| x.len() >= 6 && s.len() > x.len() && s.ends_with(x.as_str()));
        segments.iter().any(|s| hit(s) || ends_with_long(s))
            || segments.windows(2).any(|pair| hit(&format!("{}{}", pair[0], pair[1])))
    }
}

/// Compiles globs matched against `/`-separated relative paths.
pub(crate) fn glob_set(globs: &[String]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|e| format!("bad glob {glob:?}: {e}"))?);
    }
    builder.build().map_err(|e| e.to_string())
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(value: &[u8]) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in value {
        counts[b as usize] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// A value made of a few characters repeated (`xxxx`, `0000`, `abab`, `***`): a stand-in. Short values are
/// judged by repetition, not by their alphabet: `etl` has three distinct letters and is a real user name.
fn repetitive(value: &[u8]) -> bool {
    let distinct = distinct_bytes(value);
    distinct <= 3 && distinct * 2 <= value.len()
}

/// Whether a value reads as prose: at least three words separated by spaces, nearly all of them letters (a
/// trailing `.`, `,`, `!`, `?` or `:` allowed). Descriptions, titles and messages look like this; tokens and keys
/// never hold spaces. A passphrase does, which is why only password-like names override this.
pub(crate) fn sentence_like(value: &[u8]) -> bool {
    let words: Vec<&[u8]> = value.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty()).collect();
    if words.len() < 3 {
        return false;
    }
    let wordy = |w: &&&[u8]| {
        let w: &[u8] = w;
        let w = w.strip_suffix(b".").or_else(|| w.strip_suffix(b",")).unwrap_or(w);
        let w = w.strip_suffix(b"!").or_else(|| w.strip_suffix(b"?")).or_else(|| w.strip_suffix(b":")).unwrap_or(w);
        !w.is_empty() && w.iter().all(|b| b.is_ascii_alphabetic() || *b == b'\'' || *b == b'-')
    };
    words.iter().filter(wordy).count() * 5 >= words.len() * 4
}

fn distinct_bytes(value: &[u8]) -> usize {
    let mut seen = [false; 256];
    value.iter().filter(|&&b| !std::mem::replace(&mut seen[b as usize], true)).count()
}

/// The lowercase words of a name: split at non-alphanumerics and at camelCase boundaries.
pub(crate) fn name_segments(name: &[u8]) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut prev: Option<u8> = None;
    for (i, &b) in name.iter().enumerate() {
        if !b.is_ascii_alphanumeric() {
            if !current.is_empty() {
                segments.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        let next_lower = name.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        let boundary = match prev {
            Some(p) => {
                (p.is_ascii_lowercase() && b.is_ascii_uppercase())
                    || (p.is_ascii_uppercase() && b.is_ascii_uppercase() && next_lower)
            }
            None => false,
        };
        if boundary && !current.is_empty() {
            segments.push(std::mem::take(&mut current));
        }
        current.push(b.to_ascii_lowercase() as char);
        prev = Some(b);
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// Whether a value assigned to a secret-sounding name is not a literal secret: digits only, a single word,
/// an identifier in any case style, a dotted reference, a call, a path, a URL, an e-mail address, a UUID or a
/// format template.
pub(crate) fn not_a_literal(value: &[u8]) -> bool {
    let all = |f: fn(&u8) -> bool| value.iter().all(f);
    if all(u8::is_ascii_digit) || is_uuid(value) {
        return true;
    }
    if all(u8::is_ascii_alphabetic) && word_like(value) {
        return true;
    }
    // snake_case, kebab-case and CONSTANT_CASE identifiers made of letters only.
    let words: Vec<&[u8]> = value.split(|&b| b == b'_' || b == b'-').collect();
    if words.len() > 1 && words.iter().all(|w| !w.is_empty() && w.iter().all(u8::is_ascii_alphabetic)) {
        let lower = all(|b| !b.is_ascii_uppercase());
        let upper = all(|b| !b.is_ascii_lowercase());
        if lower || upper {
            return true;
        }
    }
    if dotted_identifier(value) || call_expression(value) {
        return true;
    }
    if value.starts_with(b"/") || value.starts_with(b"./") || value.starts_with(b"../") || value.starts_with(b"~/") {
        return true;
    }
    if value.len() > 2 && value[0].is_ascii_alphabetic() && value[1] == b':' && value[2] == b'\\' {
        return true;
    }
    if memchr::memmem::find(value, b"://").is_some() {
        return true;
    }
    if email_like(value) {
        return true;
    }
    let has = |needle: &[u8]| memchr::memmem::find(value, needle).is_some();
    (has(b"{") && has(b"}")) || has(b"%s") || has(b"%d") || has(b"%v")
}

/// A natural word or a camelCase / PascalCase identifier: letters only, upper case only at word starts.
fn word_like(value: &[u8]) -> bool {
    if value.iter().all(u8::is_ascii_uppercase) {
        return true;
    }
    // Each uppercase letter must be followed by a lowercase one (a word start), and there are no two in a row.
    value
        .iter()
        .enumerate()
        .all(|(i, b)| !b.is_ascii_uppercase() || value.get(i + 1).is_some_and(u8::is_ascii_lowercase))
}

fn dotted_identifier(value: &[u8]) -> bool {
    let parts: Vec<&[u8]> = value.split(|&b| b == b'.').collect();
    parts.len() > 1
        && parts.iter().all(|p| {
            !p.is_empty()
                && (p[0].is_ascii_alphabetic() || p[0] == b'_' || p[0] == b'$')
                && p.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        })
        && parts.iter().any(|p| p.iter().any(u8::is_ascii_lowercase))
}

fn call_expression(value: &[u8]) -> bool {
    let Some(open) = value.iter().position(|&b| b == b'(') else { return false };
    open > 0
        && value.ends_with(b")")
        && value[..open].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b':')
}

fn email_like(value: &[u8]) -> bool {
    let mut parts = value.splitn(2, |&b| b == b'@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else { return false };
    !local.is_empty()
        && domain.contains(&b'.')
        && domain.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `8-4-4-4-12` hexadecimal.
pub(crate) fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn filters() -> CompiledFilters {
        CompiledFilters::new(&RuleSet::builtin().filters).unwrap()
    }

    #[test]
    fn entropy_orders_values() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(shannon_entropy(b"x6uX9MGE2sNVbYAbBH") > 3.5);
    }

    #[test]
    fn names_split_into_words() {
        assert_eq!(name_segments(b"DB_PASSWORD"), ["db", "password"]);
        assert_eq!(name_segments(b"apiKey"), ["api", "key"]);
        assert_eq!(name_segments(b"HTTPServerToken"), ["http", "server", "token"]);
        assert_eq!(name_segments(b"spring.datasource.password"), ["spring", "datasource", "password"]);
    }

    #[test]
    fn secret_names() {
        let f = filters();
        let words = ["token".to_owned(), "apikey".to_owned(), "secret".to_owned()];
        assert!(f.secret_name(b"GITHUB_TOKEN", &words));
        assert!(f.secret_name(b"openaiApiKey", &words));
        assert!(!f.secret_name(b"token_ttl", &words));
        assert!(!f.secret_name(b"secret_file", &words));
        assert!(!f.secret_name(b"tokenizer", &words));
        let words = ["password".to_owned(), "pass".to_owned()];
        assert!(f.secret_name(b"PGPASSWORD", &words));
        assert!(f.secret_name(b"rootPassword", &words));
        assert!(!f.secret_name(b"bypass", &words));
        assert!(!f.secret_name(b"compass_heading", &words));
    }

    #[test]
    fn placeholders_and_references() {
        let f = filters();
        for p in [
            "changeme",
            "<your-key>",
            "xxxxxxxxxxxx",
            "yourStrong(!)Password",
            "admin:secret",
            "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "Password",
            "********",
        ] {
            assert!(f.placeholder(p.as_bytes()), "{p}");
        }
        assert!(!f.placeholder(b"x6uX9MGE2sNVbYAbBH"));
        assert!(f.encoded_placeholder(b"ZXhhbXBsZS1hcHAtc2VjcmV0"));
        assert!(f.encoded_placeholder(b"dGVzdC1hcGkta2V5Cg=="));
        assert!(!f.encoded_placeholder(b"c2VjcmV0LXZhbHVlLTQ4Mjk="));
        // Short real values are not stand-ins because their alphabet is small.
        for real in ["etl", "ops", "abc", "dev", "ab12"] {
            assert!(!f.placeholder(real.as_bytes()), "{real}");
        }
        for fake in ["xxx", "000", "abab", "...", "zzzzzz"] {
            assert!(f.placeholder(fake.as_bytes()), "{fake}");
        }
        assert!(!f.placeholder(b"admin:x6uX9MGE2sNVbYAbBH"));
        assert!(!f.placeholder(b"yours"));
        for r in
            ["{passwd}", "${DB_PASSWORD}", "vault:secret/data/app#pw", "{{ .Values.pw }}", "ENC[AES256_GCM,data:abc]"]
        {
            assert!(f.reference(r.as_bytes()), "{r}");
        }
    }

    #[test]
    fn sentences_are_prose() {
        for prose in ["Nightly weather report for ops", "Alerts for the ETL team!", "Please sign in, then continue."] {
            assert!(sentence_like(prose.as_bytes()), "{prose}");
        }
        for not_prose in ["x6uX9MGE2sNVbYAbBH", "two words", "k3y 9fQ!x pL0 zz8", "a=1 b=2 c=3"] {
            assert!(!sentence_like(not_prose.as_bytes()), "{not_prose}");
        }
    }

    #[test]
    fn literals_versus_code() {
        for v in [
            "12345678",
            "Password",
            "camelCaseName",
            "app-auth",
            "DB_PASSWORD",
            "form.password.value",
            "get_secret(x)",
            "/etc/secret.key",
            "https://x.io/a",
            "bob@acme.io",
            "{0}",
        ] {
            assert!(not_a_literal(v.as_bytes()), "{v}");
        }
        for v in ["x6uX9MGE2sNVbYAbBH", "Tr0ub4dor&3", "ba2b0aee0ca923732881584d8c4fa281"] {
            assert!(!not_a_literal(v.as_bytes()), "{v}");
        }
        assert!(is_uuid(b"123e4567-e89b-42d3-a456-426614174000"));
    }
}
