//! The examples `vault-health --help` shows (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[(
    "",
    "vault-health
     vault-health -f json --canary secret/health/canary
     vault-health -f nagios --cert-warn-days 21 --backup-dir /var/backups/vault
     vault-health -f prometheus -o /var/lib/node_exporter/textfile/vault.prom",
)];
