//! `refs --patch` end to end, on the two sample Dagster projects in `tests/fixtures/`: a `.env` with freshly made
//! values is migrated into a real OpenBao (`plan`, `apply --yes`, `strip`), the patch `refs` writes is applied
//! with `git apply`, and every asset is materialised by real Dagster (the venv `integrations/dagster/run-tests.sh`
//! makes), reading through `VaultSecretsResource` as the pipeline's AppRole. Each asset must return the digest of
//! the value planted for it; no migrated value may remain in the tree (`secret-scan --vault-known`); every read the
//! patch leaves is listed with its reason, and the second project runs under the `vault-env run` line `refs`
//! proposes for them (its module-level read and its helper's read find their variables there; everything else
//! reads through the resource). Without Dagster the test fails: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vault_testkit::DevServer;

use crate::util::{assert_absent, client, cmd, cmd_for, code, dev, run};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/env-migrate is two levels down").into()
}

/// A workspace binary, built now if needed (the test runs another crate's program, as a user's pipeline does).
fn workspace_bin(package: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", package])
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    let bin = vault_testkit::tools_dir().parent().expect("tools lives in the target dir").join("debug").join(package);
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// The Python of the Dagster venv, made (or found up to date) by the bridge's own script. Fails without it.
fn dagster_python() -> PathBuf {
    let out = Command::new(workspace().join("integrations/dagster/run-tests.sh"))
        .arg("--setup-only")
        .output()
        .expect("run-tests.sh runs");
    assert!(
        out.status.success(),
        "the Dagster venv could not be made (run-tests.sh --setup-only): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(python.is_file(), "run-tests.sh --setup-only printed {python:?}");
    python
}

/// Materialises every asset of `defs` in MODULE (from the project folder) with the resources it declares, and
/// prints each asset's output as JSON.
const RUN_ALL: &str = r#"
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
defs = importlib.import_module(sys.argv[2]).defs
from dagster import materialize
assets = list(defs.assets)
result = materialize(assets, resources=dict(defs.resources or {}))
assert result.success
print("RESULT " + json.dumps({a.op.name: result.output_for_node(a.op.name) for a in assets}))
"#;

fn sha(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn planted(label: &str) -> String {
    use rand::Rng;
    let tail: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(24).map(char::from).collect();
    format!("{label}{tail}")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The pipeline's identity, as deploy provisions it: AppRole `dagster` with the `dagster-secrets` policy, its
/// role_id and secret_id in files.
async fn pipeline_approle(root: &vault_core::Client, dir: &Path) -> (PathBuf, PathBuf) {
    let policy = std::fs::read_to_string(workspace().join("policies/dagster-secrets.hcl")).unwrap();
    root.request(Method::POST, "sys/auth/approle", Some(&json!({ "type": "approle" }))).await.unwrap();
    root.request(Method::PUT, "sys/policies/acl/dagster-secrets", Some(&json!({ "policy": policy }))).await.unwrap();
    root.request(
        Method::POST,
        "auth/approle/role/dagster",
        Some(&json!({ "token_policies": ["dagster-secrets"], "token_ttl": "1h", "token_no_default_policy": true })),
    )
    .await
    .unwrap();
    let role = root.request(Method::GET, "auth/approle/role/dagster/role-id", None).await.unwrap().unwrap();
    let secret = root.request(Method::POST, "auth/approle/role/dagster/secret-id", None).await.unwrap().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (role_file, secret_file) = (dir.join("role-id"), dir.join("secret-id"));
    std::fs::write(&role_file, role["data"]["role_id"].as_str().unwrap()).unwrap();
    std::fs::write(&secret_file, secret["data"]["secret_id"].as_str().unwrap()).unwrap();
    (role_file, secret_file)
}

/// What both projects' runs start from: real Dagster, the built vault-env, a dev server, and the pipeline's
/// AppRole with the environment a pipeline run gets (its address, role_id and secret_id files, vault-env).
struct Pipeline {
    python: PathBuf,
    vault_env_bin: PathBuf,
    server: DevServer,
    /// The root token's environment, for the tools that set up.
    root_env: Vec<(String, String)>,
    work: tempfile::TempDir,
    pipeline_env: Vec<(String, String)>,
}

impl Pipeline {
    async fn start() -> Self {
        let python = dagster_python();
        let vault_env_bin = workspace_bin("vault-env");
        let server = dev().await;
        let root_env = server.env();
        let work = tempfile::tempdir().unwrap();
        let (role_file, secret_file) = pipeline_approle(&client(&server), &work.path().join("approle")).await;
        let pipeline_env = vec![
            ("VAULT_ADDR".to_owned(), server.addr().to_owned()),
            ("VAULT_CACERT".to_owned(), String::new()),
            ("VAULT_ROLE_ID_FILE".to_owned(), role_file.display().to_string()),
            ("VAULT_SECRET_ID_FILE".to_owned(), secret_file.display().to_string()),
            ("VAULT_ENV_BIN".to_owned(), vault_env_bin.display().to_string()),
        ];
        Self { python, vault_env_bin, server, root_env, work, pipeline_env }
    }
}

struct Migrated {
    root: PathBuf,
    plan: PathBuf,
    /// The `refs --patch` records (from stderr, JSON Lines).
    references: Vec<Value>,
    /// Everything the tools printed, to look for leaked values.
    seen: Vec<(String, String)>,
}

/// Copies a fixture, writes its `.env`, migrates it, and applies the patch `refs` writes.
fn migrate(fixture: &str, app: &str, env_file: &str, vault_env: &[(String, String)], work: &Path) -> Migrated {
    let root = work.join(fixture);
    std::fs::create_dir_all(&root).unwrap();
    copy_tree(&workspace().join("crates/env-migrate/tests/fixtures").join(fixture), &root);
    std::fs::write(root.join(".env"), env_file).unwrap();
    git(&root, &["init", "-q"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "before the migration"]);
    let plan = work.join(format!("{fixture}-plan.json"));
    let mut seen = Vec::new();
    let (out, stdout, stderr) = run(cmd(&root).args(["plan", ".", "--app", app, "-o"]).arg(&plan));
    assert_eq!(code(&out), 0, "plan: {stderr}");
    seen.push(("plan".to_owned(), format!("{stdout}{stderr}{}", std::fs::read_to_string(&plan).unwrap())));
    let (out, stdout, stderr) = run(cmd_for(&root, vault_env).args(["apply", "--yes"]).arg(&plan));
    assert_eq!(code(&out), 0, "apply: {stdout}{stderr}");
    seen.push(("apply".to_owned(), format!("{stdout}{stderr}")));
    let (out, stdout, stderr) = run(cmd_for(&root, vault_env).arg("strip").arg(&plan));
    assert_eq!(code(&out), 0, "strip: {stdout}{stderr}");
    seen.push(("strip".to_owned(), format!("{stdout}{stderr}")));

    // The patch: stdout only; the list on stderr. Files are not touched by refs itself.
    let before = git(&root, &["status", "--porcelain"]).stdout;
    let (_, patch, records) = run(cmd(&root).args(["refs", ".", "--patch", "-f", "jsonl", "--plan"]).arg(&plan));
    assert_eq!(git(&root, &["status", "--porcelain"]).stdout, before, "refs --patch changed no file");
    assert!(patch.starts_with("diff --git a/"), "a patch on stdout:\n{patch}\n{records}");
    seen.push(("refs --patch".to_owned(), format!("{patch}{records}")));
    let patch_file = work.join(format!("{fixture}.patch"));
    std::fs::write(&patch_file, &patch).unwrap();
    git(&root, &["apply", "--check", patch_file.to_str().unwrap()]);
    git(&root, &["apply", patch_file.to_str().unwrap()]);
    let mut references: Vec<Value> =
        records.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let summary = references.pop().expect("a summary record");
    assert_eq!(summary["type"], "summary", "{records}");
    assert_eq!(summary["references"], references.len(), "{records}");
    assert!(references.iter().all(|r| r["type"] == "reference"), "{records}");
    Migrated { root, plan, references, seen }
}

/// Runs every asset of MODULE with real Dagster, reading through VaultSecretsResource as the pipeline's AppRole
/// (and under `wrapper`, e.g. `vault-env run --secret …`, when given). Returns each asset's output.
fn materialize(
    python: &Path,
    m: &Migrated,
    module: &str,
    pipeline_env: &[(String, String)],
    wrapper: &[String],
    seen: &mut Vec<(String, String)>,
) -> Value {
    let script = m.root.parent().unwrap().join("run_all.py");
    std::fs::write(&script, RUN_ALL).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut c = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(python);
            c
        }
        None => Command::new(python),
    };
    c.arg(&script).arg(&m.root).arg(module).current_dir(&m.root);
    // Nothing of this shell's Vault settings or the migrated variables: what the assets get comes from Vault.
    for (k, _) in std::env::vars() {
        if k.starts_with("VAULT_") || k.starts_with("BAO_") {
            c.env_remove(&k);
        }
    }
    c.envs(pipeline_env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).env("DAGSTER_HOME", home.path());
    let out = c.output().expect("the Dagster run starts");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    seen.push((format!("dagster {module}"), format!("{stdout}{stderr}")));
    assert!(out.status.success(), "the Dagster run failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    serde_json::from_str(line).unwrap()
}

/// No planted value remains in the tree the user commits: secret-scan (git-ignore aware, as in CI) finds none of
/// the values Vault now holds, and no file outside `.git` and the 0600 backups holds one either.
fn assert_tree_clean(m: &Migrated, root_env: &[(String, String)], values: &[&str], seen: &mut Vec<(String, String)>) {
    let scan = workspace_bin("secret-scan");
    let mut c = Command::new(&scan);
    c.args(["--vault-known", "secret/dagster/", "-f", "jsonl", "."]).current_dir(&m.root);
    for (k, _) in std::env::vars() {
        if k.starts_with("VAULT_") || k.starts_with("BAO_") {
            c.env_remove(&k);
        }
    }
    let out = c.envs(root_env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "secret-scan found migrated values in the tree:\n{text}");
    seen.push(("secret-scan".to_owned(), text));
    let mut stack = vec![m.root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".git" || name == ".env-migrate" || name == "__pycache__" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
                assert_absent(values, &[(&entry.path().display().to_string(), &text)]);
            }
        }
    }
}

fn by_key<'a>(refs: &'a [Value], key: &str) -> Vec<&'a Value> {
    refs.iter().filter(|r| r["key"] == key).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shop_project_reads_every_secret_from_vault_after_the_patch() {
    // The server lives as long as the binding.
    let Pipeline { python, server: _server, root_env, work, pipeline_env, .. } = Pipeline::start().await;

    let (db, crm, stripe) = (planted("pw-"), planted("crm_"), planted("sk_live_"));
    let env_file = format!(
        "# the shop's settings\nDB_PASSWORD={db}\nDB_HOST=warehouse.internal\nCRM_API_TOKEN=\"{crm}\"\nSTRIPE_API_KEY={stripe}\n"
    );
    let m = migrate("shop", "shop", &env_file, &root_env, work.path());
    let mut seen = m.seen.clone();

    // Every read of a migrated variable is in an asset: all rewritten, none left.
    let refs = &m.references;
    assert_eq!(refs.len(), 3, "{refs:#?}");
    assert!(refs.iter().all(|r| r["action"] == "rewrite"), "{refs:#?}");
    assert_eq!(by_key(refs, "STRIPE_API_KEY")[0]["default"], true, "the fallback default is reported");
    assert!(by_key(refs, "STRIPE_API_KEY")[0]["reason"].as_str().unwrap().contains("dropped"));
    assert_eq!(by_key(refs, "DB_PASSWORD")[0]["target"], "secret/dagster/shop/default/database#DB_PASSWORD");
    let assets = std::fs::read_to_string(m.root.join("assets.py")).unwrap();
    assert!(assets.contains("os.getenv(\"DB_HOST\", \"localhost\")"), "configuration is left alone:\n{assets}");
    assert!(assets.contains("# The warehouse password, and its host"), "comments kept:\n{assets}");
    assert!(!assets.contains("\"unset\""), "the default is dropped:\n{assets}");
    let defs = std::fs::read_to_string(m.root.join("definitions.py")).unwrap();
    assert!(defs.contains("vault_addr=EnvVar(\"VAULT_ADDR\")"), "{defs}");

    let outputs = materialize(&python, &m, "definitions", &pipeline_env, &[], &mut seen);
    assert_eq!(outputs, json!({ "orders": sha(&db), "customers": sha(&crm), "payments": sha(&stripe) }));

    let values = [db.as_str(), crm.as_str(), stripe.as_str()];
    assert_tree_clean(&m, &root_env, &values, &mut seen);
    let texts: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_absent(&values, &texts);
    drop(m.plan);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_etl_project_lists_what_it_cannot_rewrite_and_runs_under_vault_env() {
    let Pipeline { python, vault_env_bin, server: _server, root_env, work, pipeline_env } = Pipeline::start().await;

    let (access, secret_key, wh_pw, slack) = (planted("AKIA"), planted("s3-"), planted("wh-"), planted("xoxb-"));
    let signing = planted("sign-");
    let dsn = format!("postgresql://etl:{}@warehouse:5432/etl", planted(""));
    let env_file = format!(
        "S3_ACCESS_KEY={access}\nS3_SECRET_KEY={secret_key}\nWAREHOUSE_PASSWORD='{wh_pw}'\nWAREHOUSE_DSN={dsn}\nSLACK_BOT_TOKEN={slack}\nSLACK_SIGNING_SECRET={signing}\n"
    );
    let m = migrate("etl", "etl", &env_file, &root_env, work.path());
    let mut seen = m.seen.clone();
    let refs = &m.references;

    // Rewritten: the reads in assets (one through the asset's own `secrets` resource).
    let rewritten: Vec<(&str, &str)> = refs
        .iter()
        .filter(|r| r["action"] == "rewrite")
        .map(|r| (r["key"].as_str().unwrap(), r["context"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rewritten,
        vec![
            ("SLACK_SIGNING_SECRET", "resource SlackResource.signing_digest"),
            ("S3_ACCESS_KEY", "asset extract"),
            ("WAREHOUSE_PASSWORD", "asset load"),
            ("SLACK_BOT_TOKEN", "resource config SlackResource(...)"),
        ]
    );
    let pipeline = std::fs::read_to_string(m.root.join("etl/pipeline.py")).unwrap();
    assert!(pipeline.contains("digest(secrets.get_secret("), "{pipeline}");
    assert!(
        pipeline.contains("def load(context: dg.AssetExecutionContext, vault: VaultSecretsResource)"),
        "{pipeline}"
    );
    assert!(
        pipeline.contains("\"secrets\": VaultSecretsResource(")
            && pipeline.contains("\"vault\": VaultSecretsResource(")
    );
    assert!(pipeline.contains("role_id_file=dg.EnvVar(\"VAULT_ROLE_ID_FILE\")"), "{pipeline}");
    assert_eq!(pipeline.matches("import VaultSecretsResource").count(), 1, "{pipeline}");
    // The resource's EnvVar field became a property reading Vault through a nested VaultSecretsResource.
    assert!(pipeline.contains("    vault: VaultSecretsResource\n\n    @property\n    def token(self) -> str:\n        return self.vault.get_secret(\"secret/dagster/etl/default/"), "{pipeline}");
    assert!(pipeline.contains("\"slack\": SlackResource(vault=VaultSecretsResource(\n"), "{pipeline}");
    assert!(!pipeline.contains("EnvVar(\"SLACK_BOT_TOKEN\")"), "{pipeline}");
    assert!(pipeline.contains("return digest(self.vault.get_secret(\"secret/dagster/etl/default/"), "{pipeline}");

    // Every read not rewritten is listed with its reason and, where a program reads its environment, the
    // vault-env line to run it with.
    let manual: Vec<&Value> = refs.iter().filter(|r| r["action"] == "manual").collect();
    assert!(manual.iter().all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())), "{manual:#?}");
    let reason = |file: &str, key: &str| -> String {
        let r = manual
            .iter()
            .find(|r| r["file"] == file && r["key"] == key)
            .unwrap_or_else(|| panic!("{file} {key} listed: {manual:#?}"));
        r["reason"].as_str().unwrap().to_owned()
    };
    assert!(reason("etl/pipeline.py", "WAREHOUSE_DSN").contains("module-level read"));
    assert!(reason("etl/pipeline.py", "S3_SECRET_KEY").contains("s3_secret_key()"));
    assert!(reason("deploy/nightly.sh", "WAREHOUSE_PASSWORD").contains("run the script under vault-env"));
    assert!(reason("deploy/docker-compose.yml", "SLACK_BOT_TOKEN").contains("compose"));
    assert!(reason("deploy/docker-compose.yml", "S3_ACCESS_KEY").contains("compose"));
    assert!(reason("deploy/etl.service", "WAREHOUSE_DSN").contains("EnvironmentFile="));
    let unit = manual.iter().find(|r| r["file"] == "deploy/etl.service").unwrap();
    assert!(
        unit["suggestion"]
            .as_str()
            .unwrap()
            .starts_with("ExecStart=/usr/local/bin/vault-env run --secret secret/dagster/etl/")
            && unit["suggestion"]
                .as_str()
                .unwrap()
                .ends_with(" -- /opt/etl/venv/bin/dagster code-server start -m etl.pipeline"),
        "{unit:#?}"
    );
    let suggestion = manual
        .iter()
        .find(|r| r["key"] == "WAREHOUSE_DSN" && r["file"] == "etl/pipeline.py")
        .and_then(|r| r["suggestion"].as_str())
        .unwrap()
        .to_owned();
    assert!(
        suggestion.starts_with("vault-env run --secret ")
            && suggestion.ends_with(" -- dagster code-server start -f etl/pipeline.py")
    );
    // The human list says the same on stderr.
    let (out, _, human) = run(cmd(&m.root).args(["refs", ".", "--patch", "--plan"]).arg(&m.plan));
    assert_eq!(code(&out), 1, "reads are left to change by hand: the answer is no");
    assert!(human.contains("etl/pipeline.py:10:17: WAREHOUSE_DSN (python, module) -> manual"), "{human}");
    assert!(human.contains("    instead: vault-env run --secret"), "{human}");
    seen.push(("refs human".to_owned(), human));

    // Run it as proposed: the program under vault-env run with the --secret flags refs printed, so the reads left
    // in place find their variables; the rewritten ones read through the resource.
    let flags: Vec<String> = suggestion
        .trim_start_matches("vault-env run ")
        .split(" -- ")
        .next()
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut wrapper = vec![vault_env_bin.display().to_string(), "run".to_owned()];
    wrapper.extend(flags);
    wrapper.push("--".to_owned());
    let outputs = materialize(&python, &m, "etl.pipeline", &pipeline_env, &wrapper, &mut seen);
    assert_eq!(
        outputs,
        json!({
            "extract": { "access": sha(&access), "secret": sha(&secret_key) },
            "load": { "password": sha(&wh_pw), "dsn": sha(&dsn) },
            "notify": { "token": sha(&slack), "signing": sha(&signing) },
        })
    );

    let values = [access.as_str(), secret_key.as_str(), wh_pw.as_str(), slack.as_str(), dsn.as_str(), signing.as_str()];
    assert_tree_clean(&m, &root_env, &values, &mut seen);
    let texts: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_absent(&values, &texts);
}
