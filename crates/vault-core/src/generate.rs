//! What every tool's command line shares beyond its own flags: examples in `--help`, the hidden
//! `--generate complete-bash|complete-zsh|complete-fish|man` that writes shell completions and a man page from the
//! clap definitions (as ripgrep does), and the parse that sets up logging from `-q`/`-v`/`--color`.
//!
//! A tool calls [`parse`] (or [`try_parse`]) from its `cli::main` with its examples, and `cargo xtask dist` runs
//! each installed name with `--generate` to put the completions and man pages in the package.

use std::io::{self, Write};

use clap::{ArgMatches, Command, CommandFactory, Parser};

/// A tool's examples: the subcommand path (`""` for the tool itself, `"baseline update"` for a nested one) and
/// the example lines for its `--help`, one command per line, `#` lines as comments.
pub type Examples = &'static [(&'static str, &'static str)];

/// What `--generate` can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// A bash completion script (install as `share/bash-completion/completions/TOOL`).
    Bash,
    /// A zsh completion function (install as `share/zsh/site-functions/_TOOL`).
    Zsh,
    /// A fish completion script (install as `share/fish/vendor_completions.d/TOOL.fish`).
    Fish,
    /// A roff man page (install as `share/man/man1/TOOL.1`).
    Man,
}

impl Artifact {
    /// Every artifact with its `--generate` value, in that order.
    pub const ALL: [(Artifact, &'static str); 4] = [
        (Artifact::Bash, "complete-bash"),
        (Artifact::Zsh, "complete-zsh"),
        (Artifact::Fish, "complete-fish"),
        (Artifact::Man, "man"),
    ];

    /// The artifact a `--generate` value names.
    pub fn from_name(name: &str) -> Option<Artifact> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|&(a, _)| a)
    }

    /// Where the artifact for `tool` goes under an installation prefix's `share/`.
    pub fn install_path(self, tool: &str) -> String {
        match self {
            Artifact::Bash => format!("bash-completion/completions/{tool}"),
            Artifact::Zsh => format!("zsh/site-functions/_{tool}"),
            Artifact::Fish => format!("fish/vendor_completions.d/{tool}.fish"),
            Artifact::Man => format!("man/man1/{tool}.1"),
        }
    }
}

/// Writes `artifact` for the command `cmd` (its name is the program name the completions complete).
pub fn write(artifact: Artifact, cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    use clap_complete::Shell;
    let mut cmd = cmd;
    let name = cmd.get_name().to_owned();
    let shell = match artifact {
        Artifact::Bash => Shell::Bash,
        Artifact::Zsh => Shell::Zsh,
        Artifact::Fish => Shell::Fish,
        Artifact::Man => return clap_mangen::Man::new(cmd).render(out),
    };
    // Generated into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut buf);
    out.write_all(&buf)
}

/// Handles a leading `--generate WHAT` (or `--generate=WHAT`) in the process's arguments: writes the artifact for
/// `cmd` to stdout and returns the exit code (0, or 2 for an unknown WHAT). `None` when the arguments do not start
/// so. The flag is hidden from `--help`: it is for packagers, and `cargo xtask dist` uses it.
pub fn intercept(cmd: &Command) -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    let first = first.to_str()?;
    let what = match first.strip_prefix("--generate") {
        Some("") => args.next().and_then(|a| a.into_string().ok()).unwrap_or_default(),
        Some(rest) => rest.strip_prefix('=')?.to_owned(),
        None => return None,
    };
    let name = cmd.get_name().to_owned();
    let Some(artifact) = Artifact::from_name(&what) else {
        let valid: Vec<&str> = Artifact::ALL.iter().map(|(_, n)| *n).collect();
        let _ = writeln!(io::stderr(), "{name}: error: --generate takes one of: {}", valid.join(", "));
        return Some(crate::Exit::Usage.code());
    };
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    match write(artifact, cmd.clone(), &mut stdout).and_then(|()| stdout.flush()) {
        Ok(()) => Some(0),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Some(0),
        Err(e) => {
            let _ = writeln!(io::stderr(), "{name}: error: writing --generate {what}: {e}");
            Some(crate::Exit::Failed.code())
        }
    }
}

/// The tool's command with its examples placed in each (sub)command's `--help`, before the text that was already
/// after the options there (the exit-code table stays last). `-h` keeps the short form without examples.
pub fn command<C: CommandFactory>(examples: Examples) -> Command {
    with_examples(C::command(), examples)
}

/// [`command`] for a command built by hand.
pub fn with_examples(cmd: Command, examples: Examples) -> Command {
    let mut cmd = with_exit_codes(cmd);
    for (path, text) in examples {
        let path: Vec<&str> = path.split_whitespace().collect();
        cmd = add_example(cmd, &path, text);
    }
    cmd
}

/// Gives every subcommand that has no text of its own after the options the tool's exit-code section: the tool's
/// `after_help` from its `Exit codes:` line on ([`crate::Exit::HELP`] and the tool's notes on it), so that every
/// `--help` ends with the codes. [`command`] and [`with_examples`] call it; a command line that has no examples
/// (the xtask's) calls it itself.
pub fn with_exit_codes(cmd: Command) -> Command {
    fn give(cmd: Command, codes: &str) -> Command {
        let names: Vec<String> = cmd.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
        names.iter().fold(cmd, |cmd, name| {
            cmd.mut_subcommand(name, |sub| {
                let own = sub.get_after_help().is_some() || sub.get_after_long_help().is_some();
                give(if own { sub } else { sub.after_help(codes.to_owned()) }, codes)
            })
        })
    }
    let after = cmd.get_after_help().map(ToString::to_string).unwrap_or_default();
    match after.find("Exit codes:") {
        Some(at) => {
            let codes = after[at..].to_owned();
            give(cmd, &codes)
        }
        None => cmd,
    }
}

fn add_example(cmd: Command, path: &[&str], text: &str) -> Command {
    match path.split_first() {
        Some((first, rest)) => {
            // An unknown path is left out rather than a panic at start-up; the tools' example test catches it.
            if cmd.find_subcommand(first).is_none() {
                return cmd;
            }
            cmd.mut_subcommand(first, |sub| add_example(sub, rest, text))
        }
        None => {
            let mut help = String::from("Examples:\n");
            for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
                help.push_str("  ");
                help.push_str(line.trim_start());
                help.push('\n');
            }
            let tail = cmd.get_after_long_help().or_else(|| cmd.get_after_help()).map(ToString::to_string);
            if let Some(tail) = tail {
                help.push('\n');
                help.push_str(&tail);
            }
            cmd.after_long_help(help.trim_end().to_owned())
        }
    }
}

/// Parses the process's arguments for a tool: answers `--generate` and exits, sets up logging from `-q`, `-v`
/// and `--color` (see [`crate::cli::LogArgs`]), and exits with clap's message and code 2 on a usage error.
pub fn parse<C: Parser>(examples: Examples) -> C {
    try_parse(examples).unwrap_or_else(|e| e.exit())
}

/// Like [`parse`], returning a usage error (or the `--help`/`--version` "error") for the tool to report its own way.
pub fn try_parse<C: Parser>(examples: Examples) -> Result<C, clap::Error> {
    let cmd = command::<C>(examples);
    if let Some(code) = intercept(&cmd) {
        std::process::exit(i32::from(code));
    }
    let matches = cmd.try_get_matches()?;
    crate::cli::init_logging_from(&matches);
    C::from_arg_matches(&matches)
}

/// Every subcommand path of `cmd` (`["baseline", "update"]`), the command itself first as `[]`, without clap's
/// own `help` subcommand: what the tools' tests walk to check every `--help`.
pub fn subcommand_paths(cmd: &Command) -> Vec<Vec<String>> {
    fn walk(cmd: &Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        out.push(prefix.to_vec());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, &[], &mut out);
    out
}

/// The matches of the deepest subcommand in `matches`, with every level above it: where a global flag given at
/// any level can be read.
pub(crate) fn levels(matches: &ArgMatches) -> Vec<&ArgMatches> {
    let mut out = vec![matches];
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        out.push(sub);
        m = sub;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Command {
        Command::new("demo")
            .after_help("Usage notes.\n\nExit codes:\n  0  ok")
            .subcommand(Command::new("scan").after_help("Exit codes:\n  0  ok"))
            .subcommand(Command::new("rules").subcommand(Command::new("list")))
    }

    #[test]
    fn examples_go_before_the_exit_codes_in_long_help_only() {
        let mut cmd =
            with_examples(demo(), &[("", "demo scan ."), ("scan", "demo scan src\n# a comment"), ("rules list", "x")]);
        let long = cmd.find_subcommand_mut("scan").unwrap().render_long_help().to_string();
        let at_example = long.find("Examples:\n  demo scan src\n  # a comment").expect(&long);
        let at_codes = long.find("Exit codes:").expect(&long);
        assert!(at_example < at_codes && long.trim_end().ends_with("0  ok"), "{long}");
        let short = cmd.find_subcommand_mut("scan").unwrap().render_help().to_string();
        assert!(!short.contains("Examples:") && short.contains("Exit codes:"), "{short}");
        let nested = cmd.find_subcommand_mut("rules").unwrap().find_subcommand_mut("list").unwrap();
        assert!(nested.render_long_help().to_string().contains("Examples:\n  x"));
        let paths = subcommand_paths(&cmd);
        assert_eq!(paths.len(), 4, "{paths:?}");
        // A subcommand without text of its own after the options gets the tool's exit codes, nested ones too,
        // after their examples.
        let rules = cmd.find_subcommand_mut("rules").unwrap().render_long_help().to_string();
        assert!(rules.trim_end().ends_with("Exit codes:\n  0  ok"), "{rules}");
        let nested = cmd.find_subcommand_mut("rules").unwrap().find_subcommand_mut("list").unwrap();
        let long = nested.render_long_help().to_string();
        assert!(long.find("Examples:\n  x").unwrap() < long.find("Exit codes:").expect(&long), "{long}");
        // An unknown path does not panic.
        let _ = with_examples(demo(), &[("nope", "x")]);
    }

    #[test]
    fn every_artifact_is_generated() {
        for (artifact, name) in Artifact::ALL {
            assert_eq!(Artifact::from_name(name), Some(artifact));
            let mut out = Vec::new();
            write(artifact, demo(), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("demo"), "{name}: {text}");
        }
        assert_eq!(Artifact::from_name("complete-tcsh"), None);
        assert_eq!(Artifact::Zsh.install_path("secret-scan"), "zsh/site-functions/_secret-scan");
    }
}
