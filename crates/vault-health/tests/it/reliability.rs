//! Issue 14's classes for vault-health in every output format: settings that cannot be sent, a zero client
//! timeout, a path too long for any server, and the whole run's time limit (`--timeout`, 10 s by default) against
//! a server that never answers, with the Nagios and Prometheus output still written. The classes live in
//! `vault_testkit::toolcheck`, shared with every tool.

use std::time::Duration;

use vault_testkit::toolcheck::{self, Entry, Tool};

fn tool() -> Tool {
    Tool::new("vault-health", env!("CARGO_BIN_EXE_vault-health"))
}

fn entries_with(extra: &[&str]) -> Vec<Entry> {
    ["human", "json", "jsonl", "prometheus", "nagios"]
        .into_iter()
        .map(|format| {
            let mut args = vec!["--format", format];
            args.extend_from_slice(extra);
            let entry = Entry::new(format!("--format {format}"), &args);
            if format == "nagios" { entry.nagios() } else { entry }
        })
        .collect()
}

#[test]
fn settings_that_cannot_be_sent_are_refused_in_every_format() {
    toolcheck::check_bad_settings(&tool(), &entries_with(&[]));
}

#[test]
fn a_zero_client_timeout_is_refused_in_every_format() {
    toolcheck::check_zero_client_timeout(&tool(), &entries_with(&[]));
}

#[test]
fn the_whole_run_keeps_to_its_time_limit_and_still_reports() {
    // The client timeout stays at its 60 s default: --timeout alone bounds the run, retries included.
    let mut entries = entries_with(&["--timeout", "2s", "--canary", "secret/health/canary"]);
    for entry in &mut entries {
        // Without --format nagios an unreachable server is exit 3; with it, CRITICAL (2).
        entry.unavailable_codes = if entry.name.contains("nagios") { vec![2] } else { vec![3] };
    }
    toolcheck::check_time_limit(&tool(), &entries, &[], Duration::from_millis(3000));

    // And the default is a Nagios-friendly 10 s, with the line printed.
    let silent = vault_testkit::SilentServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("VAULT_ADDR".to_owned(), silent.addr()), ("VAULT_TOKEN".to_owned(), "s.x".to_owned())];
    let args: Vec<String> = ["--format", "nagios"].iter().map(|s| (*s).to_owned()).collect();
    let out = tool().run(&args, &env, b"", dir.path(), Duration::from_secs(30));
    assert!(out.elapsed < Duration::from_secs(11), "took {:?}", out.elapsed);
    assert!(out.stdout.starts_with("VAULT CRITICAL"), "{}", out.stdout);
    let args: Vec<String> = ["--format", "prometheus"].iter().map(|s| (*s).to_owned()).collect();
    let out = tool().run(&args, &env, b"", dir.path(), Duration::from_secs(30));
    assert!(out.elapsed < Duration::from_secs(11), "took {:?}", out.elapsed);
    assert!(out.stdout.contains("vault_"), "metrics are written: {}", out.stdout);
}

#[test]
fn a_zero_run_timeout_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["--timeout", "0s"].iter().map(|s| (*s).to_owned()).collect();
    let out = tool().run(&args, &[], b"", dir.path(), Duration::from_secs(30));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}
