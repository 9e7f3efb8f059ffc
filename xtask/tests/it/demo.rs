//! `cargo xtask demo`, run twice in a temp `--dir` on a free `--port`: it shows progress before its slow steps,
//! installs the tools and runs them from `DIR/prefix/bin`, runs every job, converges (the second run writes no
//! new KV version anywhere), every command it prints names an existing program and works as printed after
//! pasting its `export` line, the README's quickstart block works as written (run from the folder holding
//! `.demo`, with the test's port for 18200), and `--clean` removes it all.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use vault_core::KvPath;

use crate::{Stop, approle, free_port_pair, root, text, xtask};

/// Every secret in the `secret/` mount with its current version and last change, read as the operator.
async fn versions(dir: &Path, port: u16) -> BTreeMap<String, (u64, String)> {
    let operator = approle(dir, port, &dir.join("approle/operator"));
    let mount = KvPath::parse("secret/").unwrap();
    let mut out = BTreeMap::new();
    for relative in operator.kv_list_recursive(&mount).await.unwrap() {
        let path = KvPath::parse(&format!("secret/{relative}")).unwrap();
        let meta = operator.kv_metadata(&path).await.unwrap();
        out.insert(relative, (meta.current_version, meta.updated_time));
    }
    out
}

/// The words of a printed command line after its `VAR=value` assignments: the program first.
fn program(line: &str) -> &str {
    line.split_whitespace().find(|w| !w.contains('=')).unwrap_or_default()
}

/// Whether `name` is a program: a path to an executable, or a name found in `path` (a PATH value).
fn exists(name: &str, path: &str) -> bool {
    if name.contains('/') {
        return Path::new(name).is_file();
    }
    std::env::split_paths(path).any(|dir| dir.join(name).is_file())
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_converges_and_prints_commands_that_work() {
    let temp = tempfile::tempdir().unwrap();
    // `.demo` under the temp folder, so the README's `$PWD/.demo` names it when run from there.
    let dir = temp.path().join(".demo");
    let port = free_port_pair().to_string();
    let demo = || xtask(&["demo", "--dir", dir.to_str().unwrap(), "--port", &port]);

    let first = demo();
    let _stop = Stop(dir.clone());
    let said = text(&first);
    assert_eq!(first.status.code(), Some(0), "{said}");
    // A line before each slow step, and cargo's own progress is not hidden.
    let stderr = String::from_utf8_lossy(&first.stderr);
    let install = stderr.find("demo: installing the tools into").unwrap_or_else(|| panic!("{stderr}"));
    let deploy = stderr.find("demo: deploying a local Vault").unwrap_or_else(|| panic!("{stderr}"));
    assert!(install < deploy, "{stderr}");
    assert!(stderr.contains("xtask: building the tools (dev profile)"), "{stderr}");
    let bin = dir.join("prefix/bin");
    for tool in ["vault-toolkit", "env-migrate", "vault-env", "vault-backup", "vault-health", "audit-parse"] {
        assert!(bin.join(tool).is_file(), "{tool} is installed into DIR/prefix/bin");
    }
    for unit in ["vault-backup", "vault-backup-drill", "vault-health", "secret-rotate", "audit-retention"] {
        let body = std::fs::read_to_string(dir.join("systemd").join(format!("{unit}.service"))).unwrap();
        assert!(body.contains(&format!("ExecStart={}/", bin.display())), "{unit} runs the installed tools");
        assert!(said.contains(&format!("job: {unit}.service: succeeded")), "{unit} ran once:\n{said}");
    }
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    let results = stdout.split("\nResults:\n").nth(1).unwrap_or_else(|| panic!("no results:\n{stdout}"));
    for job in ["vault-backup ", "vault-backup verify ", "vault-backup-drill ", "vault-health ", "secret-rotate "] {
        let line = results.lines().find(|l| l.trim_start().starts_with(job)).unwrap_or_else(|| panic!("{job}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(results.contains("green: "), "{results}");
    let migrated = dir.join("warehouse-sync/.env");
    let stripped = std::fs::read_to_string(&migrated).unwrap();
    assert!(stripped.contains("DATABASE_URL=\"\" # in Vault: secret/dagster/warehouse-sync/default/"), "{stripped}");

    // The second run converges: no secret gets a new version (nor a new updated time).
    let before = versions(&dir, port.parse().unwrap()).await;
    assert!(before.contains_key("dagster/warehouse-sync/default/database"), "{before:?}");
    assert!(before.contains_key("dagster/demo"), "{before:?}");
    let second = demo();
    let said = text(&second);
    assert_eq!(second.status.code(), Some(0), "{said}");
    assert_eq!(versions(&dir, port.parse().unwrap()).await, before, "the re-run wrote new versions:\n{said}");
    assert!(said.contains("0 written, 3 unchanged"), "env-migrate found the values in Vault:\n{said}");
    assert!(said.contains("found (unchanged) secret/dagster/demo"), "{said}");

    // Every command line it printed names an existing program; those after the export line work as printed
    // once it is pasted (the server commands last, from the checkout).
    let stdout = String::from_utf8_lossy(&second.stdout).into_owned();
    let export = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("export PATH="))
        .unwrap_or_else(|| panic!("no export line:\n{stdout}"))
        .to_owned();
    let path_value = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let commands: Vec<&str> = stdout.lines().filter_map(|l| l.trim_start().strip_prefix("$ ")).collect();
    assert!(commands.len() >= 10, "{stdout}");
    for line in &commands {
        assert!(exists(program(line), &path_value), "the printed command names no existing program: {line}");
    }
    let after: Vec<&str> =
        stdout.split(&export).nth(1).unwrap().lines().filter_map(|l| l.trim_start().strip_prefix("$ ")).collect();
    assert!(after.iter().any(|l| l.starts_with("vault-env ")) && after.iter().any(|l| l.starts_with("cargo ")));
    let shell = |line: &str, cwd: &Path| {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("{export}\n{line}")).current_dir(cwd);
        for (key, _) in std::env::vars() {
            if key.starts_with("VAULT_") || key.starts_with("BAO_") {
                command.env_remove(key);
            }
        }
        command.output().unwrap()
    };
    let secret_id = std::fs::read_to_string(dir.join("approle/dagster/secret-id")).unwrap();
    let (server, tools): (Vec<&str>, Vec<&str>) = after.iter().partition(|l| l.starts_with("cargo "));
    for line in tools {
        let out = shell(line, temp.path());
        assert_eq!(out.status.code(), Some(0), "{line}\n{}", text(&out));
        assert!(!text(&out).contains(secret_id.trim()), "{line} printed a secret-id");
    }
    // The README's quickstart: its block of commands, as written, in one shell from the folder holding `.demo`.
    let block = readme_quickstart();
    let script = format!("set -e\n{}", block.replace("18200", &port));
    let out = shell(&script, temp.path());
    assert_eq!(out.status.code(), Some(0), "the README's quickstart failed:\n{block}\n{}", text(&out));
    assert!(!text(&out).contains(secret_id.trim()), "the quickstart printed a secret-id");
    assert_eq!(server.len(), 2, "{server:?}");
    assert!(server[0].ends_with("--stop") && server[1].ends_with("--clean"), "{server:?}");
    for line in server {
        let out = shell(line, &root());
        assert_eq!(out.status.code(), Some(0), "{line}\n{}", text(&out));
    }
    assert!(!dir.exists(), "--clean removed {}", dir.display());
}

/// The README's quickstart: the fenced `sh` block that starts with the demo's `export PATH=$PWD/.demo/…` line.
fn readme_quickstart() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```sh\nexport PATH=$PWD/.demo/prefix/bin").expect("the README's quickstart block") + 6;
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

#[test]
fn the_readme_quickstart_is_the_demos_paste_block() {
    let block = readme_quickstart();
    assert!(block.lines().count() >= 5, "{block}");
    assert!(block.contains("VAULT_ADDR=https://127.0.0.1:18200"), "the demo's default port: {block}");
}
