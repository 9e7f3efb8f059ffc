//! Shared helpers: the binary with a clean environment, clients for test servers, secrets written fast.

use std::path::Path;

use futures_util::StreamExt;
use vault_core::{Client, Config, SecretMap, SecretString};
use vault_testkit::{TlsServer, harness};

/// The built binary with no VAULT_*, BAO_* or AWS_* variables inherited, then `env`.
pub fn cmd(env: &[(String, String)]) -> assert_cmd::Command {
    let mut std = harness::tool_command(assert_cmd::cargo::cargo_bin!("vault-backup"));
    harness::clear_env(&mut std, &["AWS_"]);
    std.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_cmd::Command::from_std(std)
}

/// A client for a TLS test server with its root token.
pub fn client(server: &TlsServer) -> Client {
    vault_testkit::root_client!(server)
}

/// A client for a TLS test server with another token.
pub fn client_with(server: &TlsServer, token: &str) -> Client {
    let mut config = Config::with_token(server.addr(), SecretString::from(token)).unwrap();
    config.tls.ca_cert = Some(server.ca_cert_path().to_owned());
    Client::new(config).unwrap()
}

/// The value planted in secret `i`: never to appear in any output.
pub fn planted(i: usize) -> String {
    format!("planted-value-{i}-Zq7x")
}

/// Mounts `secret/` (a TLS test server starts without it) and writes `secret/app/s{i}` = {password: planted(i)}
/// for i in 0..count, 32 at a time.
pub async fn write_secrets(server: &TlsServer, count: usize) {
    harness::mount_kv2(server, "secret").await;
    write_secrets_with(&client(server), count).await;
}

/// Writes the secrets of [`write_secrets`] through `client`, on a `secret/` KV v2 mount that exists.
pub async fn write_secrets_with(client: &Client, count: usize) {
    futures_util::stream::iter(0..count)
        .map(|i| async move {
            let path = client.kv_path(&format!("secret/app/{:02}/s{i}", i % 10)).await.unwrap();
            let mut data = SecretMap::new();
            data.insert("password".into(), SecretString::new(planted(i)));
            client.kv_write(&path, &data, None).await.unwrap();
        })
        .buffer_unordered(32)
        .for_each(|()| async {})
        .await;
}

/// Parses JSON Lines output, checking every record has a `type`.
pub fn records(stdout: &[u8]) -> Vec<serde_json::Value> {
    harness::jsonl(&String::from_utf8_lossy(stdout))
}

/// The files in a folder, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Writes a secret file (0600) and returns its path.
pub fn secret_file(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
