//! `get` and `list`: one secret as JSON or one raw value, folders listed, errors that name the path and never a
//! value — authenticated with the AppRole files a deployment writes.

use serde_json::Value;

use crate::util::{
    approle_tokens, assert_not_on_stderr, code, dev_server, pipeline, planted, put, root, stderr, stdout, vault_env,
};

#[tokio::test]
async fn get_prints_the_secret_or_one_raw_field() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    let tricky = format!("{password}\n'\"$HOME");
    put(&admin, "secret/app/db", &[("username", "etl"), ("password", &tricky)]).await;
    let pipe = pipeline(&admin).await;

    let out = vault_env().envs(pipe.env(&server)).args(["get", "secret/app/db"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "nothing on stderr");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["path"], "secret/app/db");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["data"]["password"], tricky.as_str());
    assert_eq!(doc["data"]["username"], "etl");

    // The API's form of the path means the same secret; --field prints the value raw, byte for byte.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["get", "secret/data/app/db", "--field", "password"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), tricky);
    assert_eq!(stderr(&out), "");

    // A missing key names the keys there are, not their values.
    let out = vault_env().envs(pipe.env(&server)).args(["get", "secret/app/db", "--field", "nope"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert!(
        stderr(&out).contains("secret/app/db has no key \"nope\" (its keys: password, username)"),
        "{}",
        stderr(&out)
    );
    assert_not_on_stderr(&out, &[&password, &pipe.secret_id]);
    assert_eq!(stdout(&out), "");

    // The role_id may come from VAULT_ROLE_ID instead of a file.
    let role_id = std::fs::read_to_string(&pipe.role_id_file).unwrap();
    let out = vault_env()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_ROLE_ID", role_id.trim())
        .env("VAULT_SECRET_ID_FILE", &pipe.secret_id_file)
        .args(["get", "secret/app/db", "--field", "username"])
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out)), (0, "etl".to_owned()), "{}", stderr(&out));

    // Each invocation logged in with AppRole and revoked its token when done: none is left behind.
    assert_eq!(approle_tokens(&admin).await, 0);
}

#[tokio::test]
async fn get_fails_clearly() {
    let server = dev_server().await;
    let admin = root(&server);
    let pipe = pipeline(&admin).await;
    let secret = planted("other");
    put(&admin, "secret/other/x", &[("k", &secret)]).await;

    let out = vault_env().envs(pipe.env(&server)).args(["get", "secret/app/missing"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert_eq!(stderr(&out), "vault-env: error: no secret at secret/app/missing\n");

    // Outside the policy: denied, exit 4, and the value stays hidden.
    let out = vault_env().envs(pipe.env(&server)).args(["get", "secret/other/x"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("permission denied: read on secret/other/x"), "{}", stderr(&out));
    assert_not_on_stderr(&out, &[&secret, &pipe.secret_id]);

    // A wrong secret_id: authentication failed, exit 3, and the secret_id is not repeated.
    std::fs::write(&pipe.secret_id_file, "not-the-secret-id").unwrap();
    let out = vault_env().envs(pipe.env(&server)).args(["get", "secret/app/db"]).output().unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("authentication failed"), "{}", stderr(&out));
    assert_not_on_stderr(&out, &["not-the-secret-id"]);

    // No server: unavailable, exit 3.
    let out = vault_env()
        .env("VAULT_ADDR", "http://127.0.0.1:9")
        .env("VAULT_TOKEN", "x")
        .args(["--max-retries", "0", "get", "secret/app/db"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[tokio::test]
async fn list_names_secrets_flat_or_recursive() {
    let server = dev_server().await;
    let admin = root(&server);
    for path in ["secret/app/a", "secret/app/b", "secret/app/team/c", "secret/other/z"] {
        put(&admin, path, &[("k", "v")]).await;
    }
    let pipe = pipeline(&admin).await;

    let out = vault_env().envs(pipe.env(&server)).args(["list", "secret/app"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\nb\nteam/\n");

    let out =
        vault_env().envs(pipe.env(&server)).args(["list", "secret/app/", "-r", "--format", "jsonl"]).output().unwrap();
    let lines: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let paths: Vec<&str> = lines.iter().filter(|l| l["type"] == "key").map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["secret/app/a", "secret/app/b", "secret/app/team/c"]);
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert_eq!(lines.last().unwrap()["count"], 3);

    let out = vault_env().envs(pipe.env(&server)).args(["list", "secret/app", "--format", "json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["keys"], serde_json::json!(["a", "b", "team/"]));

    // An empty folder lists as empty; one outside the policy is denied.
    let out = vault_env().envs(pipe.env(&server)).args(["list", "secret/app/none"]).output().unwrap();
    assert_eq!((code(&out), stdout(&out)), (0, String::new()));
    let out = vault_env().envs(pipe.env(&server)).args(["list", "secret/other"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

#[tokio::test]
async fn tls_with_the_deployments_ca() {
    let server = vault_testkit::TlsServer::start().await.unwrap_or_else(|e| panic!("cannot start a TLS server: {e}"));
    let admin = vault_testkit::root_client!(&server);
    vault_testkit::harness::mount_kv2(&server, "secret").await;
    put(&admin, "secret/app/tls", &[("k", "over-tls")]).await;

    let out = vault_env().envs(server.env()).args(["get", "secret/app/tls", "--field", "k"]).output().unwrap();
    assert_eq!((code(&out), stdout(&out)), (0, "over-tls".to_owned()), "{}", stderr(&out));

    // Without the CA: a TLS error that says what to do, exit 3.
    let out = vault_env()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", server.root_token())
        .args(["--max-retries", "0", "get", "secret/app/tls"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("VAULT_CACERT"), "{}", stderr(&out));
}

#[test]
fn help_documents_the_commands_and_exit_codes() {
    let out = vault_env().arg("--help").output().unwrap();
    let text = stdout(&out);
    for word in ["get", "list", "export", "check", "run", "db-creds", "serve", "Exit codes:", "128 + N"] {
        assert!(text.contains(word), "--help lacks {word:?}:\n{text}");
    }
    insta::assert_snapshot!("help", text);
    let out = vault_env().args(["run", "--help"]).output().unwrap();
    assert!(stdout(&out).contains("--keep-token") && stdout(&out).contains("--exec"));
    insta::assert_snapshot!("run_help", stdout(&out));
    // A run without a command is a usage error.
    let out = vault_env().args(["run", "-s", "secret/x"]).output().unwrap();
    assert_eq!(code(&out), 2);
}
