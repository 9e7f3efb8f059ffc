//! The command line is public API: its help texts are snapshots, so a change to a flag shows up in review.

use crate::util::bin;

fn help(args: &[&str]) -> String {
    let output = bin().args(args).env("COLUMNS", "120").output().unwrap();
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("rules_help", help(&["rules", "--help"]));
    insta::assert_snapshot!("baseline_create_help", help(&["baseline", "create", "--help"]));
}
