//! The examples `vault-backup --help` and its subcommands' show (checked by the xtask's help test: each line
//! parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "vault-backup save --to /var/backups/vault
         vault-backup verify /var/backups/vault
         vault-backup prune --keep-daily 7 --keep-weekly 4 /var/backups/vault",
    ),
    (
        "save",
        "vault-backup save --to /var/backups/vault
         vault-backup save --to s3://backups/vault --recipients-file backup.pub",
    ),
    ("verify", "vault-backup verify /var/backups/vault\n vault-backup verify -f json s3://backups/vault"),
    ("list", "vault-backup list /var/backups/vault s3://backups/vault"),
    ("prune", "vault-backup prune --dry-run --keep-last 3 --keep-daily 7 /var/backups/vault"),
    ("restore", "vault-backup restore --to https://127.0.0.1:8300 --key-file keys.txt /var/backups/vault"),
    ("drill", "vault-backup drill --from /var/backups/vault --key-file /etc/vault/unseal-keys"),
];
