//! The examples `secret-rotate --help` and its subcommands' show (checked by the xtask's help test: each line
//! parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "secret-rotate check
         secret-rotate due
         secret-rotate run --due",
    ),
    ("check", "secret-rotate check\n secret-rotate check /etc/vault-toolkit/rotation.toml"),
    ("due", "secret-rotate due\n secret-rotate due -f jsonl --grace 2h"),
    ("run", "secret-rotate run --due\n secret-rotate run --dry-run secret/dagster/warehouse"),
    ("rollback", "secret-rotate rollback secret/dagster/warehouse"),
    ("history", "secret-rotate history\n secret-rotate history -f jsonl secret/dagster/warehouse"),
    ("state", "secret-rotate state secret/dagster/warehouse"),
];
