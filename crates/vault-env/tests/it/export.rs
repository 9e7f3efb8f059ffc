//! `export`: dotenv, shell and JSON, to a 0600 file written atomically or to stdout on request; values survive
//! a round trip through a real shell.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::util::{code, dev_server, pipeline, planted, put, root, stderr, stdout, vault_env};

#[tokio::test]
async fn export_writes_private_files_and_round_trips_through_sh() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    let tricky = format!("{password} it's \\ \"$HOME\" ${{X}}\nline2");
    put(&admin, "secret/app/db", &[("user", "etl"), ("password", &tricky)]).await;
    put(&admin, "secret/app/api", &[("token", "tok")]).await;
    let pipe = pipeline(&admin).await;
    let dir = tempfile::tempdir().unwrap();

    // Shell: source the file in a real shell and read the values back.
    let file = dir.path().join("secrets.sh");
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["export", "secret/app/db=DB_", "secret/app/api", "--format", "sh", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "a file was asked for: nothing on stdout");
    assert!(!stderr(&out).contains(&password));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(". '{}' && printf '%s|%s|%s' \"$DB_PASSWORD\" \"$DB_USER\" \"$TOKEN\"", file.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(sh.stdout).unwrap(), format!("{tricky}|etl|tok"));

    // Dotenv over an existing file: replaced, and 0600 even though the old one was 0644.
    let file = dir.path().join(".env");
    std::fs::write(&file, "OLD=1\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = vault_env().envs(pipe.env(&server)).args(["export", "secret/app/api", "-o"]).arg(&file).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "TOKEN='tok'\n");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    // JSON to stdout when asked with -o -, and to a pipe without -o.
    for args in [&["-o", "-"][..], &[][..]] {
        let out = vault_env()
            .envs(pipe.env(&server))
            .args(["export", "secret/app/db", "--format", "json"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["PASSWORD"], tricky.as_str());
        assert_eq!(doc["USER"], "etl");
    }

    // A missing secret: nothing written, the old file untouched.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["export", "secret/app/api", "secret/app/gone", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("secret/app/gone: no such secret"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "TOKEN='tok'\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left behind");
}

#[tokio::test]
async fn two_secrets_may_not_claim_one_name() {
    let server = dev_server().await;
    let admin = root(&server);
    put(&admin, "secret/app/a", &[("password", "one")]).await;
    put(&admin, "secret/app/b", &[("password", "two")]).await;
    let out =
        vault_env().envs(server.env()).args(["export", "secret/app/a", "secret/app/b", "-o", "-"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PASSWORD would be set twice: by secret/app/a#password and by secret/app/b#password")
    );
    assert_eq!(stdout(&out), "");
    let out = vault_env()
        .envs(server.env())
        .args(["export", "secret/app/a=A_", "secret/app/b=B_", "-o", "-"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "A_PASSWORD='one'\nB_PASSWORD='two'\n");

    // A key called `path` may not replace PATH by accident; with a prefix, or mapped explicitly, it may.
    put(&admin, "secret/app/c", &[("path", "/srv/data")]).await;
    let out = vault_env().envs(server.env()).args(["export", "secret/app/c", "-o", "-"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("would set PATH"), "{}", stderr(&out));
    let out = vault_env().envs(server.env()).args(["export", "secret/app/c=APP_", "-o", "-"]).output().unwrap();
    assert_eq!(stdout(&out), "APP_PATH='/srv/data'\n");
}
