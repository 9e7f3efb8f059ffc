//! The command line without a server: `--help`, flag validation and its exit codes (shared and Nagios), and the
//! atomic `-o` write of a report about an address where nothing listens.

use std::path::Path;

use crate::util::{code, prometheus, sample, stderr, stdout, vault_health};

/// A loopback address where nothing listens: connections are refused at once.
const NOBODY: &str = "http://127.0.0.1:1";

#[test]
fn help_lists_every_flag_and_the_exit_codes() {
    let output = vault_health().arg("--help").output().unwrap();
    assert_eq!(code(&output), 0);
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn thresholds_the_wrong_way_round_are_usage_errors() {
    let output = vault_health().args(["--cert-warn-days", "1", "--cert-crit-days", "7"]).output().unwrap();
    assert_eq!(code(&output), 2);
    assert_eq!(stderr(&output), "vault-health: error: --cert-warn-days (1) must be at least --cert-crit-days (7)\n");
    assert!(stdout(&output).is_empty());

    let output = vault_health().args(["--skew-warn", "soon"]).output().unwrap();
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("\"soon\" is not a duration"), "{}", stderr(&output));

    let output = vault_health().args(["--address", "not a url"]).output().unwrap();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).starts_with("vault-health: error: invalid configuration: Vault address \"not a url\""));
}

#[test]
fn nagios_reports_its_own_failures_as_unknown() {
    let output =
        vault_health().args(["--format", "nagios", "--backup-dir", "/b", "--backup-pattern", "["]).output().unwrap();
    assert_eq!(code(&output), 3, "UNKNOWN");
    assert!(stdout(&output).starts_with("VAULT UNKNOWN - --backup-pattern \"[\": "), "{}", stdout(&output));
}

#[test]
fn prometheus_output_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vault_health.prom");
    std::fs::write(&file, "old\n").unwrap();
    let output = vault_health()
        .args(["--address", NOBODY, "--max-retries", "0", "--format", "prometheus", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&output), 3, "unreachable: {}", stderr(&output));
    assert!(stdout(&output).is_empty(), "the report went to the file");
    let samples = prometheus(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(sample(&samples, "vault_health_up", "address=\"http://127.0.0.1:1\""), Some(0.0));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [Path::new("vault_health.prom").as_os_str()], "no temp file left behind");
}

/// A command line clap refuses, with Nagios output asked for in any spelling: Nagios reads stdout and the code,
/// so it gets `VAULT UNKNOWN - …` and 3, not clap's exit 2 (which it would read as CRITICAL) with nothing to show.
#[test]
fn nagios_reports_a_refused_command_line_as_unknown() {
    for args in [
        &["--format", "nagios", "--timeout", "soon"][..],
        &["-f", "nagios", "--no-such-flag"],
        &["--format=nagios", "--canary-reads", "many"],
        &["--timeout", "soon", "-fnagios"],
    ] {
        let output = vault_health().args(args).output().unwrap();
        assert_eq!(code(&output), 3, "{args:?}: {}", stderr(&output));
        let line = stdout(&output);
        assert!(line.starts_with("VAULT UNKNOWN - ") && line.ends_with('\n') && line.lines().count() == 1, "{line}");
        assert!(!stderr(&output).is_empty(), "the usage error is still explained on stderr");
    }
    // Without Nagios output, the shared table: exit 2, nothing on stdout.
    let output = vault_health().args(["--format", "json", "--timeout", "soon"]).output().unwrap();
    assert_eq!(code(&output), 2);
    assert!(stdout(&output).is_empty());
    // Help is help, whatever the format.
    let output = vault_health().args(["-f", "nagios", "--help"]).output().unwrap();
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("Examples:"), "{}", stdout(&output));
}
