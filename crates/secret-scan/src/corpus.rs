//! The labeled corpus (`tests/corpus/*.toml`): cases of one file each, labeled positive (a secret is there) or
//! negative, whose contents are templates expanded by a seeded generator. The tests measure precision and recall on
//! it, and `cargo xtask bench scan` writes it out as files so other scanners can be measured on the same cases.
//!
//! Templates, not literal tokens: `%{CLASS:N}` becomes N characters of CLASS drawn from a generator seeded with the
//! case id, so no realistic-looking credential is stored in the repository (push protection and other scanners
//! would flag it) and every run sees the same bytes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One labeled case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id; also the generator's seed.
    pub id: String,
    /// Whether a scanner should report something.
    pub label: Label,
    /// The file's path (its name and extension matter to scanners).
    pub file: String,
    /// The template.
    pub content: String,
}

/// A case's label.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// At least one finding expected.
    Positive,
    /// No finding expected.
    Negative,
}

#[derive(Debug, Deserialize)]
struct File {
    case: Vec<Case>,
}

/// Reads a corpus file.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str::<File>(&text).map(|f| f.case).map_err(|e| format!("{}: {e}", path.display()))
}

impl Case {
    /// The file's bytes: the template expanded.
    pub fn text(&self) -> String {
        expand(&self.id, &self.content)
    }
}

/// Writes each case as `dir/<id>/<file>`; returns the case folders.
pub fn materialize(cases: &[Case], dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut folders = Vec::with_capacity(cases.len());
    for case in cases {
        let folder = dir.join(&case.id);
        let path = folder.join(&case.file);
        std::fs::create_dir_all(path.parent().unwrap_or(&folder))?;
        std::fs::write(&path, case.text())?;
        folders.push(folder);
    }
    Ok(folders)
}

/// SplitMix64: small, seedable, good enough to make random-looking token bodies.
struct Rng(u64);

impl Rng {
    fn seeded(text: &str) -> Self {
        // FNV-1a of the case id.
        let seed = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick(&mut self, alphabet: &[u8]) -> char {
        alphabet[(self.next() % alphabet.len() as u64) as usize] as char
    }
}

fn alphabet(class: &str) -> &'static [u8] {
    match class {
        "alnum" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "hex" => b"0123456789abcdef",
        "HEX" => b"0123456789ABCDEF",
        "lower" => b"abcdefghijklmnopqrstuvwxyz",
        "upper" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "digit" => b"0123456789",
        "b64" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        "b64url" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        "lowernum" => b"abcdefghijklmnopqrstuvwxyz0123456789",
        "uppernum" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        other => panic!("unknown character class {other:?} in a corpus template"),
    }
}

/// Expands `%{CLASS:N}` placeholders with a generator seeded by `id`.
pub fn expand(id: &str, template: &str) -> String {
    let mut rng = Rng::seeded(id);
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("unterminated %{ in a corpus template") + start;
        let (class, count) = rest[start + 2..end].split_once(':').expect("%{CLASS:N}");
        let count: usize = count.parse().expect("a count");
        let letters = alphabet(class);
        out.extend((0..count).map(|_| rng.pick(letters)));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Precision and recall counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Positives reported.
    pub true_positives: usize,
    /// Negatives reported.
    pub false_positives: usize,
    /// Positives missed.
    pub false_negatives: usize,
}

impl Score {
    /// Adds one case's outcome.
    pub fn add(&mut self, label: Label, reported: bool) {
        match (label, reported) {
            (Label::Positive, true) => self.true_positives += 1,
            (Label::Positive, false) => self.false_negatives += 1,
            (Label::Negative, true) => self.false_positives += 1,
            (Label::Negative, false) => {}
        }
    }

    /// TP / (TP + FP).
    pub fn precision(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_positives).max(1) as f64
    }

    /// TP / (TP + FN).
    pub fn recall(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_negatives).max(1) as f64
    }

    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_deterministically() {
        assert_eq!(expand("x", "a%{digit:4}b"), expand("x", "a%{digit:4}b"));
        assert_eq!(expand("x", "a%{hex:8}b").len(), 10);
        assert_ne!(expand("x", "%{alnum:16}"), expand("y", "%{alnum:16}"));
    }

    #[test]
    fn scores() {
        let mut s = Score::default();
        s.add(Label::Positive, true);
        s.add(Label::Positive, false);
        s.add(Label::Negative, true);
        s.add(Label::Negative, false);
        assert_eq!((s.precision(), s.recall(), s.f1()), (0.5, 0.5, 0.5));
    }
}
