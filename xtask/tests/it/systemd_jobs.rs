//! The scheduled jobs and the day-two flow on the Debian container `systemd.rs` deployed into: every shipped unit
//! and timer installed and verified by the container's own systemd, each timer's service started once and checked
//! by what it produced (under the unit's sandboxing, as its `User=`), then what a team does on day two with the
//! installed tools: the operator migrates an app's `.env` with env-migrate's defaults, the `dagster` pipeline user
//! reads every value back with vault-env and may neither write nor take a snapshot, every identity's
//! vault-health is green, and audit-parse names the pipeline as the reader of what was migrated.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use vault_testkit::container::Container;

use crate::root;
use crate::systemd::inside;

const APPROLE_DIR: &str = "/etc/vault.d/approle";
const CA_FILE: &str = "/etc/vault.d/tls/ca.pem";
const BACKUP_DIR: &str = "/var/backups/vault";
const HEALTH_FILE: &str = "/var/lib/prometheus/node-exporter/vault_health.prom";
const ROTATE_POLICIES: &str = "/etc/secret-rotate/policies.toml";
const AUDIT_DIR: &str = "/var/log/vault";
const AUDIT_SECONDARY_DIR: &str = "/var/lib/vault/audit";

/// The files of the workspace's `systemd/` whose name ends in `suffix`, sorted: what deploy must install.
fn shipped(suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("systemd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no *{suffix} in systemd/");
    names
}

/// The identities of `policies/roles.toml`: (role, the user that holds its credentials on a host).
fn identities() -> Vec<(String, String)> {
    let table: toml::Value = toml::from_str(&std::fs::read_to_string(root().join("policies/roles.toml")).unwrap())
        .expect("policies/roles.toml parses");
    table["role"]
        .as_array()
        .unwrap()
        .iter()
        .map(|role| {
            let user = match role["service_user"].as_str().unwrap() {
                // The test deploys with --pipeline-user dagster.
                "@pipeline" => "dagster",
                user => user,
            };
            (role["name"].as_str().unwrap().to_owned(), user.to_owned())
        })
        .collect()
}

/// A shell command that runs `command` as `user`, with `role`'s AppRole files and the CA and nothing else (the
/// address is the tools' default, `https://127.0.0.1:8200`, as on a host).
pub fn as_identity(user: &str, role: &str, command: &str) -> String {
    let env = format!(
        "env VAULT_CACERT={CA_FILE} VAULT_ROLE_ID_FILE={APPROLE_DIR}/{role}/role-id \
         VAULT_SECRET_ID_FILE={APPROLE_DIR}/{role}/secret-id"
    );
    if user == "root" { format!("{env} {command}") } else { format!("runuser -u {user} -- {env} {command}") }
}

/// Runs a script inside and returns (exit code, stdout, stdout and stderr).
fn attempt(machine: &Container, script: &str) -> (Option<i32>, String, String) {
    let output = machine.sh(script).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let all = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code(), stdout, all)
}

fn journal(machine: &Container, unit: &str) -> String {
    let (_, out, _) = attempt(machine, &format!("journalctl -u {unit} --no-pager -n 60"));
    out
}

/// The journal's newest entry, to read what comes after it.
fn cursor(machine: &Container) -> String {
    let last: Value = serde_json::from_str(&inside(machine, "journalctl -n 1 -o json --no-pager")).unwrap();
    last["__CURSOR"].as_str().unwrap().to_owned()
}

/// `systemctl start UNIT` (a oneshot: returns when the job is done), then what systemd says about it: the start
/// succeeded, its conditions held (a skipped unit also ends in `Result=success`), `Result=success`, and every
/// line the job's processes wrote came from `user`'s uid. Returns those lines (a job that writes only files,
/// `quiet`, may write none; the caller checks its files' owner instead). On failure: the unit's journal.
fn start_job(machine: &Container, unit: &str, user: &str, quiet: bool) -> Vec<String> {
    let from = cursor(machine);
    let (code, _, said) = attempt(machine, &format!("systemctl start {unit}"));
    let show = |property: &str| inside(machine, &format!("systemctl show -p {property} --value {unit}"));
    let (result, condition) = (show("Result"), show("ConditionResult"));
    assert!(
        code == Some(0) && result == "success" && condition == "yes",
        "{unit}: systemctl start exited {code:?} ({said}), Result={result}, ConditionResult={condition}\n{}",
        journal(machine, unit)
    );
    let uid = inside(machine, &format!("id -u {user}"));
    // journald reads the job's stdout asynchronously: wait for the stream's lines to arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries = inside(machine, &format!("journalctl -u {unit} --after-cursor='{from}' -o json --no-pager"));
        let lines: Vec<Value> = entries
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["_TRANSPORT"] == "stdout")
            .collect();
        if !lines.is_empty() || quiet {
            for entry in &lines {
                assert_eq!(entry["_UID"], Value::from(uid.clone()), "{unit} wrote as another user: {entry}");
            }
            return lines.iter().map(|e| e["MESSAGE"].as_str().unwrap_or_default().to_owned()).collect();
        }
        assert!(Instant::now() < deadline, "{unit} wrote nothing to its journal\n{}", journal(machine, unit));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a secret as the operator (its AppRole, through the bao CLI a user would use).
fn operator_put(machine: &Container, path: &str, key: &str, value: &str) {
    inside(
        machine,
        &format!(
            "export BAO_ADDR=https://127.0.0.1:8200 BAO_CACERT={CA_FILE}; \
             BAO_TOKEN=$(bao write -field=token auth/approle/login role_id=@{APPROLE_DIR}/operator/role-id \
               secret_id=@{APPROLE_DIR}/operator/secret-id) && export BAO_TOKEN && \
             printf %s '{value}' | bao kv put {path} {key}=- >/dev/null"
        ),
    );
}

fn operator_get(machine: &Container, path: &str, key: &str) -> String {
    inside(machine, &as_identity("root", "operator", &format!("vault-env get {path} --field {key}")))
}

/// Every job unit and timer of `systemd/` is installed, loaded and verified by the container's systemd; every
/// timer is enabled and waiting; each timer's service, started once, succeeds as its `User=` and leaves its result.
pub fn every_job_succeeds_under_its_unit(machine: &Container) {
    let units = shipped(".service").into_iter().chain(shipped(".timer")).collect::<Vec<_>>();
    for unit in &units {
        assert_eq!(
            inside(machine, &format!("systemctl show -p LoadState --value {unit}")),
            "loaded",
            "{unit} is not installed"
        );
        assert_eq!(
            inside(machine, &format!("systemctl show -p FragmentPath --value {unit}")),
            format!("/etc/systemd/system/{unit}")
        );
    }
    // The installed units as systemd itself reads them, with the users and paths deploy made.
    let paths: Vec<String> = units.iter().map(|u| format!("/etc/systemd/system/{u}")).collect();
    let (code, _, said) = attempt(machine, &format!("systemd-analyze verify {}", paths.join(" ")));
    assert_eq!(code, Some(0), "systemd-analyze verify:\n{said}");
    assert!(!units.iter().any(|u| said.contains(u.as_str())), "systemd-analyze verify warns:\n{said}");
    for timer in shipped(".timer") {
        assert_eq!(inside(machine, &format!("systemctl is-enabled {timer}")), "enabled", "{timer}");
        assert_eq!(inside(machine, &format!("systemctl is-active {timer}")), "active", "{timer}");
        let service = timer.replace(".timer", ".service");
        assert_eq!(inside(machine, &format!("systemctl show -p Unit --value {timer}")), service);
    }

    // vault-backup: a snapshot in the backup folder, owned by the job's user, that the installed verify accepts.
    let said = start_job(machine, "vault-backup.service", "vault-backup", false);
    assert!(said.iter().any(|l| l.contains("\"status\":\"saved\"")), "{said:#?}");
    let snapshots = inside(machine, &format!("ls {BACKUP_DIR} | grep '\\.snap\\.gz$'"));
    let snapshot = snapshots.lines().last().unwrap_or_else(|| panic!("no snapshot in {BACKUP_DIR}"));
    assert_eq!(inside(machine, &format!("stat -c %U {BACKUP_DIR}/{snapshot}")), "vault-backup");
    let verified = inside(
        machine,
        &format!("runuser -u vault-backup -- vault-backup verify {BACKUP_DIR}/{snapshot} --format json"),
    );
    let verified: Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["report"]["archive_checked"], true, "the archive inside was checked: {verified}");

    // The drill: the newest backup restored into a throw-away server inside the unit's private /tmp, compared.
    let said = start_job(machine, "vault-backup-drill.service", "vault-drill", false);
    assert!(said.iter().any(|l| l.contains("\"ok\":true")), "the drill did not pass:\n{said:#?}");

    // The health check: green right after deploy and a backup, in the textfile node_exporter serves.
    start_job(machine, "vault-health.service", "vault-health", true);
    let prom = inside(machine, &format!("cat {HEALTH_FILE}"));
    assert!(prom.lines().any(|l| l.starts_with("vault_health_status{") && l.ends_with(" 0")), "{prom}");
    assert_eq!(inside(machine, &format!("stat -c %U {HEALTH_FILE}")), "vault-health");

    // Rotation: a secret the operator wrote, a policy where the unit reads it (readable through the job's group),
    // due at once. The value changes, and the audit log shows the write came from the rotate identity.
    let path = "secret/dagster/rotation-demo";
    let before = format!("before-rotation-{}", std::process::id());
    operator_put(machine, path, "password", &before);
    let policy = format!(
        "[[policy]]\npath = \"{path}\"\nowner = \"data-team\"\nevery = \"1s\"\nstrategy = \"generate\"\n\
         generate = {{ key = \"password\", length = 32, charset = \"alphanumeric\" }}\n"
    );
    machine.write_file(ROTATE_POLICIES, policy.as_bytes(), 0o640).unwrap();
    inside(machine, &format!("chgrp secret-rotate {ROTATE_POLICIES}"));
    std::thread::sleep(Duration::from_millis(1100));
    // The timer may run the job too (every 5 minutes from 2 minutes after boot): whichever run rotated, the
    // value changed and the write is the rotate identity's.
    let said = start_job(machine, "secret-rotate.service", "secret-rotate", false);
    assert!(said.iter().any(|l| l.contains("\"type\":\"summary\"")), "{said:#?}");
    let after = operator_get(machine, path, "password");
    assert_ne!(after, before, "the rotation did not change the value");
    assert_eq!(after.len(), 32);
    let writes = inside(
        machine,
        &format!("audit-parse filter {AUDIT_DIR}/audit.log --path secret/data/dagster/rotation-demo --format json"),
    );
    let writes: Value = serde_json::from_str(&writes).unwrap();
    let writers: Vec<String> = writes["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| matches!(op["operation"].as_str(), Some("create" | "update" | "patch")) && op["denied"] == false)
        .map(|op| format!("{}/{}", op["display_name"].as_str().unwrap_or("-"), op["role"].as_str().unwrap_or("-")))
        .collect();
    assert!(writers.iter().any(|w| w.ends_with("/rotate")), "no write by the rotate identity: {writers:?}");
    assert!(writers.iter().all(|w| w.ends_with("/rotate") || w.ends_with("/operator")), "{writers:?}");
    assert!(
        inside(machine, "find /var/lib/secret-rotate -type f -printf '%u\\n' | sort -u") == "secret-rotate",
        "the rotation's state belongs to its user"
    );

    // Audit retention: rotated logs in both audit folders, one old enough to compress, one to delete; the live
    // logs stay as they are.
    inside(
        machine,
        &format!(
            "cd {AUDIT_DIR} && head -n 3 audit.log > audit.log.1 && touch -d '10 days ago' audit.log.1 && \
             head -n 3 audit.log > audit.log.2 && touch -d '500 days ago' audit.log.2 && \
             chown vault:vault audit.log.1 audit.log.2 && \
             cd {AUDIT_SECONDARY_DIR} && echo '{{}}' > audit-secondary.log.1 && \
             touch -d '10 days ago' audit-secondary.log.1 && chown vault:vault audit-secondary.log.1"
        ),
    );
    start_job(machine, "audit-retention.service", "vault", false);
    let listing = inside(machine, &format!("ls {AUDIT_DIR} {AUDIT_SECONDARY_DIR}"));
    for kept in ["audit.log", "audit.log.1.gz", "audit-secondary.log", "audit-secondary.log.1.gz"] {
        assert!(listing.lines().any(|l| l == kept), "{kept} missing after retention:\n{listing}");
    }
    for gone in ["audit.log.1", "audit.log.2", "audit-secondary.log.1"] {
        assert!(!listing.lines().any(|l| l == gone), "{gone} left after retention:\n{listing}");
    }
    assert_eq!(inside(machine, &format!("stat -c %U {AUDIT_DIR}/audit.log.1.gz")), "vault");
    assert_eq!(inside(machine, &format!("gzip -dc {AUDIT_DIR}/audit.log.1.gz | wc -l")), "3");
}

/// None of the shipped units (the server's and every job's, whether a test or its timer started it) has failed.
pub fn no_unit_failed(machine: &Container) {
    let failed = inside(machine, "systemctl list-units --all --failed --plain --no-legend --full");
    for unit in shipped(".service").iter().chain(&shipped(".timer")) {
        assert!(
            !failed.lines().any(|l| l.split_whitespace().next() == Some(unit.as_str())),
            "{unit} failed:\n{failed}\n{}",
            journal(machine, unit)
        );
    }
}

/// A value for the sample app: random enough to be unique to this run, made of characters that need no quoting.
fn sample_value(prefix: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(prefix);
    let b = RandomState::new().hash_one(std::process::id());
    format!("{prefix}{a:016x}{b:016x}")
}

/// Day two, with the installed tools and the credentials deploy delivered: the operator migrates a sample app's
/// `.env` with env-migrate's defaults; the `dagster` pipeline user reads every migrated value with vault-env and
/// may neither write (even where it reads) nor take a snapshot; vault-health exits 0 with every identity; and
/// audit-parse on the audit folder names the pipeline's identity as a reader of each migrated secret.
/// Returns the values migrated, so the caller can check they never reach a log.
pub fn day_two(machine: &Container) -> Vec<String> {
    let secrets = BTreeMap::from([
        ("DB_PASSWORD", sample_value("pw")),
        ("STRIPE_SECRET_KEY", format!("sk_live_{}", sample_value("S"))),
        ("AWS_SECRET_ACCESS_KEY", sample_value("aws")),
    ]);
    let mut env = String::from("# shop: the warehouse loader's settings\nDB_HOST=db.internal\nLOG_LEVEL=info\n");
    for (key, value) in &secrets {
        env.push_str(&format!("{key}={value}\n"));
    }
    machine.write_file("/srv/shop/.env", env.as_bytes(), 0o600).unwrap();

    // The operator (root, with the operator identity's files): plan and apply with the defaults.
    inside(machine, &as_identity("root", "operator", "env-migrate plan /srv/shop -o /root/shop-plan.json"));
    let (code, out, said) = attempt(
        machine,
        &as_identity("root", "operator", "env-migrate apply /root/shop-plan.json --yes --format jsonl"),
    );
    assert_eq!(code, Some(0), "env-migrate apply:\n{said}");
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["verified"], secrets.len(), "{out}");
    let plan: Value = serde_json::from_str(&inside(machine, "cat /root/shop-plan.json")).unwrap();
    let mut targets = BTreeMap::new();
    for entry in plan["entries"].as_array().unwrap() {
        let target = (entry["target"]["path"].as_str().unwrap(), entry["target"]["key"].as_str().unwrap());
        targets.insert(entry["key"].as_str().unwrap().to_owned(), (target.0.to_owned(), target.1.to_owned()));
    }
    assert_eq!(
        targets.keys().map(String::as_str).collect::<Vec<_>>(),
        secrets.keys().copied().collect::<Vec<_>>(),
        "the plan moves the secrets and only them: {plan}"
    );

    // The pipeline reads every value, as its own user with its own identity.
    for (key, (path, field)) in &targets {
        assert!(path.starts_with("secret/dagster/"), "the default template writes where dagster reads: {path}");
        let read =
            inside(machine, &as_identity("dagster", "dagster", &format!("vault-env get {path} --field {field}")));
        assert_eq!(&read, &secrets[key.as_str()], "{key} read back from {path}#{field}");
    }

    // The pipeline may not write, not even beside what it reads: its own migration is refused and nothing lands.
    inside(machine, "mkdir -p /srv/dagster-try/shop && chown -R dagster: /srv/dagster-try");
    machine
        .write_file("/srv/dagster-try/shop/.env", format!("EXTRA_PASSWORD={}\n", sample_value("x")).as_bytes(), 0o644)
        .unwrap();
    let (code, _, said) = attempt(
        machine,
        &as_identity(
            "dagster",
            "dagster",
            "sh -c 'cd /srv/dagster-try && env-migrate plan shop -o plan.json && \
             env-migrate apply plan.json --yes --format jsonl'",
        ),
    );
    assert_eq!(code, Some(4), "the pipeline wrote a secret:\n{said}");
    let (path, _) = targets.values().next().unwrap();
    let (code, _, said) =
        attempt(machine, &as_identity("root", "operator", &format!("vault-env get {path} --field EXTRA_PASSWORD")));
    assert_ne!(code, Some(0), "EXTRA_PASSWORD reached {path}:\n{said}");

    // Nor take a snapshot: refused, and no backup file anywhere it could write.
    let (code, _, said) = attempt(
        machine,
        &as_identity("dagster", "dagster", "env VAULT_BACKUP_TO=/srv/dagster-try/backups vault-backup save"),
    );
    assert_eq!(code, Some(4), "the pipeline took a snapshot:\n{said}");
    assert!(said.contains("permission denied") || said.contains("403"), "{said}");
    assert_eq!(inside(machine, "find /srv/dagster-try -name '*.snap*' | wc -l"), "0");

    // Every identity's vault-health is green, with its own user and credentials.
    for (role, user) in identities() {
        let (code, _, said) = attempt(machine, &as_identity(&user, &role, "vault-health --format json"));
        assert_eq!(code, Some(0), "vault-health as {role} ({user}):\n{said}");
    }

    // The audit trail names the pipeline's identity as a reader of every migrated secret.
    let report: Value =
        serde_json::from_str(&inside(machine, &format!("audit-parse report {AUDIT_DIR} --format json"))).unwrap();
    let reads = report["reads"].as_array().unwrap();
    for (path, _) in targets.values() {
        assert!(
            reads.iter().any(|r| r["path"] == path.as_str() && r["identity"] == "approle/dagster"),
            "audit-parse does not name approle/dagster as a reader of {path}: {}",
            report["reads"]
        );
    }
    secrets.into_values().collect()
}
