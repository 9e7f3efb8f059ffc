//! PostgreSQL: `psql` over the socket, password logins over TCP, stop, and two servers side by side.

use std::process::Command;

use vault_testkit::{PostgresServer, postgres_bin_dir};

/// `psql` over TCP as the superuser with `password`, as OpenBao's database engine connects.
fn psql_over_tcp(server: &PostgresServer, password: &str, sql: &str) -> std::process::Output {
    Command::new(postgres_bin_dir().expect("PostgreSQL is installed").join("psql"))
        .args(["--no-psqlrc", "--tuples-only", "--no-align", "--host", server.host(), "--port"])
        .arg(server.port().to_string())
        .args(["--username", server.superuser(), "--dbname=postgres", "--command", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("run psql")
}

#[tokio::test]
async fn postgres_answers_psql_and_password_logins_over_tcp() {
    let mut server = PostgresServer::start().await.expect("start PostgreSQL");
    assert_eq!(server.psql("select 1").await.expect("psql select 1"), "1");

    let login = psql_over_tcp(&server, server.password(), "select current_user");
    assert!(login.status.success(), "{}\nlog:\n{}", String::from_utf8_lossy(&login.stderr), server.log());
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), "vaultadmin");

    let wrong = psql_over_tcp(&server, "wrong-password", "select 1");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"));

    assert_eq!(
        server.url(),
        format!("postgres://vaultadmin:{}@127.0.0.1:{}/postgres?sslmode=disable", server.password(), server.port())
    );
    let error = server.psql("select * from no_such_table").await.expect_err("bad SQL succeeded");
    assert!(error.to_string().contains("no_such_table"), "{error}");

    server.stop().await;
    let refused = std::net::TcpStream::connect(("127.0.0.1", server.port()));
    assert!(refused.is_err(), "a stopped PostgreSQL accepts connections");
}

#[tokio::test]
async fn parallel_postgres_servers_have_their_own_ports_and_data() {
    let (first, second) = tokio::join!(PostgresServer::start(), PostgresServer::start());
    let (first, second) = (first.expect("start the first PostgreSQL"), second.expect("start the second PostgreSQL"));
    assert_ne!(first.port(), second.port());
    assert_ne!(first.password(), second.password());

    first.psql("create table only_in_first (id int)").await.expect("create a table");
    let count = "select count(*) from pg_tables where tablename = 'only_in_first'";
    assert_eq!(first.psql(count).await.expect("count in the first"), "1");
    assert_eq!(second.psql(count).await.expect("count in the second"), "0");
}
