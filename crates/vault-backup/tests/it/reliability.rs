//! Issue 14's classes for vault-backup, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use std::sync::LazyLock;

use vault_testkit::toolcheck::{Entry, Tool};

/// Input files the entry points need, made once.
static FILES: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("backups")).expect("backup folder");
    dir
});

fn file(name: &str) -> String {
    FILES.path().join(name).display().to_string()
}

fn tool() -> Tool {
    Tool::new("vault-backup", env!("CARGO_BIN_EXE_vault-backup"))
}

fn entries() -> Vec<Entry> {
    let to = file("backups");
    ["human", "json", "jsonl"]
        .into_iter()
        .map(|format| Entry::new(format!("save --format {format}"), &["save", "--to", &to, "--format", format]))
        .collect()
}

vault_testkit::connection_class_tests!();
