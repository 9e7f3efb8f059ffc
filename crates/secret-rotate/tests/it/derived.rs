//! Derived keys: a URL holding the password is re-rendered in the same write as the new password, percent-encoded
//! in the userinfo; a copy of the old value in a key nobody declared makes rotation refuse before writing, naming
//! the key and never the value, whatever the strategy and whether the copy is verbatim or percent-encoded.

use crate::util::*;

/// The value percent-encoded as the derive module documents (everything but `A-Za-z0-9-._~`).
fn encoded(value: &str) -> String {
    let mut out = String::new();
    secret_rotate::derive::percent_encode_into(value, &mut out);
    out
}

#[tokio::test]
async fn a_derived_url_is_rewritten_in_the_same_write() {
    let server = dev_server().await;
    let client = root_client(&server);
    const OLD: &str = "old:p@ss/w#rd";
    let old_url = format!("postgresql://app:{}@db:5432/app", encoded(OLD));
    write(&client, "secret/app/db", &[("DB_PASSWORD", OLD), ("DATABASE_URL", &old_url), ("DB_USER", "app")]).await;
    let env = Env::new(&server, "");
    // The verifier sees the new URL beside the new password: it proves both in one read.
    let verify = script(
        env.dir.path(),
        "verify.sh",
        "python3 -c 'import json,sys,urllib.parse as u; d=json.load(sys.stdin)[\"data\"]; \
         p=u.urlsplit(d[\"DATABASE_URL\"]); sys.exit(0 if u.unquote(p.password)==d[\"DB_PASSWORD\"] and p.hostname==\"db\" else 1)'",
    );
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\npath = \"secret/app/db\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
             generate = {{ key = \"DB_PASSWORD\", length = 64, charset = \"alphanumeric-symbols\" }}\n\
             verify = {{ argv = [\"{}\"] }}\n\
             [policy.derived]\nDATABASE_URL = \"postgresql://{{DB_USER}}:{{DB_PASSWORD}}@db:5432/app\"\n",
            verify.display()
        ),
    )
    .unwrap();
    let check = env.run(&["check", "--format", "jsonl"]);
    assert_eq!(code(&check), Some(0), "{}", stderr(&check));
    assert_eq!(records(&check, "policy")[0]["derived"], serde_json::json!(["DATABASE_URL"]));

    for round in 0..3 {
        let run = env.run(&["run", "secret/app/db", "--format", "jsonl"]);
        assert_eq!(code(&run), Some(0), "round {round}: {}", stderr(&run));
        assert_eq!(records(&run, "rotation")[0]["result"], "rotated");
        let (data, version) = read(&client, "secret/app/db", None).await;
        assert_eq!(version, round + 2, "one write per rotation: the URL is in the same version as the password");
        let password = &data["DB_PASSWORD"];
        assert_ne!(password, OLD);
        assert_eq!(data["DATABASE_URL"], format!("postgresql://app:{}@db:5432/app", encoded(password)));
        assert_eq!(data["DB_USER"], "app");
        assert_absent(&run, password);
        assert_absent(&run, &encoded(password));
    }
    // Rollback restores the pair as it was.
    let back = env.run(&["rollback", "secret/app/db"]);
    assert_eq!(code(&back), Some(0), "{}", stderr(&back));
    let (data, _) = read(&client, "secret/app/db", None).await;
    let (before, _) = read(&client, "secret/app/db", Some(3)).await;
    assert_eq!(data, before);
}

#[tokio::test]
async fn an_undeclared_copy_of_the_old_value_stops_rotation_before_any_write() {
    let server = dev_server().await;
    let client = root_client(&server);
    const OLD: &str = "old-secret:value/42";
    const OLD_KEY: &str = "sk_live_old_key_778899";
    // Verbatim, percent-encoded, and inside a larger value; for the generate and the command strategies.
    write(&client, "secret/app/verbatim", &[("password", OLD), ("DSN", &format!("host=db password={OLD}"))]).await;
    write(
        &client,
        "secret/app/encoded",
        &[("password", OLD), ("LEGACY_URL", &format!("mysql://u:{}@h/d", encoded(OLD)))],
    )
    .await;
    write(&client, "secret/apis/key", &[("api_key", OLD_KEY), ("config_json", &format!("{{\"key\":\"{OLD_KEY}\"}}"))])
        .await;
    let env = Env::new(&server, "");
    let maker = script(
        env.dir.path(),
        "new-key.sh",
        "cat >/dev/null\necho '{\"data\":{\"api_key\":\"sk_live_new_key_112233\"}}'",
    );
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\npath = \"secret/app/*\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
             [[policy]]\npath = \"secret/apis/key\"\nevery = \"30d\"\nstrategy = \"command\"\n\
             command = {{ argv = [\"{}\"] }}\n",
            maker.display()
        ),
    )
    .unwrap();
    for (path, key) in
        [("secret/app/verbatim", "DSN"), ("secret/app/encoded", "LEGACY_URL"), ("secret/apis/key", "config_json")]
    {
        let run = env.run(&["run", path, "--format", "jsonl"]);
        assert_eq!(code(&run), Some(4), "{path}: {}", stderr(&run));
        let row = &records(&run, "rotation")[0];
        assert_eq!(row["result"], "failed");
        let detail = row["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("{key} (holds the old ")), "{path}: {detail}");
        assert!(detail.contains("nothing was written"), "{detail}");
        assert!(stderr(&run).contains(key), "{}", stderr(&run));
        assert_eq!(read(&client, path, None).await.1, 1, "{path}: nothing written");
        assert_eq!(custom(&client, path).await["rotation_result"], "failed");
        for value in [OLD, OLD_KEY, "sk_live_new_key_112233", &encoded(OLD)] {
            assert_absent(&run, value);
        }
    }
    assert!(!std::fs::read_to_string(env.history_file()).unwrap().contains(OLD));

    // Declaring the copy derived lets the rotation go ahead and rewrites it.
    std::fs::write(
        env.path("policies.toml"),
        "[[policy]]\npath = \"secret/app/verbatim\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         derived = { DSN = \"host=db password={password}\" }\n",
    )
    .unwrap();
    let run = env.run(&["run", "secret/app/verbatim", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    let (data, version) = read(&client, "secret/app/verbatim", None).await;
    assert_eq!((version, data["DSN"].clone()), (2, format!("host=db password={}", data["password"])));
}

#[tokio::test]
async fn a_template_naming_a_missing_key_fails_before_writing_and_check_rejects_bad_templates() {
    let server = dev_server().await;
    let client = root_client(&server);
    write(&client, "secret/app/db", &[("password", "some-old-value-123")]).await;
    let env = Env::new(
        &server,
        "[[policy]]\npath = \"secret/app/db\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         derived = { URL = \"postgresql://{DB_USER}:{password}@db/app\" }\n",
    );
    let run = env.run(&["run", "secret/app/db", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(4), "{}", stderr(&run));
    assert!(stderr(&run).contains("derived.URL: the secret has no key \"DB_USER\""), "{}", stderr(&run));
    assert_eq!(read(&client, "secret/app/db", None).await.1, 1);

    std::fs::write(
        env.path("bad.toml"),
        "# a bad template\n[[policy]]\npath = \"secret/app/db\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
         derived = { URL = \"postgresql://app:{password@db/app\" }\n",
    )
    .unwrap();
    let bad = env.cmd().arg("check").arg(env.path("bad.toml")).output().unwrap();
    assert_eq!(code(&bad), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("bad.toml:2: derived.URL: the placeholder at character 18 is not closed"),
        "{}",
        stderr(&bad)
    );
}
