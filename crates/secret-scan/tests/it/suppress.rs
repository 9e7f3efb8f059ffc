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
        ("fixtures/creds.env", &format!("T={}\n", token())),
        ("src/a.py", &format!("T = \"{}\"\n", token2())),
    ]);
    let out = tree.run(&["-f", "jsonl"]);
    let found = findings(&out);
    assert_eq!(found.len(), 2);
    let fingerprint = found[1]["fingerprint"].as_str().unwrap().to_owned();
    tree.write(".secret-scan-ignore", format!("# test fixtures\nfixtures/\n{fingerprint} # rotated\n").as_bytes());
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", findings(&out));
    assert_eq!(jsonl(&out).last().unwrap()["suppressed"], 1);
}
