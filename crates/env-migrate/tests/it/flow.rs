//! The whole flow on a temp repository with several env files against a real OpenBao: detect → plan → apply
//! (dry run, then for real, then again: nothing changes) → strip → rollback, with sibling keys kept, provenance
//! recorded, permissions preserved, and the planted values never printed.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use vault_testkit::harness::jsonl;

use crate::util::{assert_absent, client, cmd, cmd_for, code, dev, run, write};

const DB_PASSWORD: &str = "Zq8vLp2rTn6wXy4KmB9s";
const GH_TOKEN: &str = "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d";
const PROD_PASSWORD: &str = "Pr0d-9fJ2kL7xQw3zVb8n";
const STRIPE: &str = "sk_live_51HxQ2eKl3mN8pR4tV7wY0zA1bC5dF9gJ6hM2nP8qS4uX7";
const WORKER_SECRET: &str = "w0rk3r-S3cr3t-4b7c9d2e1f6a8h";

const ENV: &str = "\u{feff}# Local settings\nexport DB_PASSWORD='Zq8vLp2rTn6wXy4KmB9s' # the etl user\nDB_HOST=db.internal\n\nGH_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d\r\nLOG_LEVEL=info\nAPI_KEY=changeme\nDATABASE_URL=\"postgresql://etl:${DB_PASSWORD}@db:5432/etl\"\n";
const PROD: &str = "DB_PASSWORD=Pr0d-9fJ2kL7xQw3zVb8n\nSTRIPE_SECRET_KEY=\"sk_live_51HxQ2eKl3mN8pR4tV7wY0zA1bC5dF9gJ6hM2nP8qS4uX7\"\nDAGSTER_HOME=/opt/dagster\n";
const WORKER: &str = "WORKER_SECRET=w0rk3r-S3cr3t-4b7c9d2e1f6a8h\nWORKERS=4\n";

#[tokio::test(flavor = "multi_thread")]
async fn detect_plan_apply_strip_rollback() {
    let server = dev().await;
    let env = server.env();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path().join("shop");
    write(
        &root,
        &[
            (".env", ENV),
            (".env.production", PROD),
            ("deploy/worker.conf", WORKER),
            (
                "deploy/docker-compose.yml",
                "services:\n  worker:\n    image: w\n    env_file:\n      - worker.conf\n    environment:\n      TOKEN: ${WORKER_SECRET}\n",
            ),
            (".gitignore", ".env\nnode_modules/\n"),
            ("node_modules/pkg/.env", "NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789\n"),
            (".env.example", "DB_PASSWORD=\n"),
            ("etl/jobs.py", "import os\npw = os.environ[\"DB_PASSWORD\"]\nhost = os.getenv('DB_HOST')\n"),
        ],
    );
    std::fs::set_permissions(root.join(".env"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let originals: Vec<(std::path::PathBuf, Vec<u8>)> = [".env", ".env.production", "deploy/worker.conf"]
        .iter()
        .map(|f| (root.join(f), std::fs::read(root.join(f)).unwrap()))
        .collect();
    let mut seen: Vec<(String, String)> = Vec::new();
    let planted = [DB_PASSWORD, GH_TOKEN, PROD_PASSWORD, STRIPE, WORKER_SECRET];

    // detect: the env files (git-ignored ones too, not those under ignored folders), classes, no values.
    let (out, stdout, stderr) = run(cmd(&root).args(["detect", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let records = jsonl(&stdout);
    let class_of = |file: &str, key: &str| {
        records
            .iter()
            .find(|r| {
                r["key"] == key && r["file"].as_str().is_some_and(|f| f == file || f.ends_with(&format!("/{file}")))
            })
            .map(|r| r["class"].as_str().unwrap().to_owned())
    };
    assert_eq!(class_of(".env", "DB_PASSWORD").as_deref(), Some("secret"));
    assert_eq!(class_of(".env", "GH_TOKEN").as_deref(), Some("secret"));
    assert_eq!(class_of(".env", "DB_HOST").as_deref(), Some("config"));
    assert_eq!(class_of(".env", "API_KEY").as_deref(), Some("placeholder"));
    assert_eq!(class_of("worker.conf", "WORKER_SECRET").as_deref(), Some("secret"), "compose env_file found");
    assert_eq!(class_of(".env.production", "STRIPE_SECRET_KEY").as_deref(), Some("secret"));
    assert!(!stdout.contains("NPM_TOKEN"), "node_modules is ignored");
    assert!(!stdout.contains(".env.example"), "examples are not sources");
    let url = records.iter().find(|r| r["key"] == "DATABASE_URL").unwrap();
    assert_eq!(url["interpolated"], true);
    assert_eq!(url["references"], serde_json::json!(["DB_PASSWORD"]));
    let summary = records.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["files"], 3);
    seen.push(("detect".into(), stdout + &stderr));

    // plan: 0600, targets by the convention, fingerprints only.
    let (out, stdout, stderr) = run(cmd(&root).args(["plan", "--app", "shop", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let plan_path = root.join("plan.json");
    assert_eq!(std::fs::metadata(&plan_path).unwrap().permissions().mode() & 0o777, 0o600);
    let plan_text = std::fs::read_to_string(&plan_path).unwrap();
    let plan: Value = serde_json::from_str(&plan_text).unwrap();
    let targets: Vec<String> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}#{}",
                e["key"].as_str().unwrap(),
                e["target"]["path"].as_str().unwrap(),
                e["target"]["key"].as_str().unwrap()
            )
        })
        .collect();
    for t in [
        "DB_PASSWORD secret/dagster/shop/default/database#DB_PASSWORD",
        "GH_TOKEN secret/dagster/shop/default/vcs#GH_TOKEN",
        "DB_PASSWORD secret/dagster/shop/production/database#DB_PASSWORD",
        "WORKER_SECRET secret/dagster/shop/default/api-keys#WORKER_SECRET",
    ] {
        assert!(targets.iter().any(|x| x == t), "{t} not in {targets:#?}");
    }
    seen.push(("plan".into(), stdout + &stderr));
    seen.push(("plan file".into(), plan_text.clone()));

    // A sibling key already in Vault must survive.
    let vault = client(&server);
    let prod_db = vault.kv_path("secret/dagster/shop/production/database").await.unwrap();
    let sibling: vault_core::SecretMap =
        [("DB_USER".to_owned(), vault_core::SecretString::new("etl".into()))].into_iter().collect();
    vault.kv_write(&prod_db, &sibling, None).await.unwrap();

    // apply, dry run: says what it would do, writes nothing.
    let (out, stdout, stderr) = run(cmd_for(&root, &env).args(["apply", "plan.json", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let recs = jsonl(&stdout);
    assert!(recs.iter().any(|r| r["action"] == "add" && r["path"] == "secret/dagster/shop/production/database"));
    assert!(recs.iter().any(|r| r["action"] == "create"));
    assert_eq!(recs.last().unwrap()["dry_run"], true);
    let default_db = vault.kv_path("secret/dagster/shop/default/database").await.unwrap();
    assert!(vault.kv_read(&default_db, None).await.unwrap_err().is_not_found(), "a dry run writes nothing");
    seen.push(("apply dry run".into(), stdout + &stderr));

    // apply --yes: written, verified, sibling kept, provenance recorded.
    let (out, stdout, stderr) = run(cmd_for(&root, &env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let recs = jsonl(&stdout);
    let summary = recs.last().unwrap();
    let entries = plan["entries"].as_array().unwrap().len();
    assert_eq!(summary["verified"], entries, "{stdout}");
    assert_eq!(summary["written"], entries);
    seen.push(("apply".into(), stdout + &stderr));
    let prod = vault.kv_read(&prod_db, None).await.unwrap();
    assert_eq!(prod.data["DB_USER"].expose(), "etl");
    assert_eq!(prod.data["DB_PASSWORD"].expose(), PROD_PASSWORD);
    let meta = vault.kv_metadata(&prod_db).await.unwrap();
    let source = &meta.custom_metadata["env-migrate.source.DB_PASSWORD"];
    assert!(source.ends_with(".env.production:1 DB_PASSWORD"), "{source}");
    assert!(meta.custom_metadata["env-migrate.tool-version"].starts_with("env-migrate "));
    assert!(meta.custom_metadata.contains_key("env-migrate.migrated-at"));
    let default = vault.kv_read(&default_db, None).await.unwrap();
    assert_eq!(default.data["DB_PASSWORD"].expose(), DB_PASSWORD);
    let versions_before = meta.current_version;

    // apply again: nothing changes.
    let (out, stdout, stderr) = run(cmd_for(&root, &env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let summary = jsonl(&stdout).pop().unwrap();
    assert_eq!((summary["written"].as_u64(), summary["unchanged"].as_u64()), (Some(0), Some(entries as u64)));
    assert_eq!(vault.kv_metadata(&prod_db).await.unwrap().current_version, versions_before);
    seen.push(("apply again".into(), stdout + &stderr));

    // strip: values emptied with a pointer to Vault, everything else byte for byte, mode kept, 0600 backup.
    let (out, stdout, stderr) = run(cmd_for(&root, &env).args(["strip", "plan.json", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    seen.push(("strip".into(), stdout + &stderr));
    let stripped = std::fs::read_to_string(root.join(".env")).unwrap();
    assert_eq!(
        stripped,
        "\u{feff}# Local settings\nexport DB_PASSWORD=\"\" # in Vault: secret/dagster/shop/default/database#DB_PASSWORD # the etl user\nDB_HOST=db.internal\n\nGH_TOKEN=\"\" # in Vault: secret/dagster/shop/default/vcs#GH_TOKEN\r\nLOG_LEVEL=info\nAPI_KEY=changeme\nDATABASE_URL=\"\" # in Vault: secret/dagster/shop/default/database#DATABASE_URL\n"
    );
    assert_eq!(std::fs::metadata(root.join(".env")).unwrap().permissions().mode() & 0o777, 0o640);
    let backups: Vec<_> = std::fs::read_dir(root.join(".env-migrate"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
        .collect();
    assert!(std::fs::read_to_string(root.join(".env-migrate/.gitignore")).unwrap().contains("\n*\n"));
    assert_eq!(backups.len(), 2, "backups of .env and .env.production");
    for b in &backups {
        assert_eq!(b.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (_, stdout, _) = run(cmd(&root).args(["detect", "-f", "jsonl"]));
    assert_eq!(jsonl(&stdout).pop().unwrap()["secrets"], 0, "no secrets left: {stdout}");

    // refs: code that still reads the variables.
    let (out, stdout, _) = run(cmd(&root).args(["refs", ".", "--plan", "plan.json"]));
    assert_eq!(code(&out), 1);
    assert!(stdout.contains("etl/jobs.py:2:6: DB_PASSWORD (python, module) -> manual"), "{stdout}");
    assert!(stdout.contains("deploy/docker-compose.yml:7: WORKER_SECRET (compose) -> manual"), "{stdout}");

    // rollback: the files are back exactly.
    let (out, stdout, stderr) = run(cmd(&root).args(["rollback", "--plan", "plan.json"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    for (path, bytes) in &originals {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{} restored", path.display());
    }
    assert_eq!(std::fs::metadata(root.join(".env")).unwrap().permissions().mode() & 0o777, 0o640);

    // strip --remove drops the statements.
    let (out, _, stderr) = run(cmd_for(&root, &env).args(["strip", "plan.json", "--remove"]));
    assert_eq!(code(&out), 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(root.join(".env.production")).unwrap(), "DAGSTER_HOME=/opt/dagster\n");

    // example: names, no values.
    let (out, _, stderr) = run(cmd(&root).args(["example"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    assert!(example.starts_with("DB_PASSWORD=\n# Added by env-migrate\n"), "{example}");
    assert!(example.contains("DB_HOST=\n") && example.contains("DAGSTER_HOME=\n"), "{example}");
    // The names the migrated app needs to reach Vault, file forms only.
    for name in ["VAULT_ADDR", "VAULT_CACERT", "VAULT_ROLE_ID_FILE", "VAULT_SECRET_ID_FILE"] {
        assert!(example.contains(&format!("\n{name}=\n")), "{name}: {example}");
    }
    assert!(!example.contains("VAULT_SECRET_ID="), "{example}");
    let (out, _, _) = run(cmd(&root).args(["example", "--check"]));
    assert_eq!(code(&out), 0, "up to date after refreshing");

    let texts: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_absent(&planted, &texts);
    assert_absent(&planted, &[("example", &example)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn exported_variables_and_a_deleted_secret() {
    const EXPORTED: &str = "xK9mQ2vL7pR4tW8zN3bY6cF1";
    let server = dev().await;
    let mut env = server.env();
    env.push(("PIPELINE_API_TOKEN".into(), EXPORTED.into()));
    let dir = tempfile::tempdir().unwrap();
    // The process environment: classified, planned under {env}=default, applied from the environment.
    let (out, detected, stderr) = run(cmd_for(dir.path(), &env).args(["detect", "--from-environment", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let rec = jsonl(&detected).into_iter().find(|r| r["key"] == "PIPELINE_API_TOKEN").expect("found");
    assert_eq!((rec["file"].as_str(), rec["class"].as_str()), (Some("<environment>"), Some("secret")));
    let (out, _, stderr) =
        run(cmd_for(dir.path(), &env).args(["plan", "--from-environment", "--app", "etl", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    // Keep only our variable: the test runner's own environment may hold other secrets.
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap()).unwrap();
    plan["entries"].as_array_mut().unwrap().retain(|e| e["key"] == "PIPELINE_API_TOKEN");
    std::fs::write(dir.path().join("plan.json"), plan.to_string()).unwrap();
    // A secret at the target whose latest version is deleted: written over with the right check-and-set.
    let vault = client(&server);
    let path = vault.kv_path("secret/dagster/etl/default/api-keys").await.unwrap();
    let old: vault_core::SecretMap =
        [("OLD".to_owned(), vault_core::SecretString::new("x".into()))].into_iter().collect();
    vault.kv_write(&path, &old, None).await.unwrap();
    vault.kv_delete(&path).await.unwrap();
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes", "-f", "jsonl"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert_eq!(jsonl(&stdout).pop().unwrap()["verified"], 1, "{stdout}");
    assert_eq!(vault.kv_read(&path, None).await.unwrap().data["PIPELINE_API_TOKEN"].expose(), EXPORTED);
    // Without the variable in the environment, apply refuses.
    env.retain(|(k, _)| k != "PIPELINE_API_TOKEN");
    let (out, _, stderr2) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes"]));
    assert_eq!(code(&out), 2, "{stderr2}");
    assert!(stderr2.contains("<environment>:0 PIPELINE_API_TOKEN: the variable is no longer set"), "{stderr2}");
    assert_absent(
        &[EXPORTED],
        &[("detect", &detected), ("apply", &stdout), ("stderr", &stderr), ("stderr2", &stderr2)],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_works_from_any_folder() {
    let server = dev().await;
    let env = server.env();
    let top = tempfile::tempdir().unwrap();
    write(top.path(), &[("repo/app/.env.staging", &format!("DB_PASSWORD={DB_PASSWORD}\n")), ("plans/.keep", "")]);
    let repo = top.path().join("repo");
    let (out, _, stderr) = run(cmd(&repo).args(["plan", "--app", "app", "-o", "../plans/p.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(top.path().join("plans/p.json")).unwrap()).unwrap();
    // Outside the plan's folder: absolute; inside it (the usual `-o plan.json`): relative to it.
    let absolute = top.path().join("repo/app/.env.staging").display().to_string();
    assert_eq!(plan["entries"][0]["source"], absolute.as_str(), "{plan}");
    let (out, _, stderr) = run(cmd(&repo).args(["plan", "--app", "app", "-o", "p.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(repo.join("p.json")).unwrap()).unwrap();
    assert_eq!(plan["entries"][0]["source"], "app/.env.staging", "{plan}");
    // From somewhere else entirely.
    let (out, stdout, stderr) =
        run(cmd_for(std::path::Path::new("/"), &env).args(["apply", repo.join("p.json").to_str().unwrap(), "--yes"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains("secret/dagster/app/staging/database#DB_PASSWORD"), "{stdout}");
}
