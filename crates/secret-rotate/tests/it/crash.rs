//! A run killed between writing the new version and verifying it leaves `pending` behind; the next run finds it
//! and either finishes the rotation (verification passes now) or rolls it back (it fails). The crash is real: the
//! verification command kills its parent, secret-rotate, with SIGKILL.

use crate::util::*;

/// A verifier that kills secret-rotate the first time (leaving a marker) and then exits with `then`.
fn crashing_verifier(env: &Env, then: i32) -> std::path::PathBuf {
    let marker = env.path("crashed-once");
    script(
        env.dir.path(),
        "verify.sh",
        &format!(
            "cat >/dev/null\nif [ -e {m} ]; then exit {then}; fi\ntouch {m}\nkill -9 $PPID\nsleep 5",
            m = marker.display()
        ),
    )
}

async fn crash_then_recover(then: i32) -> (Env, vault_core::Client, vault_testkit::DevServer) {
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/app/db", &[("password", "planted-before-crash-Qw3")]).await;
    let env = Env::new(&server, "");
    let verify = crashing_verifier(&env, then);
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\npath = \"secret/app/db\"\nevery = \"30d\"\nstrategy = \"generate\"\nverify = {{ argv = [\"{}\"] }}\n",
            verify.display()
        ),
    )
    .unwrap();

    let crashed = env.run(&["run", "secret/app/db", "--format", "jsonl"]);
    assert_eq!(code(&crashed), None, "secret-rotate was killed: {}", stderr(&crashed));
    // The new version is written, and the state says it is unverified.
    let meta = custom(&client, "secret/app/db").await;
    assert_eq!(meta["rotation_result"], "pending");
    assert_eq!(meta["rotation_pending_version"], "2");
    assert_eq!(meta["rotation_previous_version"], "1");
    assert_eq!(meta["rotation_versions"], "1:prior 2:pending", "what is known of each version survives the crash");
    assert_eq!(read(&client, "secret/app/db", None).await.1, 2);
    assert_eq!(env.events("secret/app/db"), ["started"]);

    let due = env.run(&["due", "--format", "jsonl"]);
    assert_eq!(code(&due), Some(1), "a pending rotation needs attention");
    assert_eq!(records(&due, "secret")[0]["status"], "pending");
    (env, client, server)
}

#[tokio::test]
async fn a_crash_before_verification_is_resumed() {
    let (env, client, _server) = crash_then_recover(0).await;
    let (pending, _) = read(&client, "secret/app/db", Some(2)).await;
    // The lock died with the process: the next timer run goes ahead and finishes the rotation.
    let run = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    let row = &records(&run, "rotation")[0];
    assert_eq!(row["result"], "rotated");
    assert_eq!(row["recovered"], true);
    let (data, version) = read(&client, "secret/app/db", None).await;
    assert_eq!((data, version), (pending.clone(), 2), "the verified version is current, nothing new written");
    let meta = custom(&client, "secret/app/db").await;
    assert_eq!(meta["rotation_result"], "success");
    assert_eq!(meta["rotation_current_version"], "2");
    assert_eq!(env.events("secret/app/db"), ["started", "recovered", "succeeded"]);
    assert_absent(&run, &pending["password"]);
    assert_absent(&run, "planted-before-crash-Qw3");
}

#[tokio::test]
async fn a_crash_before_a_failing_verification_is_rolled_back() {
    let (env, client, _server) = crash_then_recover(1).await;
    let run = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(4), "{}", stderr(&run));
    let row = &records(&run, "rotation")[0];
    assert_eq!(row["result"], "rolled_back");
    assert_eq!(row["recovered"], true);
    let (data, version) = read(&client, "secret/app/db", None).await;
    assert_eq!((data["password"].as_str(), version), ("planted-before-crash-Qw3", 3));
    assert_eq!(env.events("secret/app/db"), ["started", "recovered", "rolled_back"]);
    let meta = custom(&client, "secret/app/db").await;
    assert_eq!(meta["rotation_result"], "rolled_back");
    assert_eq!(meta["rotation_versions"], "1:prior 2:failed 3:restored");
    assert_eq!(row["restored_version"], 1);

    // The version that failed verification after the crash is never restored by a manual rollback.
    let back = env.run(&["rollback", "secret/app/db", "--format", "jsonl"]);
    assert_eq!(code(&back), Some(4), "{}", stderr(&back));
    assert!(stderr(&back).contains("2 (failed)"), "{}", stderr(&back));
    assert_eq!(read(&client, "secret/app/db", None).await.1, 3, "nothing was written");
}

#[tokio::test]
async fn a_manual_rollback_during_an_interrupted_rotation_returns_to_the_prior_version() {
    let (env, client, _server) = crash_then_recover(1).await;
    let back = env.run(&["rollback", "secret/app/db", "--format", "jsonl"]);
    assert_eq!(code(&back), Some(0), "{}", stderr(&back));
    let row = &records(&back, "rotation")[0];
    assert_eq!((row["restored_version"].as_u64(), row["to_version"].as_u64()), (Some(1), Some(3)));
    assert_eq!(read(&client, "secret/app/db", None).await.0["password"], "planted-before-crash-Qw3");
    let meta = custom(&client, "secret/app/db").await;
    assert_eq!(meta["rotation_versions"], "1:prior 2:rejected 3:restored");
    assert!(!meta.contains_key("rotation_pending_version"));
}

#[tokio::test]
async fn a_crash_before_the_write_is_cleared() {
    // Simulates a run that died after recording `pending` but before writing: the metadata says pending version 2,
    // the secret is still at version 1.
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/app/db", &[("password", "untouched-value-xyz12")]).await;
    let path = client.kv_path("secret/app/db").await.unwrap();
    let patch: std::collections::BTreeMap<String, Option<String>> = [
        ("rotation_result", "pending"),
        ("rotation_pending_version", "2"),
        ("rotation_previous_version", "1"),
        ("rotation_strategy", "generate"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
    .collect();
    client.kv_patch_metadata(&path, &patch).await.unwrap();
    let env = Env::new(&server, "[[policy]]\npath = \"secret/app/db\"\nevery = \"30d\"\nstrategy = \"generate\"\n");
    let run = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    assert_eq!(records(&run, "rotation")[0]["result"], "aborted");
    assert_eq!(read(&client, "secret/app/db", None).await.1, 1);
    let meta = custom(&client, "secret/app/db").await;
    assert!(!meta.contains_key("rotation_pending_version"));
    assert_eq!(env.events("secret/app/db"), ["aborted"]);
    assert_eq!(
        meta.get("rotation_versions").map(String::as_str),
        None,
        "a pre-crash record without versions gains none for a write that never happened"
    );
}
