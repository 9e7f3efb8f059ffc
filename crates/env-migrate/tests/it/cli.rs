//! The command line as a contract: help text with the exit-code table, usage errors exit 2.

use crate::util::{cmd, code, run};

#[test]
fn help_lists_the_flow_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(cmd(dir.path()).arg("--help"));
    assert_eq!(code(&out), 0);
    for needle in ["detect", "plan", "apply", "strip", "rollback", "refs", "example", "Exit codes:", "--address"] {
        assert!(stdout.contains(needle), "--help lacks {needle}:\n{stdout}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(cmd(dir.path()).args(["detect", "no-such-folder"]));
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("no-such-folder: no such file or folder"), "{stderr}");
    let (out, _, stderr) = run(cmd(dir.path()).args(["apply", "missing-plan.json"]));
    assert_eq!(code(&out), 4, "an unreadable plan is an I/O failure: {stderr}");
    std::fs::write(dir.path().join("bad.json"), "{\"format\": 1}").unwrap();
    let (out, _, stderr) = run(cmd(dir.path()).args(["strip", "bad.json"]));
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("bad.json: not a valid plan"), "{stderr}");
    let (out, _, _) = run(cmd(dir.path()).args(["rollback"]));
    assert_eq!(code(&out), 2);
    let (out, _, _) = run(cmd(dir.path()).args(["frobnicate"]));
    assert_eq!(code(&out), 2);
}

#[test]
fn an_edited_plan_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DB_PASSWORD=Kq8xWv2mQz7rTy4nLb8s\nDB_ADMIN_PASSWORD=Adm1n-Pa55w0rd-7h8j9k0l\n",
    )
    .unwrap();
    let (out, _, stderr) = run(cmd(dir.path()).args(["plan", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let path = dir.path().join("plan.json");
    let mut plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Two variables onto one key with different values, and a bad path.
    plan["entries"][1]["target"] = plan["entries"][0]["target"].clone();
    let mut bad = plan["entries"][0].clone();
    bad["key"] = "OTHER".into();
    bad["target"]["path"] = "secret/a b/../x".into();
    plan["entries"].as_array_mut().unwrap().push(bad);
    std::fs::write(&path, plan.to_string()).unwrap();
    let (out, _, stderr) = run(cmd(dir.path()).args(["apply", "plan.json"]));
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("has an invalid segment \"a b\""), "{stderr}");
    assert!(stderr.contains(".env:2 DB_ADMIN_PASSWORD: goes to"), "{stderr}");
    assert!(!stderr.contains("Kq8xWv2mQz7rTy4nLb8s") && !stderr.contains("Adm1n-Pa55w0rd-7h8j9k0l"));
}

/// The migration guide's section on `refs` names flags and record fields: they must be the tool's.
#[test]
fn the_guide_matches_refs() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/secret-migration-guide.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, help, _) = run(cmd(dir.path()).args(["refs", "--help"]));
    assert_eq!(code(&out), 0);
    for flag in ["--patch", "--keep-defaults", "--plan", "--key"] {
        assert!(help.contains(flag), "refs --help lacks {flag}");
        assert!(guide.contains(flag), "the guide lacks {flag}");
    }
    // --patch without a plan is a usage error; --keep-defaults needs --patch.
    let (out, _, stderr) = run(cmd(dir.path()).args(["refs", ".", "--patch"]));
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("--patch needs --plan"), "{stderr}");
    let (out, _, _) = run(cmd(dir.path()).args(["refs", ".", "--keep-defaults", "--key", "X"]));
    assert_eq!(code(&out), 2);

    // Every field a record carries is documented, and so is every summary field.
    std::fs::write(
        dir.path().join("job.py"),
        "import os\nfrom dagster import asset\nTOKEN = os.getenv('API_TOKEN', 'x')\n@asset\ndef a():\n    return os.environ['API_TOKEN']\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("run.sh"), "curl -H \"$API_TOKEN\"\n").unwrap();
    let (out, stdout, _) = run(cmd(dir.path()).args(["refs", ".", "--key", "API_TOKEN", "-f", "jsonl"]));
    assert_eq!(code(&out), 1);
    let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "{stdout}");
    let section = guide.split("## 5.").nth(1).unwrap().split("## 6.").next().unwrap();
    for r in &records {
        for field in r.as_object().unwrap().keys() {
            assert!(section.contains(&format!("`{field}`")), "the guide does not document `{field}`");
        }
    }
    assert_eq!(records[3]["type"], "summary");
    let python: Vec<&serde_json::Value> = records.iter().filter(|r| r["file"] == "job.py").collect();
    assert_eq!(python[0]["context"], "module");
    assert_eq!(python[0]["default"], true);
    assert_eq!(python[1]["context"], "asset a");
    assert!(python[1]["reason"].as_str().unwrap().contains("--patch"), "{stdout}");
    assert_eq!(records[2]["kind"], "shell");
}
