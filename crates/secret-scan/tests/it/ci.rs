//! CI fit: paths relative to the repository root whatever folder is scanned (SARIF, GitLab, baselines, ignore
//! files), gitleaks' inline allow comment, GitLab's secret-detection report, and the pre-commit framework's hooks.

use std::path::Path;
use std::process::Output;

use crate::util::{Tree, bin, findings, jsonl, stderr, stdout, token, token2};

/// A repository with secrets at two depths and a fixture folder.
fn repo() -> Tree {
    let tree = Tree::git_repo(&[
        ("app/settings.py", &format!("DEBUG = True\nGITHUB = \"{}\"\n", token())),
        ("app/deep/er/conf.env", &format!("GH_TOKEN={}\n", token2())),
        ("README.md", "nothing to see\n"),
    ]);
    tree.git(&["add", "."]);
    tree.git(&["commit", "-qm", "init"]);
    tree
}

/// Runs the binary in `dir` (relative to the tree).
fn run_in(tree: &Tree, dir: &str, args: &[&str]) -> Output {
    bin().current_dir(tree.join(dir)).args(args).output().unwrap()
}

fn sarif_uris(output: &Output) -> Vec<String> {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let doc: serde_json::Value = serde_json::from_str(&stdout(output)).unwrap();
    let mut uris: Vec<String> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let location = &r["locations"][0]["physicalLocation"]["artifactLocation"];
            assert_eq!(location["uriBaseId"], "%SRCROOT%");
            location["uri"].as_str().unwrap().to_owned()
        })
        .collect();
    uris.sort();
    uris
}

#[test]
fn sarif_uris_are_relative_to_the_repository_root_whatever_is_scanned() {
    let tree = repo();
    let absolute_app = tree.join("app");
    let absolute_app = absolute_app.to_str().unwrap();
    let both = ["app/deep/er/conf.env", "app/settings.py"];
    // Every way of naming the same files: from the top, from a subfolder, absolute, a single file, `./`.
    for (dir, args, expected) in [
        ("", vec!["-f", "sarif"], &both[..]),
        ("", vec!["-f", "sarif", "app"], &both[..]),
        ("", vec!["-f", "sarif", "./app/"], &both[..]),
        ("app", vec!["-f", "sarif"], &both[..]),
        ("app", vec!["-f", "sarif", "."], &both[..]),
        ("app/deep", vec!["-f", "sarif", ".."], &both[..]),
        ("app/deep/er", vec!["-f", "sarif", "../.."], &both[..]),
        ("", vec!["-f", "sarif", absolute_app], &both[..]),
        ("app", vec!["-f", "sarif", "settings.py"], &both[1..]),
        ("app/deep", vec!["-f", "sarif", "er/conf.env"], &both[..1]),
        ("app/deep/er", vec!["-f", "sarif"], &both[..1]),
    ] {
        assert_eq!(sarif_uris(&run_in(&tree, dir, &args)), expected, "in {dir:?} with {args:?}");
    }
}

#[test]
fn a_baseline_made_anywhere_in_the_repository_works_everywhere() {
    let tree = repo();
    // Made at the root, used in a subfolder and on a single file.
    assert_eq!(tree.run(&["baseline", "create", "base.json"]).status.code(), Some(0));
    let text = std::fs::read_to_string(tree.join("base.json")).unwrap();
    assert!(text.contains("\"app/deep/er/conf.env\""), "baseline paths are root-relative: {text}");
    for (dir, args) in [
        ("app", vec!["--baseline", "../base.json", "-f", "jsonl"]),
        ("app/deep", vec!["--baseline", "../../base.json", "-f", "jsonl", "er"]),
        ("app", vec!["--baseline", "../base.json", "-f", "jsonl", "settings.py"]),
        ("", vec!["--baseline", "base.json", "-f", "jsonl", "app/deep/er/conf.env"]),
    ] {
        let out = run_in(&tree, dir, &args);
        assert_eq!(out.status.code(), Some(0), "in {dir:?} with {args:?}: {}", stdout(&out));
        assert!(jsonl(&out).last().unwrap()["suppressed"].as_u64().unwrap() >= 1);
    }
    // Made in a subfolder, used at the root: its findings are suppressed, the others are not.
    let out = run_in(&tree, "app/deep", &["baseline", "create", "../../deep.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = tree.run(&["--baseline", "deep.json", "-f", "jsonl"]);
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["path"], "app/settings.py");
    // The staged scan names files the same way, so one baseline serves the hook and CI.
    tree.write("app/deep/er/conf.env", format!("GH_TOKEN={}\nX=1\n", token2()).as_bytes());
    tree.git(&["add", "."]);
    let out = tree.run(&["--staged", "--baseline", "deep.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn fingerprints_are_the_same_from_any_folder_and_in_history() {
    let tree = repo();
    let fingerprint = |out: &Output| -> Vec<String> {
        let mut all: Vec<String> =
            findings(out).iter().map(|f| f["fingerprint"].as_str().unwrap().to_owned()).collect();
        all.sort();
        all
    };
    let top = fingerprint(&tree.run(&["-f", "jsonl"]));
    assert_eq!(top.len(), 2);
    assert_eq!(fingerprint(&run_in(&tree, "app", &["-f", "jsonl"])), top);
    assert_eq!(fingerprint(&run_in(&tree, "app/deep/er", &["-f", "jsonl", "../.."])), top);
    assert_eq!(fingerprint(&tree.run(&["--git-history", "-f", "jsonl"])), top);
}

#[test]
fn outside_a_repository_paths_stay_relative_to_the_scan_root() {
    let tree = Tree::new(&[("sub/a.py", &format!("T = \"{}\"\n", token()))]);
    let out = run_in(&tree, "sub", &["-f", "sarif"]);
    assert_eq!(sarif_uris(&out), ["a.py"]);
    let out = tree.run(&["-f", "sarif", "sub"]);
    assert_eq!(sarif_uris(&out), ["a.py"], "the scan root is the folder given");
}

#[test]
fn the_ignore_file_at_the_repository_root_applies_to_subfolder_scans() {
    let tree = repo();
    tree.write(".secret-scan-ignore", b"app/deep/\n");
    for dir in ["", "app", "app/deep"] {
        let out = run_in(&tree, dir, &["-f", "jsonl"]);
        let paths: Vec<_> = findings(&out).iter().map(|f| f["path"].as_str().unwrap().to_owned()).collect();
        assert!(paths.iter().all(|p| !p.contains("conf.env")), "in {dir:?}: {paths:?}");
    }
}

#[test]
fn gitleaks_allow_comments_are_honoured_like_ours() {
    for (file, line) in [
        ("a.py", format!("T = \"{}\"  # gitleaks:allow\n", token())),
        ("a.go", format!("t := \"{}\" // gitleaks:allow\n", token())),
        ("a.env", format!("T={} # secret-scan:allow\n", token())),
        ("a.yaml", format!("t: {} # gitleaks:allow\n", token())),
    ] {
        let tree = Tree::new(&[(file, &line)]);
        assert_eq!(tree.run(&[]).status.code(), Some(0), "{file}");
        // Only the line that carries the comment.
        tree.write(file, format!("{line}T2 = \"{}\"\n", token2()).as_bytes());
        let out = tree.run(&["-f", "jsonl"]);
        let found = findings(&out);
        assert_eq!((found.len(), found[0]["line"].as_u64()), (1, Some(2)), "{file}");
    }
}

fn is_gitlab_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Checks a report against the parts of GitLab's secret-detection schema (15.x) that GitLab enforces.
fn check_gitlab_report(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    assert!(doc["version"].as_str().unwrap().starts_with("15."));
    let scan = &doc["scan"];
    assert_eq!(scan["type"], "secret_detection");
    assert_eq!(scan["status"], "success");
    for part in ["analyzer", "scanner"] {
        for field in ["id", "name", "version"] {
            assert!(scan[part][field].as_str().is_some_and(|s| !s.is_empty()), "scan.{part}.{field}");
        }
        assert!(scan[part]["vendor"]["name"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert!(is_gitlab_time(scan["start_time"].as_str().unwrap()), "{}", scan["start_time"]);
    assert!(is_gitlab_time(scan["end_time"].as_str().unwrap()));
    let vulnerabilities = doc["vulnerabilities"].as_array().unwrap().clone();
    let mut ids = std::collections::BTreeSet::new();
    for v in &vulnerabilities {
        let id = v["id"].as_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert!(ids.insert(id.to_owned()), "ids are unique");
        assert!(["Info", "Unknown", "Low", "Medium", "High", "Critical"].contains(&v["severity"].as_str().unwrap()));
        let identifiers = v["identifiers"].as_array().unwrap();
        assert!(!identifiers.is_empty());
        for field in ["type", "name", "value"] {
            assert!(identifiers[0][field].as_str().is_some_and(|s| !s.is_empty()));
        }
        assert!(v["location"]["commit"]["sha"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(v["location"]["start_line"].as_u64().unwrap() >= 1);
        assert!(v["name"].as_str().is_some_and(|s| !s.is_empty()));
    }
    vulnerabilities
}

#[test]
fn gitlab_reports_follow_the_secret_detection_schema() {
    let tree = repo();
    let out = run_in(&tree, "app/deep", &["-f", "gitlab", "--show-secrets", ".."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    for secret in [token(), token2()] {
        assert!(!text.contains(&secret[4..]), "GitLab reports never hold values, even with --show-secrets");
    }
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vulnerabilities = check_gitlab_report(&doc);
    let mut files: Vec<(&str, u64, &str)> = vulnerabilities
        .iter()
        .map(|v| {
            (
                v["location"]["file"].as_str().unwrap(),
                v["location"]["start_line"].as_u64().unwrap(),
                v["location"]["commit"]["sha"].as_str().unwrap(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files, [("app/deep/er/conf.env", 1, "0000000"), ("app/settings.py", 2, "0000000")]);
    assert_eq!(vulnerabilities[0]["identifiers"][0]["value"], "github-token");
    assert_eq!(vulnerabilities[0]["severity"], "Critical");

    // Ids are stable across runs, so GitLab tracks the same vulnerability.
    let again: serde_json::Value = serde_json::from_str(&stdout(&run_in(&tree, "", &["-f", "gitlab"]))).unwrap();
    let ids = |d: &serde_json::Value| {
        let mut v: Vec<String> =
            d["vulnerabilities"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&doc), ids(&again));

    // History findings carry their commit; an empty report is still a valid report.
    let out = tree.run(&["-f", "gitlab", "--git-history"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let vulnerabilities = check_gitlab_report(&doc);
    assert!(vulnerabilities.iter().all(|v| v["location"]["commit"]["sha"].as_str().unwrap().len() == 40));
    let clean = Tree::new(&[("a.txt", "hello\n")]);
    let out = clean.run(&["-f", "gitlab"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(check_gitlab_report(&doc).is_empty());
}

/// The `entry` and `pass_filenames` of each hook in `.pre-commit-hooks.yaml` (a flat list of maps).
fn hooks(text: &str) -> Vec<(String, String, bool)> {
    let mut hooks = Vec::new();
    for block in text.split("\n- ").skip(1) {
        let field = |name: &str| {
            block.lines().map(|l| l.trim().trim_start_matches("- ")).find_map(|l| {
                l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().trim_matches('"').to_owned())
            })
        };
        let id = field("id").expect("every hook has an id");
        let entry = field("entry").expect("every hook has an entry");
        assert_eq!(field("language").as_deref(), Some("system"), "{id}");
        hooks.push((id, entry, field("pass_filenames").as_deref() != Some("false")));
    }
    hooks
}

#[test]
fn pre_commit_framework_hooks_block_a_staged_secret() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&file).expect(".pre-commit-hooks.yaml at the repository root");
    let hooks = hooks(&format!("\n{text}"));
    assert!(hooks.iter().any(|(id, _, _)| id == "secret-scan"), "{hooks:?}");
    let bin_dir = assert_cmd::cargo::cargo_bin("secret-scan").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for (id, entry, pass_filenames) in hooks {
        // What pre-commit does: run the entry (split like a shell would for plain words) with the staged files
        // appended when pass_filenames is on.
        let run = |tree: &Tree, files: &[&str]| {
            let mut words = entry.split_whitespace();
            let mut command = std::process::Command::new(words.next().unwrap());
            command.current_dir(tree.path()).env("PATH", &path).args(words);
            if pass_filenames {
                command.args(files);
            }
            command.output().unwrap()
        };
        let tree = Tree::git_repo(&[("ok.py", "x = 1\n")]);
        tree.git(&["add", "."]);
        assert_eq!(run(&tree, &["ok.py"]).status.code(), Some(0), "{id}: a clean change passes");
        tree.write("leak.py", format!("T = \"{}\"\n", token()).as_bytes());
        tree.git(&["add", "leak.py"]);
        let out = run(&tree, &["leak.py"]);
        assert_eq!(out.status.code(), Some(1), "{id}: a staged secret blocks the commit: {}", stderr(&out));
    }
}
