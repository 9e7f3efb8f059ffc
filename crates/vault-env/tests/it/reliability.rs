//! Issue 14's classes, for every vault-env command that connects: settings that cannot be sent, a zero client
//! timeout, a dead token at start, a path too long for any server, a server that never answers; the guarded
//! variables `run` and `export` refuse; and `serve --stdio` surviving bad and over-long lines with flat memory.
//! The classes themselves live in `vault_testkit::toolcheck`, shared with every tool.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use vault_testkit::toolcheck::{self, Entry, Tool};

use crate::util::{dev_server, put, root, vault_env_std};

fn tool() -> Tool {
    Tool::new("vault-env", env!("CARGO_BIN_EXE_vault-env"))
}

/// Every command that talks to Vault, and each output format whose output differs.
fn entries_for(path: &str) -> Vec<Entry> {
    let manifest =
        std::env::temp_dir().join(format!("vault-env-reliability-{}-{}.toml", std::process::id(), path.len()));
    std::fs::write(&manifest, format!("[[secret]]\npath = {path:?}\n")).unwrap();
    let manifest = manifest.display().to_string();
    vec![
        Entry::new("get", &["get", path]),
        Entry::new("get --field", &["get", path, "--field", "k"]),
        Entry::new("list", &["list", path]),
        Entry::new("list --format json", &["list", path, "--format", "json"]),
        Entry::new("list --format jsonl", &["list", path, "--format", "jsonl"]),
        Entry::new("export", &["export", path, "-o", "-"]),
        Entry::new("export --format json", &["export", path, "-o", "-", "--format", "json"]),
        Entry::new("run", &["run", "-s", path, "--", "true"]),
        Entry::new("check", &["check", &manifest]),
        Entry::new("check --format jsonl", &["check", &manifest, "--format", "jsonl"]),
    ]
}

fn entries() -> Vec<Entry> {
    let mut all = entries_for("secret/app/db");
    all.push(Entry::new("db-creds", &["db-creds", "etl"]));
    all.push(Entry::new("serve --stdio", &["serve", "--stdio"]).stdin(b"{\"id\":1,\"op\":\"health\"}\n"));
    all
}

#[test]
fn settings_that_cannot_be_sent_are_refused_by_every_command() {
    toolcheck::check_bad_settings(&tool(), &entries());
}

#[test]
fn a_zero_client_timeout_is_refused_by_every_command() {
    toolcheck::check_zero_client_timeout(&tool(), &entries());
}

#[tokio::test]
async fn a_dead_token_at_start_is_an_auth_failure_everywhere() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/db", &[("k", "v")]).await;
    let token = server.revoked_token().await.expect("a revoked token");
    let one_shot: Vec<Entry> = entries().into_iter().filter(|e| e.name != "serve --stdio").collect();
    toolcheck::check_dead_token(&tool(), &one_shot, server.addr(), &token);

    // serve checks the token at the first request: the answer's kind is `auth`, and it keeps serving.
    let out = vault_env_std()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", &token)
        .args(["serve", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let answers = feed(out, b"{\"id\":1,\"op\":\"get\",\"path\":\"secret/app/db\"}\n{\"id\":2,\"op\":\"stats\"}\n");
    assert_eq!(answers[0]["error"]["kind"], "auth", "{answers:?}");
    assert_eq!(answers[1]["ok"], true, "{answers:?}");
}

#[tokio::test]
async fn a_path_too_long_for_any_server_is_bad_input() {
    let server = dev_server().await;
    toolcheck::check_long_path(&tool(), entries_for, server.addr(), server.root_token());
}

#[test]
fn every_command_keeps_to_the_client_timeout() {
    // Five retries allowed, yet the whole command ends within the 2 s client timeout (plus start-up).
    let entries: Vec<Entry> = entries().into_iter().filter(|e| e.name != "serve --stdio").collect();
    toolcheck::check_time_limit(&tool(), &entries, &[("VAULT_CLIENT_TIMEOUT", "2s")], Duration::from_millis(3500));
}

/// Writes `input` to a running `serve --stdio`, closes stdin, and returns every answer.
fn feed(mut child: std::process::Child, input: &[u8]) -> Vec<Value> {
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn serve_answers_each_bad_line_and_goes_on_with_flat_memory() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/db", &[("k", "v")]).await;
    let mut child = vault_env_std()
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", server.root_token())
        .args(["serve", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |stdin: &mut std::process::ChildStdin, line: &[u8]| -> Value {
        stdin.write_all(line).unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
    };
    let good = b"{\"id\":9,\"op\":\"get\",\"path\":\"secret/app/db\",\"key\":\"k\"}\n";
    let bad_lines: Vec<(&str, Vec<u8>)> = vec![
        ("not UTF-8", b"{\"id\":1,\"op\":\"get\",\"path\":\"secret/\xff\xfe\"}\n".to_vec()),
        ("lone continuation byte", b"\x80\n".to_vec()),
        ("not JSON", b"this is not json\n".to_vec()),
        ("truncated JSON", b"{\"id\":2,\"op\":\n".to_vec()),
        ("not an object", b"[1,2,3]\n".to_vec()),
        ("unknown field", b"{\"id\":3,\"op\":\"get\",\"paht\":\"x\"}\n".to_vec()),
        ("just over the limit", [vec![b'x'; (1 << 20) + 1], b"\n".to_vec()].concat()),
    ];
    for (what, line) in &bad_lines {
        let answer = ask(&mut stdin, line);
        assert_eq!(answer["ok"], false, "{what}: {answer}");
        assert_eq!(answer["error"]["kind"], "protocol", "{what}: {answer}");
        let answer = ask(&mut stdin, good);
        assert_eq!(answer["value"], "v", "{what}: the server goes on: {answer}");
    }
    // A request padded to exactly the limit is still read and answered.
    let request = &good[..good.len() - 1];
    let padded = [vec![b' '; (1 << 20) - request.len()], request.to_vec(), b"\n".to_vec()].concat();
    let answer = ask(&mut stdin, &padded);
    assert_eq!(answer["value"], "v", "{answer}");

    // 200 MB in one line, written in chunks, is skipped without being held: peak memory stays far below it.
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..200 {
        stdin.write_all(&chunk).unwrap();
    }
    let answer = ask(&mut stdin, b"\n");
    assert_eq!(answer["error"]["kind"], "protocol", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("longer than"), "{answer}");
    let answer = ask(&mut stdin, good);
    assert_eq!(answer["value"], "v", "{answer}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kib < 64 * 1024, "peak memory {peak_kib} KiB after a 200 MB line");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// A name each guarded entry covers, and the secret key that maps to it.
fn guarded_names() -> Vec<String> {
    vault_env::guard::guards()
        .iter()
        .map(|g| match g.name.strip_suffix('*') {
            Some(prefix) => format!("{prefix}X"),
            None => g.name.clone(),
        })
        .collect()
}

#[tokio::test]
async fn run_and_export_refuse_every_guarded_variable_unless_allowed_by_name() {
    let server = dev_server().await;
    let admin = root(&server);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let env = [("VAULT_ADDR", server.addr().to_owned()), ("VAULT_TOKEN", server.root_token().to_owned())];
    let value = "planted-guarded-value-7f3a";
    for name in guarded_names() {
        // The key that becomes NAME: lower case works, since names are upper-cased.
        let key = name.to_ascii_lowercase();
        put(&admin, "secret/guard/one", &[(&key, value)]).await;
        let run = vault_env_std()
            .envs(env.clone())
            .args(["run", "-s", "secret/guard/one", "--", "touch"])
            .arg(&marker)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&name) && stderr.contains("--allow-env"), "{name}: {stderr}");
        assert!(!stderr.contains(value) && run.stdout.is_empty(), "{name}: the value is shown");
        assert!(!marker.exists(), "{name}: the command ran");
        let export =
            vault_env_std().envs(env.clone()).args(["export", "secret/guard/one", "-o", "-"]).output().unwrap();
        assert_eq!(export.status.code(), Some(2), "export {name}");
        assert!(!String::from_utf8_lossy(&export.stdout).contains(value), "export {name}: printed");
    }

    // An explicit mapping in a manifest is refused too; --allow-env NAME lets exactly that name through.
    put(&admin, "secret/guard/one", &[("startup", value)]).await;
    let manifest = dir.path().join("m.toml");
    std::fs::write(&manifest, "[[secret]]\npath = \"secret/guard/one\"\nenv = { startup = \"PYTHONSTARTUP\" }\n")
        .unwrap();
    let script = "test \"$PYTHONSTARTUP\" = planted-guarded-value-7f3a";
    let run = |allow: &[&str]| {
        let mut command = vault_env_std();
        command.envs(env.clone()).arg("run").args(allow).arg("--manifest").arg(&manifest);
        command.args(["--", "sh", "-c", script]).output().unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    let other = run(&["--allow-env", "PYTHONPATH"]);
    assert_eq!(other.status.code(), Some(2), "allowing another name does not allow this one");
    let allowed = run(&["--allow-env", "PYTHONSTARTUP"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", String::from_utf8_lossy(&allowed.stderr));
}
