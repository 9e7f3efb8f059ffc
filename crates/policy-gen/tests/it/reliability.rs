//! Issue 14's classes for policy-gen, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use std::sync::LazyLock;

use vault_testkit::toolcheck::{Entry, Tool};

/// Input files the entry points need, made once.
static FILES: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("app.hcl"), "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}\n")
        .expect("policy file");
    dir
});

fn file(name: &str) -> String {
    FILES.path().join(name).display().to_string()
}

fn tool() -> Tool {
    Tool::new("policy-gen", env!("CARGO_BIN_EXE_policy-gen"))
}

fn entries() -> Vec<Entry> {
    let policy = file("app.hcl");
    ["human", "json", "jsonl"]
        .into_iter()
        .map(|format| Entry::new(format!("diff --format {format}"), &["diff", &policy, "--format", format]))
        .collect()
}

vault_testkit::connection_class_tests!();
