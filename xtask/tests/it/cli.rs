//! What every tool's command line shares, run as users run it (the tools as links to the multi-call binary):
//! completions and man pages from `--generate`, log lines without colour codes off a terminal, `-q`, progress
//! bars only on a watched terminal (checked on a real pseudo-terminal through `script`), `-f` in either place, and
//! every `--help` (each subcommand's too) ending with the shared exit-code table. [`commands`] reads every
//! command line's flags and subcommands from its `--help`, for the check that the docs name only real ones
//! (docs.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{INSTALLED, root, text};

/// A folder holding every name as a link to the built multi-call binary, as bin/ does once installed.
pub fn bin() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in INSTALLED {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), bin.join(name)).unwrap();
    }
    (dir, bin)
}

/// The tool under a pipe (stdout and stderr both), without CI, colour or Vault variables from the caller's shell.
pub fn tool(bin: &Path, name: &str) -> Command {
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
    for name in INSTALLED {
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

/// A command line as its `--help` shows it: one tool or subcommand.
#[derive(Debug)]
pub struct Help {
    /// The tool's name and the subcommands leading here: `["secret-scan", "baseline", "create"]`.
    pub path: Vec<String>,
    /// The whole `--help` text.
    pub text: String,
    /// Its subcommands' names (without clap's `help`).
    pub subcommands: Vec<String>,
    /// Other names its subcommands answer to.
    pub aliases: Vec<String>,
    /// Its flags, the global ones included.
    pub flags: Vec<Flag>,
    /// Whether it takes positional arguments.
    pub positionals: bool,
}

/// One flag from a `--help`'s option list.
#[derive(Debug, Default)]
pub struct Flag {
    pub short: Option<char>,
    pub long: Option<String>,
    /// `<VALUE>` follows it.
    pub takes_value: bool,
    /// The value may be left out (`[<VALUE>]`).
    pub optional_value: bool,
    /// The values it accepts, when the help lists them.
    pub values: Vec<String>,
}

impl Help {
    /// The flag named `--long` or `-s`.
    pub fn flag(&self, long: Option<&str>, short: Option<char>) -> Option<&Flag> {
        self.flags
            .iter()
            .find(|f| (long.is_some() && f.long.as_deref() == long) || (short.is_some() && f.short == short))
    }

    /// The subcommand named `name` (or an alias).
    pub fn has_subcommand(&self, name: &str) -> bool {
        self.subcommands.iter().chain(&self.aliases).any(|s| s == name)
    }
}

/// Parses a `--help` text: the `Commands:` list, the `Arguments:` heading and every option line.
pub fn parse_help(path: Vec<String>, text: String) -> Help {
    let mut help = Help {
        path,
        subcommands: Vec::new(),
        aliases: Vec::new(),
        flags: Vec::new(),
        positionals: false,
        text: String::new(),
    };
    let mut section = "";
    let mut in_values = false;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            in_values = false;
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            section = "";
        }
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        match section {
            "Commands:" if indent == 2 => {
                let name = trimmed.split_whitespace().next().unwrap_or("");
                if name != "help" {
                    help.subcommands.push(name.to_owned());
                }
                if let Some(aliases) = trimmed.split("[aliases: ").nth(1) {
                    help.aliases.extend(aliases.trim_end_matches(']').split(", ").map(str::to_owned));
                }
            }
            "Arguments:" => help.positionals = true,
            "" | "Commands:" | "Examples:" | "Exit codes:" => {}
            _ if indent <= 6 && trimmed.starts_with('-') && !trimmed.starts_with("- ") => {
                let mut flag = parse_flag(trimmed);
                if let Some(list) = trimmed.split("[possible values: ").nth(1) {
                    flag.values.extend(list.split(']').next().unwrap_or("").split(", ").map(str::to_owned));
                }
                help.flags.push(flag);
                in_values = false;
            }
            _ if trimmed == "Possible values:" => in_values = true,
            _ if in_values && trimmed.starts_with("- ") => {
                let value = trimmed[2..].split(':').next().unwrap_or("").trim();
                help.flags.last_mut().unwrap().values.push(value.to_owned());
            }
            _ => {
                if let Some(list) = trimmed.split("[possible values: ").nth(1)
                    && let Some(flag) = help.flags.last_mut()
                {
                    flag.values.extend(list.split(']').next().unwrap_or("").split(", ").map(str::to_owned));
                }
            }
        }
    }
    help.text = text;
    help
}

/// `-f, --format <FORMAT>`, `--git-history [<RANGE>]`, `-v, --verbose...`: the part before the description.
fn parse_flag(line: &str) -> Flag {
    let spec = line.split("  ").next().unwrap_or(line);
    let mut flag = Flag::default();
    for part in spec.split(", ") {
        let name = part.split([' ', '[', '<', '=']).next().unwrap_or("").trim_end_matches("...");
        if let Some(long) = name.strip_prefix("--") {
            flag.long = Some(long.to_owned());
        } else if let Some(short) = name.strip_prefix('-') {
            flag.short = short.chars().next();
        }
        flag.takes_value |= part.contains('<');
        flag.optional_value |= part.contains("[<") || part.contains("[=<");
    }
    flag
}

/// Every command line of every installed name, from running `NAME [SUBCOMMAND…] --help`: the tools and the
/// deployment command (`vault-toolkit`, `cargo xtask`), with every subcommand at any depth.
pub fn commands(bin: &Path) -> Vec<Help> {
    let mut out = Vec::new();
    let mut queue: Vec<Vec<String>> = INSTALLED.iter().map(|n| vec![(*n).to_owned()]).collect();
    while let Some(path) = queue.pop() {
        let run = tool(bin, &path[0]).args(&path[1..]).arg("--help").output().unwrap();
        assert!(run.status.success(), "{} --help: {}", path.join(" "), text(&run));
        let help = parse_help(path.clone(), String::from_utf8(run.stdout).unwrap());
        for sub in &help.subcommands {
            let mut next = path.clone();
            next.push(sub.clone());
            queue.push(next);
        }
        out.push(help);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(out.len() > 60, "only {} command lines found: is the walk broken?", out.len());
    out
}

/// Whether a `--help` ends with the shared exit-code table: its last section starts with `Exit codes:` and
/// [`vault_core::Exit::HELP`] word for word; anything after the table is a note on what the codes mean for this
/// tool (each paragraph speaks of a code or an exit, or starts `For TOOL:`).
pub fn ends_with_exit_codes(tool: &str, help: &str) -> Result<(), String> {
    let at = help.rfind("Exit codes:").ok_or("no `Exit codes:` section")?;
    let rest = help[at..].trim_end();
    let Some(after) = rest.strip_prefix(vault_core::Exit::HELP) else {
        return Err(format!("the exit codes are not the shared table:\n{rest}"));
    };
    for paragraph in after.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let lower = paragraph.to_lowercase();
        if !(lower.contains("code") || lower.contains("exit") || paragraph.starts_with(&format!("For {tool}:"))) {
            return Err(format!("text after the exit codes that is not about them:\n{paragraph}"));
        }
    }
    Ok(())
}

#[test]
fn every_help_ends_with_the_exit_codes() {
    let (_dir, bin) = bin();
    let mut wrong = Vec::new();
    for help in commands(&bin) {
        if let Err(why) = ends_with_exit_codes(&help.path[0], &help.text) {
            wrong.push(format!("{} --help: {why}", help.path.join(" ")));
        }
    }
    assert!(wrong.is_empty(), "--help without the exit-code table last:\n{}", wrong.join("\n\n"));
}

#[test]
fn the_help_checks_see_what_they_look_for() {
    let codes = vault_core::Exit::HELP;
    assert!(ends_with_exit_codes("t", &format!("Usage: t\n\n{codes}\n")).is_ok());
    assert!(ends_with_exit_codes("t", &format!("{codes}\n  `run` exits with the command's code.")).is_ok());
    assert!(ends_with_exit_codes("t", &format!("{codes}\n\nFor t: 1 means drift.")).is_ok());
    assert!(ends_with_exit_codes("t", "Usage: t\n\nOptions:\n  -h, --help  Print help").is_err());
    assert!(ends_with_exit_codes("t", &format!("{codes}\n\nFiles: /etc/t.toml")).is_err());
    assert!(ends_with_exit_codes("t", &codes.replace("2  usage", "2  bad usage")).is_err());

    let help = parse_help(
        vec!["t".into()],
        "Usage: t [OPTIONS] <COMMAND>\n\nCommands:\n  scan  Scan [aliases: s]\n  help  Print this\n\nOptions:\n  -f, --format <FORMAT>\n          Output format\n\n          Possible values:\n          - human: For people\n          - json:  One document\n\n      --git-history [<RANGE>]\n          History\n  -v, --verbose...  More [possible values: a, b]\n".into(),
    );
    assert_eq!(help.subcommands, ["scan"]);
    assert!(help.has_subcommand("s") && !help.has_subcommand("help"));
    assert!(!help.positionals);
    let format = help.flag(Some("format"), None).unwrap();
    assert!(format.short == Some('f') && format.takes_value && !format.optional_value);
    assert_eq!(format.values, ["human", "json"]);
    let history = help.flag(Some("git-history"), None).unwrap();
    assert!(history.takes_value && history.optional_value);
    assert!(help.flag(None, Some('v')).is_some_and(|f| !f.takes_value && f.values == ["a", "b"]));
    assert!(help.flag(Some("nope"), None).is_none());
}
