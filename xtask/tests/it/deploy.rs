//! The deployment flow: a fresh deploy, a converging re-run, root-token revocation, restart and unseal from the
//! share files, the pipeline's least-privilege credentials, PGP-encrypted shares, and refusals before changes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vault_core::config::{AppRoleConfig, AuthConfig, SecretIdSource};
use vault_core::{Client, Config, Error, KvPath, SecretMap, SecretString};

use crate::{changed, free_port_pair, root, stop, text, xtask};

fn bao() -> String {
    vault_testkit::bao_binary().expect("the OpenBao binary must be available").display().to_string()
}

fn deploy(dir: &Path, port: u16, extra: &[&str]) -> (Option<i32>, Value, String) {
    let listen = format!("127.0.0.1:{port}");
    let bin = bao();
    let mut args =
        vec!["deploy", "--local", dir.to_str().unwrap(), "--listen", &listen, "--bin", &bin, "--format", "json"];
    args.extend_from_slice(extra);
    let output = xtask(&args);
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), report, text(&output))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn config(dir: &Path, port: u16, auth: AuthConfig) -> Config {
    let mut config = Config::with_token(&format!("https://127.0.0.1:{port}"), SecretString::default()).unwrap();
    config.tls.ca_cert = Some(dir.join("tls/ca.pem"));
    config.auth = auth;
    config
}

fn approle(dir: &Path, port: u16, credentials: &str) -> Client {
    let creds = dir.join(credentials);
    let role_id = std::fs::read_to_string(creds.join("role-id")).unwrap();
    Client::new(config(
        dir,
        port,
        AuthConfig::AppRole(AppRoleConfig {
            mount: "approle".into(),
            role_id: role_id.trim().into(),
            secret_id: SecretIdSource::File(creds.join("secret-id")),
        }),
    ))
    .unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn local_deploy_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let port = free_port_pair();

    // First run keeps the root token so the test can prove the next run revokes it.
    let (code, report, output) = deploy(dir, port, &["--keep-root-token"]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(report["complete"], true);
    for step in
        ["tls", "config", "server", "init", "unseal", "kv", "approle", "policies", "approle role", "credentials"]
    {
        assert!(changed(&report).iter().any(|s| s == step), "{step} changed on a fresh host: {report:#}");
    }
    let hcl = std::fs::read_to_string(dir.join("config/vault.hcl")).unwrap();
    for needle in [
        "storage \"raft\"",
        "tls_min_version = \"tls12\"",
        "ui = false",
        "audit \"file\" \"file\"",
        "audit \"file\" \"file-secondary\"",
        "telemetry",
    ] {
        assert!(hcl.contains(needle), "config lacks {needle}:\n{hcl}");
    }
    assert_eq!(mode(&dir.join("keys")), 0o700);
    for n in 1..=5 {
        assert_eq!(mode(&dir.join(format!("keys/unseal-key-{n}"))), 0o600);
    }
    assert_eq!(mode(&dir.join("tls/server-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("approle/dagster/secret-id")), 0o400);
    assert_eq!(mode(&dir.join("approle/dagster/role-id")), 0o400);
    let root_token = std::fs::read_to_string(dir.join("keys/root-token")).unwrap();
    let shares: Vec<String> =
        (1..=5).map(|n| std::fs::read_to_string(dir.join(format!("keys/unseal-key-{n}"))).unwrap()).collect();
    let secret_id = std::fs::read_to_string(dir.join("approle/dagster/secret-id")).unwrap();
    for secret in shares.iter().chain([&root_token, &secret_id]) {
        assert!(!output.contains(secret.trim()), "a secret reached the output");
    }
    let root_client =
        Client::new(config(dir, port, AuthConfig::Token { token: root_token.trim().into(), source: "test".into() }))
            .unwrap();
    root_client.token_lookup_self().await.expect("the kept root token works");

    // Second run: revokes the root token, and only that changes.
    let (code, report, output) = deploy(dir, port, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(changed(&report), ["root token"], "{report:#}");
    assert!(!dir.join("keys/root-token").exists());
    let err = root_client.token_lookup_self().await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "the root token no longer works: {err:?}");

    // Third run: converged, nothing changes (it authenticates with the operator's AppRole credentials).
    let (code, report, output) = deploy(dir, port, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(changed(&report).is_empty(), "a converged deployment changes nothing: {report:#}");

    // The pipeline reads what dagster-secrets allows, and nothing else.
    let operator = approle(dir, port, "approle/operator");
    let pipeline = approle(dir, port, "approle/dagster");
    let mut data = SecretMap::new();
    data.insert("password".into(), SecretString::from("warehouse-pw-e2e-41"));
    let allowed = KvPath::parse("secret/dagster/warehouse").unwrap();
    let other = KvPath::parse("secret/finance/ledger").unwrap();
    operator.kv_write(&allowed, &data, None).await.unwrap();
    operator.kv_write(&other, &data, None).await.unwrap();
    assert_eq!(pipeline.kv_read(&allowed, None).await.unwrap().data["password"].expose(), "warehouse-pw-e2e-41");
    assert!(matches!(pipeline.kv_read(&other, None).await, Err(Error::PermissionDenied { .. })));
    assert!(matches!(pipeline.kv_write(&allowed, &data, None).await, Err(Error::PermissionDenied { .. })));
    assert!(matches!(
        pipeline.request(reqwest::Method::GET, "sys/policies/acl/admin-secrets", None).await,
        Err(Error::PermissionDenied { .. })
    ));

    // A restart leaves the server sealed; the operator's script unseals it from share files.
    stop(dir);
    let child = Command::new(bao())
        .arg("server")
        .arg(format!("-config={}", dir.join("config/vault.hcl").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let anonymous = Client::new(config(dir, port, AuthConfig::None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while anonymous.health().await.is_err() {
        assert!(Instant::now() < deadline, "the restarted server answers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(anonymous.seal_status().await.unwrap().sealed);
    let unseal = Command::new(root().join("scripts/vault/unseal"))
        .args(["keys/unseal-key-2", "keys/unseal-key-4", "keys/unseal-key-5"])
        .current_dir(dir)
        .env("VAULT_ADDR", format!("https://127.0.0.1:{port}"))
        .env("VAULT_CACERT", dir.join("tls/ca.pem"))
        .env_remove("BAO_ADDR")
        .env_remove("BAO_CACERT")
        .output()
        .unwrap();
    let said = text(&unseal);
    assert_eq!(unseal.status.code(), Some(0), "{said}");
    assert!(said.contains("still sealed: 1 of 3") && said.contains("unsealed"), "{said}");
    for share in &shares {
        assert!(!said.contains(share.trim()));
    }
    assert!(!anonymous.seal_status().await.unwrap().sealed);
    pipeline.kv_read(&allowed, None).await.expect("reads again after the unseal");
    drop(_server);

    // With the server down, deploy starts it and unseals it from the share files.
    let (code, report, output) = deploy(dir, port, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(changed(&report), ["server", "unseal"], "{report:#}");
    stop(dir);
}

fn gpg(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gpg")
        .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""])
        .args(args)
        .env("GNUPGHOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpg must be installed (Debian package gnupg)");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn pgp_encrypted_shares_and_a_key_ceremony() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut keys = Vec::new();
    for n in 1..=3 {
        let uid = format!("Holder {n} <holder{n}@example.com>");
        gpg(home.path(), &["--quick-gen-key", &uid, "rsa2048", "sign,cert", "never"], None);
        let listing = String::from_utf8(gpg(home.path(), &["--with-colons", "--list-keys", &uid], None)).unwrap();
        let fpr = listing.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_owned();
        gpg(home.path(), &["--quick-add-key", &fpr, "rsa2048", "encr", "never"], None);
        let key = dir.path().join(format!("holder{n}.asc"));
        std::fs::write(&key, gpg(home.path(), &["--armor", "--export", &uid], None)).unwrap();
        keys.push(key.display().to_string());
    }
    let deployment = dir.path().join("vault");
    let port = free_port_pair();
    let pgp = keys.join(",");
    let (code, report, output) = deploy(&deployment, port, &["--shares", "3", "--threshold", "2", "--pgp-keys", &pgp]);
    assert_eq!(code, Some(1), "an unfinished deployment answers no: {output}");
    assert_eq!(report["complete"], false);
    let pending =
        report["steps"].as_array().unwrap().iter().find(|s| s["outcome"] == "pending").expect("a pending step");
    assert!(pending["detail"].as_str().unwrap().contains("scripts/vault/unseal"));
    assert!(!deployment.join("keys/unseal-key-1").exists(), "no plaintext share on disk");

    // Two holders decrypt their shares and enter them.
    for n in [1, 3] {
        let encrypted = std::fs::read_to_string(deployment.join(format!("keys/unseal-key-{n}.pgp.b64"))).unwrap();
        use base64::Engine as _;
        let binary = base64::engine::general_purpose::STANDARD.decode(encrypted.trim()).unwrap();
        let share = gpg(home.path(), &["--decrypt"], Some(&binary));
        let mut unseal = Command::new(root().join("scripts/vault/unseal"))
            .arg("-")
            .env("VAULT_ADDR", format!("https://127.0.0.1:{port}"))
            .env("VAULT_CACERT", deployment.join("tls/ca.pem"))
            .env_remove("BAO_ADDR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut unseal.stdin.take().unwrap(), &share).unwrap();
        let done = unseal.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(if n == 1 { 1 } else { 0 }), "holder {n}: {}", text(&done));
    }

    // The next run finishes the setup.
    let (code, report, output) = deploy(&deployment, port, &[]);
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(report["complete"], true);
    assert!(changed(&report).contains(&"root token".to_owned()));
    stop(&deployment);
}

#[test]
fn refuses_before_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_pair();

    let (code, _, output) = deploy(dir.path(), port, &["--shares", "3", "--threshold", "5"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("--threshold"), "{output}");

    let _busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, report, output) = deploy(dir.path(), port, &[]);
    assert_eq!(code, Some(4), "{output}");
    let failed = report["steps"].as_array().unwrap().iter().find(|s| s["outcome"] == "failed").expect("a failed step");
    assert!(failed["detail"].as_str().unwrap().contains("in use"), "{failed}");
    assert!(!dir.path().join("config/vault.hcl").exists(), "nothing written after a failed preflight");

    let other = tempfile::tempdir().unwrap();
    let cert = other.path().join("cert.pem");
    let key = other.path().join("key.pem");
    let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert, a.cert.pem()).unwrap();
    std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
    let port = free_port_pair();
    let (code, _, output) = deploy(
        &other.path().join("vault"),
        port,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("does not belong"), "{output}");
}
