//! `serve --stdio`: one authenticated, caching client for a long-lived process (the Dagster resource), spoken to
//! with one JSON object per line on stdin and answered with one per line on stdout.
//!
//! ```text
//! → {"id":1,"op":"get","path":"secret/dagster/api","key":"token"}
//! ← {"id":1,"ok":true,"value":"…","version":3}
//! → {"id":2,"op":"get","path":"secret/dagster/nope"}
//! ← {"id":2,"ok":false,"error":{"kind":"not_found","message":"no secret at secret/dagster/nope"}}
//! ```
//!
//! Operations: `get` (`path`, optional `key`, `version`), `list` (`path`, optional `recursive`), `db_creds`
//! (`role`, optional `mount`, `kind`), `rotation_status` (`path`: the secret's current version and the `rotation_*`
//! keys secret-rotate keeps in its custom metadata), `health`, `stats`. Requests are answered in order. Error messages name
//! paths and keys, never values. The token is renewed in the background and revoked when stdin closes.
//!
//! A line that is not UTF-8, not JSON or not a request is answered with a `protocol` error and the server goes
//! on. A line longer than [`MAX_LINE`] is answered the same way without being held in memory: it is read in
//! chunks and dropped up to its newline, so a runaway writer cannot make the server grow.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use vault_core::Client;
use zeroize::Zeroizing;

use crate::db::{DbKind, db_creds};
use crate::error::Error;

/// The longest request line accepted, newline excluded: 1 MiB. Real requests are under a kilobyte.
pub const MAX_LINE: usize = 1 << 20;

/// The default lifetime of a cached read.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Revoke the token when stdin closes.
    pub revoke_token: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    id: Value,
    op: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    mount: Option<String>,
    #[serde(default)]
    kind: Option<DbKind>,
}

/// Answers requests from `input` on `output` until `input` ends. `client` should be built with a cache
/// ([`vault_core::Client::builder`]) so repeated reads are served locally.
pub async fn serve<R, W>(client: &Client, input: R, mut output: W, options: &ServeOptions) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let renewal = client.spawn_renewal();
    let mut input = BufReader::new(input);
    let mut buffer = Zeroizing::new(Vec::new());
    loop {
        buffer.clear();
        let line = match read_line(&mut input, &mut buffer, MAX_LINE).await? {
            Line::End => break,
            Line::TooLong => Err(format!("the line is longer than {MAX_LINE} bytes; it was skipped")),
            Line::Complete => std::str::from_utf8(&buffer).map_err(|e| {
                format!("the line is not UTF-8 (invalid byte at offset {}); it was skipped", e.valid_up_to())
            }),
        };
        let line = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => line,
            Err(message) => {
                let answer = json!({ "id": null, "ok": false, "error": { "kind": "protocol", "message": message } });
                write_answer(&mut output, answer).await?;
                continue;
            }
        };
        let answer = match serde_json::from_str::<Request>(line) {
            Ok(request) => {
                let id = request.id.clone();
                match handle(client, request).await {
                    Ok(mut fields) => {
                        fields.insert("id".into(), id);
                        fields.insert("ok".into(), Value::Bool(true));
                        Value::Object(fields)
                    }
                    Err((kind, message)) => {
                        json!({ "id": id, "ok": false, "error": { "kind": kind, "message": message } })
                    }
                }
            }
            Err(e) => {
                // Say where the line is wrong, not what it held.
                let id = serde_json::from_str::<Value>(line).ok().and_then(|v| v.get("id").cloned());
                let message = format!("not a valid request (column {}): {}", e.column(), e.classify_kind());
                json!({ "id": id, "ok": false, "error": { "kind": "protocol", "message": message } })
            }
        };
        write_answer(&mut output, answer).await?;
    }
    renewal.abort();
    client.revoke_after_run(options.revoke_token, "when stdin closed").await;
    Ok(())
}

/// [`serve`] on the process's stdin and stdout.
///
/// When they are pipes (as the Dagster resource starts vault-env), they are read and written through the async
/// runtime's reactor, so each request costs one read and one write on the serving thread. Tokio's portable
/// `stdin()`/`stdout()` hand every read and write to a blocking thread instead, which adds two thread hand-offs
/// to each round trip (tens of microseconds, more than the rest of a cached read). A terminal or a file falls back
/// to those.
pub async fn serve_stdio(client: &Client, options: &ServeOptions) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;

    // `from_file` refuses anything but a pipe open in the right direction, and makes it non-blocking.
    let copy = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().ok().map(std::fs::File::from);
    let input = copy(std::io::stdin().as_fd()).and_then(|f| pipe::Receiver::from_file(f).ok());
    let output = copy(std::io::stdout().as_fd()).and_then(|f| pipe::Sender::from_file(f).ok());
    match (input, output) {
        (Some(input), Some(output)) => serve(client, input, output, options).await,
        (Some(input), None) => serve(client, input, tokio::io::stdout(), options).await,
        (None, Some(output)) => serve(client, tokio::io::stdin(), output, options).await,
        (None, None) => serve(client, tokio::io::stdin(), tokio::io::stdout(), options).await,
    }
}

/// Writes one answer line, zeroing the copies of any values it held.
async fn write_answer<W: AsyncWrite + Unpin>(output: &mut W, mut answer: Value) -> std::io::Result<()> {
    let mut bytes = Zeroizing::new(serde_json::to_vec(&answer).map_err(std::io::Error::other)?);
    vault_core::secret::zeroize_json(&mut answer);
    bytes.push(b'\n');
    output.write_all(&bytes).await?;
    output.flush().await
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line (without its newline) is in the buffer; the last line may lack a newline.
    Complete,
    /// The line was longer than the limit and was dropped up to and including its newline.
    TooLong,
    /// The input ended.
    End,
}

/// Reads one line into `buffer` (which the caller clears), holding at most `max` bytes: a longer line is
/// consumed chunk by chunk up to its newline and dropped. Memory stays at `max` plus the reader's buffer
/// whatever the input.
async fn read_line<R: AsyncBufRead + Unpin>(input: &mut R, buffer: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let chunk = input.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        read_any = true;
        let (part, found_newline) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buffer.len() + part.len() > max {
                too_long = true;
                // Zero what was held of the line before letting it go: it may carry a value.
                zeroize::Zeroize::zeroize(buffer);
                buffer.clear();
            } else {
                buffer.extend_from_slice(part);
            }
        }
        let used = found_newline.unwrap_or(chunk.len());
        input.consume(used);
        if found_newline.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Complete });
        }
    }
}

trait Classify {
    fn classify_kind(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "an object with an `op` and known fields was expected",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

type Fields = serde_json::Map<String, Value>;

async fn handle(client: &Client, request: Request) -> Result<Fields, (&'static str, String)> {
    let need = |field: Option<String>, name: &str| {
        field.filter(|p| !p.trim().is_empty()).ok_or(("invalid_request", format!("{} needs a `{name}`", request.op)))
    };
    let mut fields = Fields::new();
    match request.op.as_str() {
        "get" => {
            let path = need(request.path.clone(), "path")?;
            let kv = client.kv_path(&path).await.map_err(|e| failure(&e.into()))?;
            let secret = client.kv_read(&kv, request.version).await.map_err(|e| failure(&e.into()))?;
            let value = match &request.key {
                Some(key) => match secret.data.get(key) {
                    Some(v) => Value::String(v.expose().to_owned()),
                    None => {
                        return Err(failure(&Error::NoKey {
                            path,
                            key: key.clone(),
                            keys: secret.data.keys().cloned().collect(),
                        }));
                    }
                },
                None => {
                    Value::Object(vault_core::secret::revealed_json(secret.data.iter().map(|(k, v)| (k.as_str(), v))))
                }
            };
            fields.insert("value".into(), value);
            fields.insert("version".into(), json!(secret.metadata.version));
        }
        "list" => {
            let path = need(request.path.clone(), "path")?;
            let text = format!("{}/", path.trim_end_matches('/'));
            let kv = client.kv_path(&text).await.map_err(|e| failure(&e.into()))?;
            let keys = if request.recursive { client.kv_list_recursive(&kv).await } else { client.kv_list(&kv).await };
            fields.insert("value".into(), json!(keys.map_err(|e| failure(&e.into()))?));
        }
        "db_creds" => {
            let role = need(request.role.clone().or(request.path.clone()), "role")?;
            let mount = request.mount.as_deref().unwrap_or("database");
            let creds = db_creds(client, &role, mount, request.kind).await.map_err(|e| failure(&e))?;
            fields.insert(
                "value".into(),
                serde_json::to_value(crate::db::exposed(&creds)).expect("JSON values serialize"),
            );
        }
        "health" => {
            let health = client.health().await.map_err(|e| failure(&e.into()))?;
            let body = &health.body;
            fields.insert(
                "value".into(),
                json!({
                    "healthy": health.state.is_serving(),
                    "state": health.state,
                    "status": health.status,
                    "initialized": body.initialized,
                    "sealed": body.sealed,
                    "standby": body.standby,
                    "version": body.version,
                    "address": client.address(),
                }),
            );
        }
        "rotation_status" => {
            // The rotation state secret-rotate keeps in the secret's custom metadata (`rotation_*` keys), as KV v2
            // returns it with every read: a pipeline that may read the secret may read its state, with no access
            // to the metadata endpoint. Parsing stays with the caller, so the keys pass through unchanged.
            let path = need(request.path.clone(), "path")?;
            let kv = client.kv_path(&path).await.map_err(|e| failure(&e.into()))?;
            let secret = client.kv_read(&kv, None).await.map_err(|e| failure(&e.into()))?;
            let rotation: serde_json::Map<String, Value> = secret
                .metadata
                .custom_metadata
                .iter()
                .filter(|(k, _)| k.starts_with("rotation_"))
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            fields.insert(
                "value".into(),
                json!({
                    "path": kv.to_string(),
                    "version": secret.metadata.version,
                    "created_time": secret.metadata.created_time,
                    "rotation": rotation,
                }),
            );
        }
        "stats" => {
            let stats = client.cache().map(vault_core::cache::Cache::stats);
            fields.insert("value".into(), json!({ "cache": stats }));
        }
        other => {
            return Err((
                "invalid_request",
                format!("unknown op {other:?}: expected get, list, db_creds, rotation_status, health or stats"),
            ));
        }
    }
    Ok(fields)
}

/// The protocol's error kind and message for an error.
fn failure(error: &Error) -> (&'static str, String) {
    (error_kind(error), error.to_string())
}

/// The stable `kind` strings of the protocol.
pub fn error_kind(error: &Error) -> &'static str {
    use vault_core::Error as V;
    match error {
        Error::Vault(e) => match e {
            V::Config(_) | V::InvalidRequest { .. } => "invalid_request",
            V::Unreachable { .. } | V::NoActiveNode { .. } | V::Tls { .. } => "unavailable",
            V::Sealed { .. } => "sealed",
            V::NotInitialized { .. } => "not_initialized",
            V::PermissionDenied { .. } => "permission_denied",
            V::NotFound { .. } => "not_found",
            V::CasConflict { .. } => "conflict",
            V::Auth { .. } => "auth",
            _ => "server",
        },
        Error::NoKey { .. } | Error::NoRole { .. } | Error::MissingKeys { .. } | Error::Missing(_) => "not_found",
        Error::Spec(_) | Error::Manifest { .. } => "invalid_request",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize, reader_capacity: usize) -> Vec<(Line, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(reader_capacity, input);
        let mut out = Vec::new();
        loop {
            let mut buffer = Vec::new();
            let line = read_line(&mut reader, &mut buffer, max).await.unwrap();
            if line == Line::End {
                return out;
            }
            assert!(buffer.len() <= max, "held {} bytes with a limit of {max}", buffer.len());
            out.push((line, buffer));
        }
    }

    #[tokio::test]
    async fn long_lines_are_dropped_and_the_next_is_read() {
        for capacity in [1, 3, 8, 64] {
            let got = lines(b"ab\n0123456789\ncd\n\nlast", 5, capacity).await;
            let want: Vec<(Line, Vec<u8>)> = vec![
                (Line::Complete, b"ab".to_vec()),
                (Line::TooLong, Vec::new()),
                (Line::Complete, b"cd".to_vec()),
                (Line::Complete, Vec::new()),
                (Line::Complete, b"last".to_vec()),
            ];
            assert_eq!(got, want, "reader capacity {capacity}");
            // Exactly the limit is accepted; one more is not; a long last line without a newline too.
            let got = lines(b"12345\n123456\n1234567", 5, capacity).await;
            let kinds: Vec<&Line> = got.iter().map(|(l, _)| l).collect();
            assert_eq!(kinds, [&Line::Complete, &Line::TooLong, &Line::TooLong], "reader capacity {capacity}");
        }
    }
}
