//! The `command` strategy: a user command makes the new API key and prints it as JSON; the old key stays the
//! previous version; a command that breaks the contract changes nothing.

use crate::util::*;

#[tokio::test]
async fn command_strategy_stores_what_the_command_prints() {
    let server = dev_server().await;
    let client = root_client(&server);
    const OLD: &str = "sk_live_old_key_4f9a8b7c";
    const NEW: &str = "sk_live_new_key_0d1e2f3a";
    write(&client, "secret/apis/stripe", &[("api_key", OLD), ("account", "acct_1")]).await;
    let env = Env::new(&server, "");
    // The command sees the current key on stdin (a provider needs it to authenticate the rotation).
    let seen = env.path("seen-stdin");
    let maker = script(
        env.dir.path(),
        "new-key.sh",
        &format!("cat > {}\necho '{{\"data\":{{\"api_key\":\"{NEW}\"}}}}'", seen.display()),
    );
    let broken = script(env.dir.path(), "broken.sh", &format!("cat >/dev/null\necho 'oops {NEW}'"));
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\npath = \"secret/apis/stripe\"\nevery = \"90d\"\nstrategy = \"command\"\ncommand = {{ argv = [\"{}\"] }}\n\
             [[policy]]\npath = \"secret/apis/broken\"\nevery = \"90d\"\nstrategy = \"command\"\ncommand = {{ argv = [\"{}\"] }}\n",
            maker.display(),
            broken.display()
        ),
    )
    .unwrap();

    let run = env.run(&["run", "secret/apis/stripe", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    assert_eq!(records(&run, "rotation")[0]["result"], "rotated");
    let (data, version) = read(&client, "secret/apis/stripe", None).await;
    assert_eq!((data["api_key"].as_str(), data["account"].as_str(), version), (NEW, "acct_1", 2));
    assert_eq!(read(&client, "secret/apis/stripe", Some(1)).await.0["api_key"], OLD);
    let stdin: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(stdin["data"]["api_key"], OLD);
    assert_eq!(stdin["version"], 1);
    assert_absent(&run, OLD);
    assert_absent(&run, NEW);

    // A command that prints something else: nothing is written, the failure is recorded, the output is not echoed.
    write(&client, "secret/apis/broken", &[("api_key", OLD)]).await;
    let bad = env.run(&["run", "secret/apis/broken", "--format", "jsonl"]);
    assert_eq!(code(&bad), Some(4), "{}", stderr(&bad));
    assert_eq!(records(&bad, "rotation")[0]["result"], "failed");
    assert!(stderr(&bad).contains("did not print a JSON object"), "{}", stderr(&bad));
    assert_absent(&bad, NEW);
    assert_eq!(read(&client, "secret/apis/broken", None).await.1, 1);
    assert_eq!(custom(&client, "secret/apis/broken").await["rotation_result"], "failed");
    assert_eq!(env.events("secret/apis/broken"), ["failed"]);
    assert!(!std::fs::read_to_string(env.history_file()).unwrap().contains(NEW));
}
