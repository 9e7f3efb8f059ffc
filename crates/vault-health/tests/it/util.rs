//! The harness: the built binary with a clean environment, servers that fail the test when they cannot start,
//! certificates for the TLS tests, and parsers for each output format.

use std::collections::BTreeMap;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// `vault-health` with no Vault settings from the caller's environment: no `VAULT_*` or `BAO_*` (the testkit's
/// `env()` sets `VAULT_*` only, and `BAO_*` would win over it), no `~/.vault-token`, no `RUST_LOG`.
pub fn vault_health() -> Command {
    Command::from_std(vault_testkit::harness::tool_command(assert_cmd::cargo::cargo_bin!("vault-health")))
}

/// `vault-health` pointed at a server through its `env()`.
pub fn vault_health_with(env: Vec<(String, String)>) -> Command {
    let mut cmd = vault_health();
    cmd.envs(env);
    cmd
}

/// Start servers, failing the test with the reason when they cannot.
pub use vault_testkit::harness::{dev_server, tls_server};

/// A root client for a server.
pub fn root_client(server: &impl vault_testkit::harness::Server) -> vault_core::Client {
    vault_testkit::root_client!(server)
}

/// stdout and stderr as text, and the exit code.
pub use vault_testkit::harness::{code, stderr, stdout};

/// Runs `cmd` with `--format json` and returns the report and the exit code.
pub fn json(cmd: &mut Command) -> (Value, i32) {
    let output = cmd.args(["--format", "json"]).output().expect("vault-health runs");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", stdout(&output), stderr(&output)));
    (report, code(&output))
}

/// The check called `name` in a JSON report.
pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// The names and statuses of a JSON report's checks, for readable assertions.
pub fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// Parses JSON Lines output, checking that every line is an object with a `type`.
pub use vault_testkit::harness::jsonl;

/// Parses the Prometheus text format strictly enough to catch mistakes: every sample's family has `# HELP` and
/// `# TYPE` lines before it, names and labels are well-formed, values are numbers. Returns `series → value`,
/// where the series is written as in the file (`name{label="v",…}`).
pub fn prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut declared = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["gauge", "counter", "summary"].contains(&kind), "{line}");
            assert!(declared.insert(name.to_owned()), "family declared twice: {name}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        let labels = &series[name.len()..];
        assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "bad labels: {line}");
        let family = ["_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| declared.contains(*f));
        assert!(declared.contains(name) || family.is_some(), "sample before its # TYPE: {line}");
        assert!(samples.insert(series.to_owned(), value).is_none(), "duplicate series: {line}");
    }
    samples
}

/// The value of the one series of `name` (whatever its labels, bar `extra`, e.g. `check="tls"`).
pub fn sample(samples: &BTreeMap<String, f64>, name: &str, extra: &str) -> Option<f64> {
    samples.iter().find(|(series, _)| series.split('{').next() == Some(name) && series.contains(extra)).map(|(_, v)| *v)
}

/// Asserts that no output of a run contains `secret` (a token, a key share).
pub fn assert_no_secret(output: &Output, secret: &str) {
    vault_testkit::harness::assert_output_hides(output, &[secret]);
}

/// A CA and a leaf for `127.0.0.1` and `localhost` that expires `valid_for` from now, as PEM:
/// `(ca_cert, leaf_cert, leaf_key)`.
pub fn short_lived_certificate(valid_for: time::Duration) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        PKCS_ECDSA_P256_SHA256,
    };
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "vault-health test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(365);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - time::Duration::hours(1);
    leaf.not_after = now + valid_for;
    let leaf_pem = leaf.signed_by(&leaf_key, &issuer).unwrap().pem();
    (ca_pem, leaf_pem, leaf_key.serialize_pem())
}

/// One run per output format against the same server.
#[derive(Debug)]
pub struct Runs {
    /// `--format human`.
    pub human: Output,
    /// `--format json`, parsed.
    pub json: Value,
    /// Its exit code.
    pub json_code: i32,
    /// `--format jsonl`.
    pub jsonl: Output,
    /// `--format nagios`.
    pub nagios: Output,
    /// `--format prometheus`.
    pub prometheus: Output,
    /// Every run's raw output, for the secret check.
    pub all: Vec<Output>,
}

/// Runs every format with `env` and `args`.
pub fn run_formats(env: &[(String, String)], args: &[&str]) -> Runs {
    let run = |format: &str| {
        vault_health_with(env.to_vec()).args(["--format", format]).args(args).output().expect("vault-health runs")
    };
    let json_output = run("json");
    let json = serde_json::from_slice(&json_output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", stdout(&json_output), stderr(&json_output)));
    let (human, jsonl, nagios, prometheus) = (run("human"), run("jsonl"), run("nagios"), run("prometheus"));
    let all = [&human, &json_output, &jsonl, &nagios, &prometheus].map(|o| (*o).clone()).to_vec();
    Runs { human, json_code: code(&json_output), json, jsonl, nagios, prometheus, all }
}
