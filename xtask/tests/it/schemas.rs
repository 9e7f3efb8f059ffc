//! Machine output is public API: every JSON Lines record each of the eight tools prints is validated against
//! its schema in `docs/schemas/TOOL.json` (the `$defs` entry named by the record's `type`), and names that
//! schema and its version in its `schema` field (`TOOL.TYPE/VERSION`). One test per tool, each against a real
//! OpenBao (raft and TLS, with a file audit device) and the tool as installed: the multi-call `vault-toolkit`
//! binary under the tool's name. Schemas allow fields they do not name, so a new field breaks no reader.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use vault_testkit::TlsServer;
use vault_testkit::schema::{definition, validate};

use crate::root;

/// A server with the audit device on and a secret at `secret/app/db`, and a temp folder holding the tools.
struct Setup {
    server: TlsServer,
    temp: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let server = TlsServer::builder()
            .audit_file(true)
            .start()
            .await
            .unwrap_or_else(|e| panic!("cannot start an OpenBao TLS server: {e}"));
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir(temp.path().join("bin")).unwrap();
        let setup = Setup { server, temp };
        let out = setup.bao(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
        assert!(out.status.success() || String::from_utf8_lossy(&out.stderr).contains("path is already in use"));
        let out = setup.bao(&["kv", "put", "secret/app/db", "password=Xk9mQ2vL7pR4tW8zN3bY", "user=etl"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = setup.bao(&["kv", "get", "secret/app/db"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        setup
    }

    fn dir(&self) -> &Path {
        self.temp.path()
    }

    /// The server's own CLI, with the root token (setup only).
    fn bao(&self, args: &[&str]) -> std::process::Output {
        let bao = vault_testkit::bao_binary().unwrap();
        Command::new(bao)
            .args(args)
            .env("BAO_ADDR", self.server.addr())
            .env("BAO_CACERT", self.server.ca_cert_path())
            .env("BAO_TOKEN", self.server.root_token())
            .env("HOME", self.dir())
            .output()
            .unwrap()
    }

    /// `tool` as installed: a link named like the tool to the multi-call binary, with the server's address, CA
    /// and a token, nothing from this shell.
    fn tool(&self, tool: &str) -> Command {
        let link = self.dir().join("bin").join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), &link).unwrap();
        }
        let mut command = Command::new(link);
        for (key, _) in std::env::vars() {
            if key.starts_with("VAULT_") || key.starts_with("BAO_") || key.starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command
            .env("VAULT_ADDR", self.server.addr())
            .env("VAULT_CACERT", self.server.ca_cert_path())
            .env("VAULT_TOKEN", self.server.root_token())
            .env("HOME", self.dir())
            .current_dir(self.dir());
        command
    }
}

/// Runs a command, expects one of `codes`, and returns its stdout's records.
fn records(command: &mut Command, codes: &[i32]) -> Vec<Value> {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = format!("{command:?}\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.code().is_some_and(|c| codes.contains(&c)), "exit {:?}: {said}", out.status.code());
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{said}")))
        .collect()
}

/// Validates every record against `docs/schemas/TOOL.json` and checks its `schema` field; returns the types seen.
fn check(tool: &str, records: &[Value]) -> Vec<String> {
    // SCHEMA_SAMPLES=DIR keeps the records seen, for writing a schema from real output.
    if let Some(dir) = std::env::var_os("SCHEMA_SAMPLES") {
        use std::io::Write;
        let path = Path::new(&dir).join(format!("{tool}.jsonl"));
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        for record in records {
            writeln!(file, "{record}").unwrap();
        }
        return records.iter().filter_map(|r| r["type"].as_str().map(str::to_owned)).collect();
    }
    let file = root().join("docs/schemas").join(format!("{tool}.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(!records.is_empty(), "{tool} printed no records");
    let mut kinds = Vec::new();
    for record in records {
        let kind = record["type"].as_str().unwrap_or_else(|| panic!("{tool}: a record without a type: {record}"));
        assert_eq!(record["schema"], format!("{tool}.{kind}/1"), "{tool}: {record}");
        let def = definition(&schema, kind).unwrap_or_else(|| panic!("{}: no $defs/{kind}", file.display()));
        let problems = validate(&schema, def, record);
        assert!(problems.is_empty(), "{tool} {kind} record does not match its schema: {problems:#?}\n{record}");
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_owned());
        }
    }
    kinds
}

/// Checks the records of several commands and that between them every type in `expected` appeared.
fn check_all(tool: &str, outputs: &[Vec<Value>], expected: &[&str]) {
    let mut seen = Vec::new();
    for records in outputs {
        seen.extend(check(tool, records));
    }
    for kind in expected {
        assert!(seen.iter().any(|k| k == kind), "{tool}: no {kind} record was checked (saw {seen:?})");
    }
}

fn write(path: PathBuf, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_scan_records_match_their_schema() {
    let s = Setup::start().await;
    let tree = s.dir().join("tree");
    write(tree.join(".env"), "AWS_KEY=AKIAIOSFODNN7EXAMPLF\nDB_PASSWORD=Xk9mQ2vL7pR4tW8zN3bY\n");
    let scan = records(s.tool("secret-scan").args(["-f", "jsonl", "tree"]), &[1]);
    let known = records(s.tool("secret-scan").args(["-f", "jsonl", "--vault-known", "secret/app/db", "tree"]), &[1]);
    let rules = records(s.tool("secret-scan").args(["rules", "list", "-f", "jsonl"]), &[0]);
    let check_rules = records(s.tool("secret-scan").args(["rules", "check", "-f", "jsonl"]), &[0]);
    check_all("secret-scan", &[scan, known, rules, check_rules], &["finding", "summary", "rule"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_env_records_match_their_schema() {
    let s = Setup::start().await;
    let list = records(s.tool("vault-env").args(["list", "--format", "jsonl", "--recursive", "secret/"]), &[0]);
    write(s.dir().join("m.toml"), "[[secret]]\npath = \"secret/app/db\"\n\n[[secret]]\npath = \"secret/app/gone\"\n");
    let manifest = records(s.tool("vault-env").args(["check", "--format", "jsonl", "m.toml"]), &[1]);
    check_all("vault-env", &[list, manifest], &["key", "secret", "summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_health_records_match_their_schema() {
    let s = Setup::start().await;
    let report = records(s.tool("vault-health").args(["--format", "jsonl", "--canary", "secret/app/db"]), &[0, 1]);
    check_all("vault-health", &[report], &["check", "summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn env_migrate_records_match_their_schema() {
    let s = Setup::start().await;
    write(s.dir().join("app/.env"), "DB_PASSWORD=Xk9mQ2vL7pR4tW8zN3bY\nDB_HOST=db.internal\n");
    write(s.dir().join("app/main.py"), "import os\nos.environ['DB_PASSWORD']\n");
    let em =
        |args: &[&str], codes: &[i32]| records(s.tool("env-migrate").args(["--format", "jsonl"]).args(args), codes);
    let detect = em(&["detect", "app"], &[0]);
    let plan = s.tool("env-migrate").args(["plan", "app", "-o", "plan.json"]).output().unwrap();
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let dry = em(&["apply", "plan.json"], &[0, 1]);
    let apply = em(&["apply", "plan.json", "--yes"], &[0]);
    let strip = em(&["strip", "plan.json"], &[0]);
    let refs = em(&["refs", "app", "--plan", "plan.json"], &[0, 1]);
    let example = em(&["example", "app"], &[0]);
    check_all(
        "env-migrate",
        &[detect, dry, apply, strip, refs, example],
        &["variable", "secret", "file", "reference", "example", "summary"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_gen_records_match_their_schema() {
    let s = Setup::start().await;
    let policies = root().join("policies");
    let p = |name: &str| policies.join(name).display().to_string();
    let pg = |args: &[&str], codes: &[i32]| records(s.tool("policy-gen").args(["--format", "jsonl"]).args(args), codes);
    let loose = write(s.dir().join("loose.hcl"), "path \"secret/*\" {\n  capabilities = [\"reed\", \"sudo\"]\n}\n");
    let check_ = pg(&["check", &p("dagster-secrets.hcl"), &loose.display().to_string()], &[1, 2]);
    let fmt = pg(&["fmt", "--check", &p("dagster-secrets.hcl")], &[0]);
    let explain = pg(&["explain", "--policy", &p("dagster-secrets.hcl"), "secret/data/dagster/app"], &[0, 1]);
    let test = pg(&["test", &p("tests/dagster-secrets.toml")], &[0]);
    let diff = pg(&["diff", &p("dagster-secrets.hcl")], &[0, 1]);
    check_all("policy-gen", &[check_, fmt, explain, test, diff], &["file", "finding", "explain", "case", "summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_parse_records_match_their_schema() {
    let s = Setup::start().await;
    let denied = s.bao(&["kv", "get", "secret/app/nothing"]);
    assert!(!denied.status.success());
    let log = s.server.audit_log_path().expect("an audit log").display().to_string();
    let ap =
        |command: &str, codes: &[i32]| records(s.tool("audit-parse").args([command, "--format", "jsonl", &log]), codes);
    let filter = ap("filter", &[0, 1]);
    let report = ap("report", &[0, 1]);
    check_all("audit-parse", &[filter, report], &["operation", "read", "root_use", "summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_rotate_records_match_their_schema() {
    let s = Setup::start().await;
    let policy = write(
        s.dir().join("rotate/policies.toml"),
        "[[policy]]\npath = \"secret/app/db\"\nowner = \"ops\"\nevery = \"90d\"\nstrategy = \"generate\"\n\
         generate = { key = \"password\", length = 32, charset = \"alphanumeric\" }\n",
    );
    let state = s.dir().join("rotate/state");
    let sr = |args: &[&str], codes: &[i32]| {
        records(
            s.tool("secret-rotate")
                .env("SECRET_ROTATE_POLICY", &policy)
                .env("SECRET_ROTATE_STATE_DIR", &state)
                .args(["--format", "jsonl"])
                .args(args),
            codes,
        )
    };
    let due = sr(&["due"], &[0, 1]);
    let run = sr(&["run", "secret/app/db"], &[0]);
    let history = sr(&["history"], &[0]);
    check_all("secret-rotate", &[due, run, history], &["secret", "rotation", "history", "summary"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_backup_records_match_their_schema() {
    let s = Setup::start().await;
    let vb =
        |args: &[&str], codes: &[i32]| records(s.tool("vault-backup").args(["--format", "jsonl"]).args(args), codes);
    let save = vb(&["save", "--to", "backups"], &[0]);
    let verify = vb(&["verify", "backups"], &[0]);
    let list = vb(&["list", "backups"], &[0]);
    let prune = vb(&["prune", "--keep-last", "1", "backups"], &[0]);
    check_all("vault-backup", &[save, verify, list, prune], &["destination", "backup", "summary"]);
}

#[test]
fn output_md_lists_each_tools_record_types() {
    let doc = std::fs::read_to_string(root().join("docs/output.md")).unwrap();
    for tool in [
        "secret-scan",
        "env-migrate",
        "vault-env",
        "vault-health",
        "policy-gen",
        "secret-rotate",
        "vault-backup",
        "audit-parse",
    ] {
        let file = root().join("docs/schemas").join(format!("{tool}.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut defs: Vec<&str> = schema["$defs"].as_object().unwrap().keys().map(String::as_str).collect();
        defs.sort_unstable();
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{tool}` |"))).unwrap_or_else(|| panic!("{tool}"));
        let cell = row.rsplit('|').nth(1).unwrap();
        let mut listed: Vec<&str> = cell.split(',').map(|k| k.trim().trim_matches('`')).collect();
        listed.sort_unstable();
        assert_eq!(listed, defs, "docs/output.md's row for {tool} and {}", file.display());
        for (kind, def) in schema["$defs"].as_object().unwrap() {
            assert_eq!(def["properties"]["type"]["const"], kind.as_str(), "{tool} {kind}");
            assert_eq!(def["properties"]["schema"]["const"], format!("{tool}.{kind}/1"), "{tool} {kind}");
            assert!(def["description"].as_str().is_some_and(|d| !d.is_empty()), "{tool} {kind} has no description");
        }
    }
}
