//! The examples `env-migrate --help` and its subcommands' show (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "env-migrate detect .
         env-migrate plan -o plan.json .
         env-migrate apply --yes plan.json
         env-migrate strip plan.json",
    ),
    ("detect", "env-migrate detect\n env-migrate detect -f jsonl --from-environment ."),
    ("plan", "env-migrate plan -o plan.json .\n env-migrate plan --env production -o plan.json .env.production"),
    ("apply", "env-migrate apply plan.json\n env-migrate apply --yes plan.json"),
    ("strip", "env-migrate strip --dry-run plan.json\n env-migrate strip plan.json"),
    ("rollback", "env-migrate rollback --plan plan.json\n env-migrate rollback .env"),
    ("refs", "env-migrate refs --plan plan.json src/\n env-migrate refs --key DATABASE_URL ."),
    ("example", "env-migrate example .\n env-migrate example --check ."),
];
