//! Integration tests of the test kit: each kind of server starts, answers the way a user would check it, runs
//! beside a second one of its kind, and leaves nothing behind.

mod cluster;
mod dev;
mod install;
mod postgres;
mod s3;
mod tls;

/// A plain HTTP client, as a user's tool would have: no proxy, no extra trust.
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("an HTTP client")
}

/// Whether a process still runs. A process killed after its parent died stays a zombie until init reaps it; it has
/// stopped all the same.
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// Waits up to 5 s for a process to go away.
async fn wait_until_gone(pid: u32) -> bool {
    for _ in 0..250 {
        if !is_alive(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// The message of an error and its causes, where reqwest keeps the useful part.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
