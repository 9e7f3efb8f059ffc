//! Issue 14's classes for audit-parse, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use std::sync::LazyLock;

use vault_testkit::toolcheck::{Entry, Tool};

/// Input files the entry points need, made once.
static FILES: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("audit.log"), "").expect("log");
    std::fs::write(dir.path().join("value"), "a-value-to-find\n").expect("value file");
    dir
});

fn file(name: &str) -> String {
    FILES.path().join(name).display().to_string()
}

fn tool() -> Tool {
    Tool::new("audit-parse", env!("CARGO_BIN_EXE_audit-parse"))
}

fn entries() -> Vec<Entry> {
    let log = file("audit.log");
    let value = file("value");
    let mut all: Vec<Entry> = ["human", "json", "jsonl"]
        .into_iter()
        .map(|format| {
            Entry::new(
                format!("report --from-vault --format {format}"),
                &["report", "--from-vault", "secret/app", "--format", format, &log],
            )
        })
        .collect();
    all.push(Entry::new("filter --value-file", &["filter", "--value-file", &value, &log]));
    all
}

vault_testkit::connection_class_tests!();
