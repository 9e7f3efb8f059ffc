//! Robustness of the binary: a closed stdout exits 0 for every command and format that writes data, and mutated
//! command lines never make it panic (against a live dev server, so they reach the real code paths).

use std::time::Duration;

use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, fuzz_argv};

use crate::util::{dev_server, put, root, vault_env_std};

#[tokio::test]
async fn a_closed_stdout_exits_0_for_every_command_and_format() {
    let server = dev_server().await;
    let client = root(&server);
    for i in 0..5 {
        put(&client, &format!("secret/app/s{i}"), &[("password", "pw-value-1"), ("user", "app")]).await;
    }
    let env = server.env();
    let make = |args: &[&str]| {
        let mut c = vault_env_std();
        c.envs(env.iter().cloned()).args(args);
        c
    };
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["get", "secret/app/s1"],
        vec!["get", "secret/app/s1", "--field", "password"],
        vec!["list", "secret/app", "--format", "human"],
        vec!["list", "secret/app", "--format", "json"],
        vec!["list", "secret/app", "--format", "jsonl"],
    ];
    for format in ["dotenv", "sh", "json"] {
        cases.push(vec!["export", "secret/app/s1=A_", "secret/app/s2=B_", "-o", "-", "--format", format]);
    }
    for args in &cases {
        assert_broken_pipe_exits_0(|| make(args), &format!("vault-env {}", args.join(" ")));
    }
}

#[tokio::test]
async fn mutated_command_lines_never_panic() {
    let server = dev_server().await;
    put(&root(&server), "secret/app/db", &[("password", "pw-value-2")]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.toml"), "[[secret]]\npath = \"secret/app/db\"\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["get", "secret/app/db"]),
            s(&["get", "secret/app/db", "--field", "password", "--version", "1"]),
            s(&["list", "secret/", "--recursive", "--format", "jsonl"]),
            s(&["export", "secret/app/db=DB_", "-o", "out.env"]),
            s(&["check", "manifest.toml", "--format", "json"]),
            s(&["run", "--secret", "secret/app/db=DB_", "--", "true"]),
            s(&["db-creds", "app"]),
        ],
        words: s(&[
            "get",
            "list",
            "export",
            "check",
            "run",
            "db-creds",
            "--field",
            "--version",
            "--recursive",
            "--format",
            "-o",
            "--manifest",
            "--secret",
            "--exec",
            "--keep-token",
            "--mount",
            "--kind",
            "--namespace",
            "--client-timeout",
            "--max-retries",
            "--",
        ]),
        values: s(&["secret/app/db", "secret/", "manifest.toml", "out.env", "A_=", "json", "sh", "0", "true"]),
    };
    let env = server.env();
    let codes = fuzz_argv(0x5eed_e4e1, &space, 150, Duration::from_secs(5), || {
        let mut c = vault_env_std();
        c.current_dir(dir.path()).envs(env.iter().cloned());
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.contains_key(&0), "{codes:?}");
}
