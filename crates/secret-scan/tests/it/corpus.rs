//! The labeled corpus: precision and recall on the tuned set (asserted) and on the held-out set (reported, and
//! held to a lower floor so that a regression still fails).
//!
//! Cases are templates expanded by a seeded generator (see `tests/corpus/tuned.toml`), so no realistic token is
//! stored in the repository and every run sees the same bytes.

use std::path::Path;

use secret_scan::Scanner;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    label: Label,
    file: String,
    content: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Label {
    Positive,
    Negative,
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
        other => panic!("unknown character class {other:?}"),
    }
}

/// Expands `%{CLASS:N}` placeholders.
fn expand(id: &str, template: &str) -> String {
    let mut rng = Rng::seeded(id);
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("unterminated %{") + start;
        let (class, count) = rest[start + 2..end].split_once(':').expect("%{CLASS:N}");
        let count: usize = count.parse().expect("a count");
        let letters = alphabet(class);
        out.extend((0..count).map(|_| rng.pick(letters)));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

struct Score {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
    mistakes: Vec<String>,
}

impl Score {
    fn precision(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_positives).max(1) as f64
    }

    fn recall(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_negatives).max(1) as f64
    }
}

fn score(name: &str) -> (usize, Score) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name);
    let corpus: Corpus = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let scanner = Scanner::builtin();
    let mut score = Score { true_positives: 0, false_positives: 0, false_negatives: 0, mistakes: Vec::new() };
    for case in &corpus.case {
        let text = expand(&case.id, &case.content);
        let findings = scanner.scan_bytes(&case.file, text.as_bytes());
        let rules: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
        match (case.label, findings.is_empty()) {
            (Label::Positive, false) => score.true_positives += 1,
            (Label::Positive, true) => {
                score.false_negatives += 1;
                score.mistakes.push(format!("missed {}", case.id));
            }
            (Label::Negative, false) => {
                score.false_positives += 1;
                score.mistakes.push(format!("false positive {} ({rules:?})", case.id));
            }
            (Label::Negative, true) => {}
        }
    }
    (corpus.case.len(), score)
}

fn report(name: &str) -> Score {
    let (cases, score) = score(name);
    eprintln!(
        "{name}: {cases} cases, precision {:.3}, recall {:.3}; {}",
        score.precision(),
        score.recall(),
        if score.mistakes.is_empty() { "no mistakes".to_owned() } else { score.mistakes.join(", ") }
    );
    score
}

#[test]
fn tuned_corpus_precision_and_recall() {
    let score = report("tuned.toml");
    assert!(score.precision() >= 0.95 && score.recall() >= 0.95, "{:?}", score.mistakes);
}

#[test]
fn held_out_corpus_precision_and_recall() {
    let score = report("heldout.toml");
    assert!(score.precision() >= 0.9 && score.recall() >= 0.9, "{:?}", score.mistakes);
}

#[test]
fn corpus_is_large_and_balanced_enough() {
    let (tuned, t) = score("tuned.toml");
    let (held_out, h) = score("heldout.toml");
    assert!(tuned + held_out >= 150);
    assert!(t.true_positives + t.false_negatives >= 50 && h.true_positives + h.false_negatives >= 25);
}

#[test]
fn templates_expand_deterministically() {
    assert_eq!(expand("x", "a%{digit:4}b"), expand("x", "a%{digit:4}b"));
    assert_eq!(expand("x", "a%{hex:8}b").len(), 10);
    assert_ne!(expand("x", "%{alnum:16}"), expand("y", "%{alnum:16}"));
}
