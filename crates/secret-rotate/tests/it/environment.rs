//! What the user's programs inherit: a command, a verifier and a hook that dump their environment, run under
//! AppRole (role_id and secret_id as values or files, `VAULT_*` and `BAO_*`) and under token auth. None of them may
//! see a `VAULT_*`/`BAO_*` variable, systemd's `CREDENTIALS_DIRECTORY`, an unrelated credential from our
//! environment, or any secret value; each sees exactly the documented variables.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use crate::util::*;

const POLICY: &str = r#"
path "secret/data/env/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/env/*" { capabilities = ["read", "patch"] }
"#;

/// The names a child may see: the documented allow list, what `sh` adds itself, and the policy's `pass_env`.
fn allowed(name: &str) -> bool {
    ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PWD", "OLDPWD", "SHLVL", "_"]
        .contains(&name)
        || name.starts_with("LC_")
        || name.starts_with("SECRET_ROTATE_")
        || name == "ROTATE_TEST_PASS"
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[tokio::test]
async fn programs_get_a_clean_documented_environment_under_every_kind_of_auth() {
    let server = dev_server().await;
    let client = root_client(&server);
    client.request(Method::POST, "sys/auth/approle", Some(&json!({"type": "approle"}))).await.unwrap();
    client.request(Method::PUT, "sys/policies/acl/rotate", Some(&json!({"policy": POLICY}))).await.unwrap();
    client
        .request(Method::POST, "auth/approle/role/rotate", Some(&json!({"token_policies": ["rotate"]})))
        .await
        .unwrap();
    let role_id = client.request(Method::GET, "auth/approle/role/rotate/role-id", None).await.unwrap().unwrap();
    let role_id = role_id["data"]["role_id"].as_str().unwrap().to_owned();
    let secret_id = client.request(Method::POST, "auth/approle/role/rotate/secret-id", None).await.unwrap().unwrap();
    let secret_id = secret_id["data"]["secret_id"].as_str().unwrap().to_owned();
    let token = client
        .request(Method::POST, "auth/token/create", Some(&json!({"policies": ["rotate"], "no_parent": true})))
        .await
        .unwrap()
        .unwrap();
    let token = token["auth"]["client_token"].as_str().unwrap().to_owned();

    write(&client, "secret/env/gen", &[("password", "env-test-initial-password-1")]).await;
    write(&client, "secret/env/cmd", &[("api_key", "env-test-initial-api-key-2")]).await;
    let env = Env::new(&server, "");
    let creds = env.path("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("role-id"), &role_id).unwrap();
    std::fs::write(creds.join("secret-id"), format!("{secret_id}\n")).unwrap();
    let dumps = env.path("dumps");
    std::fs::create_dir(&dumps).unwrap();
    let dump = script(env.dir.path(), "dump.sh", "env > \"$1\"\ncat >/dev/null");
    let maker = script(
        env.dir.path(),
        "make.sh",
        "env > \"$1\"\ncat >/dev/null\necho \"{\\\"data\\\":{\\\"api_key\\\":\\\"env-test-new-key-$$-zz9\\\"}}\"",
    );

    let role_file = creds.join("role-id").display().to_string();
    let secret_file = creds.join("secret-id").display().to_string();
    let variants: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("approle-vault-files", vec![("VAULT_ROLE_ID_FILE", &role_file), ("VAULT_SECRET_ID_FILE", &secret_file)]),
        ("approle-vault-values", vec![("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)]),
        ("approle-bao", vec![("BAO_ROLE_ID", &role_id), ("BAO_SECRET_ID_FILE", &secret_file)]),
        ("token-vault", vec![("VAULT_TOKEN", &token)]),
        ("token-bao", vec![("BAO_TOKEN", &token)]),
    ];
    for (name, auth) in &variants {
        let out = |phase: &str| dumps.join(format!("{name}-{phase}")).display().to_string();
        std::fs::write(
            env.path("policies.toml"),
            format!(
                "[[policy]]\npath = \"secret/env/gen\"\nevery = \"30d\"\nstrategy = \"generate\"\n\
                 pass_env = [\"ROTATE_TEST_PASS\"]\n\
                 verify = {{ argv = [\"{d}\", \"{gv}\"] }}\nhooks = [[\"{d}\", \"{gh}\"]]\n\
                 [[policy]]\npath = \"secret/env/cmd\"\nevery = \"30d\"\nstrategy = \"command\"\n\
                 command = {{ argv = [\"{m}\", \"{cc}\"] }}\n\
                 verify = {{ argv = [\"{d}\", \"{cv}\"] }}\nhooks = [[\"{d}\", \"{ch}\"]]\n",
                d = dump.display(),
                m = maker.display(),
                gv = out("gen-verify"),
                gh = out("gen-hook"),
                cc = out("cmd-create"),
                cv = out("cmd-verify"),
                ch = out("cmd-hook"),
            ),
        )
        .unwrap();
        let mut cmd = env.cmd();
        cmd.env_remove("VAULT_TOKEN")
            .envs(auth.iter().copied())
            .env("CREDENTIALS_DIRECTORY", &creds)
            .env("AWS_SECRET_ACCESS_KEY", "env-test-unrelated-aws-credential")
            .env("ROTATE_TEST_PASS", "passed-through")
            .env("LC_ALL", "C")
            .args(["run", "secret/env/gen", "secret/env/cmd", "--format", "jsonl"]);
        let run = cmd.output().unwrap();
        assert_eq!(code(&run), Some(0), "{name}: {}", stderr(&run));
        let rows = records(&run, "rotation");
        assert!(rows.iter().all(|r| r["result"] == "rotated" && r["hooks_ok"] == true), "{name}: {rows:?}");
    }

    // Every value either secret ever held, and every credential we were given.
    let mut forbidden_values =
        vec![role_id.clone(), secret_id.clone(), token.clone(), "env-test-unrelated-aws-credential".to_owned()];
    for path in ["secret/env/gen", "secret/env/cmd"] {
        let (_, latest) = read(&client, path, None).await;
        for v in 1..=latest {
            forbidden_values.extend(read(&client, path, Some(v)).await.0.into_values());
        }
    }
    let mut checked = 0;
    for (name, _) in &variants {
        for (phase, program_phase, path) in [
            ("gen-verify", "verify", "secret/env/gen"),
            ("gen-hook", "hook", "secret/env/gen"),
            ("cmd-create", "create", "secret/env/cmd"),
            ("cmd-verify", "verify", "secret/env/cmd"),
            ("cmd-hook", "hook", "secret/env/cmd"),
        ] {
            let file = dumps.join(format!("{name}-{phase}"));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let vars = parse_env(&text);
            for key in vars.keys() {
                assert!(allowed(key), "{name} {phase}: {key} is not on the documented list:\n{text}");
            }
            for value in &forbidden_values {
                assert!(!text.contains(value.as_str()), "{name} {phase}: a secret or credential leaked:\n{text}");
            }
            assert_eq!(vars.get("SECRET_ROTATE_PATH").map(String::as_str), Some(path), "{name} {phase}");
            assert_eq!(vars.get("SECRET_ROTATE_PHASE").map(String::as_str), Some(program_phase), "{name} {phase}");
            assert!(vars.contains_key("PATH") && vars.contains_key("HOME"), "{name} {phase}:\n{text}");
            assert_eq!(vars.get("LC_ALL").map(String::as_str), Some("C"));
            // pass_env belongs to the policy that names it, and to no other.
            let passed = vars.get("ROTATE_TEST_PASS").map(String::as_str);
            assert_eq!(passed, path.ends_with("gen").then_some("passed-through"), "{name} {phase}");
            if program_phase != "create" {
                assert!(vars.contains_key("SECRET_ROTATE_VERSION"), "{name} {phase}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 25);
}
