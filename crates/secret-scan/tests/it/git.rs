//! Git sources against a real repository made in a temp folder: staged changes, history, the pre-commit hook.

use crate::util::{Tree, findings, stderr, token, token2};

#[test]
fn staged_scans_added_lines_with_file_line_numbers() {
    let tree = Tree::git_repo(&[("app.py", "a = 1\nb = 2\nc = 3\n")]);
    tree.git(&["add", "."]);
    tree.git(&["commit", "-qm", "init"]);
    assert_eq!(tree.run(&["--staged"]).status.code(), Some(0));

    tree.write("app.py", format!("a = 1\nb = 2\nT = \"{}\"\nc = 3\n", token()).as_bytes());
    tree.write("unstaged.py", format!("U = \"{}\"\n", token2()).as_bytes());
    assert_eq!(tree.run(&["--staged"]).status.code(), Some(0), "nothing staged yet");
    tree.git(&["add", "app.py"]);
    let out = tree.run(&["--staged", "-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0]["path"].as_str(), found[0]["line"].as_u64()), (Some("app.py"), Some(3)));
}

#[test]
fn history_reports_each_blob_once_with_its_commit() {
    let tree = Tree::git_repo(&[("config.env", &format!("GH={}\n", token()))]);
    tree.git(&["add", "."]);
    tree.git(&["commit", "-qm", "oops"]);
    // Removing the secret does not remove it from history; copying the same content elsewhere adds no finding.
    tree.write("config.env", b"GH=\n");
    tree.write("copy/config.env", format!("GH={}\n", token()).as_bytes());
    tree.git(&["add", "."]);
    tree.git(&["commit", "-qm", "fix"]);
    let out = tree.run(&["--git-history", "-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let found = findings(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["path"], "config.env");
    assert_eq!(found[0]["commit"].as_str().unwrap().len(), 40);
    // In a range without the first commit, the copy is where the blob first appears.
    let recent = findings(&tree.run(&["--git-history", "HEAD~1..HEAD", "-f", "jsonl"]));
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["path"], "copy/config.env");
    assert_ne!(recent[0]["commit"], found[0]["commit"]);
    let out = tree.run(&["--git-history", "no-such-ref"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn install_hook_blocks_a_commit_with_a_secret() {
    let tree = Tree::git_repo(&[]);
    let out = tree.run(&["install-hook"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hook = tree.join(".git/hooks/pre-commit");
    assert!(std::fs::read_to_string(&hook).unwrap().contains("secret-scan --staged"));
    assert_eq!(tree.run(&["install-hook"]).status.code(), Some(0), "re-installing our own hook is fine");
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let out = tree.run(&["install-hook"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"));
    assert_eq!(tree.run(&["install-hook", "--force"]).status.code(), Some(0));

    // Run the hook the way git would, with our binary first on PATH.
    let bin_dir = assert_cmd::cargo::cargo_bin("secret-scan").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    tree.write("leak.py", format!("T = \"{}\"\n", token()).as_bytes());
    tree.git(&["add", "leak.py"]);
    let commit = std::process::Command::new("git")
        .current_dir(tree.path())
        .env("PATH", &path)
        .args(["-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm", "leak"])
        .output()
        .unwrap();
    assert!(!commit.status.success(), "the hook must block the commit");
    // git sends a hook's stdout to its own stderr.
    let shown = String::from_utf8_lossy(&commit.stderr);
    assert!(shown.contains("leak.py:1:6  github-token"), "{shown}");
}
