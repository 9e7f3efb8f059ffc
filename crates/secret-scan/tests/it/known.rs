//! `--vault-known`: the current values of Vault secrets found verbatim, whatever their shape, never printed.

use vault_core::{Client, Config, KvPath, SecretMap, SecretString};

use crate::util::Tree;

const PASSWORD: &str = "c0rrect horse: battery staple!";
const TOKEN: &str = "tok-1234567890-abc";

#[tokio::test(flavor = "multi_thread")]
async fn finds_current_vault_values_in_the_tree() {
    let server = vault_testkit::DevServer::start().await.expect("OpenBao dev server must start");
    let root =
        Client::new(Config::with_token(server.addr(), SecretString::from(server.root_token())).unwrap()).unwrap();
    for (path, pairs) in [
        ("secret/app/db", [("password", PASSWORD), ("user", "etl")]),
        ("secret/app/api/key", [("token", TOKEN), ("note", "n/a")]),
    ] {
        let data: SecretMap = pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect();
        root.kv_write(&KvPath::parse(path).unwrap(), &data, None).await.unwrap();
    }
    let tree = Tree::new(&[
        ("config.py", &format!("DSN = \"postgres://etl:{PASSWORD}@db/warehouse\"\n")),
        ("notes/ops.txt", &format!("rotated the api token last week, it is now {TOKEN} (do not share)\n")),
        ("README.md", "nothing to see; the user is etl\n"),
    ]);
    let output = crate::util::bin()
        .current_dir(tree.path())
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env("VAULT_ADDR", server.addr())
        .env("VAULT_TOKEN", server.root_token())
        .args(["--vault-known", "secret/app/", "-f", "jsonl", "."])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let known: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["rule_id"] == "vault-known-value")
        .collect();
    let mut found: Vec<(String, String, u64)> = known
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["vault_path"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("./config.py".to_owned(), "secret/app/db#password".to_owned(), 1),
            ("./notes/ops.txt".to_owned(), "secret/app/api/key#token".to_owned(), 1),
        ]
    );
    assert!(stderr.contains("2 Vault secrets") && stderr.contains("shorter than 8 bytes"), "{stderr}");
    for value in [PASSWORD, TOKEN, server.root_token()] {
        assert!(!stdout.contains(value) && !stderr.contains(value), "a value was printed");
    }
}

#[test]
fn unreachable_vault_is_exit_3() {
    let tree = Tree::new(&[("a.txt", "hello\n")]);
    let output = crate::util::bin()
        .current_dir(tree.path())
        .env_remove("BAO_ADDR")
        .env("VAULT_ADDR", "http://127.0.0.1:1")
        .env("VAULT_TOKEN", "t")
        .args(["--vault-known", "secret/app/", "--max-retries", "0", "."])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
}
