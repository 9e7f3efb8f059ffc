//! Robustness: mutated policy files, schedules, windows, durations and history files never panic the library;
//! mutated command lines never panic the binary; a closed stdout exits 0 for every format of `check`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use secret_rotate::history::History;
use secret_rotate::policy::PolicyFile;
use secret_rotate::schedule::{Cron, Window, parse_duration};
use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, each_mutation, fuzz_argv};

fn example() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies.example.toml")).unwrap()
}

#[test]
fn mutated_policy_files_and_schedules_never_panic() {
    let example = example();
    let mut valid = 0usize;
    each_mutation(0x5eed_7071, &[&example], 1500, 5_000, |input| {
        if PolicyFile::parse(Path::new("fuzz.toml"), &String::from_utf8_lossy(input)).is_ok() {
            valid += 1;
        }
    });
    assert!(valid > 50, "{valid}");

    let now = Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap();
    let seeds: [&[u8]; 6] =
        [b"0 3 1 * *", b"*/15 2-4 * jan-mar mon,wed,fri", b"59 23 31 12 7", b"30d", b"1h 30m", b"weekdays 02:00-04:00"];
    each_mutation(0x5eed_7072, &seeds, 6000, 200, |input| {
        let text = String::from_utf8_lossy(input);
        if let Ok(cron) = Cron::parse(&text) {
            let _ = cron.next_after(now);
            let _ = cron.next_after(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 0).unwrap());
        }
        if let Ok(window) = Window::parse(&text) {
            let _ = window.contains(now);
        }
        let _ = parse_duration(&text);
    });

    // The history file, as a crash or a hand edit could leave it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    let line = br#"{"type":"history","time":"2026-11-28T13:00:00Z","path":"secret/app/db","strategy":"generate","event":"completed","from_version":1,"to_version":2,"detail":null,"owner":"ops"}
"#;
    let history = History::new(&file);
    each_mutation(0x5eed_7073, &[&line.repeat(3)], 1500, 5_000, |input| {
        std::fs::write(&file, input).unwrap();
        let _ = history.read(None);
        let _ = history.read(Some("secret/app/db"));
    });
}

fn bin() -> Command {
    let mut c = vault_testkit::harness::tool_command(env!("CARGO_BIN_EXE_secret-rotate"));
    vault_testkit::harness::clear_env(&mut c, &["SECRET_ROTATE"]);
    c.env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "fuzz").env("VAULT_MAX_RETRIES", "0");
    c
}

#[test]
fn a_closed_stdout_exits_0_for_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "[[policy]]\npath = \"secret/app/s{i}\"\nowner = \"ops\"\nevery = \"30d\"\nstrategy = \"generate\"\ngenerate = {{ key = \"password\", length = 32 }}\n\n"
        ));
    }
    let file = dir.path().join("policies.toml");
    std::fs::write(&file, text).unwrap();
    for format in ["human", "json", "jsonl"] {
        assert_broken_pipe_exits_0(
            || {
                let mut c = bin();
                c.arg("check").arg(&file).args(["--format", format]);
                c
            },
            &format!("secret-rotate check --format {format}"),
        );
    }
}

#[test]
fn mutated_command_lines_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("policies.toml"), example()).unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["check", "policies.toml"]),
            s(&["due", "--policy", "policies.toml", "--format", "jsonl"]),
            s(&["run", "--due", "--policy", "policies.toml", "--dry-run"]),
            s(&["run", "secret/app/db", "--policy", "policies.toml"]),
            s(&["rollback", "secret/app/db"]),
            s(&["history"]),
            s(&["state", "secret/app/db"]),
        ],
        words: s(&[
            "check",
            "due",
            "run",
            "rollback",
            "history",
            "state",
            "--policy",
            "--due",
            "--dry-run",
            "-p",
            "--grace",
            "--format",
            "-o",
            "--color",
            "--history",
            "--client-timeout",
        ]),
        values: s(&["policies.toml", "missing.toml", "secret/app/db", "secret/", "*", "json", "0", "/dev/null"]),
    };
    let codes = fuzz_argv(0x5eed_7074, &space, 150, Duration::from_secs(5), || {
        let mut c = bin();
        // History, lock and state files go here, not into the system's folders.
        c.current_dir(d).env("HOME", d).env("SECRET_ROTATE_STATE_DIR", d);
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
}
