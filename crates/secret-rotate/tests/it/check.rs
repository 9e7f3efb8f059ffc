//! `secret-rotate check`: a good file lists its policies; a bad one exits 2 with FILE:LINE problems.

use crate::util::*;

#[tokio::test]
async fn check_reports_file_and_line() {
    let server = dev_server().await;
    let env = Env::new(
        &server,
        r#"# rotation policies
[[policy]]
path = "secret/app/db"
owner = "data-team"
every = "30d"
window = "weekdays 02:00-04:00"
strategy = "generate"

[[policy]]
path = "secret/apis/*/key"
cron = "0 3 * * 1"
strategy = "command"
command = { argv = ["/usr/local/bin/new-key"] }
"#,
    );
    let human = env.run(&["check"]);
    insta::assert_snapshot!("check_human", stdout(&human));
    let ok = env.run(&["check", "--format", "jsonl"]);
    assert_eq!(code(&ok), Some(0), "{}", stderr(&ok));
    let rows = records(&ok, "policy");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[0]["schedule"], "every 30 days");
    assert_eq!(rows[1]["path"], "secret/apis/*/key");
    assert_eq!(rows[1]["schedule"], "cron 0 3 * * 1");

    let bad = env.path("bad.toml");
    std::fs::write(&bad, "[[policy]]\npath = \"secret/a\"\nevery = \"30d\"\nstrategy = \"generate\"\n\n[[policy]]\npath = \"secret/b\"\ncron = \"0 25 * * *\"\nstrategy = \"generate\"\n").unwrap();
    let out = env.cmd().arg("check").arg(&bad).output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{}:6: cron: invalid cron expression", bad.display())), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn a_second_run_is_refused_while_the_lock_is_held() {
    let server = dev_server().await;
    write(&root_client(&server), "secret/a", &[("password", "lock-test-value-1234")]).await;
    let env = Env::new(&server, "[[policy]]\npath = \"secret/a\"\nevery = \"30d\"\nstrategy = \"generate\"\n");
    // The lock is held by another process, as a timer's run would hold it: a lock taken inside this test process
    // could outlive its drop in a child that another test forks at that moment (flock is shared across fork).
    let lock_file = env.path("state/run.lock");
    std::fs::create_dir_all(lock_file.parent().unwrap()).unwrap();
    // `flock FILE cat` holds the lock (cat inherits it) until its stdin closes; then both exit, lock released.
    let mut holder = std::process::Command::new("flock")
        .arg(&lock_file)
        .arg("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("flock(1) from util-linux");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while secret_rotate::lock::RunLock::acquire(&lock_file).is_ok() {
        assert!(std::time::Instant::now() < deadline, "flock(1) never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = env.run(&["run", "--due"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("another secret-rotate run holds the lock"), "{}", stderr(&out));
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let out = env.run(&["run", "secret/a", "--format", "jsonl"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out, "rotation")[0]["result"], "rotated");
}

#[tokio::test]
async fn help_documents_commands_and_exit_codes() {
    let server = dev_server().await;
    let env = Env::new(&server, "");
    let help = env.run(&["--help"]);
    assert_eq!(code(&help), Some(0));
    let text = stdout(&help);
    insta::assert_snapshot!("help", text);
    let run_help = env.run(&["run", "--help"]);
    insta::assert_snapshot!("run_help", stdout(&run_help));
    for needle in
        ["check", "due", "run", "rollback", "history", "state", "Exit codes:", "--policy", "--state-dir", "--address"]
    {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}
