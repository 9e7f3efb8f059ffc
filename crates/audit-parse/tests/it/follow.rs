//! `--follow` on a live file: lines appended later are seen, a rotation (rename and a new file) and a truncation
//! (`copytruncate`) are followed, and nothing is read twice.
//!
//! Each step waits until the follower has printed what the previous step wrote, so a slow start on a loaded
//! machine cannot reorder the steps.

use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{Fixture, audit_parse, records};

pub fn check_real_lines(f: &Fixture) {
    let text = std::fs::read_to_string(&f.log).unwrap();
    let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    assert!(lines.len() >= 12);
    let dir = f.dir.join("follow");
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("audit.log");
    std::fs::write(&live, lines[..2].concat()).unwrap();

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("audit-parse"))
        .args(["filter", "--follow", "--from-start", "--idle-exit", "5s", "--no-join", "--format", "jsonl"])
        .arg(&live)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |n: usize, seen: &mut Vec<String>| {
        while seen.len() < n {
            let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("only {seen:?}"));
            seen.push(line);
        }
    };
    wait_for(2, &mut seen);
    // Appended.
    std::fs::OpenOptions::new().append(true).open(&live).unwrap().write_all(lines[2..5].concat().as_bytes()).unwrap();
    wait_for(5, &mut seen);
    // Rotated: renamed away, a new file in its place.
    std::fs::rename(&live, dir.join("audit.log.1")).unwrap();
    std::fs::write(&live, lines[5..8].concat()).unwrap();
    wait_for(8, &mut seen);
    // Truncated in place, then written again with less than it held (copytruncate).
    std::fs::OpenOptions::new().write(true).truncate(true).open(&live).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::OpenOptions::new().append(true).open(&live).unwrap().write_all(lines[8..10].concat().as_bytes()).unwrap();
    wait_for(10, &mut seen);

    // After 5 s without data the follower stops and prints its summary.
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert!(status.success(), "{status}");
    let recs = records(&seen.join("\n"));
    let ops: Vec<u64> = recs
        .iter()
        .filter(|r| r["type"] == "operation")
        .map(|r| r["request_line"]["line"].as_u64().or(r["response_line"]["line"].as_u64()).unwrap())
        .collect();
    assert_eq!(ops, [1, 2, 3, 4, 5, 1, 2, 3, 1, 2], "every line once, numbered within its file");
    assert_eq!(recs.last().unwrap()["malformed"], 0);

    // --follow reads exactly one file.
    let two = audit_parse().args(["filter", "--follow", "a.log", "b.log"]).output().unwrap();
    assert_eq!(two.status.code(), Some(2));
}
