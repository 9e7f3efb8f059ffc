//! The `generate` strategy on a 5 s schedule, observed rotating over several timer-like runs, with the state in
//! metadata and the history matching what happened, and no value ever printed.

use std::time::Duration;

use crate::util::*;

#[tokio::test]
async fn generate_rotates_on_a_five_second_schedule() {
    let server = dev_server().await;
    let client = root_client(&server);
    const PLANTED: &str = "planted-initial-password-Zq81";
    write(&client, "secret/app/db", &[("password", PLANTED), ("username", "app")]).await;
    let env = Env::new(&server, "");
    let hook_log = env.path("hooks.log");
    let hook = script(
        env.dir.path(),
        "hook.sh",
        &format!("echo \"$SECRET_ROTATE_PATH $SECRET_ROTATE_VERSION\" >> {}", hook_log.display()),
    );
    // The verifier proves it was given the new value: a password of the configured length, not the old one.
    let verify = script(
        env.dir.path(),
        "verify.sh",
        &format!(
            "input=$(cat)\necho \"$input\" | grep -q '\"password\":\"[A-Za-z0-9]\\{{24\\}}\"' && ! echo \"$input\" | grep -q {PLANTED}"
        ),
    );
    std::fs::write(
        env.path("policies.toml"),
        format!(
            r#"[[policy]]
path = "secret/app/db"
owner = "data-team"
every = "5s"
strategy = "generate"
generate = {{ key = "password", length = 24 }}
verify = {{ argv = ["{}"] }}
hooks = [["{}"]]
"#,
            verify.display(),
            hook.display()
        ),
    )
    .unwrap();

    // Just written: not due for 5 s.
    let due = env.run(&["due", "--format", "jsonl"]);
    assert_eq!(code(&due), Some(0), "{}", stderr(&due));
    assert_eq!(records(&due, "secret")[0]["status"], "ok");

    let mut outputs = vec![due];
    let mut seen = vec![PLANTED.to_owned()];
    let mut rotations = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(17) {
        // Full tracing: the logs must not carry values either.
        let run = env.cmd().env("RUST_LOG", "trace").args(["run", "--due", "--format", "jsonl"]).output().unwrap();
        assert_eq!(code(&run), Some(0), "{}", stderr(&run));
        let rotated = records(&run, "rotation").iter().filter(|r| r["result"] == "rotated").count();
        if rotated > 0 {
            rotations += rotated;
            let (data, _) = read(&client, "secret/app/db", None).await;
            assert_eq!(data["username"], "app", "other keys are kept");
            assert!(!seen.contains(&data["password"]), "every rotation makes a new value");
            seen.push(data["password"].clone());
        }
        outputs.push(run);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert!((2..=4).contains(&rotations), "a 5 s schedule over 17 s rotates 2-4 times, saw {rotations}");

    // Metadata: the latest version is the verified current one.
    let (_, latest) = read(&client, "secret/app/db", None).await;
    let meta = custom(&client, "secret/app/db").await;
    assert_eq!(meta["rotation_result"], "success");
    assert_eq!(meta["rotation_strategy"], "generate");
    assert_eq!(meta["rotation_owner"], "data-team");
    assert_eq!(meta["rotation_current_version"], latest.to_string());
    assert_eq!(meta["rotation_previous_version"], (latest - 1).to_string());
    assert!(!meta.contains_key("rotation_pending_version"));
    // The previous value stays readable as the previous version.
    let (previous, _) = read(&client, "secret/app/db", Some(latest - 1)).await;
    assert_eq!(previous["password"], seen[seen.len() - 2]);

    // History: a started/succeeded pair per rotation, versions in order.
    let events = env.events("secret/app/db");
    assert_eq!(events, ["started", "succeeded"].repeat(rotations), "{events:?}");
    let succeeded: Vec<_> = env.history().into_iter().filter(|r| r["event"] == "succeeded").collect();
    for (i, r) in succeeded.iter().enumerate() {
        assert_eq!(r["from_version"], i as u64 + 1);
        assert_eq!(r["to_version"], i as u64 + 2);
        assert_eq!(r["owner"], "data-team");
    }
    // Hooks ran once per rotation, with the new version.
    let hooks = std::fs::read_to_string(&hook_log).unwrap();
    assert_eq!(hooks.lines().count(), rotations, "{hooks}");
    assert!(hooks.lines().last().unwrap().ends_with(&format!("secret/app/db {latest}")), "{hooks}");

    // `due` with no grace: overdue once 5 s have passed, exit 1.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let due = env.run(&["due", "--grace", "0s", "--format", "json"]);
    assert_eq!(code(&due), Some(1), "{}", stderr(&due));
    let doc: serde_json::Value = serde_json::from_slice(&due.stdout).unwrap();
    assert_eq!(doc["secrets"][0]["status"], "overdue");
    assert_eq!(doc["summary"]["overdue"], 1);
    outputs.push(due);

    // Human output and the history command work too, and nothing printed any value.
    outputs.push(env.run(&["due"]));
    outputs.push(env.run(&["history", "secret/app/db"]));
    outputs.push(env.run(&["state", "secret/app/db", "--format", "jsonl"]));
    let history_text = std::fs::read_to_string(env.history_file()).unwrap();
    for value in &seen {
        for out in &outputs {
            assert_absent(out, value);
        }
        assert!(!history_text.contains(value.as_str()), "the history file leaks a value");
    }
}

#[tokio::test]
async fn dry_run_changes_nothing_and_windows_hold_due_secrets() {
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/apps/one/key", &[("password", "v1-one-aaaaaaaa")]).await;
    write(&client, "secret/apps/two/key", &[("password", "v1-two-bbbbbbbb")]).await;
    write(&client, "secret/apps/two/other", &[("password", "not-covered")]).await;
    // A window that is never open now: the day after today.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%a").to_string().to_lowercase();
    let env = Env::new(
        &server,
        &format!(
            "[[policy]]\npath = \"secret/apps/*/key\"\nevery = \"1s\"\nwindow = \"{tomorrow} 00:00-23:59\"\nstrategy = \"generate\"\n"
        ),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dry = env.run(&["run", "--due", "--dry-run", "--format", "jsonl"]);
    assert_eq!(code(&dry), Some(0), "{}", stderr(&dry));
    let rows = records(&dry, "rotation");
    assert_eq!(rows.len(), 2, "the glob covers exactly two secrets");
    assert!(rows.iter().all(|r| r["result"] == "skipped"), "outside the window: {rows:?}");
    // Explicit paths ignore the window; --dry-run still changes nothing.
    let dry = env.run(&["run", "secret/apps/one/key", "--dry-run", "--format", "jsonl"]);
    assert_eq!(records(&dry, "rotation")[0]["result"], "would_rotate");
    assert_eq!(read(&client, "secret/apps/one/key", None).await.1, 1);
    assert!(env.history().is_empty());
    // For real.
    let run = env.run(&["run", "secret/apps/one/key", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    assert_eq!(read(&client, "secret/apps/one/key", None).await.1, 2);
    assert_eq!(read(&client, "secret/apps/two/key", None).await.1, 1);
    let none = env.run(&["run", "secret/elsewhere"]);
    assert_eq!(code(&none), Some(2), "a path no policy covers is a usage error");
}

#[tokio::test]
async fn generate_with_the_servers_password_policy() {
    let server = dev_server().await;
    let client = root_client(&server);
    let policy = "length = 30\nrule \"charset\" {\n  charset = \"abcdef\"\n  min-chars = 1\n}\n";
    client
        .request(
            reqwest::Method::PUT,
            "sys/policies/password/rotation-test",
            Some(&serde_json::json!({ "policy": policy })),
        )
        .await
        .unwrap();
    write(&client, "secret/app/hook", &[("signing_key", "before-policy-value-0000")]).await;
    let env = Env::new(
        &server,
        "[[policy]]\npath = \"secret/app/hook\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         generate = { key = \"signing_key\", password_policy = \"rotation-test\" }\n",
    );
    let run = env.run(&["run", "secret/app/hook", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    let (data, version) = read(&client, "secret/app/hook", None).await;
    assert_eq!(version, 2);
    let value = &data["signing_key"];
    assert_eq!(value.len(), 30);
    assert!(value.chars().all(|c| "abcdef".contains(c)), "the server's policy made it");
    assert_absent(&run, value);
}
