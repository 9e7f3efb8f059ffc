//! A corrupted copy of the real log (a truncated line, binary garbage, a huge line, a blank line) still yields
//! every valid record; the bad lines are counted and reported with their line numbers, and the run succeeds.

use std::io::Write;

use crate::util::{Fixture, count, of_type, records, run};

pub fn check(f: &Fixture) {
    let text = std::fs::read_to_string(&f.log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut corrupted = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        writeln!(corrupted, "{line}").unwrap();
        match i {
            2 => {
                corrupted.extend_from_slice(&line.as_bytes()[..line.len() / 2]);
                corrupted.push(b'\n');
                bad.push(i + 2 + bad.len());
            }
            5 => {
                corrupted.extend_from_slice(&[0x00, 0xff, 0xfe, 0x1f, 0x8b, 0x80, b'{', 0xc3, b'\n']);
                bad.push(i + 2 + bad.len());
            }
            8 => {
                // A 3 MiB line, over the 1 MiB limit given below: skipped without being buffered.
                corrupted.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
                corrupted.push(b'\n');
                bad.push(i + 2 + bad.len());
            }
            _ => {}
        }
    }
    // A final line cut off mid-write, as a live file can end.
    let last = lines[0];
    corrupted.extend_from_slice(&last.as_bytes()[..last.len() - 3]);
    let total_lines = lines.len() + bad.len() + 1;
    bad.push(total_lines);
    let path = f.dir.join("corrupted.log");
    std::fs::write(&path, &corrupted).unwrap();

    let clean = f.log.to_str().unwrap();
    let dirty = path.to_str().unwrap();
    let mine = "secret/data/aptest/*";
    let max = ["--max-line-bytes", "1048576"];
    let mut args = vec![dirty, "--path", mine];
    args.extend(max);
    assert_eq!(count(f, &args), 9, "every valid record is still read");
    let (code, stdout, stderr) = run(f, &["filter", dirty, "--no-join", "--format", "jsonl", max[0], max[1]]);
    assert_eq!(code, 0);
    let recs = records(&stdout);
    let malformed: Vec<usize> =
        of_type(&recs, "malformed").iter().map(|m| m["line"].as_u64().unwrap() as usize).collect();
    assert_eq!(malformed, bad, "bad lines are reported with their numbers");
    let summary = recs.last().unwrap();
    assert_eq!(summary["malformed"], 4);
    assert_eq!(summary["records"], lines.len());
    assert_eq!(summary["lines"], total_lines);
    assert_eq!(of_type(&recs, "operation").len(), lines.len(), "one row per valid line with --no-join");
    assert!(stderr.contains(&format!("corrupted.log:{}: not an audit record", bad[0])), "{stderr}");
    assert!(stderr.contains("longer than the limit"), "{stderr}");

    // A report over the corrupted log says the same as over the clean one, plus the count of bad lines.
    let (_, a, _) = run(f, &["report", clean, "--format", "jsonl"]);
    let (_, b, _) = run(f, &["report", dirty, "--format", "jsonl", max[0], max[1]]);
    let strip = |s: &str| -> Vec<serde_json::Value> {
        records(s)
            .into_iter()
            .filter(|r| r["type"] != "summary" && r["type"] != "malformed")
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("file");
                r.as_object_mut().unwrap().remove("line");
                r
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_eq!(records(&b).last().unwrap()["malformed"], 4);
}
