//! The command line's public surface: `--help` texts (snapshots) and usage errors.

use crate::util::cmd;

#[test]
fn help_texts_are_stable() {
    for args in [
        &["--help"][..],
        &["save", "--help"],
        &["verify", "--help"],
        &["prune", "--help"],
        &["restore", "--help"],
        &["drill", "--help"],
    ] {
        let output = cmd(&[]).args(args).env("COLUMNS", "120").output().unwrap();
        assert!(output.status.success());
        let name = args.iter().filter(|a| !a.starts_with('-')).copied().collect::<Vec<_>>().join("-");
        let name = if name.is_empty() { "main".to_owned() } else { name };
        insta::assert_snapshot!(format!("help-{name}"), String::from_utf8_lossy(&output.stdout));
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let output = cmd(&[]).args(["save", "--to", "gs://bucket/x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("only folders and s3://bucket/prefix"));
    let output = cmd(&[]).args(["save", "--to", "/tmp/x", "--encrypt-to", "age1nope"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an age public key"));
    let output =
        cmd(&[]).args(["verify", "/nonexistent/vault-backup-2026-01-01T00-00-00.000Z.snap.gz"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", String::from_utf8_lossy(&output.stderr));
    let dir = tempfile::tempdir().unwrap();
    let output = cmd(&[]).arg("verify").arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no complete backup"));
}
