//! The harness: the built binary with a clean environment, servers that fail the test when they cannot start,
//! a pipeline AppRole like the one `cargo xtask deploy` creates, and planted values to look for in output.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use reqwest::Method;
use serde_json::json;
use vault_core::{Client, SecretMap, SecretString};
use vault_testkit::DevServer;

/// `vault-env` with no Vault settings from the caller's environment (`BAO_*` would win over the testkit's
/// `VAULT_*`), no `~/.vault-token`, no `RUST_LOG`.
pub fn vault_env() -> Command {
    Command::from_std(vault_env_std())
}

/// The same, as a std `Command`, for tests that need the child's PID or streaming pipes.
pub fn vault_env_std() -> std::process::Command {
    vault_testkit::harness::tool_command(assert_cmd::cargo::cargo_bin!("vault-env"))
}

/// Starts a dev server, failing the test with the reason when it cannot.
pub use vault_testkit::harness::dev_server;

/// A root client for a server.
pub fn root(server: &DevServer) -> Client {
    vault_testkit::root_client!(server)
}

/// A value nobody else would produce, to look for in output.
pub fn planted(label: &str) -> String {
    let n: u64 = rand_u64();
    format!("{label}-planted-{n:016x}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// Writes a KV secret as root.
pub async fn put(client: &Client, path: &str, pairs: &[(&str, &str)]) {
    let kv = client.kv_path(path).await.unwrap();
    let data: SecretMap = pairs.iter().map(|(k, v)| ((*k).to_owned(), SecretString::from(*v))).collect();
    client.kv_write(&kv, &data, None).await.unwrap();
}

/// A pipeline's AppRole credentials on disk, as `cargo xtask deploy` leaves them: `role-id` and `secret-id`.
pub struct Pipeline {
    pub _dir: tempfile::TempDir,
    pub role_id_file: PathBuf,
    pub secret_id_file: PathBuf,
    pub secret_id: String,
}

impl Pipeline {
    /// The environment a pipeline service gets: address and the two credential files.
    pub fn env(&self, server: &DevServer) -> Vec<(String, String)> {
        vec![
            ("VAULT_ADDR".into(), server.addr().into()),
            ("VAULT_ROLE_ID_FILE".into(), self.role_id_file.display().to_string()),
            ("VAULT_SECRET_ID_FILE".into(), self.secret_id_file.display().to_string()),
        ]
    }
}

/// Policy of the test pipeline: like the shipped dagster-secrets policy, for `secret/app/*`.
const POLICY: &str = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["list"] }
path "secret/metadata/app" { capabilities = ["list"] }
path "database/creds/dagster-*" { capabilities = ["read"] }
path "database/static-creds/dagster-*" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }
"#;

/// Enables AppRole, creates a `pipeline` role with a read-only policy on `secret/app/*`, and writes its role_id
/// and secret_id into files.
pub async fn pipeline(client: &Client) -> Pipeline {
    pipeline_with_ttl(client, "1h").await
}

/// [`pipeline`] with tokens that live `ttl` (renewable up to 4h).
pub async fn pipeline_with_ttl(client: &Client, ttl: &str) -> Pipeline {
    client.request(Method::POST, "sys/auth/approle", Some(&json!({"type": "approle"}))).await.unwrap();
    client.request(Method::PUT, "sys/policies/acl/pipeline", Some(&json!({"policy": POLICY}))).await.unwrap();
    client
        .request(
            Method::POST,
            "auth/approle/role/pipeline",
            Some(&json!({"token_policies": ["pipeline"], "token_ttl": ttl, "token_max_ttl": "4h"})),
        )
        .await
        .unwrap();
    let role_id = client.request(Method::GET, "auth/approle/role/pipeline/role-id", None).await.unwrap().unwrap();
    let secret_id = client.request(Method::POST, "auth/approle/role/pipeline/secret-id", None).await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let role_id_file = dir.path().join("role-id");
    let secret_id_file = dir.path().join("secret-id");
    std::fs::write(&role_id_file, role_id["data"]["role_id"].as_str().unwrap()).unwrap();
    let secret_id = secret_id["data"]["secret_id"].as_str().unwrap().to_owned();
    std::fs::write(&secret_id_file, format!("{secret_id}\n")).unwrap();
    Pipeline { _dir: dir, role_id_file, secret_id_file, secret_id }
}

/// How many live tokens came from an AppRole login.
pub async fn approle_tokens(client: &Client) -> usize {
    let listed = client.request(Method::from_bytes(b"LIST").unwrap(), "auth/token/accessors", None).await.unwrap();
    let accessors: Vec<String> =
        listed.and_then(|v| serde_json::from_value(v["data"]["keys"].clone()).ok()).unwrap_or_default();
    let mut count = 0;
    for accessor in accessors {
        let info = client
            .request(Method::POST, "auth/token/lookup-accessor", Some(&json!({"accessor": accessor})))
            .await
            .unwrap()
            .unwrap();
        if info["data"]["path"].as_str().is_some_and(|p| p.starts_with("auth/approle/login")) {
            count += 1;
        }
    }
    count
}

/// stdout and stderr as text, and the exit code.
pub use vault_testkit::harness::{code, stderr, stdout};

/// Fails when any of `values` appears on stderr.
pub fn assert_not_on_stderr(output: &Output, values: &[&str]) {
    vault_testkit::harness::assert_absent(values, &[("stderr", &stderr(output))]);
}
