//! The multi-call side of the installed `vault-toolkit` binary.
//!
//! The packaged build ships one binary, `vault-toolkit`, and installs the eight tools as symbolic links to it
//! (`vault-env -> vault-toolkit`): eight separate binaries would each carry their own copy of tokio, reqwest,
//! rustls, aws-lc, vaultrs and clap, about five times the size. Invoked under a tool's name, the binary runs that
//! tool's `cli::main`, the same function the tool's own binary runs, so behaviour, help and exit codes are
//! identical; under any other name it is the xtask command line.

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

/// A tool's program: the `cli::main` of its library, which is all its own binary runs.
type ToolMain = fn() -> ExitCode;

/// Each tool's name and its program, in `dist::TOOLS` order.
const MAINS: [(&str, ToolMain); 8] = [
    ("vault-health", vault_health::cli::main),
    ("secret-scan", secret_scan::cli::main),
    ("env-migrate", env_migrate::cli::main),
    ("vault-env", vault_env::cli::main),
    ("policy-gen", policy_gen::cli::main),
    ("secret-rotate", secret_rotate::cli::main),
    ("vault-backup", vault_backup::cli::main),
    ("audit-parse", audit_parse::cli::main),
];

/// The tool this process was invoked as: the base name of `argv[0]` (`/usr/local/bin/vault-env` and `vault-env`
/// alike), or `None` for the xtask itself (`vault-toolkit`, `xtask`, anything else).
pub fn tool_main(argv0: &OsStr) -> Option<ToolMain> {
    let name = Path::new(argv0).file_name()?;
    MAINS.iter().find(|(tool, _)| OsStr::new(tool) == name).map(|&(_, main)| main)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each tool's command line as its `--help` shows it, in `dist::TOOLS` order.
    const COMMANDS: [fn() -> clap::Command; 8] = [
        vault_health::cli::command,
        secret_scan::cli::command,
        env_migrate::cli::command,
        vault_env::cli::command,
        policy_gen::cli::command,
        secret_rotate::cli::command,
        vault_backup::cli::command,
        audit_parse::cli::command,
    ];

    fn find<'a>(cmd: &'a mut clap::Command, path: &[String]) -> &'a mut clap::Command {
        path.iter().fold(cmd, |c, name| c.find_subcommand_mut(name).unwrap())
    }

    /// Every subcommand of every tool shows an example in `--help`, before the exit-code table, and every example
    /// line is a command line the tool accepts; `-q`, `-v` and (where a format is chosen) `-f` are everywhere.
    #[test]
    fn every_subcommand_has_examples_that_parse() {
        let mut missing = Vec::new();
        for (tool, command) in crate::dist::TOOLS.iter().zip(COMMANDS) {
            let mut root = command();
            // Global flags reach the subcommands when the command is built, as when it parses.
            root.build();
            for path in vault_core::generate::subcommand_paths(&root) {
                let shown = format!("{tool} {}", path.join(" "));
                let mut all = root.clone();
                let cmd = find(&mut all, &path);
                let help = cmd.render_long_help().to_string();
                let Some(at) = help.find("Examples:\n") else {
                    missing.push(shown);
                    continue;
                };
                if let Some(codes) = help.find("Exit codes:") {
                    assert!(codes > at, "{shown}: the exit codes must stay last:\n{help}");
                }
                let examples: Vec<&str> = help[at..].lines().skip(1).take_while(|l| !l.trim().is_empty()).collect();
                assert!(!examples.is_empty(), "{shown}: empty examples");
                for line in examples.iter().map(|l| l.trim()).filter(|l| !l.starts_with('#')) {
                    // The tool's part of a pipeline, without a description set off by two spaces.
                    let command = line.split('|').map(str::trim).find(|part| part.starts_with(tool));
                    let command = command.unwrap_or_else(|| panic!("{shown}: an example without {tool}: {line}"));
                    let words: Vec<&str> = command.split("  ").next().unwrap().split_whitespace().collect();
                    if let Err(e) = root.clone().try_get_matches_from(&words) {
                        panic!("{shown}: the example `{line}` does not parse: {e}");
                    }
                }
                let args: Vec<&clap::Arg> = cmd.get_arguments().collect();
                let short = |name: &str| args.iter().find(|a| a.get_id() == name).and_then(|a| a.get_short());
                assert_eq!(short("quiet"), Some('q'), "{shown}: -q/--quiet");
                assert_eq!(short("verbose"), Some('v'), "{shown}: -v/--verbose");
                if args.iter().any(|a| a.get_id() == "format") {
                    assert_eq!(short("format"), Some('f'), "{shown}: --format must also be -f");
                }
            }
        }
        assert!(missing.is_empty(), "subcommands without an example in --help: {missing:?}");
    }

    /// Every shipped tool has an entry point here, and nothing else does: a tool added to the package without one
    /// would install as a link that runs the xtask.
    #[test]
    fn every_packaged_tool_has_its_main() {
        let names: Vec<&str> = MAINS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, crate::dist::TOOLS);
    }

    #[test]
    fn dispatch_is_on_the_base_name_only() {
        for tool in crate::dist::TOOLS {
            for argv0 in [tool.to_owned(), format!("/usr/local/bin/{tool}"), format!("./bin/{tool}")] {
                assert!(tool_main(OsStr::new(&argv0)).is_some(), "{argv0}");
            }
            // A name that merely contains a tool's name, or a folder named like a tool, is not that tool.
            for argv0 in [format!("{tool}.old"), format!("x-{tool}"), format!("/opt/{tool}/vault-toolkit")] {
                assert!(tool_main(OsStr::new(&argv0)).is_none(), "{argv0}");
            }
        }
        for argv0 in ["vault-toolkit", "/usr/local/bin/vault-toolkit", "target/debug/xtask", "", "/"] {
            assert!(tool_main(OsStr::new(argv0)).is_none(), "{argv0}");
        }
    }
}
