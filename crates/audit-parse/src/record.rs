//! The typed model of one audit log line, as Vault and OpenBao's file device write it.
//!
//! Strings borrow from the line when they have no escapes (`Cow<'a, str>` with `#[serde(borrow)]`), so parsing a
//! line mostly allocates only for the maps. Every field is optional: the first line after a device is enabled
//! (`sys/audit/test`) has no token, login requests have no policies, and future server versions add fields.
//! Fields this model does not name are kept in `extra` so nothing in a record is lost when it is re-emitted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An optional string that borrows from the line when it has no escapes. `Option<Cow<str>>` on its own always
/// allocates (serde borrows only a bare `Cow`), so it goes through a newtype that borrows.
fn opt_cow<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowing<'a>(#[serde(borrow)] Cow<'a, str>);
    Option::<Borrowing<'a>>::deserialize(d).map(|o| o.map(|b| b.0))
}

/// Fields a struct does not name, kept as JSON.
pub type Extra = BTreeMap<String, Value>;

/// One line of an audit log: a request as the server received it, or the same request with its response.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AuditRecord<'a> {
    /// When the server wrote the line (RFC 3339, UTC, nanoseconds).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub time: Option<Cow<'a, str>>,
    /// `request` or `response`.
    #[serde(borrow, default, rename = "type", deserialize_with = "opt_cow")]
    pub kind: Option<Cow<'a, str>>,
    /// Who made the request (the token's view at the time).
    #[serde(borrow, default)]
    pub auth: Option<Auth<'a>>,
    /// What was asked.
    #[serde(borrow, default)]
    pub request: Option<Request<'a>>,
    /// What was answered (response lines only).
    #[serde(borrow, default)]
    pub response: Option<Response<'a>>,
    /// The error the server returned, e.g. `1 error occurred:\n\t* permission denied\n\n`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub error: Option<Cow<'a, str>>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The name the issue and the docs use for one audit log entry; the same type as [`AuditRecord`].
pub type AuditLog<'a> = AuditRecord<'a>;

/// The `auth` object: the token behind a request, or the token a login response hands out.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Auth<'a> {
    /// HMAC of the token.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub client_token: Option<Cow<'a, str>>,
    /// HMAC of the token's accessor.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub accessor: Option<Cow<'a, str>>,
    /// The token's display name (`root`, `token`, `approle`, `token-ci`, …).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub display_name: Option<Cow<'a, str>>,
    /// All policies that apply (token and identity).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    #[serde(default)]
    pub token_policies: Vec<String>,
    /// Policies that come from the token's entity and groups.
    #[serde(default)]
    pub identity_policies: Vec<String>,
    /// Token metadata; AppRole logins put `role_name` here.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The identity entity behind the token (empty for root and orphan tokens).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub entity_id: Option<Cow<'a, str>>,
    /// `service`, `batch` or `default` (the device test line).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub token_type: Option<Cow<'a, str>>,
    /// Whether the ACLs allowed the request, and which policies granted it.
    #[serde(default)]
    pub policy_results: Option<PolicyResults>,
    /// Fields not named above (`token_ttl`, `token_issue_time`, `entity_created`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `auth.policy_results`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PolicyResults {
    /// Whether the policies allowed the request.
    #[serde(default)]
    pub allowed: Option<bool>,
    /// The policies that granted it.
    #[serde(default)]
    pub granting_policies: Vec<GrantingPolicy>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `policy_results.granting_policies`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct GrantingPolicy {
    /// Policy name.
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace id of the policy.
    #[serde(default)]
    pub namespace_id: Option<String>,
    /// `acl`, `rgp`, `egp`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `request` object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Request<'a> {
    /// The request id; the request line and its response line share it.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub id: Option<Cow<'a, str>>,
    /// `create`, `read`, `update`, `delete`, `list`, `patch`, …
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub operation: Option<Cow<'a, str>>,
    /// The API path without `/v1/`, e.g. `secret/data/dagster/db`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub path: Option<Cow<'a, str>>,
    /// The mount the path falls under, with a trailing slash (`secret/`).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_point: Option<Cow<'a, str>>,
    /// The mount's type (`kv`, `approle`, `system`, `token`, …).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_type: Option<Cow<'a, str>>,
    /// The mount's accessor.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_accessor: Option<Cow<'a, str>>,
    /// The client's address.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub remote_address: Option<Cow<'a, str>>,
    /// The namespace (`{"id":"root"}` on OpenBao and Vault CE).
    #[serde(default)]
    pub namespace: Option<Value>,
    /// The request body; every string leaf is an HMAC unless the mount says otherwise.
    #[serde(default)]
    pub data: Option<Value>,
    /// HMAC of the token the request carried.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub client_token: Option<Cow<'a, str>>,
    /// HMAC of that token's accessor.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub client_token_accessor: Option<Cow<'a, str>>,
    /// Fields not named above (`client_id`, `remote_port`, `mount_class`, `wrap_ttl`, headers, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `response` object.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Response<'a> {
    /// The token a login handed out (its `client_token` is an HMAC).
    #[serde(borrow, default)]
    pub auth: Option<Auth<'a>>,
    /// The mount that answered.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_point: Option<Cow<'a, str>>,
    /// Its type.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_type: Option<Cow<'a, str>>,
    /// Its accessor.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_accessor: Option<Cow<'a, str>>,
    /// The response body; string leaves are HMACs.
    #[serde(default)]
    pub data: Option<Value>,
    /// Present when the response was wrapped in a single-use token.
    #[serde(default)]
    pub wrap_info: Option<WrapInfo>,
    /// Fields not named above (`redirect`, `warnings`, `headers`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `response.wrap_info` of a wrapped response.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct WrapInfo {
    /// HMAC of the wrapping token.
    #[serde(default)]
    pub token: Option<String>,
    /// HMAC of its accessor.
    #[serde(default)]
    pub accessor: Option<String>,
    /// Seconds the wrapping token lives.
    #[serde(default)]
    pub ttl: Option<u64>,
    /// When it was created.
    #[serde(default)]
    pub creation_time: Option<String>,
    /// The path whose answer was wrapped.
    #[serde(default)]
    pub creation_path: Option<String>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Whether a line is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RecordType {
    /// What the server received.
    Request,
    /// What it answered.
    Response,
}

impl<'a> AuditRecord<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(line)
    }

    /// The line's type, when it is one of the two known ones.
    pub fn record_type(&self) -> Option<RecordType> {
        match self.kind.as_deref() {
            Some("request") => Some(RecordType::Request),
            Some("response") => Some(RecordType::Response),
            _ => None,
        }
    }

    /// `request.path`.
    pub fn path(&self) -> Option<&str> {
        self.request.as_ref()?.path.as_deref()
    }

    /// `request.operation`.
    pub fn operation(&self) -> Option<&str> {
        self.request.as_ref()?.operation.as_deref()
    }

    /// `request.id`.
    pub fn request_id(&self) -> Option<&str> {
        self.request.as_ref()?.id.as_deref()
    }

    /// The AppRole role behind the request, or the role a login logged into (from the response's auth).
    pub fn role_name(&self) -> Option<&str> {
        fn from<'r>(auth: Option<&'r Auth<'_>>) -> Option<&'r str> {
            auth?.metadata.as_ref()?.get("role_name").map(String::as_str)
        }
        from(self.auth.as_ref()).or_else(|| from(self.response.as_ref()?.auth.as_ref()))
    }

    /// Whether the server refused the request: the policies did not allow it, or it answered permission denied.
    pub fn is_denied(&self) -> bool {
        let refused = self.auth.as_ref().and_then(|a| a.policy_results.as_ref()).and_then(|p| p.allowed) == Some(false);
        refused || self.error.as_deref().is_some_and(|e| e.contains("permission denied"))
    }
}

/// A string that borrows from the line when it can (for lists of strings, where `Vec<Cow<str>>` would not).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// The few fields of a line that filters and reports use, borrowed, everything else skipped unparsed.
///
/// The hot path of a scan: no maps are built for request or response data and no unknown fields are kept, which
/// makes it several times faster than [`AuditRecord`]. The full model is for callers that need a whole record.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecordView<'a> {
    /// `time`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub time: Option<Cow<'a, str>>,
    /// `type`.
    #[serde(borrow, default, rename = "type", deserialize_with = "opt_cow")]
    pub kind: Option<Cow<'a, str>>,
    /// `auth`.
    #[serde(borrow, default)]
    pub auth: Option<AuthView<'a>>,
    /// `request`.
    #[serde(borrow, default)]
    pub request: Option<RequestView<'a>>,
    /// `response`.
    #[serde(borrow, default)]
    pub response: Option<ResponseView<'a>>,
    /// `error`.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub error: Option<Cow<'a, str>>,
}

/// The used fields of `auth` (and of a login's `response.auth`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthView<'a> {
    /// HMAC of the token.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub client_token: Option<Cow<'a, str>>,
    /// Display name.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub display_name: Option<Cow<'a, str>>,
    /// Policies.
    #[serde(borrow, default)]
    pub policies: Vec<Text<'a>>,
    /// Token policies.
    #[serde(borrow, default)]
    pub token_policies: Vec<Text<'a>>,
    /// Identity policies.
    #[serde(borrow, default)]
    pub identity_policies: Vec<Text<'a>>,
    /// `metadata.role_name`.
    #[serde(borrow, default)]
    pub metadata: Option<MetadataView<'a>>,
    /// Entity id.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub entity_id: Option<Cow<'a, str>>,
    /// `policy_results.allowed`.
    #[serde(default)]
    pub policy_results: Option<PolicyResultsView>,
}

/// `metadata.role_name`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetadataView<'a> {
    /// The AppRole role.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub role_name: Option<Cow<'a, str>>,
}

/// `policy_results.allowed`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PolicyResultsView {
    /// Allowed.
    #[serde(default)]
    pub allowed: Option<bool>,
}

/// The used fields of `request`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestView<'a> {
    /// Id.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub id: Option<Cow<'a, str>>,
    /// Operation.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub operation: Option<Cow<'a, str>>,
    /// Path.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub path: Option<Cow<'a, str>>,
    /// Mount point.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_point: Option<Cow<'a, str>>,
    /// Mount type.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_type: Option<Cow<'a, str>>,
    /// Remote address.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub remote_address: Option<Cow<'a, str>>,
}

/// The used fields of `response`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseView<'a> {
    /// A login's token.
    #[serde(borrow, default)]
    pub auth: Option<AuthView<'a>>,
    /// Mount point.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_point: Option<Cow<'a, str>>,
    /// Mount type.
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub mount_type: Option<Cow<'a, str>>,
}

impl<'a> RecordView<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENIED: &str = r#"{"time":"2026-11-28T13:02:34.789848404Z","type":"request","auth":{"client_token":"hmac-sha256:b5","accessor":"hmac-sha256:58","display_name":"token","policies":["default","narrow"],"token_policies":["default","narrow"],"policy_results":{"allowed":false},"token_type":"service","token_ttl":2764800},"request":{"id":"ffd4","operation":"read","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"path":"secret/data/dagster/db","remote_address":"127.0.0.1","remote_port":55044},"error":"1 error occurred:\n\t* permission denied\n\n"}"#;

    #[test]
    fn parses_a_denied_request_and_keeps_unknown_fields() {
        let r = AuditRecord::parse(DENIED.as_bytes()).unwrap();
        assert_eq!(r.record_type(), Some(RecordType::Request));
        assert_eq!(r.path(), Some("secret/data/dagster/db"));
        assert!(r.is_denied());
        assert!(matches!(r.request.as_ref().unwrap().path, Some(Cow::Borrowed(_))), "plain strings are borrowed");
        assert_eq!(r.auth.as_ref().unwrap().extra["token_ttl"], 2764800);
        assert_eq!(r.request.as_ref().unwrap().extra["remote_port"], 55044);
        let again: Value = serde_json::to_value(&r).unwrap();
        let original: Value = serde_json::from_str(DENIED).unwrap();
        assert_eq!(again["request"]["remote_port"], original["request"]["remote_port"]);
    }

    #[test]
    fn tolerates_the_partial_first_line() {
        let line = br#"{"time":"2026-11-28T13:02:33.002949645Z","type":"request","auth":{"token_type":"default"},"request":{"id":"f058","operation":"update","namespace":{"id":"root"},"path":"sys/audit/test"}}"#;
        let r = AuditRecord::parse(line).unwrap();
        assert_eq!(r.auth.unwrap().client_token, None);
        assert!(AuditRecord::parse(b"{}").is_ok());
    }
}
