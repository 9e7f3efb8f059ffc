//! `run -- CMD`: secrets in the command's environment, a missing secret stops it before it starts, exit codes
//! and signals pass through, stdin is inherited, the AppRole token is revoked afterwards (or kept on request),
//! and `--exec` becomes the command.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{
    approle_tokens, assert_not_on_stderr, code, dev_server, pipeline, planted, put, root, stderr, stdout, vault_env,
    vault_env_std,
};

#[tokio::test]
async fn the_command_gets_the_secrets_and_its_exit_code_is_returned() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    put(&admin, "secret/app/db", &[("user", "etl"), ("password", &password)]).await;
    put(&admin, "secret/app/api", &[("api-key", "key1")]).await;
    let pipe = pipeline(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("vault-env.toml");
    std::fs::write(
        &manifest,
        "[[secret]]\npath = \"secret/app/db\"\nenv = { password = \"PGPASSWORD\" }\nprefix = \"PG\"\n",
    )
    .unwrap();

    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "--secret", "secret/app/api=SVC_", "--manifest"])
        .arg(&manifest)
        .args(["--", "sh", "-c", "printf '%s|%s|%s' \"$PGPASSWORD\" \"$PGUSER\" \"$SVC_API_KEY\"; exit 7"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{password}|etl|key1"));
    assert_eq!(stderr(&out), "");

    // stdin is the command's stdin.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/api", "--", "cat"])
        .write_stdin("from stdin\n")
        .output()
        .unwrap();
    assert_eq!((code(&out), stdout(&out)), (0, "from stdin\n".to_owned()));

    // A command that does not exist: 127, as a shell says.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/api", "--", "/no/such/program"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot run \"/no/such/program\""), "{}", stderr(&out));

    // Killed by a signal: 128 + 9.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/api", "--", "sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 137, "{}", stderr(&out));
}

#[tokio::test]
async fn a_missing_secret_stops_the_command_before_it_starts() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    put(&admin, "secret/app/db", &[("password", &password)]).await;
    put(&admin, "secret/other/x", &[("k", "v")]).await;
    let pipe = pipeline(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");

    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/db", "-s", "secret/app/gone", "-s", "secret/other/x", "--"])
        .args(["sh", "-c", &format!("touch '{}'", marker.display())])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(!marker.exists(), "the command must not have started");
    let err = stderr(&out);
    assert!(err.contains("2 of the declared secrets cannot be read"), "{err}");
    assert!(err.contains("secret/app/gone: no such secret"), "{err}");
    assert!(err.contains("secret/other/x: permission denied"), "{err}");
    assert_not_on_stderr(&out, &[&password, &pipe.secret_id]);
    assert_eq!(approle_tokens(&admin).await, 0, "a run that never started leaves no token behind");

    // A required key that is absent stops it too.
    let manifest = dir.path().join("m.toml");
    std::fs::write(&manifest, "[[secret]]\npath = \"secret/app/db\"\nkeys = [\"password\", \"host\"]\n").unwrap();
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "--manifest"])
        .arg(&manifest)
        .args(["--", "sh", "-c", &format!("touch '{}'", marker.display())])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4);
    assert!(!marker.exists());
    assert!(stderr(&out).contains("secret/app/db: no key host"), "{}", stderr(&out));

    // A sealed server: unavailable (3), and still nothing ran.
    admin.seal().await.unwrap();
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/db", "--", "touch"])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("sealed"), "{}", stderr(&out));
    assert!(!marker.exists());
}

#[tokio::test]
async fn signals_reach_the_command() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/api", &[("token", "t")]).await;
    let pipe = pipeline(&admin).await;

    for (signal, number) in
        [(rustix::process::Signal::TERM, 15), (rustix::process::Signal::INT, 2), (rustix::process::Signal::HUP, 1)]
    {
        let script = format!(
            "trap 'echo caught; exit {}' {}; echo ready; while :; do sleep 0.05; done",
            40 + number,
            match number {
                15 => "TERM",
                2 => "INT",
                _ => "HUP",
            }
        );
        let mut child = vault_env_std()
            .envs(pipe.env(&server))
            .args(["run", "-s", "secret/app/api", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let status = wait_with_timeout(&mut child, Duration::from_secs(10));
        assert_eq!(lines.next().unwrap().unwrap(), "caught");
        assert_eq!(status.code(), Some(40 + number), "signal {number}");
    }

    // A command that does not handle the signal dies of it: 128 + 15.
    let mut child = vault_env_std()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/api", "--", "sh", "-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(wait_with_timeout(&mut child, Duration::from_secs(10)).code(), Some(143));
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("vault-env did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn the_token_is_revoked_when_the_command_ends_unless_kept() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/api", &[("token", "t")]).await;
    let pipe = pipeline(&admin).await;
    assert_eq!(approle_tokens(&admin).await, 0);

    let out = vault_env().envs(pipe.env(&server)).args(["run", "-s", "secret/app/api", "--", "true"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(approle_tokens(&admin).await, 0, "the run's token was revoked");

    // Revoked even when the command fails.
    let out =
        vault_env().envs(pipe.env(&server)).args(["run", "-s", "secret/app/api", "--", "false"]).output().unwrap();
    assert_eq!(code(&out), 1);
    assert_eq!(approle_tokens(&admin).await, 0);

    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "--keep-token", "-s", "secret/app/api", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert_eq!(approle_tokens(&admin).await, 1, "--keep-token leaves it");

    // A token the caller handed in is theirs: never revoked.
    let out = vault_env().envs(server.env()).args(["run", "-s", "secret/app/api", "--", "true"]).output().unwrap();
    assert_eq!(code(&out), 0);
    let out = vault_env().envs(server.env()).args(["get", "secret/app/api", "--field", "token"]).output().unwrap();
    assert_eq!(stdout(&out), "t", "the root token still works: {}", stderr(&out));
}

#[tokio::test]
async fn exec_replaces_the_process() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/api", &[("token", "tok")]).await;
    let pipe = pipeline(&admin).await;
    let child = vault_env_std()
        .envs(pipe.env(&server))
        .args(["run", "--exec", "-s", "secret/app/api", "--", "sh", "-c", "echo $$ $TOKEN; exit 5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stdout(&out), format!("{pid} tok\n"), "the command runs in vault-env's own process");
}

#[tokio::test]
async fn the_token_is_renewed_while_the_command_runs() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/api", &[("token", "t")]).await;
    // Tokens that die after 3 s unless renewed; the command runs for 5 s.
    let pipe = crate::util::pipeline_with_ttl(&admin, "3s").await;
    let child = vault_env_std()
        .envs(pipe.env(&server))
        .args(["run", "-s", "secret/app/api", "--", "sh", "-c", "sleep 5; echo done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(approle_tokens(&admin).await, 1, "the token outlived its 3 s TTL because it was renewed");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), "done\n".to_owned()));
    assert_eq!(stderr(&out), "", "and revoked cleanly at the end");
    assert_eq!(approle_tokens(&admin).await, 0);
}
