//! A rotated set (`audit.log.2.gz`, `audit.log.1`, `audit.log`) reads as the one log it was cut from: oldest
//! first, gzip recognised, requests joined to responses across a rotation; stdin (`-`) takes gzip too; a report
//! over the set (files read in parallel) equals the report over the single file.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use crate::util::{Fixture, count, of_type, records, run};

fn without_location(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    for k in ["request_line", "response_line", "file", "line"] {
        o.remove(k);
    }
    v
}

pub fn check(f: &Fixture) {
    let text = std::fs::read_to_string(&f.log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut where a response ends and a request begins, so the parallel report sees whole pairs in each file.
    let is_type = |i: usize, t: &str| lines[i].contains(&format!("\"type\":\"{t}\""));
    let cut = |from: usize| (from..lines.len()).find(|&i| is_type(i - 1, "response") && is_type(i, "request")).unwrap();
    let first = cut(lines.len() / 3);
    let second = cut(2 * lines.len() / 3);
    let join = |part: &[&str]| part.iter().map(|l| format!("{l}\n")).collect::<String>();

    let dir = f.dir.join("rotated");
    std::fs::create_dir_all(&dir).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(join(&lines[..first]).as_bytes()).unwrap();
    std::fs::write(dir.join("audit.log.2.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("audit.log.1"), join(&lines[first..second])).unwrap();
    std::fs::write(dir.join("audit.log"), join(&lines[second..])).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a log\n").unwrap();

    let log = f.log.to_str().unwrap();
    let set = dir.to_str().unwrap();
    let ops = |args: &[&str]| -> Vec<Value> {
        let mut full = vec!["filter", "--format", "jsonl"];
        full.extend_from_slice(args);
        let (_, stdout, _) = run(f, &full);
        of_type(&records(&stdout), "operation").into_iter().cloned().map(without_location).collect()
    };
    let whole = ops(&[log]);
    assert_eq!(ops(&[set]), whole, "the folder reads as the single log");
    let named: Vec<String> =
        ["audit.log", "audit.log.2.gz", "audit.log.1"].iter().map(|n| dir.join(n).display().to_string()).collect();
    assert_eq!(ops(&[&named[0], &named[1], &named[2]]), whole, "files named in any order are read oldest first");
    assert_eq!(count(f, &[set, "--path", "secret/data/aptest/*"]), 9);

    // stdin, gzip'd.
    let gz_bytes = std::fs::read(dir.join("audit.log.2.gz")).unwrap();
    let out = crate::util::audit_parse()
        .args(["filter", "-", "--no-join", "--format", "jsonl"])
        .write_stdin(gz_bytes)
        .output()
        .unwrap();
    let recs = records(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(of_type(&recs, "operation").len(), first);
    assert_eq!(recs.last().unwrap()["malformed"], 0);

    // The parallel report over the set equals the report over the file.
    let report = |input: &str| -> Vec<Value> {
        let (_, stdout, _) = run(f, &["report", input, "--format", "jsonl"]);
        records(&stdout).into_iter().filter(|r| r["type"] != "summary").map(without_location).collect()
    };
    assert_eq!(report(set), report(log));
}
