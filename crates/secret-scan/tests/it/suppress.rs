//! Suppression: inline allow comments, baselines, and the ignore file.

use crate::util::{Tree, findings, jsonl, stderr, token, token2};

#[test]
fn inline_allow_comment() {
    let tree = Tree::new(&[("a.py", &format!("T = \"{}\"  # secret-scan:allow\n", token()))]);
    assert_eq!(tree.run(&[]).status.code(), Some(0));
}

#[test]
fn baseline_create_use_and_update() {
    let tree = Tree::new(&[("a.py", &format!("T = \"{}\"\n", token()))]);
    let out = tree.run(&["baseline", "create", "base.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(tree.join("base.json")).unwrap();
    assert!(!text.contains(&token()), "baselines store fingerprints, not values");
    let out = tree.run(&["-f", "jsonl", "--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(jsonl(&out).last().unwrap()["suppressed"], 1);

    // Moving the secret down keeps it suppressed; a new secret is reported.
    tree.write("a.py", format!("# moved\n\nT = \"{}\"\nU = \"{}\"\n", token(), token2()).as_bytes());
    let out = tree.run(&["-f", "jsonl", "--baseline", "base.json"]);
    assert_eq!(out.status.code(), Some(1));
    let found = findings(&out);
    assert_eq!((found.len(), found[0]["line"].as_u64()), (1, Some(4)));

    assert_eq!(tree.run(&["baseline", "create", "base.json"]).status.code(), Some(2), "create never overwrites");
    let out = tree.run(&["baseline", "update", "base.json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("2 findings (1 new, 0 gone)"), "{}", stderr(&out));
    assert_eq!(tree.run(&["--baseline", "base.json"]).status.code(), Some(0));
}

#[test]
fn ignore_file_paths_and_fingerprints() {
    let tree = Tree::new(&[
        ("config/creds.env", &format!("T={}\n", token())),
        ("src/a.py", &format!("T = \"{}\"\n", token2())),
    ]);
    let out = tree.run(&["-f", "jsonl"]);
    let found = findings(&out);
    assert_eq!(found.len(), 2);
    let fingerprint = found[1]["fingerprint"].as_str().unwrap().to_owned();
    tree.write(".secret-scan-ignore", format!("# copied from staging\nconfig/\n{fingerprint} # rotated\n").as_bytes());
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", findings(&out));
    assert_eq!(jsonl(&out).last().unwrap()["suppressed"], 1);
}

#[test]
fn test_fixtures_and_docs_are_low_confidence_with_a_reason() {
    let tree = Tree::new(&[
        ("tests/fixtures/creds.env", &format!("T={}\n", token())),
        ("README.md", &format!("export T={}\n", token2())),
    ]);
    // The default (`--min-confidence medium`) leaves them out, and says how many it left out.
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", findings(&out));
    assert_eq!(jsonl(&out).last().unwrap()["below_min_confidence"], 2);
    let out = tree.run(&[]);
    assert!(stderr(&out).contains("2 below --min-confidence (--min-confidence low shows them)"), "{}", stderr(&out));
    // `low` shows them, each with the reason its confidence was lowered.
    let out = tree.run(&["-f", "jsonl", "--min-confidence", "low"]);
    assert_eq!(out.status.code(), Some(1));
    let found = findings(&out);
    let reasons: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["confidence"].as_str().unwrap(), f["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("README.md", "low", "in documentation (Markdown or README)"),
            ("tests/fixtures/creds.env", "low", "in a test fixture (test path)"),
        ]
    );
}
