//! `check MANIFEST`: exit 0 when every declared secret is there with its keys, exit 1 listing the ones that are
//! not — names only, never values; a malformed manifest is a usage error naming the line.

use serde_json::Value;

use crate::util::{code, dev_server, pipeline, planted, put, root, stderr, stdout, vault_env};

#[tokio::test]
async fn check_lists_what_is_missing_and_never_a_value() {
    let server = dev_server().await;
    let admin = root(&server);
    let password = planted("pw");
    put(&admin, "secret/app/db", &[("user", "etl"), ("password", &password)]).await;
    put(&admin, "secret/other/x", &[("k", "v")]).await;
    let pipe = pipeline(&admin).await;
    let dir = tempfile::tempdir().unwrap();

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[secret]]\npath = \"secret/app/db\"\nkeys = [\"user\", \"password\"]\nenv = { password = \"PGPASSWORD\" }\n",
    )
    .unwrap();
    let out = vault_env().envs(pipe.env(&server)).arg("check").arg(&good).output().unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 declared, 1 readable, 0 not"), "{}", stdout(&out));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[[secret]]
path = "secret/app/db"
keys = ["user", "port"]

[[secret]]
path = "secret/app/gone"

[[secret]]
path = "secret/other/x"
"#,
    )
    .unwrap();
    let out = vault_env().envs(pipe.env(&server)).arg("check").arg(&bad).args(["--format", "jsonl"]).output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(&password) && !stderr(&out).contains(&password));
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let status: Vec<(&str, &str)> =
        lines[..3].iter().map(|l| (l["path"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
    assert_eq!(
        status,
        [("secret/app/db", "missing_keys"), ("secret/app/gone", "missing"), ("secret/other/x", "denied")]
    );
    assert_eq!(lines[0]["missing_keys"], serde_json::json!(["port"]));
    assert_eq!(lines[3]["type"], "summary");
    assert_eq!((lines[3]["declared"].as_u64(), lines[3]["missing"].as_u64()), (Some(3), Some(3)));

    // Human output lists them too.
    let out = vault_env().envs(pipe.env(&server)).arg("check").arg(&bad).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("secret/app/gone: no such secret"), "{}", stdout(&out));

    // A typo in the manifest: exit 2 with the file and line.
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[[secret]]\npath = \"secret/app/db\"\nprefx = \"DB_\"\n").unwrap();
    let out = vault_env().envs(pipe.env(&server)).arg("check").arg(&typo).output().unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("typo.toml: line 3"), "{}", stderr(&out));
}
