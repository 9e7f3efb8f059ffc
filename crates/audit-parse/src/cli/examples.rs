//! The examples `audit-parse --help` and its subcommands' show (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "audit-parse filter --denied /var/log/vault/audit.log
         audit-parse report --since 7d /var/log/vault/
         audit-parse retain --dir /var/log/vault --keep-days 90 --compress-after-days 7",
    ),
    (
        "filter",
        "audit-parse filter --path secret/dagster/warehouse --operation read /var/log/vault/audit.log
         audit-parse filter -f jsonl --since 24h --denied /var/log/vault/
         audit-parse filter --follow /var/log/vault/audit.log",
    ),
    (
        "report",
        "audit-parse report --since 30d /var/log/vault/\n audit-parse report -f json --from-vault secret/dagster /var/log/vault/",
    ),
    ("retain", "audit-parse retain --dry-run --dir /var/log/vault --keep-days 90 --compress-after-days 7"),
];
