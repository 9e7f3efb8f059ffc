//! Reading one's own writes through a standby. A raft standby answers reads from its own copy of the data, which
//! trails the active node by the entries it has not applied yet: right after a write, a read through a standby
//! can still see "no secret", the version before, or a list without the new key.
//!
//! OpenBao (and Vault) tag every answer with `X-Vault-Index`: the raft index the node had reached, as base64 of
//! `{"cluster": ID, "value": "N"}`. The client keeps the highest index its writes were given and sends it with
//! every later request; a standby that has not applied that index yet answers 429, which the client retries (see
//! `retry.rs`) until it has, and the active node, a single server and a server of another cluster ignore it.
//! This is "read your writes" as Vault's own clients do it: one rule for every endpoint, not a guess per path.

use std::sync::Mutex;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue};
use rustify::endpoint::{Endpoint, MiddleWare};
use rustify::errors::ClientError as RestClientError;
use vaultrs::api::EndpointMiddleware;
use vaultrs::error::ClientError;

/// The header a node states its raft index in, and a client asks for it with.
pub(crate) const INDEX_HEADER: &str = "x-vault-index";

/// The highest raft index this client has been told of (shared by the client's clones).
#[derive(Debug, Default)]
pub(crate) struct ReadIndex(Mutex<Option<Seen>>);

#[derive(Debug)]
struct Seen {
    /// The index the header states, when it could be read; a header that could not is kept as given.
    index: Option<u64>,
    header: HeaderValue,
}

impl ReadIndex {
    /// The header to send: the highest index seen so far.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        self.0.lock().expect("index lock poisoned").as_ref().map(|seen| seen.header.clone())
    }

    /// Records the index an answer to a write states, if it is higher than the one kept. Answers to reads are not
    /// recorded: a client that only reads never waits for a standby (behind a load balancer each read may meet
    /// another standby, a little behind the last), and one that wrote reads what it wrote.
    pub(crate) fn note(&self, headers: &HeaderMap) {
        let Some(header) = headers.get(INDEX_HEADER) else {
            return;
        };
        let index = parse(header);
        let mut seen = self.0.lock().expect("index lock poisoned");
        let newer = match (seen.as_ref().and_then(|s| s.index), index) {
            (Some(kept), Some(new)) => new > kept,
            _ => true,
        };
        if newer {
            *seen = Some(Seen { index, header: header.clone() });
        }
    }

    /// Forgets the index: after a snapshot is restored the server's index starts over, and asking for the old one
    /// would make every standby refuse.
    pub(crate) fn forget(&self) {
        *self.0.lock().expect("index lock poisoned") = None;
    }
}

/// The `value` of an `X-Vault-Index` header (base64 of `{"cluster": …, "value": "N"}`), when it has one.
fn parse(header: &HeaderValue) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(header.as_bytes()).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match json.get("value")? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// vaultrs's middleware (API version, token, namespace) plus the index: sent with the request, noted from the
/// answer.
pub(crate) struct Consistent<'a> {
    pub(crate) base: &'a EndpointMiddleware,
    pub(crate) index: &'a ReadIndex,
}

impl MiddleWare for Consistent<'_> {
    fn request<E: Endpoint>(&self, endpoint: &E, req: &mut http::Request<Vec<u8>>) -> Result<(), RestClientError> {
        self.base.request(endpoint, req)?;
        if let Some(value) = self.index.header() {
            req.headers_mut().insert(INDEX_HEADER, value);
        }
        Ok(())
    }

    fn response<E: Endpoint>(&self, endpoint: &E, resp: &mut http::Response<Vec<u8>>) -> Result<(), RestClientError> {
        use rustify::enums::RequestMethod;
        if !matches!(endpoint.method(), RequestMethod::GET | RequestMethod::LIST | RequestMethod::HEAD) {
            self.index.note(resp.headers());
        }
        self.base.response(endpoint, resp)
    }
}

/// Runs a vaultrs endpoint that answers with data, as `vaultrs::api::exec_with_result` does, through [`Consistent`].
pub(crate) async fn exec_with_result<E: Endpoint>(
    vault: &vaultrs::client::VaultClient,
    index: &ReadIndex,
    endpoint: E,
) -> Result<E::Response, ClientError> {
    use vaultrs::client::Client as _;
    let middle = Consistent { base: vault.middle(), index };
    let result = endpoint
        .with_middleware(&middle)
        .exec(vault.http())
        .await
        .map_err(api_error)?
        .wrap::<vaultrs::api::EndpointResult<_>>()
        .map_err(ClientError::from)?;
    result.data.ok_or(ClientError::ResponseDataEmptyError)
}

/// Runs a vaultrs endpoint whose answer has no data, as `vaultrs::api::exec_with_empty` does, through
/// [`Consistent`].
pub(crate) async fn exec_with_empty<E: Endpoint>(
    vault: &vaultrs::client::VaultClient,
    index: &ReadIndex,
    endpoint: E,
) -> Result<(), ClientError> {
    use vaultrs::client::Client as _;
    let middle = Consistent { base: vault.middle(), index };
    endpoint.with_middleware(&middle).exec(vault.http()).await.map_err(api_error).map(drop)
}

/// The server's `{"errors": [...]}` as vaultrs reports it, so that the usual mapping to [`crate::Error`] applies.
fn api_error(error: RestClientError) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    if let RestClientError::ServerResponseError { code, content: Some(content) } = &error
        && let Ok(Errors { errors }) = serde_json::from_str(content)
    {
        return ClientError::APIError { code: *code, errors };
    }
    ClientError::from(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> HeaderValue {
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).unwrap()
    }

    fn answer(value: HeaderValue) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(INDEX_HEADER, value);
        map
    }

    #[test]
    fn the_highest_index_is_kept_whatever_order_answers_come_in() {
        let index = ReadIndex::default();
        assert!(index.header().is_none());
        let (low, high) = (header(r#"{"cluster":"c","value":"84"}"#), header(r#"{"cluster":"c","value":"120"}"#));
        index.note(&answer(high.clone()));
        index.note(&answer(low));
        assert_eq!(index.header(), Some(high.clone()));
        index.note(&HeaderMap::new());
        assert_eq!(index.header(), Some(high));
        index.forget();
        assert!(index.header().is_none());
    }

    #[test]
    fn an_index_that_cannot_be_read_is_passed_on_as_given() {
        let index = ReadIndex::default();
        index.note(&answer(header(r#"{"cluster":"c","value":"7"}"#)));
        let opaque = HeaderValue::from_static("opaque-state");
        index.note(&answer(opaque.clone()));
        assert_eq!(index.header(), Some(opaque));
        assert_eq!(parse(&header(r#"{"value":9}"#)), Some(9));
    }
}
