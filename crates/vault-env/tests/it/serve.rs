//! `serve --stdio`: JSON request and answer lines over one authenticated, caching connection; typed error kinds;
//! a sealed server reported by `health`; the token revoked when stdin closes; values never on stderr.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use serde_json::{Value, json};

use crate::util::{approle_tokens, dev_server, pipeline, planted, put, root, vault_env_std};

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(env: Vec<(String, String)>, args: &[&str]) -> Self {
        let mut child = vault_env_std()
            .envs(env)
            .args(["serve", "--stdio"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server { child, stdin, stdout }
    }

    fn raw(&mut self, line: &str) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
    }

    fn ask(&mut self, request: &Value) -> Value {
        let answer = self.raw(&request.to_string());
        assert_eq!(answer["id"], request["id"], "answers come in order, with the request's id");
        answer
    }

    /// Closes stdin and returns stderr once the process has ended.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn requests_and_answers_round_trip() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    put(&admin, "secret/app/db", &[("user", "etl"), ("password", &password)]).await;
    put(&admin, "secret/app/team/x", &[("k", "v")]).await;
    put(&admin, "secret/other/y", &[("k", "v")]).await;
    let pipe = pipeline(&admin).await;

    let mut s = Server::start(pipe.env(&server), &["--cache-ttl", "5m"]);
    let a = s.ask(&json!({"id": 1, "op": "get", "path": "secret/app/db", "key": "password"}));
    assert_eq!(a, json!({"id": 1, "ok": true, "value": password, "version": 1}));
    let a = s.ask(&json!({"id": "two", "op": "get", "path": "secret/app/db"}));
    assert_eq!(a["value"], json!({"user": "etl", "password": password}));

    // Reads are cached: the stats say so.
    for i in 0..10 {
        s.ask(&json!({"id": 100 + i, "op": "get", "path": "secret/app/db", "key": "user"}));
    }
    let a = s.ask(&json!({"id": 3, "op": "stats"}));
    assert!(a["value"]["cache"]["hits"].as_u64().unwrap() >= 10, "{a}");

    let a = s.ask(&json!({"id": 4, "op": "list", "path": "secret/app"}));
    assert_eq!(a["value"], json!(["db", "team/"]));
    let a = s.ask(&json!({"id": 5, "op": "list", "path": "secret/app", "recursive": true}));
    assert_eq!(a["value"], json!(["db", "team/x"]));

    // Errors have a kind and a message that names the path, never a value.
    let a = s.ask(&json!({"id": 6, "op": "get", "path": "secret/app/gone"}));
    assert_eq!(a["ok"], false);
    assert_eq!(a["error"], json!({"kind": "not_found", "message": "no secret at secret/app/gone"}));
    let a = s.ask(&json!({"id": 7, "op": "get", "path": "secret/app/db", "key": "nope"}));
    assert_eq!(a["error"]["kind"], "not_found");
    assert!(!a.to_string().contains(&password));
    let a = s.ask(&json!({"id": 8, "op": "get", "path": "secret/other/y"}));
    assert_eq!(a["error"]["kind"], "permission_denied");
    let a = s.ask(&json!({"id": 9, "op": "frobnicate"}));
    assert_eq!(a["error"]["kind"], "invalid_request");
    let a = s.ask(&json!({"id": 10, "op": "get"}));
    assert_eq!(a["error"], json!({"kind": "invalid_request", "message": "get needs a `path`"}));
    let a = s.raw(&format!("{{\"id\": 11, \"op\": \"get\", \"path\": \"{password}\""));
    assert_eq!(a["error"]["kind"], "protocol");
    assert!(!a.to_string().contains(&password), "a malformed line is not echoed");
    let a = s.ask(&json!({"id": 12, "op": "health"}));
    assert_eq!(a["value"]["healthy"], true);
    assert_eq!(a["value"]["sealed"], false);

    assert_eq!(approle_tokens(&admin).await, 1, "one login for the whole session");
    let (code, err) = s.finish();
    assert_eq!(code, Some(0));
    assert!(!err.contains(&password) && !err.contains(&pipe.secret_id), "{err}");
    assert_eq!(approle_tokens(&admin).await, 0, "the token is revoked when stdin closes");
}

#[tokio::test]
async fn a_sealed_server_is_reported() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/db", &[("user", "etl")]).await;
    let pipe = pipeline(&admin).await;

    let mut s = Server::start(pipe.env(&server), &["--cache-ttl", "0"]);
    assert_eq!(s.ask(&json!({"id": 1, "op": "get", "path": "secret/app/db", "key": "user"}))["value"], "etl");
    admin.seal().await.unwrap();
    let a = s.ask(&json!({"id": 2, "op": "health"}));
    assert_eq!(a["ok"], true);
    assert_eq!(a["value"]["sealed"], true);
    assert_eq!(a["value"]["healthy"], false);
    assert_eq!(a["value"]["state"], "sealed");
    let a = s.ask(&json!({"id": 3, "op": "get", "path": "secret/app/db", "key": "user"}));
    assert_eq!(a["error"]["kind"], "sealed", "{a}");
    let (code, _) = s.finish();
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn rotation_status_passes_secret_rotates_metadata_through() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/db", &[("password", "one")]).await;
    put(&admin, "secret/app/db", &[("password", "two")]).await;
    put(&admin, "secret/app/plain", &[("k", "v")]).await;
    let custom = [
        ("rotation_result", "success"),
        ("rotation_next_due", "2026-01-01T00:00:00Z"),
        ("rotation_current_version", "2"),
        ("rotation_versions", "1:prior 2:verified"),
        ("provenance", "env-migrate"),
    ];
    let update = vault_core::kv::MetadataUpdate {
        custom_metadata: Some(custom.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        ..Default::default()
    };
    admin.kv_write_metadata(&admin.kv_path("secret/app/db").await.unwrap(), &update).await.unwrap();
    let pipe = pipeline(&admin).await;

    // The pipeline's policy reads secret/app/* but not its metadata: the state arrives with the read.
    let mut s = Server::start(pipe.env(&server), &["--cache-ttl", "0"]);
    let a = s.ask(&json!({"id": 1, "op": "rotation_status", "path": "secret/app/db"}));
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["value"]["path"], "secret/app/db");
    assert_eq!(a["value"]["version"], 2);
    assert_eq!(
        a["value"]["rotation"],
        json!({
            "rotation_result": "success",
            "rotation_next_due": "2026-01-01T00:00:00Z",
            "rotation_current_version": "2",
            "rotation_versions": "1:prior 2:verified",
        }),
        "only the rotation_* keys"
    );
    assert!(!a.to_string().contains("two"), "no value in the answer");
    let a = s.ask(&json!({"id": 2, "op": "rotation_status", "path": "secret/app/plain"}));
    assert_eq!(a["value"]["rotation"], json!({}));
    let a = s.ask(&json!({"id": 3, "op": "rotation_status", "path": "secret/app/none"}));
    assert_eq!(a["error"]["kind"], "not_found");
    let (code, _) = s.finish();
    assert_eq!(code, Some(0));
}
