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
