//! Database credentials against a real PostgreSQL through OpenBao's `postgresql-database-plugin`: a dynamic
//! role (a new user with a lease), a static role, `run` with a `[[database]]` manifest entry, and the dynamic
//! user dropped when the run's token is revoked.

use reqwest::Method;
use serde_json::{Value, json};
use vault_core::Client;
use vault_testkit::PostgresServer;

use crate::util::{code, dev_server, pipeline, root, stderr, stdout, vault_env};

async fn postgres() -> PostgresServer {
    PostgresServer::start().await.unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"))
}

/// The database engine at `database/`, connected to `pg`, with a dynamic role `dagster-etl` and a static role
/// `dagster-static` for the existing user `static_user`.
async fn database_engine(admin: &Client, pg: &PostgresServer) {
    admin.request(Method::POST, "sys/mounts/database", Some(&json!({"type": "database"}))).await.unwrap();
    let url =
        format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port());
    admin
        .request(
            Method::POST,
            "database/config/pg",
            Some(&json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": pg.superuser(),
                "password": pg.password(),
                "allowed_roles": "*",
            })),
        )
        .await
        .unwrap();
    admin
        .request(
            Method::POST,
            "database/roles/dagster-etl",
            Some(&json!({
                "db_name": "pg",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
                "default_ttl": "1h",
                "max_ttl": "2h",
            })),
        )
        .await
        .unwrap();
    pg.psql("CREATE ROLE static_user WITH LOGIN PASSWORD 'initial'").await.unwrap();
    admin
        .request(
            Method::POST,
            "database/static-roles/dagster-static",
            Some(&json!({"db_name": "pg", "username": "static_user", "rotation_period": "1h"})),
        )
        .await
        .unwrap();
}

async fn role_exists(pg: &PostgresServer, name: &str) -> bool {
    pg.psql(&format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}'")).await.unwrap() == "1"
}

#[tokio::test]
async fn dynamic_and_static_credentials() {
    let (server, pg) = tokio::join!(dev_server(), postgres());
    let admin = root(&server);
    database_engine(&admin, &pg).await;
    let pipe = pipeline(&admin).await;

    // Dynamic: a new user with a lease.
    let out = vault_env().envs(pipe.env(&server)).args(["db-creds", "dagster-etl"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(creds["kind"], "dynamic");
    assert_eq!(creds["path"], "database/creds/dagster-etl");
    assert!(creds["lease_id"].as_str().unwrap().starts_with("database/creds/dagster-etl/"), "{creds}");
    assert!((3500..=3600).contains(&creds["lease_duration"].as_u64().unwrap()), "{creds}");
    let user = creds["username"].as_str().unwrap();
    assert!(role_exists(&pg, user).await, "the database user was created");
    assert!(!creds["password"].as_str().unwrap().is_empty());

    // Static: found by name after the dynamic try, with the current password and its TTL.
    let out = vault_env().envs(pipe.env(&server)).args(["db-creds", "dagster-static"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((creds["kind"].as_str(), creds["username"].as_str()), (Some("static"), Some("static_user")));
    assert_eq!(creds["lease_id"], "");
    assert!(creds["ttl"].as_u64().unwrap() > 3000, "{creds}");
    let password = creds["password"].as_str().unwrap().to_owned();
    assert_ne!(password, "initial", "Vault rotated it when the role was created");

    // --field, and the full path form.
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["db-creds", "database/static-creds/dagster-static", "--field", "password"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), password);

    // No such role, and a role outside the policy.
    let out = vault_env().envs(pipe.env(&server)).args(["db-creds", "dagster-nope"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("no database role \"dagster-nope\""), "{}", stderr(&out));

    // check: may the token read each declared role? Answered without creating a database user.
    let users_before = pg.psql("SELECT count(*) FROM pg_roles").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.toml");
    std::fs::write(&manifest, "[[database]]\nrole = \"dagster-etl\"\n\n[[database]]\nrole = \"reporting\"\n").unwrap();
    let out =
        vault_env().envs(pipe.env(&server)).arg("check").arg(&manifest).args(["--format", "json"]).output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let status: Vec<(&str, &str)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [("dagster-etl", "ok"), ("reporting", "denied")]);
    assert_eq!(pg.psql("SELECT count(*) FROM pg_roles").await.unwrap(), users_before);

    // The stdio server's db_creds.
    let mut serve = crate::util::vault_env_std()
        .envs(pipe.env(&server))
        .args(["serve", "--stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = serve.stdin.take().unwrap();
        writeln!(stdin, r#"{{"id":1,"op":"db_creds","role":"dagster-static"}}"#).unwrap();
        writeln!(stdin, r#"{{"id":2,"op":"db_creds","role":"database/creds/dagster-etl"}}"#).unwrap();
    }
    let out = serve.wait_with_output().unwrap();
    let answers: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers[0]["value"]["username"], "static_user");
    assert_eq!(answers[0]["value"]["password"], password.as_str());
    assert_eq!(answers[1]["value"]["kind"], "dynamic");
    assert!(answers[1]["value"]["lease_id"].as_str().unwrap().starts_with("database/creds/dagster-etl/"));
}

#[tokio::test]
async fn run_gets_database_credentials_that_end_with_it() {
    let (server, pg) = tokio::join!(dev_server(), postgres());
    let admin = root(&server);
    database_engine(&admin, &pg).await;
    let pipe = pipeline(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.toml");
    std::fs::write(
        &manifest,
        "[[database]]\nrole = \"dagster-etl\"\nkind = \"dynamic\"\nenv = { username = \"PGUSER\", password = \"PGPASSWORD\" }\n",
    )
    .unwrap();
    let psql = vault_testkit::postgres_bin_dir().unwrap().join("psql");
    // The command logs in to PostgreSQL with the credentials it was given.
    let script = format!(
        "echo \"$PGUSER\"; '{}' -h 127.0.0.1 -p {} -d postgres -tAc 'select current_user'",
        psql.display(),
        pg.port()
    );
    let out = vault_env()
        .envs(pipe.env(&server))
        .args(["run", "--manifest"])
        .arg(&manifest)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], lines[1], "psql logged in as the dynamic user");
    // The server revokes a token's leases in the background after the token itself: give it a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while role_exists(&pg, lines[0]).await {
        assert!(std::time::Instant::now() < deadline, "revoking the run's token must drop the database user");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
