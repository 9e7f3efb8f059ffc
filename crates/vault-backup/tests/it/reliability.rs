//! Issue 14's classes for vault-backup, for each entry point that connects to Vault and each output format: settings
//! that cannot be sent (exit 2 naming the variable, never its value), a zero client timeout, a dead token at
//! start (exit 3, authentication failed), and a server that never answers (the client timeout holds, retries
//! included). The classes live in `vault_testkit::toolcheck`, shared with every tool.

use std::sync::LazyLock;
use std::time::Duration;

use vault_testkit::toolcheck::{self, Entry, Tool};

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

#[test]
fn settings_that_cannot_be_sent_are_refused_by_every_entry_point() {
    toolcheck::check_bad_settings(&tool(), &entries());
}

#[test]
fn a_zero_client_timeout_is_refused_by_every_entry_point() {
    toolcheck::check_zero_client_timeout(&tool(), &entries());
}

#[test]
fn a_server_that_never_answers_is_given_up_on_within_the_client_timeout() {
    toolcheck::check_time_limit(&tool(), &entries(), &[("VAULT_CLIENT_TIMEOUT", "2s")], Duration::from_millis(3500));
}

#[tokio::test]
async fn a_dead_token_at_start_is_an_auth_failure() {
    let server = vault_testkit::DevServer::start().await.expect("OpenBao dev server");
    let token = server.revoked_token().await.expect("a revoked token");
    toolcheck::check_dead_token(&tool(), &entries(), server.addr(), &token);
}
