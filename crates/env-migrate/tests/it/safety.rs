//! What must never happen: overwriting a value someone else wrote, writing from a file that changed or does
//! not parse, half-writing a read-only file, printing a value.

use std::os::unix::fs::PermissionsExt;

use crate::util::{assert_absent, client, cmd, cmd_for, code, dev, run, write};

const PW: &str = "Kp9xWv2mQz7rTy4nLb8s";
const TOKEN: &str = "ghp_Abcd1234Efgh5678Ijkl9012Mnop3456Qrst";
const ADMIN: &str = "Adm1n-Pa55w0rd-7h8j9k0lQ";
const THEIRS: &str = "someone-elses-N3w-v4lue-9876";

#[tokio::test(flavor = "multi_thread")]
async fn a_value_changed_in_vault_is_a_conflict_and_is_not_overwritten() {
    let server = dev().await;
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[(".env", &format!("DB_PASSWORD={PW}\nDB_ADMIN_PASSWORD={ADMIN}\n"))]);
    let (out, _, stderr) = run(cmd(dir.path()).args(["plan", "--app", "app", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    // Meanwhile someone writes another value for one key.
    let vault = client(&server);
    let path = vault.kv_path("secret/dagster/app/default/database").await.unwrap();
    let theirs: vault_core::SecretMap =
        [("DB_PASSWORD".to_owned(), vault_core::SecretString::new(THEIRS.into()))].into_iter().collect();
    vault.kv_write(&path, &theirs, None).await.unwrap();

    let (out, dry, dry_err) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json"]));
    assert_eq!(code(&out), 1, "a dry run with a conflict answers no: {dry}{dry_err}");
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes"]));
    assert_eq!(code(&out), 4, "{stdout}{stderr}");
    assert!(stdout.contains("conflict") && stdout.contains("already holds a different value"), "{stdout}");
    let now = vault.kv_read(&path, None).await.unwrap();
    assert_eq!(now.data["DB_PASSWORD"].expose(), THEIRS, "not overwritten");
    assert_eq!(now.data["DB_ADMIN_PASSWORD"].expose(), ADMIN, "the other key still moved, beside theirs");
    // strip leaves the conflicting value in the file.
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let text = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert!(text.contains(&format!("DB_PASSWORD={PW}")), "{text}");
    assert!(
        text.contains("DB_ADMIN_PASSWORD=\"\" # in Vault: secret/dagster/app/default/database#DB_ADMIN_PASSWORD"),
        "{text}"
    );
    assert_absent(
        &[PW, ADMIN, THEIRS],
        &[("dry", &dry), ("dry stderr", &dry_err), ("apply", &stdout), ("stderr", &stderr)],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_changed_files_stop_before_anything_is_written() {
    let server = dev().await;
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(".env", &format!("OK_TOKEN={TOKEN}\n")), ("b/.env.prod", &format!("A=1\nDB_PASSWORD=\"{PW}\nB=2\n"))],
    );
    let (out, stdout, stderr) = run(cmd(dir.path()).args(["plan", "-o", "plan.json"]));
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains(".env.prod:2: cannot parse"), "{stderr}");
    assert!(!dir.path().join("plan.json").exists(), "no plan written");
    assert_absent(&[PW, TOKEN], &[("stdout", &stdout), ("stderr", &stderr)]);

    // A value edited after planning: apply refuses and writes nothing.
    write(dir.path(), &[("b/.env.prod", &format!("DB_PASSWORD={PW}\n"))]);
    let (out, _, stderr) = run(cmd(dir.path()).args(["plan", "--app", "x", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    write(dir.path(), &[("b/.env.prod", "DB_PASSWORD=edited-Value-0000-1111\n")]);
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes"]));
    assert_eq!(code(&out), 2, "{stdout}{stderr}");
    assert!(stderr.contains(".env.prod:1 DB_PASSWORD: the value changed since the plan was made"), "{stderr}");
    let vault = client(&server);
    let p = vault.kv_path("secret/dagster/x/default/api-keys").await.unwrap();
    assert!(vault.kv_read(&p, None).await.unwrap_err().is_not_found(), "nothing written");
    assert_absent(&[PW, TOKEN, "edited-Value-0000-1111"], &[("stdout", &stdout), ("stderr", &stderr)]);

    // Binary and huge files are refused with a message.
    write(dir.path(), &[("bin.env", "A=\u{0}\u{1}")]);
    let (out, _, stderr) = run(cmd(dir.path()).args(["detect", "bin.env"]));
    assert_eq!(code(&out), 2);
    assert!(stderr.contains("bin.env: refusing a binary file"), "{stderr}");
    std::fs::write(dir.path().join("big.env"), "A=1\n".repeat(300_000)).unwrap();
    let (out, _, stderr) = run(cmd(dir.path()).args(["detect", "big.env"]));
    assert_eq!(code(&out), 2);
    assert!(stderr.contains("big.env: refusing a 1200000-byte file"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_env_file_is_reported_and_untouched() {
    let server = dev().await;
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# keep\nDB_PASSWORD={PW}\n");
    let worker = format!("GH_TOKEN={TOKEN}\nGIT_URL=https://x:${{GH_TOKEN}}@github.com/o/r\n");
    write(dir.path(), &[(".env", &text), ("w/.env", &worker)]);
    let (out, _, stderr) = run(cmd(dir.path()).args(["plan", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    // The user takes GIT_URL out of the plan: stripping GH_TOKEN then changes what GIT_URL resolves to.
    let plan_path = dir.path().join("plan.json");
    let mut plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    plan["entries"].as_array_mut().unwrap().retain(|e| e["key"] != "GIT_URL");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let (out, _, stderr) = run(cmd_for(dir.path(), &env).args(["apply", "plan.json", "--yes"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let env_file = dir.path().join(".env");
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 4, "{stdout}{stderr}");
    assert!(stderr.contains(".env is read-only; not changed"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), text, "untouched");
    assert_eq!(std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777, 0o444);
    assert!(!dir.path().join(".env-migrate").exists(), "no backup for a file that was not changed");
    let other = std::fs::read_to_string(dir.path().join("w/.env")).unwrap();
    assert!(other.starts_with("GH_TOKEN=\"\" # in Vault:"), "the writable file was still stripped: {other}");
    assert!(stderr.contains("w/.env:2: GIT_URL interpolates ${GH_TOKEN}, which is now empty"), "{stderr}");
    assert_absent(&[PW, TOKEN], &[("stdout", &stdout), ("stderr", &stderr)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn strip_only_strips_what_vault_holds() {
    let server = dev().await;
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("DB_PASSWORD={PW}\n");
    write(dir.path(), &[(".env", &text)]);
    let (out, _, stderr) = run(cmd(dir.path()).args(["plan", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    // Not applied yet: nothing to strip.
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(stdout.contains("does not hold this value (run apply)"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.path().join(".env")).unwrap(), text);
    // Vault unreachable: nothing stripped, exit says why.
    let mut down = env;
    down.retain(|(k, _)| k != "VAULT_ADDR");
    down.push(("VAULT_ADDR".into(), "http://127.0.0.1:9".into()));
    let (out, stdout, stderr) = run(cmd_for(dir.path(), &down).args(["strip", "plan.json", "--max-retries", "0"]));
    assert_eq!(std::fs::read_to_string(dir.path().join(".env")).unwrap(), text, "{stdout}{stderr}");
    assert_eq!(code(&out), 3, "{stdout}{stderr}");
    assert!(stderr.contains("no file changed"), "{stderr}");
}

/// A tmpfs of a few KiB mounted for one test (the tests run as root, as CI does), unmounted when dropped.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(kib: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs needs root (CI runs as root)");
        TinyDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk with a file until a write fails.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path().join("filler")).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn strip_on_a_full_disk_changes_nothing_and_a_rerun_finishes() {
    let server = dev().await;
    let env = server.env();
    let disk = TinyDisk::mount(256);
    let text = format!("# settings\nDB_PASSWORD={PW}\nLOG_LEVEL=info\n");
    write(disk.path(), &[(".env", &text)]);
    let (out, _, stderr) = run(cmd(disk.path()).args(["plan", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let (out, stdout, stderr) = run(cmd_for(disk.path(), &env).args(["apply", "plan.json", "--yes"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");

    disk.fill();
    let (out, stdout, stderr) = run(cmd_for(disk.path(), &env).args(["strip", "plan.json"]));
    assert_ne!(code(&out), 0, "a full disk must fail the strip: {stdout}{stderr}");
    assert!(stderr.contains("No space left") || stdout.contains("No space left"), "{stdout}{stderr}");
    assert_eq!(std::fs::read_to_string(disk.path().join(".env")).unwrap(), text, "the env file is untouched");
    let leftovers: Vec<String> = std::fs::read_dir(disk.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temp files left behind: {leftovers:?}");
    assert_absent(&[PW], &[("stdout", &stdout), ("stderr", &stderr)]);

    // Room again: the same command finishes the job.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let (out, stdout, stderr) = run(cmd_for(disk.path(), &env).args(["strip", "plan.json"]));
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let stripped = std::fs::read_to_string(disk.path().join(".env")).unwrap();
    assert!(
        !stripped.contains(PW) && stripped.contains("LOG_LEVEL=info") && stripped.contains("# settings"),
        "{stripped}"
    );
}
