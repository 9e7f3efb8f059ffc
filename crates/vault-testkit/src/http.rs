//! The HTTP clients the kit uses to see whether its servers are ready and to initialise them.

use std::time::Duration;

use reqwest::{Client, ClientBuilder, StatusCode};

use crate::error::{Error, Result, chain};

fn builder() -> ClientBuilder {
    // No proxy: a developer's HTTPS_PROXY must not swallow loopback requests. Per-request timeouts keep one hung
    // probe from outliving the readiness deadline by much.
    Client::builder().no_proxy().connect_timeout(Duration::from_secs(2)).timeout(Duration::from_secs(10))
}

/// A client for plain-HTTP servers.
pub(crate) fn plain_client(server: &'static str) -> Result<Client> {
    builder().build().map_err(|e| Error::Api {
        server,
        action: "building an HTTP client".to_owned(),
        detail: chain(&e),
    })
}

/// A client that trusts only the given CA: what a user with `VAULT_CACERT` does.
pub(crate) fn tls_client(server: &'static str, ca_pem: &[u8]) -> Result<Client> {
    let failed =
        |e: reqwest::Error| Error::Api { server, action: "building an HTTPS client".to_owned(), detail: chain(&e) };
    let ca = reqwest::Certificate::from_pem(ca_pem).map_err(failed)?;
    builder().tls_certs_only([ca]).build().map_err(failed)
}

/// `GET url`, ready when `ready(status)`; otherwise the answer or the transport error, for the readiness loop.
pub(crate) async fn probe(client: &Client, url: &str, ready: fn(StatusCode) -> bool) -> Result<StatusCode, String> {
    match client.get(url).send().await {
        Ok(response) if ready(response.status()) => Ok(response.status()),
        Ok(response) => Err(format!("GET {url} answered {}", response.status())),
        Err(e) => Err(format!("GET {url}: {}", chain(&e))),
    }
}

/// One API call to the server at `addr`; any status but 2xx is an error carrying the body, which says what the
/// server objected to.
pub(crate) async fn api(
    client: &Client,
    server: &'static str,
    addr: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    let action = format!("{method} {addr}{path}");
    let failed = |detail: String| Error::Api { server, action: action.clone(), detail };
    let mut request = client.request(method.clone(), format!("{addr}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    let response = request.send().await.map_err(|e| failed(chain(&e)))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failed(chain(&e)))?;
    if !status.is_success() {
        return Err(failed(format!("status {status}: {}", text.trim())));
    }
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| failed(format!("the answer is not JSON ({e}): {text}")))
}
