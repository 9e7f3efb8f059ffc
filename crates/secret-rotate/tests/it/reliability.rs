//! Issue 14's classes for secret-rotate, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use vault_testkit::toolcheck::{Entry, Tool};

fn tool() -> Tool {
    Tool::new("secret-rotate", env!("CARGO_BIN_EXE_secret-rotate"))
}

fn entries() -> Vec<Entry> {
    ["human", "json", "jsonl"]
        .into_iter()
        .map(|format| Entry::new(format!("state --format {format}"), &["state", "secret/app/db", "--format", format]))
        .collect()
}

vault_testkit::connection_class_tests!();
