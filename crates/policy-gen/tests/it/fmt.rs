//! `fmt`: canonical form, `--check` for CI, and refusal to touch files it cannot keep whole.

use crate::util::{policy_gen, stderr, stdout, temp_files};

const MESSY: &str = "# Header.\n\n# Reads.\npath   \"secret/data/app/*\"   {\n capabilities=[\"list\",\"read\",\"read\"]   # why\n}\npath \"b\" { policy = \"read\" }\n";
const TIDY: &str = "# Header.\n\n# Reads.\npath \"secret/data/app/*\" {\n  # why\n  capabilities = [\"read\", \"list\"]\n}\n\npath \"b\" {\n  policy = \"read\"\n}\n";

#[test]
fn check_reports_and_fmt_rewrites() {
    let dir = temp_files(&[("app.hcl", MESSY), ("tidy.hcl", TIDY)]);
    let output = policy_gen().args(["fmt", "--check"]).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output).trim(), dir.path().join("app.hcl").display().to_string());
    assert_eq!(std::fs::read_to_string(dir.path().join("app.hcl")).unwrap(), MESSY, "--check changes nothing");

    policy_gen().arg("fmt").arg(dir.path()).assert().success();
    assert_eq!(std::fs::read_to_string(dir.path().join("app.hcl")).unwrap(), TIDY);
    policy_gen().args(["fmt", "--check"]).arg(dir.path()).assert().success();
}

#[test]
fn malformed_files_exit_2_with_file_line_and_column() {
    let dir = temp_files(&[("bad.hcl", "path \"a\" {\n  capabilities = [\"read\"\n}\n")]);
    let output = policy_gen().args(["fmt", "--check"]).arg(dir.path().join("bad.hcl")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bad.hcl:3:1: expected `]`"), "{}", stderr(&output));
}

#[test]
fn files_with_unknown_keys_are_not_rewritten() {
    let text = "path \"a\" {\n  capabilities = [\"read\"]\n  colour = \"red\"\n}\n";
    let dir = temp_files(&[("u.hcl", text)]);
    let output = policy_gen().arg("fmt").arg(dir.path().join("u.hcl")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("u.hcl:3: not formatted"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(dir.path().join("u.hcl")).unwrap(), text);
}
