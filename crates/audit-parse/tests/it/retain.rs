//! `retain`: rotated logs older than M days are gzip'd (atomically, keeping their age), older than N days deleted;
//! live files (unsuffixed, or named with `--live`, a bare name meaning the file in `--dir`) are never touched,
//! whatever their age; files not named like logs are ignored; `--dry-run` changes nothing.

use std::fs::{File, FileTimes};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::util::{audit_parse, of_type, records};

fn aged(dir: &Path, name: &str, days: u64, content: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    let when = SystemTime::now() - Duration::from_secs(days * 86_400 + 3600);
    File::options().write(true).open(&path).unwrap().set_times(FileTimes::new().set_modified(when)).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    n.sort();
    n
}

#[test]
fn compresses_deletes_and_spares_live_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aged(d, "audit.log", 100, b"live\n");
    aged(d, "audit.log.1", 1, b"young\n");
    aged(d, "audit.log.2", 10, b"{\"type\":\"request\"}\n");
    aged(d, "audit.log.3.gz", 40, b"old gz");
    aged(d, "audit.log.4", 40, b"old\n");
    aged(d, "second.log", 100, b"other device\n");
    aged(d, "pinned.log.9", 100, b"named live\n");
    aged(d, "backup.tar.1", 100, b"not a log\n");
    let before = names(d);

    let args = |dry: bool| {
        let mut a = vec!["retain", "--dir", d.to_str().unwrap(), "--keep-days", "30", "--compress-after-days", "7"];
        a.extend(["--live", "pinned.log.9", "--format", "jsonl"]);
        if dry {
            a.push("--dry-run");
        }
        a
    };
    let dry = audit_parse().current_dir(std::env::temp_dir()).args(args(true)).output().unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(names(d), before, "a dry run changes nothing");
    let recs = records(&String::from_utf8_lossy(&dry.stdout));
    let plan: Vec<(String, String, bool)> = of_type(&recs, "file")
        .iter()
        .map(|r| {
            let name = Path::new(r["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            (name, r["action"].as_str().unwrap().to_owned(), r["done"].as_bool().unwrap())
        })
        .collect();
    let row = |n: &str, a: &str| (n.to_owned(), a.to_owned(), false);
    assert_eq!(
        plan,
        [
            row("audit.log", "live"),
            row("audit.log.1", "keep"),
            row("audit.log.2", "compress"),
            row("audit.log.3.gz", "delete"),
            row("audit.log.4", "delete"),
            row("backup.tar.1", "ignored"),
            row("pinned.log.9", "live"),
            row("second.log", "live"),
        ]
    );
    assert_eq!(recs.last().unwrap()["compressed"], 1);
    assert_eq!(recs.last().unwrap()["deleted"], 2);

    let done = audit_parse().current_dir(std::env::temp_dir()).args(args(false)).output().unwrap();
    assert_eq!(done.status.code(), Some(0));
    assert_eq!(names(d), ["audit.log", "audit.log.1", "audit.log.2.gz", "backup.tar.1", "pinned.log.9", "second.log"]);
    let mut text = String::new();
    flate2::read::GzDecoder::new(File::open(d.join("audit.log.2.gz")).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text, "{\"type\":\"request\"}\n");
    let age =
        SystemTime::now().duration_since(std::fs::metadata(d.join("audit.log.2.gz")).unwrap().modified().unwrap());
    assert!(age.unwrap() > Duration::from_secs(9 * 86_400), "the compressed file keeps its age");
    assert_eq!(std::fs::read(d.join("audit.log")).unwrap(), b"live\n");

    // A second run has nothing left to do.
    let again = audit_parse().current_dir(std::env::temp_dir()).args(args(false)).output().unwrap();
    let recs = records(&String::from_utf8_lossy(&again.stdout));
    assert_eq!(recs.last().unwrap()["compressed"], 0);
    assert_eq!(recs.last().unwrap()["deleted"], 0);
}
