//! The `database` strategy on a real PostgreSQL: secret-rotate creates the static role on OpenBao's database
//! engine, rotates it, verifies the new password by logging in with it, and afterwards the new password logs in
//! while the old one is refused.

use std::path::Path;

use reqwest::Method;

use crate::util::*;

/// Whether `user`/`password` can log in over TCP (the password comes through the environment, never argv).
fn can_log_in(bin: &Path, port: u16, user: &str, password: &str) -> bool {
    std::process::Command::new(bin.join("psql"))
        .args([
            "-w",
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            user,
            "-d",
            "postgres",
            "-c",
            "select 1",
        ])
        .env("PGPASSWORD", password)
        .env_remove("PGPASSFILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("psql runs")
        .success()
}

#[tokio::test]
async fn database_static_role_rotates_and_only_the_new_password_works() {
    let pg = vault_testkit::PostgresServer::start().await.unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let bin = vault_testkit::postgres_bin_dir().expect("PostgreSQL's programs");
    let server = dev_server().await;
    let client = root_client(&server);
    const OLD: &str = "old-app-password-Planted9";
    // A dedicated admin for OpenBao, so nothing here depends on the testkit's superuser.
    pg.psql("CREATE ROLE rotadmin WITH LOGIN SUPERUSER PASSWORD 'rotadmin-pw-5Tg2'").await.unwrap();
    pg.psql(&format!("CREATE ROLE appuser WITH LOGIN PASSWORD '{OLD}'")).await.unwrap();
    assert!(can_log_in(&bin, pg.port(), "appuser", OLD));

    client.request(Method::POST, "sys/mounts/database", Some(&serde_json::json!({"type": "database"}))).await.unwrap();
    let url =
        format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port());
    client
        .request(
            Method::POST,
            "database/config/pg",
            Some(&serde_json::json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": "rotadmin",
                "password": "rotadmin-pw-5Tg2",
                "allowed_roles": "*",
            })),
        )
        .await
        .unwrap();

    let env = Env::new(&server, "");
    // The built-in connection test: secret-rotate logs in as appuser with the new password through psql.
    std::fs::write(
        env.path("policies.toml"),
        format!(
            "[[policy]]\nevery = \"30d\"\nowner = \"dba\"\nstrategy = \"database\"\n\
             [policy.database]\nrole = \"app\"\ndb_name = \"pg\"\nusername = \"appuser\"\nrotation_period = \"24h\"\n\
             connection_test = \"host=127.0.0.1 port={} dbname=postgres sslmode=disable\"\npsql = \"{}\"\n",
            pg.port(),
            bin.join("psql").display()
        ),
    )
    .unwrap();

    let run = env.run(&["run", "database/static-roles/app", "--format", "jsonl"]);
    assert_eq!(code(&run), Some(0), "{}", stderr(&run));
    assert_eq!(records(&run, "rotation")[0]["result"], "rotated");

    // The role exists with the policy's settings.
    let role = client.request(Method::GET, "database/static-roles/app", None).await.unwrap().unwrap();
    assert_eq!(role["data"]["username"], "appuser");
    assert_eq!(role["data"]["rotation_period"], 86_400);
    let creds = client.request(Method::GET, "database/static-creds/app", None).await.unwrap().unwrap();
    let new = creds["data"]["password"].as_str().unwrap().to_owned();
    assert_ne!(new, OLD);
    assert!(can_log_in(&bin, pg.port(), "appuser", &new), "the new password logs in");
    assert!(!can_log_in(&bin, pg.port(), "appuser", OLD), "the old password is refused");

    // Just rotated: a timer run leaves it alone and `due` is happy.
    let again = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&again), Some(0), "{}", stderr(&again));
    assert_eq!(records(&again, "rotation")[0]["result"], "skipped");
    let due = env.run(&["due", "--format", "jsonl"]);
    assert_eq!(code(&due), Some(0), "{}", stderr(&due));
    let item = &records(&due, "secret")[0];
    assert_eq!((item["status"].as_str(), item["strategy"].as_str()), (Some("ok"), Some("database")));
    assert_eq!(env.events("database/static-roles/app"), ["started", "succeeded"]);

    // A run killed between `rotate-role` and the connection test leaves a `started` line without an outcome: the
    // next timer run verifies again.
    let mut history = std::fs::OpenOptions::new().append(true).open(env.history_file()).unwrap();
    std::io::Write::write_all(
        &mut history,
        b"{\"type\":\"history\",\"time\":\"2026-01-01T00:00:00Z\",\"path\":\"database/static-roles/app\",\"strategy\":\"database\",\"event\":\"started\"}\n",
    )
    .unwrap();
    let due = env.run(&["due", "--format", "jsonl"]);
    assert_eq!(code(&due), Some(1));
    assert_eq!(records(&due, "secret")[0]["status"], "pending");
    let resumed = env.run(&["run", "--due", "--format", "jsonl"]);
    assert_eq!(code(&resumed), Some(0), "{}", stderr(&resumed));
    let row = &records(&resumed, "rotation")[0];
    assert_eq!((row["result"].as_str(), row["recovered"].as_bool()), (Some("rotated"), Some(true)));
    assert_eq!(env.events("database/static-roles/app"), ["started", "succeeded", "started", "recovered", "succeeded"]);

    // A connection test that cannot log in (nothing listens on port 1) fails the rotation; the server has already
    // replaced the password, so there is nothing to roll back to and the output says so.
    let policy = std::fs::read_to_string(env.path("policies.toml")).unwrap();
    std::fs::write(env.path("policies.toml"), policy.replace(&format!("port={}", pg.port()), "port=1")).unwrap();
    let failed = env.run(&["run", "database/static-roles/app", "--format", "jsonl"]);
    assert_eq!(code(&failed), Some(4), "{}", stderr(&failed));
    let row = &records(&failed, "rotation")[0];
    assert_eq!(row["result"], "failed");
    assert!(row["detail"].as_str().unwrap().contains("nothing to roll back"), "{row}");
    assert_eq!(
        env.events("database/static-roles/app"),
        ["started", "succeeded", "started", "recovered", "succeeded", "started", "failed"]
    );
    let newest = client.request(Method::GET, "database/static-creds/app", None).await.unwrap().unwrap();
    let newest = newest["data"]["password"].as_str().unwrap().to_owned();

    let history = std::fs::read_to_string(env.history_file()).unwrap();
    for value in [OLD, new.as_str(), newest.as_str(), "rotadmin-pw-5Tg2"] {
        for out in [&run, &again, &due, &resumed, &failed] {
            assert_absent(out, value);
        }
        assert!(!history.contains(value));
    }
}
