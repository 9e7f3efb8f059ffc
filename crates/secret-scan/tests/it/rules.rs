//! `rules list`, `rules check`, and user rule files.

use crate::util::{Tree, findings, jsonl, stdout};

#[test]
fn builtin_rules_check_and_list() {
    let tree = Tree::new(&[]);
    let out = tree.run(&["rules", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = tree.run(&["rules", "list", "-f", "jsonl"]);
    let records = jsonl(&out);
    let ids: Vec<&str> = records.iter().filter(|r| r["type"] == "rule").map(|r| r["id"].as_str().unwrap()).collect();
    for id in ["aws-access-key-id", "github-token", "private-key", "vault-token", "database-url", "generic-password"] {
        assert!(ids.contains(&id), "{id}");
    }
}

#[test]
fn a_failing_example_fails_the_check() {
    let tree = Tree::new(&[(
        "mine.toml",
        "[[rule]]\nid = \"acme-key\"\nkeywords = [\"acme_\"]\npattern = 'acme_[a-z0-9]{12}'\nexamples = [\"acme_%%short\"]\nnegative_examples = [\"acme_%%abcdefgh1234\"]\n",
    )]);
    let out = tree.run(&["rules", "check", "--rules", "mine.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("acme-key: example not matched: acme_short"), "{text}");
    assert!(text.contains("acme-key: negative example matched: acme_abcdefgh1234"), "{text}");
}

#[test]
fn user_rules_add_and_override() {
    let tree = Tree::new(&[
        (
            "rules.toml",
            "[[rule]]\nid = \"acme-key\"\nconfidence = \"high\"\nkeywords = [\"acme_\"]\npattern = '\\bacme_[a-z0-9]{12}\\b'\n",
        ),
        ("a.txt", "key acme_q8w7e6r5t4y3\n"),
    ]);
    assert_eq!(tree.run(&["a.txt"]).status.code(), Some(0));
    let out = tree.run(&["--rules", "rules.toml", "-f", "jsonl", "a.txt"]);
    assert_eq!(findings(&out)[0]["rule_id"], "acme-key");
    let broken = Tree::new(&[("r.toml", "[[rule]]\nid = \"x\"\npattern = '('\nkeywords = [\"xx\"]\n")]);
    let out = broken.run(&["--rules", "r.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_patterns_fail_at_load_even_when_no_file_hits_their_keyword() {
    // Rules compile on their first keyword hit, so validation must not wait for one: none of these keywords
    // occurs in the tree, and every pattern is still refused up front.
    // (Unicode classes are left out: whether they compile depends on the regex features a build unifies.)
    for pattern in ["(", "a{2,1}", "[z-a]", r"(?P<name>a)(?P<name>b)", r"\k", "(?P<>a)", "a)"] {
        let rule = format!("[[rule]]\nid = \"bad\"\nkeywords = [\"zzqq_\"]\npattern = '{pattern}'\n");
        let tree = Tree::new(&[("r.toml", &rule), ("a.txt", "nothing here\n")]);
        let out = tree.run(&["--rules", "r.toml", "a.txt"]);
        assert_eq!(out.status.code(), Some(2), "{pattern}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rule bad: bad pattern"), "{pattern}: {err}");
    }
}

#[test]
fn a_rule_too_big_to_compile_fails_the_check_and_never_panics_a_scan() {
    // It parses, so it loads; only compiling finds it over the size limit.
    let rule = "[[rule]]\nid = \"huge\"\nkeywords = [\"huge_\"]\npattern = 'huge_(?:(?:[a-z0-9]{1000}){1000}){100}'\n";
    let tree = Tree::new(&[("r.toml", rule), ("a.txt", "huge_abc\n")]);
    let out = tree.run(&["rules", "check", "--rules", "r.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rule huge: bad pattern"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let out = tree.run(&["--rules", "r.toml", "a.txt"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
