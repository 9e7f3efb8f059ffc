//! The day-two test: the whole system as a user runs it on one box, from an empty folder, with the INSTALLED
//! tools only. `cargo xtask install --prefix P --profile dev`, then the installed `vault-toolkit deploy --local`
//! with the job units pointing at `P/bin`, then every job through the installed job runner as its own identity
//! (the unit's `Environment=` and `LoadCredential=`): a sample app's `.env` migrated with default settings as
//! `operator`, a real Dagster asset reading every migrated value as `dagster` through `VaultSecretsResource` (and
//! the installed vault-env), backup and verify, the drill, a rotation, audit retention, health green, and the
//! installed audit-parse naming who read the migrated secrets. What a user would check, and that no secret value
//! reaches any output.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Stop, as_role, free_port_pair, root, text, xtask};

/// The sample application: its folder name is the app name env-migrate's default template uses.
const APP: &str = "shop-etl";

/// The sample's secrets (unique strings, so a leak is unmistakable) and a setting that must stay in the file.
const SECRETS: [(&str, &str); 4] = [
    ("DATABASE_URL", "postgres://etl:dT2-pg-9f4c1a7e3b@db.internal:5432/shop"),
    ("SMTP_PASSWORD", "dT2-smtp-6b1e8d0c5a2f"),
    ("SENDGRID_API_KEY", "SG.dT2sendgrid4kQ9xW2mZ7.pL3vN8bR1cT6yH0jF5gD2sA9eK4uM7wQ1zX3cV6bN8m"),
    ("STRIPE_SECRET_KEY", "sk_live_51dT2Hq8RzK2eYv9TmWc3Lp7XnA0bD"),
];

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Every output of the run, checked at the end for secret values.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    /// Records `output` under `what` and returns its text.
    fn record(&mut self, what: &str, output: &Output) -> String {
        let said = text(output);
        self.0.push((what.to_owned(), said.clone()));
        said
    }
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// A command of the installed toolkit, with nothing from this shell's Vault settings.
fn installed(bin: &Path, tool: &str) -> Command {
    let mut command = Command::new(bin.join(tool));
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            command.env_remove(key);
        }
    }
    command
}

/// The Python of the Dagster venv, made (or found up to date) by the bridge's own script.
fn dagster_python() -> PathBuf {
    let out = Command::new(root().join("integrations/dagster/run-tests.sh")).arg("--setup-only").output().unwrap();
    assert!(out.status.success(), "run-tests.sh --setup-only: {}", text(&out));
    let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(python.is_file(), "run-tests.sh --setup-only printed {python:?}");
    python
}

/// The Dagster job: one asset reads every (path, key) in the file named by argv[1] through VaultSecretsResource,
/// configured from the environment the way the README shows, and returns a SHA-256 per value (never a value).
const DAGSTER_SCRIPT: &str = r#"
import hashlib, json, os, sys
from dagster import AssetExecutionContext, EnvVar, asset, materialize
from vault_dagster import VaultSecretsResource
from vault_dagster.secret import Secret

targets = json.load(open(sys.argv[1]))

@asset
def migrated_settings(context: AssetExecutionContext, vault: VaultSecretsResource):
    digests = {}
    for path, key in targets:
        value = vault.get_secret(path, key)
        assert isinstance(value, Secret), type(value)
        # A Secret prints as [redacted]: this line is safe in the run's logs, and the test checks it is.
        context.log.info(f"read {path}#{key}: {value}")
        digests[f"{path}#{key}"] = hashlib.sha256(value.reveal().encode()).hexdigest()
    return {"digests": digests, "vault_env": os.path.abspath(vault._process._argv[0])}

vault = VaultSecretsResource(
    vault_addr=EnvVar("VAULT_ADDR"), ca_cert=EnvVar("VAULT_CACERT"),
    role_id_file=EnvVar("VAULT_ROLE_ID_FILE"), secret_id_file=EnvVar("VAULT_SECRET_ID_FILE"),
    vault_env_bin=EnvVar("VAULT_ENV_BIN"),
)
result = materialize([migrated_settings], resources={"vault": vault})
assert result.success
print("RESULT " + json.dumps(result.output_for_node("migrated_settings")))
"#;

#[test]
fn day_two_with_the_installed_tools_from_an_empty_folder() {
    let temp = tempfile::tempdir().unwrap();
    let base = temp.path();
    let (dir, prefix) = (base.join("vault"), base.join("prefix"));
    let bin = prefix.join("bin");
    let port = free_port_pair();
    let mut seen = Seen::default();

    // Install, then deploy with the installed vault-toolkit; the job units run the tools in P/bin.
    let out = xtask(&["install", "--prefix", prefix.to_str().unwrap(), "--profile", "dev"]);
    assert!(out.status.success(), "install: {}", seen.record("install", &out));
    let bao = vault_testkit::bao_binary().expect("the OpenBao binary must be available");
    let out = run(installed(&bin, "vault-toolkit")
        .arg("deploy")
        .arg("--local")
        .arg(&dir)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--format", "json"])
        .arg("--bin")
        .arg(&bao)
        .arg("--bin-dir")
        .arg(&bin));
    let _stop = Stop(dir.clone());
    let said = seen.record("deploy", &out);
    assert_eq!(out.status.code(), Some(0), "deploy: {said}");
    let units: Vec<PathBuf> = std::fs::read_dir(dir.join("systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    assert_eq!(units.len(), 5, "{units:?}");
    for unit in &units {
        let body = std::fs::read_to_string(unit).unwrap();
        for line in body.lines().filter(|l| l.starts_with("ExecStart")) {
            let program = line.split_once('=').unwrap().1.trim_start_matches(['-', '@', '+', '!']);
            let program = Path::new(program.split_whitespace().next().unwrap());
            assert!(
                program.parent() == Some(bin.as_path()) && program.is_file(),
                "{}: {line} does not run an installed tool",
                unit.display()
            );
        }
    }
    let job = |name: &str, seen: &mut Seen| -> String {
        let out = run(installed(&bin, "vault-toolkit").args(["job", "run", "--local"]).arg(&dir).arg(name));
        let said = seen.record(name, &out);
        assert_eq!(out.status.code(), Some(0), "job {name}: {said}");
        assert!(said.contains(&format!("job: {name}.service: succeeded")), "job {name}: {said}");
        said
    };

    // A sample app's .env, migrated with env-migrate's default settings by the operator.
    let app = base.join(APP);
    std::fs::create_dir(&app).unwrap();
    let env: String = SECRETS.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(app.join(".env"), format!("# shop-etl\nLOG_LEVEL=info\n{env}")).unwrap();
    std::fs::set_permissions(app.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    for args in [&["plan", ".", "-o", "plan.json"][..], &["apply", "plan.json", "--yes"], &["strip", "plan.json"]] {
        let out = run(as_role(&dir, port, "operator", &bin.join("env-migrate")).args(args).current_dir(&app));
        let said = seen.record("env-migrate", &out);
        assert_eq!(out.status.code(), Some(0), "env-migrate {args:?}: {said}");
    }
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(app.join("plan.json")).unwrap()).unwrap();
    let mut targets = Vec::new();
    for (key, value) in SECRETS {
        let entry = plan["entries"].as_array().unwrap().iter().find(|e| e["key"] == key);
        let target = &entry.unwrap_or_else(|| panic!("{key} is planned: {plan:#}"))["target"];
        let (path, field) = (target["path"].as_str().unwrap().to_owned(), target["key"].as_str().unwrap().to_owned());
        assert!(
            path.starts_with(&format!("secret/dagster/{APP}/")),
            "default settings write where dagster reads: {path}"
        );
        targets.push((path, field, value));
    }
    let stripped = std::fs::read_to_string(app.join(".env")).unwrap();
    assert!(stripped.contains("LOG_LEVEL=info"), "{stripped}");
    for (key, value) in SECRETS {
        assert!(!stripped.contains(value), "{key} is still in the stripped .env");
    }

    // A real Dagster asset reads every migrated value as dagster, through the installed vault-env.
    let python = dagster_python();
    let listed: Vec<(&str, &str)> = targets.iter().map(|(p, k, _)| (p.as_str(), k.as_str())).collect();
    std::fs::write(base.join("targets.json"), serde_json::to_string(&listed).unwrap()).unwrap();
    std::fs::write(base.join("job.py"), DAGSTER_SCRIPT).unwrap();
    let dagster_home = base.join("dagster-home");
    std::fs::create_dir(&dagster_home).unwrap();
    let mut dagster = as_role(&dir, port, "dagster", &python);
    dagster
        .arg(base.join("job.py"))
        .arg(base.join("targets.json"))
        .env("VAULT_ENV_BIN", bin.join("vault-env"))
        .env("DAGSTER_HOME", &dagster_home)
        .current_dir(base);
    let out = run(&mut dagster);
    let said = seen.record("dagster", &out);
    assert_eq!(out.status.code(), Some(0), "the Dagster job: {said}");
    let result =
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix("RESULT ").map(str::to_owned));
    let result: Value =
        serde_json::from_str(&result.unwrap_or_else(|| panic!("no result from Dagster: {said}"))).unwrap();
    assert_eq!(result["vault_env"], bin.join("vault-env").to_str().unwrap(), "the installed vault-env served it");
    for (path, key, value) in &targets {
        assert_eq!(result["digests"][format!("{path}#{key}")], sha256(value), "dagster read {path}#{key}");
    }
    assert!(said.contains("[redacted]"), "the asset's log line shows the Secret redacted: {said}");

    // Backup, verified offline; the drill restores it into a throw-away server and compares.
    let said = job("vault-backup", &mut seen);
    assert!(said.contains("\"status\":\"saved\""), "{said}");
    let out = run(as_role(&dir, port, "backup", &bin.join("vault-backup")).arg("verify").arg(dir.join("backups")));
    let said = seen.record("verify", &out);
    assert!(out.status.success() && said.starts_with("OK "), "vault-backup verify: {said}");
    let said = job("vault-backup-drill", &mut seen);
    assert!(said.contains("\"ok\":true") && said.contains("\"differences\":0"), "the drill compared: {said}");

    // A rotation of a migrated secret, due at once; the pipeline then reads the new value, the other key stays.
    let (email, smtp_key, smtp_value) = targets.iter().find(|(_, k, _)| k == "SMTP_PASSWORD").unwrap().clone();
    std::fs::write(
        dir.join("secret-rotate/policies.toml"),
        format!(
            "[[policy]]\npath = \"{email}\"\nowner = \"shop\"\nevery = \"1s\"\nstrategy = \"generate\"\n\
             generate = {{ key = \"{smtp_key}\", length = 32, charset = \"alphanumeric\" }}\n"
        ),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let said = job("secret-rotate", &mut seen);
    assert!(said.contains("\"result\":\"rotated\""), "{said}");
    let read = |key: &str| {
        let out = run(as_role(&dir, port, "dagster", &bin.join("vault-env")).args(["get", &email, "--field", key]));
        assert!(out.status.success(), "vault-env get {email}#{key}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    let rotated = read(&smtp_key);
    assert!(rotated.len() == 32 && rotated != smtp_value, "the pipeline reads the rotated value");
    let sendgrid = SECRETS.iter().find(|(k, _)| *k == "SENDGRID_API_KEY").unwrap().1;
    assert_eq!(read("SENDGRID_API_KEY"), sendgrid, "the other key of the secret is kept");

    // Audit retention: an old rotated log is compressed, a very old one deleted, the live log untouched.
    let audit = dir.join("audit");
    let live = std::fs::read_dir(&audit).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_file()).unwrap();
    let live_name = live.file_name().unwrap().to_str().unwrap().to_owned();
    let (recent, ancient) =
        (audit.join(format!("{live_name}-20250101")), audit.join(format!("{live_name}-20230101.gz")));
    for (file, days) in [(&recent, 30), (&ancient, 900)] {
        std::fs::write(file, "{}\n").unwrap();
        let when = SystemTime::now() - Duration::from_secs(days * 86_400);
        std::fs::File::options().write(true).open(file).unwrap().set_modified(when).unwrap();
    }
    job("audit-retention", &mut seen);
    assert!(!recent.exists() && audit.join(format!("{live_name}-20250101.gz")).is_file(), "compressed after 7 days");
    assert!(!ancient.exists(), "deleted after 400 days");
    assert!(live.is_file(), "the live log is never touched");

    // Health is green, as the unit writes it and as the health identity sees it.
    let said = job("vault-health", &mut seen);
    assert!(said.contains(": exit 0\n"), "{said}");
    let prom = std::fs::read_to_string(dir.join("health/vault_health.prom")).unwrap();
    assert!(prom.lines().any(|l| l.starts_with("vault_health_status{") && l.ends_with(" 0")), "{prom}");
    let out = run(as_role(&dir, port, "health", &bin.join("vault-health"))
        .args(["--canary", "secret/health/canary", "--format", "json", "--backup-dir"])
        .arg(dir.join("backups")));
    let said = seen.record("vault-health", &out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(out.status.code() == Some(0) && report["status"] == "ok", "{said}");

    // The installed audit-parse names who read each migrated secret: the dagster AppRole.
    let out = run(installed(&bin, "audit-parse").args(["report", "--format", "jsonl"]).arg(&audit));
    let said = seen.record("audit-parse", &out);
    assert!(out.status.success(), "audit-parse report: {said}");
    let records: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (path, _, _) in &targets {
        let readers: Vec<&str> = records
            .iter()
            .filter(|r| r["type"] == "read" && r["path"] == path.as_str())
            .map(|r| r["identity"].as_str().unwrap())
            .collect();
        assert!(readers.contains(&"approle/dagster"), "{path} was read by {readers:?}:\n{said}");
        assert!(!readers.contains(&"root"), "{path}: no root token read it: {readers:?}");
    }

    // No secret value, and no role's secret-id, in any output or in the audit log (it holds HMACs only).
    let mut secrets: Vec<String> = SECRETS.iter().map(|(_, v)| (*v).to_owned()).collect();
    secrets.push(rotated);
    for role in ["dagster", "operator", "backup", "drill", "health", "rotate"] {
        secrets
            .push(std::fs::read_to_string(dir.join("approle").join(role).join("secret-id")).unwrap().trim().to_owned());
    }
    seen.0.push(("audit log".into(), std::fs::read_to_string(&live).unwrap()));
    for (what, said) in &seen.0 {
        for (i, secret) in secrets.iter().enumerate() {
            assert!(!said.contains(secret.as_str()), "secret #{i} appeared in the output of {what}");
        }
    }
}
