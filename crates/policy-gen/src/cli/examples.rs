//! The examples `policy-gen --help` and its subcommands' show (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "policy-gen render policies/specs/dagster-secrets.toml
         policy-gen check policies/
         policy-gen explain -p policies/dagster-secrets.hcl secret/dagster/warehouse",
    ),
    (
        "render",
        "policy-gen render policies/specs/dagster-secrets.toml\n policy-gen render --out-dir policies/ policies/specs/backup.toml",
    ),
    ("fmt", "policy-gen fmt policies/\n policy-gen fmt --check policies/"),
    ("check", "policy-gen check policies/\n policy-gen check -f jsonl policies/dagster-secrets.hcl"),
    (
        "explain",
        "policy-gen explain -p policies/dagster-secrets.hcl secret/dagster/warehouse
         policy-gen explain -p policies/ --op update secret/data/dagster/warehouse",
    ),
    ("test", "policy-gen test policies/tests/dagster-secrets.toml"),
    ("diff", "policy-gen diff policies/\n policy-gen diff --prune -f json policies/"),
    ("apply", "policy-gen apply policies/\n policy-gen apply --yes policies/"),
    (
        "from-audit",
        "policy-gen from-audit --role dagster /var/log/vault/audit.log
         policy-gen from-audit --role dagster -p policies/dagster-secrets.hcl /var/log/vault/",
    ),
];
