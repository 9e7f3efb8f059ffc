//! Usage and input errors: exit code 2 with the flag or path named, a missing file exit code 4, and `--help`
//! documenting the exit codes.

use crate::util::audit_parse;

fn fails(args: &[&str], code: i32, says: &str) {
    let out = audit_parse().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
}

#[test]
fn bad_input_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let log = log.to_str().unwrap();
    fails(&["filter", log, "--since", "last tuesday"], 2, "--since");
    fails(&["filter", log, "--path", "secret/[oops"], 2, "--path");
    fails(&["filter", "/nonexistent/audit.log"], 4, "/nonexistent/audit.log");
    let empty = tempfile::tempdir().unwrap();
    fails(&["report", empty.path().to_str().unwrap()], 2, "holds no audit logs");
    fails(&["filter"], 2, "LOG");
    // An empty log is not an error: nothing matched.
    let out = audit_parse().args(["filter", log]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    let help = audit_parse().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Exit codes:") && help.contains("filter") && help.contains("retain"), "{help}");
}

/// The flags are public API: a change to `--help` shows up as a snapshot diff to review.
#[test]
fn help_snapshots() {
    for sub in ["filter", "report", "retain"] {
        let out = audit_parse().args([sub, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        insta::assert_snapshot!(format!("help_{sub}"), String::from_utf8_lossy(&out.stdout));
    }
}
