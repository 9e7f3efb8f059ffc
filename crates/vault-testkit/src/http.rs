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
