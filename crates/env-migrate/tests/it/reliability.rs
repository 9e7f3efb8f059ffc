//! Issue 14's classes for env-migrate, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use std::sync::LazyLock;

use vault_testkit::toolcheck::{Entry, Tool};

/// Input files the entry points need, made once.
static FILES: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(".env"), "DB_PASSWORD=correct-horse-battery-staple-42\n").expect(".env");
    let plan = std::process::Command::new(env!("CARGO_BIN_EXE_env-migrate"))
        .current_dir(dir.path())
        .args(["plan", "-o", "plan.json", "."])
        .output()
        .expect("run env-migrate plan");
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    dir
});

fn file(name: &str) -> String {
    FILES.path().join(name).display().to_string()
}

fn tool() -> Tool {
    Tool::new("env-migrate", env!("CARGO_BIN_EXE_env-migrate"))
}

fn entries() -> Vec<Entry> {
    let plan = file("plan.json");
    vec![
        Entry::new("apply (dry run)", &["apply", &plan]),
        Entry::new("apply --yes", &["apply", &plan, "--yes"]),
        Entry::new("apply --format json", &["apply", &plan, "--format", "json"]),
        Entry::new("apply --format jsonl", &["apply", &plan, "--format", "jsonl"]),
        Entry::new("strip", &["strip", &plan]),
    ]
}

// env-migrate sets no deadline for the whole command (a large migration may rightly take long), but the first
// call that finds the server unavailable ends the work: no other secret is tried and nothing is read back.
vault_testkit::connection_class_tests!();
