//! A failing verification rolls back (consumers keep the working value, the history says so), and
//! `secret-rotate rollback` returns to the previous version on request.

use crate::util::*;

#[tokio::test]
async fn failing_verification_rolls_back() {
    let server = dev_server().await;
    let client = root_client(&server);
    const PLANTED: &str = "planted-working-value-77Kx";
    write(&client, "secret/app/api", &[("password", PLANTED)]).await;
    let env = Env::new(&server, "");
    let hook_log = env.path("hooks.log");
    let hook = script(env.dir.path(), "hook.sh", &format!("echo \"$SECRET_ROTATE_VERSION\" >> {}", hook_log.display()));
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\npath = \"secret/app/api\"\nevery = \"30d\"\nretry = \"1h\"\nstrategy = \"generate\"\n\
             verify = {{ argv = [\"sh\", \"-c\", \"cat >/dev/null; exit 3\"] }}\nhooks = [[\"{}\"]]\n",
            hook.display()
        ),
    )
    .unwrap();

    let run = env.run(&["run", "secret/app/api", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(4), "a rolled-back rotation is a failed operation: {}", stderr(&run));
    let row = &records(&run, "rotation")[0];
    assert_eq!(row["result"], "rolled_back");
    assert_eq!(summary(&run)["rolled_back"], 1);
    assert_eq!(row["from_version"], 1);
    assert_eq!(row["to_version"], 3);
    assert_eq!(row["restored_version"], 1, "the output says which version's data is current again");
    assert!(row["detail"].as_str().unwrap().contains("verification failed"), "{row}");
    assert_absent(&run, PLANTED);

    // Consumers read the working value again; the failed one is version 2, the restored copy version 3.
    let (data, version) = read(&client, "secret/app/api", None).await;
    assert_eq!((data["password"].as_str(), version), (PLANTED, 3));
    let (failed, _) = read(&client, "secret/app/api", Some(2)).await;
    assert_ne!(failed["password"], PLANTED);
    assert_absent(&run, &failed["password"]);

    let meta = custom(&client, "secret/app/api").await;
    assert_eq!(meta["rotation_result"], "rolled_back");
    assert_eq!(meta["rotation_current_version"], "3");
    assert!(meta["rotation_error"].contains("verification failed"));
    assert!(!meta.contains_key("rotation_pending_version"));
    assert!(!meta.contains_key("rotation_last"), "never rotated successfully");
    assert_eq!(env.events("secret/app/api"), ["started", "rolled_back"]);
    assert_eq!(
        std::fs::read_to_string(&hook_log).unwrap().trim(),
        "3",
        "hooks reload consumers onto the restored value"
    );

    // A timer run does not hammer a failing rotation: it waits for `retry`; `due` flags it.
    let again = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&again), Some(0), "{}", stderr(&again));
    assert_eq!(records(&again, "rotation")[0]["result"], "skipped");
    let due = env.run(&["due", "--format", "jsonl"]);
    assert_eq!(code(&due), Some(1));
    assert_eq!(records(&due, "secret")[0]["status"], "failed");
}

#[tokio::test]
async fn manual_rollback_restores_the_previous_version() {
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/app/token", &[("password", "first-value-aaaaaaaaa")]).await;
    let env = Env::new(&server, "[[policy]]\npath = \"secret/app/token\"\nevery = \"30d\"\nstrategy = \"generate\"\n");
    let run = env.run(&["run", "secret/app/token", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    let (rotated, _) = read(&client, "secret/app/token", None).await;

    let back = env.run(&["rollback", "secret/app/token", "--format", "jsonl"]);
    assert_eq!(code(&back), Some(0), "{}", stderr(&back));
    let row = &records(&back, "rotation")[0];
    assert_eq!((row["from_version"].as_u64(), row["to_version"].as_u64()), (Some(2), Some(3)));
    let (data, _) = read(&client, "secret/app/token", None).await;
    assert_eq!(data["password"], "first-value-aaaaaaaaa");
    assert_eq!(custom(&client, "secret/app/token").await["rotation_result"], "rolled_back");
    assert_eq!(env.events("secret/app/token"), ["started", "succeeded", "manual_rollback"]);
    for out in [&run, &back] {
        assert_absent(out, "first-value-aaaaaaaaa");
        assert_absent(out, &rotated["password"]);
    }
    let shown = env.run(&["history", "secret/app/token", "--format", "jsonl"]);
    assert_eq!(records(&shown, "history").len(), 3);
}

#[tokio::test]
async fn a_verifier_that_hangs_is_killed_and_rolled_back_and_failing_hooks_are_reported() {
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/app/slow", &[("password", "slow-original-value-123")]).await;
    write(&client, "secret/app/hooked", &[("password", "hooked-original-value-456")]).await;
    let env = Env::new(
        &server,
        "[[policy]]\npath = \"secret/app/slow\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         verify = { argv = [\"sleep\", \"30\"], timeout = \"1s\" }\n\
         [[policy]]\npath = \"secret/app/hooked\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         hooks = [[\"false\"], [\"true\"]]\n",
    );
    let started = std::time::Instant::now();
    let slow = env.run(&["run", "secret/app/slow", "--format", "jsonl"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "the verifier was killed at its timeout");
    assert_eq!(code(&slow), Some(4));
    let row = &records(&slow, "rotation")[0];
    assert_eq!(row["result"], "rolled_back");
    assert!(row["detail"].as_str().unwrap().contains("did not finish within 1s"), "{row}");
    assert_eq!(read(&client, "secret/app/slow", None).await.0["password"], "slow-original-value-123");

    let hooked = env.run(&["run", "secret/app/hooked", "--format", "jsonl"]);
    assert_eq!(code(&hooked), Some(4), "a failed hook fails the run: {}", stderr(&hooked));
    let row = &records(&hooked, "rotation")[0];
    assert_eq!((row["result"].as_str(), row["hooks_ok"].as_bool()), (Some("rotated"), Some(false)));
    assert_eq!(custom(&client, "secret/app/hooked").await["rotation_result"], "success", "the rotation stands");
    assert_eq!(env.events("secret/app/hooked"), ["started", "succeeded", "hook_failed"]);
}

/// The bug this guards against: `rollback` after a failed verification made the failed version current again.
/// Rollback only returns to a version known to be good, says which, and refuses when there is none.
#[tokio::test]
async fn rollback_never_restores_a_version_that_failed_verification() {
    let server = dev_server().await;
    let client = root_client(&server);
    const PLANTED: &str = "planted-good-value-Hd82k";
    write(&client, "secret/app/api", &[("password", PLANTED)]).await;
    let failing = "[[policy]]\npath = \"secret/app/api\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
                   verify = { argv = [\"sh\", \"-c\", \"cat >/dev/null; exit 1\"] }\n";
    let env = Env::new(&server, failing);
    let run = env.run(&["run", "secret/app/api", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(4), "{}", stderr(&run));
    assert_eq!(custom(&client, "secret/app/api").await["rotation_versions"], "1:prior 2:failed 3:restored");

    // Every format refuses, names the skipped versions, writes nothing and prints no value.
    let (failed, _) = read(&client, "secret/app/api", Some(2)).await;
    for format in ["human", "json", "jsonl"] {
        for dry in [false, true] {
            let mut args = vec!["rollback", "secret/app/api", "--format", format];
            if dry {
                args.push("--dry-run");
            }
            let out = env.run(&args);
            assert_eq!(code(&out), Some(4), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("no earlier version is known to be good"), "{err}");
            assert!(err.contains("2 (failed)") && err.contains("1 (prior, same data as the current version)"), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(stdout(&out).is_empty());
            assert_absent(&out, PLANTED);
            assert_absent(&out, &failed["password"]);
        }
    }
    assert_eq!(read(&client, "secret/app/api", None).await.1, 3, "nothing was written");

    // A later good rotation, then a rollback: back to version 3 (the restored copy of the good value).
    std::fs::write(
        env.path("policies.toml"),
        "[[policy]]\npath = \"secret/app/api\"\nevery = \"30d\"\nstrategy = \"generate\"\n",
    )
    .unwrap();
    let good = env.run(&["run", "secret/app/api", "--format", "jsonl"]);
    assert_eq!(code(&good), Some(0), "{}", stderr(&good));
    let human = env.run(&["rollback", "secret/app/api", "--dry-run"]);
    assert!(stdout(&human).contains("would restore the data of version 3 (restored)"), "{}", stdout(&human));
    let back = env.run(&["rollback", "secret/app/api", "--format", "json"]);
    assert_eq!(code(&back), Some(0), "{}", stderr(&back));
    let doc: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    let row = &doc["rotations"][0];
    assert_eq!((row["from_version"].as_u64(), row["to_version"].as_u64()), (Some(4), Some(5)));
    assert_eq!(row["restored_version"], 3);
    assert!(row["detail"].as_str().unwrap().contains("restored the data of version 3"), "{row}");
    assert_eq!(read(&client, "secret/app/api", None).await.0["password"], PLANTED);
    assert_eq!(
        custom(&client, "secret/app/api").await["rotation_versions"],
        "1:prior 2:failed 3:restored 4:rejected 5:restored"
    );
    // Nothing good is left that differs from the current value: the version just rolled away from, the failed one
    // and the copies of the current value are all skipped.
    let again = env.run(&["rollback", "secret/app/api"]);
    assert_eq!(code(&again), Some(4), "{}", stderr(&again));
    assert!(stderr(&again).contains("4 (rejected)"), "{}", stderr(&again));
    let shown = env.run(&["state", "secret/app/api", "--format", "jsonl"]);
    assert_eq!(records(&shown, "state")[0]["versions"]["2"], "failed");
}
