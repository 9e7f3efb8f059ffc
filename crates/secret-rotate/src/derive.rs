//! Derived keys: values rendered from a template over the secret's other keys (`DATABASE_URL =
//! "postgresql://app:{DB_PASSWORD}@db:5432/app"`), re-rendered in the same check-and-set write as the rotated value
//! so a consumer never reads a URL that still holds the old password. Also the guard that refuses a rotation when
//! the old value sits in a key nobody declared: rotating would leave that copy stale.
//!
//! Template syntax: `{KEY}` is the value of KEY; `{KEY|raw}` and `{KEY|url}` force no encoding or percent-encoding;
//! `{{` and `}}` are literal braces. In a URL template (one that starts with `scheme://`), a plain `{KEY}` is
//! percent-encoded (everything but RFC 3986's unreserved `A-Z a-z 0-9 - . _ ~`) in the userinfo, path, query and
//! fragment, and left as it is in the host and port; elsewhere it is inserted as it is.

use std::collections::BTreeSet;

use vault_core::{SecretMap, SecretString};
use zeroize::Zeroizing;

/// How a placeholder's value is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As it is.
    Raw,
    /// Percent-encoded.
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Key { name: String, encoding: Encoding },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template; the error is a lowercase fragment naming the problem (templates hold no secrets).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url_scheme_len(text);
        let mut parts = Vec::new();
        let mut literal = String::new();
        // Where we are in a URL, judged from the literal text only (a value cannot move the boundaries).
        let mut zone = if url.is_some() { Zone::Authority } else { Zone::NotUrl };
        let mut authority_placeholders: Vec<usize> = Vec::new();
        let mut chars = text.char_indices().peekable();
        let scheme_end = url.unwrap_or(0);
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(format!("a lone `}}` at character {} (write `}}}}` for a literal one)", i + 1)),
                '{' => {
                    let mut inner = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        if c == '{' {
                            return Err(format!("a `{{` inside the placeholder at character {}", i + 1));
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(format!("the placeholder at character {} is not closed", i + 1));
                    }
                    let (name, filter) = match inner.split_once('|') {
                        Some((n, f)) => (n.trim(), Some(f.trim())),
                        None => (inner.trim(), None),
                    };
                    if name.is_empty() {
                        return Err(format!("an empty placeholder at character {}", i + 1));
                    }
                    let encoding = match filter {
                        Some("raw") => Encoding::Raw,
                        Some("url") => Encoding::Url,
                        Some(other) => {
                            return Err(format!("unknown filter {other:?} in {{{inner}}} (use raw or url)"));
                        }
                        // Decided below, once the URL's authority is known.
                        None if zone == Zone::NotUrl => Encoding::Raw,
                        None if zone == Zone::Authority => {
                            authority_placeholders.push(parts.len() + usize::from(!literal.is_empty()));
                            Encoding::Url
                        }
                        None => Encoding::Url,
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Key { name: name.to_owned(), encoding });
                }
                _ => {
                    literal.push(c);
                    if zone == Zone::Authority && i >= scheme_end && matches!(c, '/' | '?' | '#') {
                        zone = Zone::Rest;
                    }
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if !parts.iter().any(|p| matches!(p, Part::Key { .. })) {
            return Err("no placeholder: a derived key needs at least one {KEY}".into());
        }
        // In the authority, placeholders after the last literal `@` are the host and port: left as they are.
        if let Some(at) = last_authority_at(&parts, scheme_end) {
            for index in authority_placeholders {
                if index > at
                    && let Some(Part::Key { encoding, .. }) = parts.get_mut(index)
                {
                    *encoding = Encoding::Raw;
                }
            }
        } else {
            for index in authority_placeholders {
                if let Some(Part::Key { encoding, .. }) = parts.get_mut(index) {
                    *encoding = Encoding::Raw;
                }
            }
        }
        Ok(Template { text: text.to_owned(), parts })
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The keys it uses.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Key { name, .. } => Some(name.as_str()),
                Part::Literal(_) => None,
            })
            .collect()
    }

    /// Renders over `data`; the error names the missing key.
    pub fn render(&self, data: &SecretMap) -> Result<SecretString, String> {
        let mut out = Zeroizing::new(String::new());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Key { name, encoding } => {
                    let value = data.get(name).ok_or_else(|| format!("the secret has no key {name:?}"))?;
                    match encoding {
                        Encoding::Raw => out.push_str(value.expose()),
                        Encoding::Url => percent_encode_into(value.expose(), &mut out),
                    }
                }
            }
        }
        Ok(SecretString::new(std::mem::take(&mut *out)))
    }

    /// The encoding of each placeholder, in order (for tests and `check`).
    pub fn encodings(&self) -> Vec<(&str, Encoding)> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Key { name, encoding } => Some((name.as_str(), *encoding)),
                Part::Literal(_) => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    NotUrl,
    Authority,
    Rest,
}

/// The length of `scheme://` when `text` starts with one.
fn url_scheme_len(text: &str) -> Option<usize> {
    let colon = text.find("://")?;
    let scheme = &text[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(colon + 3)
}

/// The index of the part holding the authority's last `@` (literal text only), if any.
fn last_authority_at(parts: &[Part], scheme_end: usize) -> Option<usize> {
    let mut offset = 0;
    let mut found = None;
    for (index, part) in parts.iter().enumerate() {
        let Part::Literal(text) = part else { continue };
        for (i, c) in text.char_indices() {
            if offset + i < scheme_end {
                continue;
            }
            match c {
                '@' => found = Some(index),
                '/' | '?' | '#' => return found,
                _ => {}
            }
        }
        offset += text.len();
    }
    found
}

/// Appends `value` percent-encoded (everything but RFC 3986's unreserved characters).
pub fn percent_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Old values shorter than this are not searched for: they would match other keys by chance.
pub const MIN_GUARDED_LEN: usize = 4;

/// The keys of `old` (the secret before rotation) that hold a copy of the old value of a rotated key, verbatim or
/// percent-encoded, and are neither rotated nor declared derived. Rotating would leave those copies stale.
pub fn stale_copies(old: &SecretMap, rotated: &BTreeSet<String>, derived: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for key in rotated {
        let Some(value) = old.get(key) else { continue };
        let value = value.expose();
        if value.len() < MIN_GUARDED_LEN {
            continue;
        }
        let mut encoded = Zeroizing::new(String::new());
        percent_encode_into(value, &mut encoded);
        for (other, held) in old {
            if rotated.contains(other) || derived.contains(other) {
                continue;
            }
            let held = held.expose();
            if held.contains(value) || held.contains(encoded.as_str()) {
                found.push((other.clone(), key.clone()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> SecretMap {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned()))).collect()
    }

    #[test]
    fn userinfo_is_percent_encoded_host_is_not() {
        let t = Template::parse("postgresql://{USER}:{DB_PASSWORD}@{HOST}:5432/{DB}?sslmode=require&x={X}").unwrap();
        let data = map(&[
            ("USER", "app@corp"),
            ("DB_PASSWORD", "p@ss:w/o%rd?#[]! é"),
            ("HOST", "db.internal"),
            ("DB", "my db"),
            ("X", "a&b=c"),
        ]);
        assert_eq!(
            t.render(&data).unwrap().expose(),
            "postgresql://app%40corp:p%40ss%3Aw%2Fo%25rd%3F%23%5B%5D%21%20%C3%A9@db.internal:5432/my%20db?sslmode=require&x=a%26b%3Dc"
        );
        let encodings = t.encodings();
        assert_eq!(encodings[2], ("HOST", Encoding::Raw));
        assert_eq!(encodings[1], ("DB_PASSWORD", Encoding::Url));
    }

    #[test]
    fn every_byte_outside_unreserved_is_encoded_and_decodes_back() {
        let all: String = (1u8..=127).map(char::from).chain("é€😀".chars()).collect();
        let mut encoded = String::new();
        percent_encode_into(&all, &mut encoded);
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{encoded}");
        // Decode by hand: the round trip gives the value back.
        let bytes = encoded.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        assert_eq!(String::from_utf8(out).unwrap(), all);
    }

    #[test]
    fn plain_templates_filters_and_escapes() {
        let t = Template::parse("user={U} pass={P} {{literal}} {P|url}").unwrap();
        assert_eq!(
            t.render(&map(&[("U", "a b"), ("P", "x@y")])).unwrap().expose(),
            "user=a b pass=x@y {literal} x%40y"
        );
        let raw = Template::parse("https://{P|raw}@h/").unwrap();
        assert_eq!(raw.render(&map(&[("P", "a@b")])).unwrap().expose(), "https://a@b@h/");
        assert_eq!(t.keys().into_iter().collect::<Vec<_>>(), ["P", "U"]);
        assert!(t.render(&map(&[("U", "a")])).unwrap_err().contains("\"P\""));
        // No `@`: the whole authority is host and port.
        let host = Template::parse("redis://{H}:6379/0").unwrap();
        assert_eq!(host.encodings(), [("H", Encoding::Raw)]);
    }

    #[test]
    fn malformed_templates_are_rejected() {
        for (text, expected) in [
            ("postgresql://app:{DB_PASSWORD@db", "not closed"),
            ("x}", "lone `}`"),
            ("{}", "empty placeholder"),
            ("{A|base64}", "unknown filter"),
            ("no placeholder", "no placeholder"),
            ("{a{b}}", "inside the placeholder"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn stale_copies_finds_verbatim_and_encoded_copies() {
        let old = map(&[
            ("DB_PASSWORD", "s3cr:et/pw"),
            ("DATABASE_URL", "postgresql://app:s3cr%3Aet%2Fpw@db/app"),
            ("DSN", "host=db password=s3cr:et/pw"),
            ("DERIVED", "x s3cr:et/pw"),
            ("USER", "app"),
        ]);
        let rotated: BTreeSet<String> = ["DB_PASSWORD".to_owned()].into();
        let derived: BTreeSet<String> = ["DERIVED".to_owned()].into();
        let found = stale_copies(&old, &rotated, &derived);
        let keys: Vec<_> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["DATABASE_URL", "DSN"]);
        // A short old value is not searched for.
        let short = map(&[("P", "abc"), ("Q", "xabcx")]);
        assert!(stale_copies(&short, &["P".to_owned()].into(), &BTreeSet::new()).is_empty());
    }
}
