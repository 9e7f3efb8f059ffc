//! Sources and awkward files: stdin, binary, huge and non-UTF-8 files, git-ignore awareness.

use crate::util::{Tree, bin, findings, jsonl, stderr, token};

#[test]
fn stdin_is_a_source() {
    let out = bin().args(["-f", "jsonl", "-"]).write_stdin(format!("key {}\n", token())).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(findings(&out)[0]["path"], "-");
}

#[test]
fn binary_files_are_skipped_and_counted() {
    let tree = Tree::new(&[]);
    let mut blob = b"\x7fELF\x00\x00".to_vec();
    blob.extend_from_slice(token().as_bytes());
    tree.write("bin/tool", &blob);
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(jsonl(&out).last().unwrap()["files_skipped_binary"], 1);
}

#[test]
fn huge_files_are_skipped_with_a_note() {
    let tree = Tree::new(&[]);
    let mut big = "x".repeat(2048);
    big.push('\n');
    big.push_str(&token());
    tree.write("big.log", big.as_bytes());
    let out = tree.run(&["-f", "jsonl", "--max-file-size", "1K"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("note: skipped big.log: 2.0 KiB is over --max-file-size"), "{}", stderr(&out));
    assert_eq!(jsonl(&out).last().unwrap()["files_skipped_too_large"], 1);
    assert_eq!(tree.run(&["-f", "jsonl"]).status.code(), Some(1));
}

#[test]
fn invalid_utf8_is_scanned() {
    let tree = Tree::new(&[]);
    let mut text = b"caf\xe9 \xff\xfe\n".to_vec();
    text.extend_from_slice(format!("t = '{}'\n", token()).as_bytes());
    tree.write("latin1.py", &text);
    let out = tree.run(&["-f", "jsonl"]);
    let found = findings(&out);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["line"], 2);
}

#[test]
fn git_ignored_files_are_skipped_unless_no_ignore() {
    let tree = Tree::new(&[(".gitignore", ".env\n"), (".env", &format!("GH={}\n", token())), ("ok.txt", "fine\n")]);
    let out = tree.run(&["-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stdout(&out));
    let out = tree.run(&["-f", "jsonl", "--no-ignore"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(findings(&out)[0]["path"], ".env");
}

#[test]
fn dot_git_is_never_scanned() {
    let tree = Tree::new(&[(".git/config", &format!("url = {}\n", token()))]);
    assert_eq!(tree.run(&["--no-ignore"]).status.code(), Some(0));
}

#[test]
fn lock_files_are_not_scanned() {
    let tree = Tree::new(&[("Cargo.lock", &format!("checksum = \"{}\"\n", token()))]);
    assert_eq!(tree.run(&[]).status.code(), Some(0));
}
