//! The job units: valid for systemd and hardened (exposure ≤ 2.5) in both layouts; every path a unit names is one
//! that install (PREFIX/bin) and deploy create, per CONTRACT.md; `cargo xtask job run` runs a unit as systemd
//! would; and after `deploy --local`, each job runs as its own identity against the real server.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vault_core::{KvPath, SecretMap, SecretString};

use crate::{INSTALLED, Stop, approle, free_port_pair, text, xtask};

/// Each job unit: its service user and AppRole (CONTRACT.md, "Identities"); audit retention has no identity.
const JOBS: &[(&str, &str, Option<&str>)] = &[
    ("vault-backup.service", "vault-backup", Some("backup")),
    ("vault-backup-drill.service", "vault-drill", Some("drill")),
    ("vault-health.service", "vault-health", Some("health")),
    ("secret-rotate.service", "secret-rotate", Some("rotate")),
    ("audit-retention.service", "vault", None),
];

/// A path a unit names, and how it names it.
#[derive(Debug)]
struct Named {
    key: String,
    path: PathBuf,
    /// The unit works without it: `EnvironmentFile=-`, a `Condition*=` target, or a file a job writes.
    optional: bool,
}

/// The unit's `KEY=VALUE` lines, continuation lines joined.
fn assignments(unit: &str) -> Vec<(String, String)> {
    let joined = unit.replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect()
}

fn value_of<'a>(unit: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    unit.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

/// Every absolute path a unit names (credentials under `%d` are systemd's, not the layout's).
fn named_paths(unit: &str) -> Vec<Named> {
    let mut out = Vec::new();
    let mut push = |key: &str, path: &str, optional: bool| {
        if path.starts_with('/') {
            out.push(Named { key: key.to_owned(), path: PathBuf::from(path), optional });
        }
    };
    for (key, value) in assignments(unit) {
        match key.as_str() {
            "ExecStart" | "ExecStartPre" | "ExecStartPost" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                for (i, word) in words.iter().enumerate() {
                    // `-o FILE` is a file the job writes.
                    let written = i > 0 && words[i - 1] == "-o";
                    push(&key, word.trim_start_matches(['-', '@', ':', '+', '!']), written);
                }
            }
            "LoadCredential" => push(&key, value.split_once(':').map_or("", |(_, p)| p), false),
            "EnvironmentFile" => push(&key, value.trim_start_matches('-'), value.starts_with('-')),
            "ReadWritePaths" => value.split_whitespace().for_each(|p| push(&key, p.trim_start_matches('-'), false)),
            "Environment" => {
                for assignment in value.split_whitespace() {
                    if let Some((name, path)) = assignment.split_once('=') {
                        for path in path.split(',') {
                            push(&format!("Environment={name}"), path, false);
                        }
                    }
                }
            }
            k if k.starts_with("Condition") => push(&key, value.trim_start_matches(['|', '!']), true),
            _ => {}
        }
    }
    // A file a condition tests for is one the unit works without (the rotation policies the user writes).
    let conditional: Vec<PathBuf> =
        out.iter().filter(|n| n.key.starts_with("Condition")).map(|n| n.path.clone()).collect();
    for n in &mut out {
        n.optional |= conditional.contains(&n.path);
    }
    out
}

fn executable(path: &Path) {
    std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `systemd-analyze verify` of every file in `dir`, and `security` ≤ 2.5 for every service.
fn verify_and_score(dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect("systemd-analyze must be installed (Debian package systemd; cargo xtask test does it)");
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", text(&verify));
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "service")) {
        let security = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=25", "--no-pager"])
            .arg(file)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&security.stdout);
        assert!(security.status.success(), "{}: exposure above 2.5:\n{report}", file.display());
    }
}

/// The identities and the users of CONTRACT.md, in the unit text.
fn check_identity(name: &str, unit: &str, approle_dir: &Path) {
    let (_, user, role) = JOBS.iter().find(|(n, _, _)| *n == name).unwrap_or_else(|| panic!("{name} is a job"));
    let lines = assignments(unit);
    assert_eq!(value_of(&lines, "User"), [*user], "{name} runs as {user}");
    let env = value_of(&lines, "Environment");
    match role {
        Some(role) => {
            let credentials = value_of(&lines, "LoadCredential");
            for file in ["role-id", "secret-id"] {
                let expected = format!("{file}:{}", approle_dir.join(role).join(file).display());
                assert!(credentials.contains(&expected.as_str()), "{name} loads {expected}: {credentials:?}");
            }
            assert!(env.contains(&"VAULT_ROLE_ID_FILE=%d/role-id"), "{name}: {env:?}");
            assert!(env.contains(&"VAULT_SECRET_ID_FILE=%d/secret-id"), "{name}: {env:?}");
        }
        None => assert!(value_of(&lines, "LoadCredential").is_empty(), "{name} needs no Vault identity"),
    }
    // No secret ever goes in a unit's environment or command line: only files.
    for (key, value) in &lines {
        assert!(
            !(value.contains("VAULT_TOKEN=") || value.contains("VAULT_SECRET_ID=") || value.contains("AWS_SECRET")),
            "{name}: {key}={value} carries a secret"
        );
    }
}

/// The systemd host's layout: every path a unit names is one install or deploy makes (CONTRACT.md), or inside
/// a folder deploy makes; every program is an installed tool; the units verify and are hardened.
#[test]
fn system_units_name_only_what_install_and_deploy_create() {
    let temp = tempfile::tempdir().unwrap();
    let prefix = temp.path().join("prefix");
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in INSTALLED.iter().chain(&["bao"]) {
        executable(&bin.join(tool));
    }
    let out = temp.path().join("units");
    let output = xtask(&[
        "job",
        "render",
        "--out",
        out.to_str().unwrap(),
        "--bin-dir",
        bin.to_str().unwrap(),
        "--server-bin",
        bin.join("bao").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let mut files: BTreeSet<PathBuf> = ["/etc/vault.d/tls/ca.pem"].iter().map(PathBuf::from).collect();
    for role in ["backup", "drill", "health", "rotate"] {
        for file in ["role-id", "secret-id"] {
            files.insert(Path::new("/etc/vault.d/approle").join(role).join(file));
        }
    }
    for n in 1..=3 {
        files.insert(PathBuf::from(format!("/root/vault-keys/unseal-key-{n}")));
    }
    let dirs: BTreeSet<PathBuf> = [
        "/var/backups/vault",
        "/var/log/vault",
        "/var/lib/vault/audit",
        "/var/lib/prometheus/node-exporter",
        "/var/lib/secret-rotate",
        "/etc/vault-backup",
        "/etc/secret-rotate",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();

    for (name, _, _) in JOBS {
        let unit = std::fs::read_to_string(out.join(name)).unwrap();
        check_identity(name, &unit, Path::new("/etc/vault.d/approle"));
        let named = named_paths(&unit);
        assert!(named.iter().any(|n| n.key == "ExecStart"), "{name} names its program");
        for n in named {
            let path = &n.path;
            let ok = match n.key.as_str() {
                "ExecStart" | "ExecStartPre" | "ExecStartPost" if path.parent() == Some(bin.as_path()) => {
                    let tool = path.file_name().unwrap().to_str().unwrap();
                    INSTALLED.contains(&tool) || tool == "bao"
                }
                "LoadCredential" | "Environment=VAULT_CACERT" => files.contains(path),
                "ReadWritePaths" => dirs.contains(path),
                _ => {
                    dirs.contains(path)
                        || files.contains(path)
                        || (n.optional && dirs.iter().any(|d| path.starts_with(d)))
                }
            };
            assert!(ok, "{name}: {}={} is nothing install or deploy creates", n.key, path.display());
        }
        // The documentation a unit points to is shipped (PREFIX/share/vault-toolkit/docs).
        for doc in value_of(&assignments(&unit), "Documentation") {
            let file = doc.rsplit('/').next().unwrap();
            assert!(crate::root().join("docs").join(file).is_file(), "{name}: {doc} is not in docs/");
        }
    }
    verify_and_score(&out);
}

/// The server's own unit, as deploy installs it, is valid and hardened too.
#[test]
fn vault_service_is_valid_and_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(crate::root().join("systemd/vault.service"))
        .unwrap()
        .replace("@BIN@", "/bin/true")
        .replace("@CONFIG@", "/etc/hostname");
    let path = dir.path().join("vault.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze");
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", text(&verify));
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=25", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(security.status.success(), "exposure above 2.5:\n{}", String::from_utf8_lossy(&security.stdout));
}

fn job(args: &[&str]) -> Output {
    let mut all = vec!["job"];
    all.extend_from_slice(args);
    xtask(&all)
}

/// `job run` does what systemd does for a oneshot: conditions, credentials in a private 0700 folder, the
/// environment with specifiers and variables expanded, EnvironmentFile= winning, the commands in order,
/// ExecStartPost only after success, SuccessExitStatus= and `-`, and refusals of what it cannot honour.
#[test]
fn job_run_runs_a_oneshot_as_systemd_would() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let secret = dir.join("secret-id");
    std::fs::write(&secret, "s3cr3t-value-771\n").unwrap();
    std::fs::write(dir.join("env"), "FROM_FILE=file\nOVERRIDDEN=file\n").unwrap();
    let log = dir.join("log");
    // A unit file: extra [Unit] lines, then the [Service] lines after Type=.
    let unit_with = |name: &str, head: &str, kind: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, format!("[Unit]\nDescription=t\n{head}\n[Service]\nType={kind}\n{body}")).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let unit = |name: &str, body: &str| unit_with(name, "", "oneshot", body);
    let record = format!(
        "ExecStart=/bin/sh -c 'echo \"$CREDENTIALS_DIRECTORY|$SECRET_FILE|$FROM_FILE|$OVERRIDDEN|$NAME|$(stat -c %%a \"$CREDENTIALS_DIRECTORY\")|$(stat -c %%a \"$SECRET_FILE\")|$(cat \"$SECRET_FILE\")|$(pwd)|$TMPDIR\" >> {log}'\n",
        log = log.display()
    );
    let main = unit(
        "ok.service",
        &format!(
            "LoadCredential=secret-id:{secret}\nEnvironment=SECRET_FILE=%d/secret-id \"NAME=%n x\"\nEnvironment=OVERRIDDEN=unit\n\
             EnvironmentFile={env}\nEnvironmentFile=-{dir}/missing\nWorkingDirectory={dir}\nUser=nobody\n{record}\
             ExecStart=/bin/sh -c 'exit 3'\nSuccessExitStatus=3\nExecStartPost=-/bin/false\nExecStartPost=/bin/sh -c 'echo post >> {log}'\n",
            secret = secret.display(),
            env = dir.join("env").display(),
            dir = dir.display(),
            log = log.display(),
        ),
    );
    let output = job(&["run", &main]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("exit 3 (counted as success by this unit)"), "{said}");
    assert!(!said.contains("s3cr3t-value-771"), "a credential reached the output: {said}");
    let logged = std::fs::read_to_string(&log).unwrap();
    let fields: Vec<&str> = logged.lines().next().unwrap().split('|').collect();
    let creds = fields[0];
    assert_eq!(fields[1], format!("{creds}/secret-id"), "%d is the credentials folder");
    assert_eq!(&fields[2..5], ["file", "file", "ok.service x"], "EnvironmentFile= wins; %n is the unit");
    assert_eq!(&fields[5..8], ["500", "400", "s3cr3t-value-771"], "a private folder, a read-only copy");
    assert_eq!(fields[8], dir.to_str().unwrap(), "WorkingDirectory=");
    assert!(fields[9].starts_with(Path::new(creds).parent().unwrap().to_str().unwrap()), "a private TMPDIR");
    assert_eq!(logged.lines().nth(1), Some("post"), "ExecStartPost after success, `-` ignores a failure");
    assert!(!Path::new(creds).exists(), "the credentials are removed after the run");

    // A failed ExecStart: the unit fails, later commands and ExecStartPost do not run.
    std::fs::remove_file(&log).unwrap();
    let failing = unit(
        "fail.service",
        &format!(
            "ExecStart=/bin/sh -c 'exit 7'\nExecStart=/bin/sh -c 'echo second >> {log}'\nExecStartPost=/bin/sh -c 'echo post >> {log}'\n",
            log = log.display()
        ),
    );
    let output = job(&["run", &failing]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("exit 7"), "{}", text(&output));
    assert!(!log.exists(), "nothing ran after the failure");

    // A missing credential fails before anything runs, as systemd's 243/CREDENTIALS does.
    let missing = unit(
        "missing.service",
        &format!("LoadCredential=x:{}/nope\nExecStart=/bin/sh -c 'echo ran >> {}'\n", dir.display(), log.display()),
    );
    let output = job(&["run", &missing]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("243/CREDENTIALS") && !log.exists(), "{}", text(&output));

    // A condition that does not hold skips the unit: not a failure, nothing runs.
    let skipped = unit_with(
        "skip.service",
        &format!("ConditionFileNotEmpty={}/nope\n", dir.display()),
        "oneshot",
        &format!("ExecStart=/bin/sh -c 'echo ran >> {}'\n", log.display()),
    );
    let output = job(&["run", &skipped]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("skipped") && !log.exists(), "{}", text(&output));

    // What it cannot honour is refused (exit 2), never half-done.
    for path in [
        unit_with("simple.service", "", "simple", "ExecStart=/bin/true\n"),
        unit("unknown.service", "DynamicUser=yes\nExecStart=/bin/true\n"),
        unit("spec.service", "ExecStart=/bin/echo %z\n"),
    ] {
        let output = job(&["run", &path]);
        assert_eq!(output.status.code(), Some(2), "{path}: {}", text(&output));
    }
    let output = job(&["run", dir.join("absent.service").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

/// Builds the tools the jobs run (an integration test builds only its own package's binaries); returns the folder.
fn build_tools() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "vault-backup",
            "-p",
            "vault-health",
            "-p",
            "secret-rotate",
            "-p",
            "audit-parse",
        ])
        .current_dir(crate::root())
        .status()
        .unwrap();
    assert!(status.success(), "building the tools");
    Path::new(env!("CARGO_BIN_EXE_xtask")).parent().unwrap().to_path_buf()
}

/// The day-two path in `--local` mode: deploy renders the units, every path they name exists, they verify and
/// are hardened, and each job runs through `job run` as its own identity against the real server. Needs the
/// identities deploy provisions (CONTRACT.md: DIR/approle/ROLE for backup, drill, health and rotate).
#[tokio::test(flavor = "multi_thread")]
async fn deploy_local_then_every_job_runs_as_its_identity() {
    let bin_dir = build_tools();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("vault");
    let port = free_port_pair();
    let listen = format!("127.0.0.1:{port}");
    let bao = vault_testkit::bao_binary().unwrap().display().to_string();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--local", dir.to_str().unwrap(), "--listen", &listen, "--bin", &bao];
        args.extend_from_slice(&["--bin-dir", bin_dir.to_str().unwrap(), "--format", "json"]);
        args.extend_from_slice(extra);
        xtask(&args)
    };
    let output = deploy(&[]);
    let _stop = Stop(dir.clone());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let units = dir.join("systemd");

    // Every path each unit names exists after deploy (or is optional), and is the job's identity.
    for (name, _, _) in JOBS {
        let unit = std::fs::read_to_string(units.join(name)).unwrap();
        check_identity(name, &unit, &dir.join("approle"));
        for n in named_paths(&unit) {
            assert!(
                n.path.exists() || (n.optional && n.path.parent().is_some_and(Path::is_dir)),
                "{name}: {}={} does not exist after deploy --local",
                n.key,
                n.path.display()
            );
        }
    }
    verify_and_score(&units);

    // A re-run changes nothing in the units.
    let output = deploy(&[]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for step in report["steps"].as_array().unwrap() {
        if step["step"].as_str().unwrap().starts_with("job") {
            assert_eq!(step["outcome"], "ok", "{step}");
        }
    }

    // A secret for the rotation job, written as the operator; a policy that makes it due at once.
    let operator_dir = if dir.join("approle/operator/secret-id").exists() {
        dir.join("approle/operator")
    } else {
        dir.join("keys/operator")
    };
    let operator = approle(&dir, port, &operator_dir);
    let path = KvPath::parse("secret/dagster/units-rotation").unwrap();
    let mut data = SecretMap::new();
    data.insert("password".into(), SecretString::from("before-rotation-5521"));
    operator.kv_write(&path, &data, None).await.unwrap();
    std::fs::write(
        dir.join("secret-rotate/policies.toml"),
        "[[policy]]\npath = \"secret/dagster/units-rotation\"\nowner = \"test\"\nevery = \"1s\"\nstrategy = \"generate\"\n\
         generate = { key = \"password\", length = 32, charset = \"alphanumeric\" }\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let secrets: Vec<String> = ["backup", "drill", "health", "rotate"]
        .iter()
        .map(|r| std::fs::read_to_string(dir.join("approle").join(r).join("secret-id")).unwrap().trim().to_owned())
        .collect();
    let local = dir.to_str().unwrap();
    let run = |name: &str| {
        let output = job(&["run", "--local", local, name]);
        let said = text(&output);
        assert_eq!(output.status.code(), Some(0), "{name}:\n{said}");
        assert!(said.contains(&format!("job: {name}.service: succeeded")), "{name}:\n{said}");
        for secret in &secrets {
            assert!(!said.contains(secret.as_str()), "{name}: a secret-id reached the output");
        }
        said
    };
    let said = run("vault-backup");
    assert!(said.contains("\"status\":\"saved\""), "{said}");
    let said = run("vault-backup-drill");
    assert!(said.contains("\"ok\":true"), "the drill compared and matched:\n{said}");
    let said = run("secret-rotate");
    assert!(said.contains("\"result\":\"rotated\""), "{said}");
    assert_ne!(operator.kv_read(&path, None).await.unwrap().data["password"].expose(), "before-rotation-5521");
    run("audit-retention");
    let said = run("vault-health");
    assert!(said.contains("--backup-dir") && said.contains(": exit 0\n"), "health is green right after:\n{said}");
    let prom = std::fs::read_to_string(dir.join("health/vault_health.prom")).unwrap();
    assert!(prom.lines().any(|l| l.starts_with("vault_health_status{") && l.ends_with(" 0")), "{prom}");

    // `job list` shows each job with its schedule.
    let output = job(&["list", "--local", local, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let jobs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, user, _) in JOBS {
        let job = jobs.as_array().unwrap().iter().find(|j| j["unit"] == *name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(job["user"], *user);
        assert!(job["schedule"].as_str().is_some_and(|s| s.contains("On")), "{job}");
    }
}
