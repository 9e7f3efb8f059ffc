//! Robustness without a server: nothing under a tree is skipped in silence (symlinks out of the tree or in a loop,
//! FIFOs, unreadable folders, paths past the system's limit); the plan is 0600 whatever file it replaces; input
//! that is not UTF-8 is exit 2 naming file and line; a closed stdout exits 0; and no mutated `.env` file or
//! command line makes it panic.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vault_testkit::fuzz::{ArgvSpace, assert_broken_pipe_exits_0, each_mutation, fuzz_argv, run_bounded};

use crate::util::{cmd, code, run};

fn detect_jsonl(dir: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut c = cmd(dir);
    c.args(["--format", "jsonl", "detect"]).args(args);
    let (out, stdout, stderr) = run(&mut c);
    let summary = stdout.lines().last().map(|l| serde_json::from_str(l).unwrap()).unwrap_or_default();
    (code(&out), summary, stderr)
}

#[test]
fn nothing_is_skipped_in_silence() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("creds.env"), "API_TOKEN=ghp_outside\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("app/config")).unwrap();
    std::fs::write(d.join("app/config/real.env"), "DB_PASSWORD=inside-tree-1\n").unwrap();
    // Inside the tree: followed, and its variables read once through the link.
    std::os::unix::fs::symlink("config/real.env", d.join("app/.env")).unwrap();
    // Outside the tree, dangling, and a loop: each reported.
    std::os::unix::fs::symlink(outside.path().join("creds.env"), d.join("app/.env.production")).unwrap();
    std::os::unix::fs::symlink("nowhere.env", d.join("app/.env.staging")).unwrap();
    std::os::unix::fs::symlink("loop.env", d.join("loop.env")).unwrap();
    // A FIFO named like an env file: said what it is, never opened (that would block).
    rustix_mkfifo(&d.join("pipe.env"));
    // A folder it cannot list.
    std::fs::create_dir(d.join("locked")).unwrap();
    std::fs::write(d.join("locked/.env"), "HIDDEN_SECRET=x\n").unwrap();
    std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = unsafe_is_root();

    let (exit, summary, stderr) = detect_jsonl(d, &["."]);
    std::fs::set_permissions(d.join("locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(exit, 0, "problems make the exit code say so: {stderr}");
    for (name, says) in [
        ("app/.env.production", "outside the tree"),
        ("app/.env.staging", "does not exist"),
        ("loop.env", "symlink loop"),
        ("pipe.env", "FIFO"),
    ] {
        let line = stderr.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} not reported: {stderr}"));
        assert!(line.contains(says), "{name}: {line}");
    }
    if !root {
        assert!(stderr.contains("locked"), "the unreadable folder is reported: {stderr}");
    }
    let expected_errors = if root { 4 } else { 5 };
    assert_eq!(summary["errors"], expected_errors, "every problem is counted: {summary}\n{stderr}");
    assert!(!stderr.contains("ghp_outside") && !stderr.contains("inside-tree-1"), "no value in messages");
    assert!(summary["files"].as_u64().unwrap() >= 2, "the in-tree link and its target were read: {summary}");

    // Named directly: a FIFO is said to be one, at once.
    let mut c = cmd(d);
    c.args(["detect", "pipe.env"]);
    let run = run_bounded(c, Duration::from_secs(10));
    assert!(!run.timed_out, "naming a FIFO must not block");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("pipe.env") && run.stderr.contains("FIFO"), "{}", run.stderr);

    // A path past the system's length limit is reported as such, not "0 files".
    let long = format!("{}/.env", "d".repeat(5000));
    let (exit, _, stderr) = detect_jsonl(d, &[&long]);
    assert_eq!(exit, 2, "{stderr}");
    assert!(stderr.contains("longer than the system allows"), "{stderr}");
}

fn rustix_mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

fn unsafe_is_root() -> bool {
    // Root reads a 0000 folder anyway, so that case cannot be staged for it.
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn the_plan_is_0600_whatever_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".env"), "DB_PASSWORD=hunter2-but-longer\n").unwrap();
    for before in [0o666, 0o644, 0o600] {
        std::fs::write(d.join("p.json"), "{}").unwrap();
        std::fs::set_permissions(d.join("p.json"), std::fs::Permissions::from_mode(before)).unwrap();
        let (out, _, stderr) = run(cmd(d).args(["plan", ".env", "-o", "p.json"]));
        assert_eq!(code(&out), 0, "{stderr}");
        let mode = std::fs::metadata(d.join("p.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "plan over a {before:o} file");
    }
    // A new plan, and one written through a symlink (the link kept, its target 0600).
    std::os::unix::fs::symlink("p.json", d.join("latest.json")).unwrap();
    std::fs::set_permissions(d.join("p.json"), std::fs::Permissions::from_mode(0o666)).unwrap();
    for name in ["new.json", "latest.json"] {
        let (out, _, stderr) = run(cmd(d).args(["plan", ".env", "-o", name]));
        assert_eq!(code(&out), 0, "{stderr}");
        let mode = std::fs::metadata(d.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    assert!(d.join("latest.json").is_symlink());
}

#[test]
fn input_that_is_not_utf8_is_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("plan.json"), b"{\n  \"version\": 1,\n  \"x\": \"\xff\"\n}\n").unwrap();
    std::fs::write(d.join(".env"), b"A=1\nB=\xfe\n").unwrap();
    for args in [
        vec!["apply", "plan.json"],
        vec!["apply", "plan.json", "--yes"],
        vec!["strip", "plan.json"],
        vec!["rollback", "--plan", "plan.json"],
        vec!["detect", ".env"],
        vec!["plan", ".env"],
    ] {
        let (out, _, stderr) = run(cmd(d).args(&args).env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "x"));
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        let named = stderr.contains("plan.json:3") || stderr.contains(".env");
        assert!(named, "{args:?} names the file (and line): {stderr}");
    }
}

#[test]
fn a_closed_stdout_exits_0_for_every_command_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!("SERVICE_{i}_API_KEY=sk_live_{i:0>24}\nSERVICE_{i}_HOST=db{i}.internal\n"));
    }
    std::fs::write(d.join(".env"), &text).unwrap();
    std::fs::write(d.join("app.py"), "import os\nos.environ['SERVICE_1_API_KEY']\n".repeat(200)).unwrap();
    for format in ["human", "json", "jsonl"] {
        for args in [vec!["detect", "."], vec!["plan", "."], vec!["refs", "."], vec!["example", "--check", "."]] {
            let label = format!("env-migrate --format {format} {}", args.join(" "));
            assert_broken_pipe_exits_0(
                || {
                    let mut c = cmd(d);
                    c.args(["--format", format]).args(&args);
                    c
                },
                &label,
            );
        }
    }
}

#[test]
fn mutated_env_files_never_panic() {
    let seeds: [&[u8]; 4] = [
        b"# comment\nexport DB_PASSWORD='p@ss w0rd'\nURL=\"postgres://u:${DB_PASSWORD}@h/db\" # inline\nEMPTY=\n",
        b"A=\"multi\nline \\\"quoted\\\" \\n\"\nB=${A:-default}\nC=${A:?missing}\nD='single $A'\nE=$A/b\n",
        b"KEY=value\r\nOTHER = spaced \r\n=nokey\nnovalue\n  INDENTED=1\nX=\"unterminated\n",
        b"services:\n  app:\n    env_file:\n      - .env\n      - path: ./other.env\n",
    ];
    let environ = |name: &str| (name == "HOME").then(|| "/home/u".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app/.env.production");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let convention = env_migrate::plan::Convention::default();
    let mut parsed = 0usize;
    each_mutation(0x5eed_e7e1, &seeds, 3000, 20_000, |input| {
        // The parser on bytes, then the whole detect → classify → plan path on the same bytes as a file.
        let file = env_migrate::parse::EnvFile::parse_bytes(Path::new("fuzz.env"), input.to_vec());
        if let Ok(file) = file {
            parsed += 1;
            for r in &file.resolve(&environ) {
                if let Some(v) = &r.value {
                    let _ = env_migrate::detect::unbraced_references(v.expose());
                }
            }
        }
        std::fs::write(&path, input).unwrap();
        if let Ok(vars) = env_migrate::detect::read_file(&path) {
            let plan = env_migrate::plan::build(&vars, &convention);
            let _ = env_migrate::plan::validate(&plan);
            let _ = serde_json::to_string(&plan).unwrap();
        }
        let _ = env_migrate::discover::compose_env_files(&path);
    });
    assert!(parsed > 500, "the mutations keep many files parseable ({parsed})");
}

#[test]
fn mutated_command_lines_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".env"), "DB_PASSWORD=hunter2-but-longer\nHOST=db\n").unwrap();
    let (out, _, stderr) = run(cmd(d).args(["plan", ".env", "-o", "plan.json"]));
    assert_eq!(code(&out), 0, "{stderr}");
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let space = ArgvSpace {
        seeds: vec![
            s(&["detect", "."]),
            s(&["--format", "jsonl", "detect", ".env", "--from-environment"]),
            s(&["plan", ".", "--app", "shop", "--env", "prod", "--template", "secret/{app}/{env}/{group}"]),
            s(&["plan", ".env", "-o", "out.json"]),
            s(&["apply", "plan.json"]),
            s(&["strip", "plan.json", "--dry-run"]),
            s(&["rollback", "--plan", "plan.json"]),
            s(&["refs", ".", "--key", "DB_PASSWORD"]),
            s(&["example", "--check", "."]),
        ],
        words: s(&[
            "detect",
            "plan",
            "apply",
            "strip",
            "rollback",
            "refs",
            "example",
            "--from-environment",
            "--app",
            "--env",
            "--template",
            "--yes",
            "--concurrency",
            "--remove",
            "--dry-run",
            "--plan",
            "--key",
            "--check",
            "--format",
            "-o",
            "--color",
            "--address",
            "--token-file",
            "--namespace",
            "--client-timeout",
        ]),
        values: s(&[
            ".",
            ".env",
            "plan.json",
            "missing.json",
            "json",
            "jsonl",
            "0",
            "65536",
            "secret/{nope}",
            "{app}",
            "secret/../sys/{name}",
            "/dev/null",
        ]),
    };
    let codes = fuzz_argv(0x5eed_e7e2, &space, 200, Duration::from_secs(5), || {
        let mut c = cmd(d);
        c.env("VAULT_ADDR", "http://127.0.0.1:9").env("VAULT_TOKEN", "fuzz").env("VAULT_MAX_RETRIES", "0");
        c
    });
    assert!(codes.get(&2).copied().unwrap_or(0) > 10, "{codes:?}");
    assert!(codes.contains_key(&0), "{codes:?}");
}
