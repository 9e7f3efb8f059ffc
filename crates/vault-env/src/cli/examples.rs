//! The examples `vault-env --help` and its subcommands' show (checked by the xtask's help test: each line parses).

use vault_core::generate::Examples;

/// The examples, by subcommand path.
pub const EXAMPLES: Examples = &[
    (
        "",
        "vault-env get secret/dagster/warehouse
         vault-env run -s secret/dagster/warehouse -- dagster job execute -f jobs.py
         vault-env list -r secret/dagster",
    ),
    ("get", "vault-env get secret/dagster/warehouse\n vault-env get --field password secret/dagster/warehouse"),
    ("list", "vault-env list secret/dagster\n vault-env list -r -f jsonl secret/dagster"),
    (
        "export",
        "vault-env export secret/dagster/warehouse=WAREHOUSE_ -o .env.runtime
         vault-env export --manifest secrets.toml",
    ),
    ("check", "vault-env check secrets.toml"),
    (
        "run",
        "vault-env run -s secret/dagster/warehouse -- python pipeline.py
         vault-env run --manifest secrets.toml -- dagster-daemon run",
    ),
    ("db-creds", "vault-env db-creds analytics\n vault-env db-creds --kind static --field password etl"),
    ("serve", "vault-env serve --stdio --cache-ttl 30s"),
];
