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
