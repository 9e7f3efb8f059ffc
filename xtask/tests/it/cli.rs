//! What every tool's command line shares, run as users run it (the tools as links to the multi-call binary):
//! completions and man pages from `--generate`, log lines without colour codes off a terminal, `-q`, progress
//! bars only on a watched terminal (checked on a real pseudo-terminal through `script`), and `-f` in either place.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{root, text};

/// Every installed name: the eight tools and the deployment command.
const NAMES: [&str; 9] = [
    "vault-health",
    "secret-scan",
    "env-migrate",
    "vault-env",
    "policy-gen",
    "secret-rotate",
    "vault-backup",
    "audit-parse",
    "vault-toolkit",
];

/// A folder holding every name as a link to the built multi-call binary, as bin/ does once installed.
fn bin() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in NAMES {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), bin.join(name)).unwrap();
    }
    (dir, bin)
}

/// The tool under a pipe (stdout and stderr both), without CI, colour or Vault variables from the caller's shell.
fn tool(bin: &Path, name: &str) -> Command {
    let mut command = Command::new(bin.join(name));
    command.env_remove("CI").env_remove("NO_COLOR").env_remove("RUST_LOG").current_dir(root());
    for (key, _) in std::env::vars() {
        if key.starts_with("VAULT_") || key.starts_with("BAO_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `line` (a shell command) on a pseudo-terminal with `script`, so the tool sees a terminal on stdout and
/// stderr; returns everything the terminal received.
fn on_terminal(bin: &Path, line: &str, env: &[(&str, &str)]) -> String {
    let mut command = Command::new("script");
    command.args(["-qec", line, "/dev/null"]).current_dir(bin);
    command.env_remove("CI").env_remove("NO_COLOR").env_remove("RUST_LOG");
    command.envs(env.iter().copied());
    let out = command.output().expect("script (util-linux) must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_name_generates_its_completions_and_man_page() {
    let (_dir, bin) = bin();
    for name in NAMES {
        for (what, marker) in [
            ("complete-bash", format!("complete -F _{}", name.replace('-', "__"))),
            ("complete-zsh", format!("#compdef {name}")),
            ("complete-fish", format!("complete -c {name} ")),
            ("man", format!(".TH {name} 1")),
        ] {
            let out = tool(&bin, name).args(["--generate", what]).output().unwrap();
            assert!(out.status.success(), "{name} --generate {what}: {}", text(&out));
            let body = String::from_utf8_lossy(&out.stdout);
            assert!(body.contains(&marker), "{name} --generate {what} lacks {marker:?}");
            assert!(!body.contains('\x1b') && out.stderr.is_empty(), "{name} --generate {what}: {}", text(&out));
        }
        // The man page shows the examples and the hidden flag stays hidden.
        let man = tool(&bin, name).arg("--generate=man").output().unwrap();
        let man = String::from_utf8_lossy(&man.stdout);
        assert!(!man.contains("\\-\\-generate") && !man.contains("--generate"), "{name}'s man page shows --generate");
        let wrong = tool(&bin, name).args(["--generate", "complete-tcsh"]).output().unwrap();
        assert_eq!(wrong.status.code(), Some(2), "{name}: {}", text(&wrong));
        assert!(text(&wrong).contains("complete-bash, complete-zsh, complete-fish, man"), "{}", text(&wrong));
    }
}

/// A history file with a malformed line makes secret-rotate log a warning through tracing, offline.
fn malformed_history(dir: &Path) -> PathBuf {
    let history = dir.join("history.jsonl");
    std::fs::write(&history, "not json\n").unwrap();
    history
}

#[test]
fn log_lines_carry_no_colour_off_a_terminal_and_quiet_silences_them() {
    let (dir, bin) = bin();
    let history = malformed_history(dir.path());
    let history = history.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| -> Output {
        tool(&bin, "secret-rotate")
            .args(["history", "--history", history])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // A pipe, as journald and cron give: the warning is there, plain.
    let piped = run(&[], &[]);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(stderr.contains("WARN") && stderr.contains("malformed history line"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "colour codes on a pipe: {stderr:?}");
    // The check can fail: asked for, colour is there.
    let forced = run(&["--color", "always"], &[]);
    assert!(String::from_utf8_lossy(&forced.stderr).contains("\x1b["), "{}", text(&forced));
    // -q: errors only; -v is accepted everywhere and keeps the warning.
    let quiet = run(&["-q"], &[]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("WARN"), "{}", text(&quiet));
    assert_eq!(quiet.status.code(), piped.status.code(), "-q changes what is said, not the result");
    let verbose = run(&["-vv"], &[]);
    assert!(String::from_utf8_lossy(&verbose.stderr).contains("WARN"), "{}", text(&verbose));

    // On a terminal the warning is coloured, unless NO_COLOR or --color never says otherwise.
    let line = format!("./secret-rotate history --history {history}");
    let coloured = on_terminal(&bin, &line, &[]);
    assert!(coloured.contains("WARN") && coloured.contains("\x1b["), "{coloured:?}");
    for (extra, env) in [("", &[("NO_COLOR", "1")][..]), (" --color never", &[][..])] {
        let plain = on_terminal(&bin, &format!("{line}{extra}"), env);
        assert!(plain.contains("WARN") && !plain.contains('\x1b'), "{extra} {env:?}: {plain:?}");
    }
}

#[test]
fn progress_shows_on_a_watched_terminal_only() {
    let (dir, bin) = bin();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for i in 0..200 {
        std::fs::write(tree.join(format!("f{i}.txt")), "nothing secret here\n".repeat(50)).unwrap();
    }
    let tree = tree.to_str().unwrap();
    let line = format!("./secret-scan scan -f jsonl {tree} >/dev/null");
    let shown = on_terminal(&bin, &line, &[]);
    assert!(shown.contains("scanning"), "no progress on a terminal: {shown:?}");
    for (why, line, env) in [
        ("CI", line, &[("CI", "true")][..]),
        ("-q", format!("./secret-scan scan -q -f jsonl {tree} >/dev/null"), &[][..]),
    ] {
        let hidden = on_terminal(&bin, &line, env);
        assert!(!hidden.contains("scanning"), "progress with {why}: {hidden:?}");
    }
    let piped = tool(&bin, "secret-scan").args(["scan", "-f", "jsonl", tree]).output().unwrap();
    assert!(piped.status.success(), "{}", text(&piped));
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("scanning") && !stderr.contains('\r') && !stderr.contains('\x1b'), "{stderr:?}");
}

#[test]
fn format_is_f_before_or_after_the_subcommand() {
    let (_dir, bin) = bin();
    let policies = root().join("policies");
    let policies = policies.to_str().unwrap();
    let before = tool(&bin, "policy-gen").args(["-f", "jsonl", "check", policies]).output().unwrap();
    let after = tool(&bin, "policy-gen").args(["check", "-f", "jsonl", policies]).output().unwrap();
    let long = tool(&bin, "policy-gen").args(["check", "--format", "jsonl", policies]).output().unwrap();
    assert!(before.status.success(), "{}", text(&before));
    assert!(String::from_utf8_lossy(&before.stdout).starts_with("{\"type\":"), "{}", text(&before));
    assert_eq!(before.stdout, after.stdout);
    assert_eq!(before.stdout, long.stdout);
    // audit-parse's subcommands choose their own formats: -f after the subcommand, --follow is -F.
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = tool(&bin, "audit-parse").args(["filter", "-f", "jsonl"]).arg(log.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"type\":\"summary\""), "{}", text(&out));
}
