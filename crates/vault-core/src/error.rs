//! One error type for everything that can go wrong talking to Vault, each variant saying what to do next.
//!
//! Messages never contain a token or a secret value: they name addresses, paths, files and the server's own
//! error strings (which describe requests, not their data).

use crate::exit::Exit;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (bad address, unreadable token file, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input no server could accept (a path too long or with control characters), refused before sending.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No connection could be made, after retries.
    #[error("cannot reach Vault at {address}: {detail} (is the server running and VAULT_ADDR right?)")]
    Unreachable { address: String, detail: String },
    /// The TLS handshake failed: usually a wrong CA, a name mismatch or plain HTTP on a TLS port.
    #[error(
        "TLS handshake with {address} failed: {detail} (trusting {trust}; set VAULT_CACERT to the CA that signed the server's certificate)"
    )]
    Tls { address: String, trust: String, detail: String },
    /// The node answered, but no node of its cluster is active: a leader election is under way (or the cluster
    /// has lost quorum). Reported once the client has waited out an election and still found no leader.
    #[error(
        "no active Vault node behind {address}: {detail} (a leader election is under way or the cluster has lost quorum; check `vault-health` on each node)"
    )]
    NoActiveNode { address: String, detail: String },
    /// The server is sealed.
    #[error(
        "Vault at {address} is sealed: unseal it with a threshold of key shares (scripts/vault/unseal or `bao operator unseal`)"
    )]
    Sealed { address: String },
    /// The server has not been initialised.
    #[error("Vault at {address} is not initialised: run `cargo xtask deploy` or `bao operator init`")]
    NotInitialized { address: String },
    /// The token is valid but its policies do not allow this.
    #[error("permission denied: {operation} on {path} is not allowed by the token's policies")]
    PermissionDenied { path: String, operation: String },
    /// Nothing at that path (or only a deleted or destroyed version).
    #[error("no secret at {path}{}", if *.deleted { " (its latest version is deleted; undelete it or write a new one)" } else { "" })]
    NotFound { path: String, deleted: bool },
    /// A check-and-set write lost a race or the secret changed since it was read.
    #[error("check-and-set conflict on {path}: {detail}")]
    CasConflict { path: String, detail: String },
    /// The server rejected the request as malformed.
    #[error("Vault rejected the request to {path}: {}", join(.errors))]
    InvalidRequest { path: String, errors: Vec<String> },
    /// Logging in failed, the token is invalid or expired and cannot be renewed, or there are no credentials.
    #[error("authentication failed ({method}): {detail}")]
    Auth { method: String, detail: String },
    /// Any other status from the server.
    #[error("Vault answered {status} for {path}: {}", join(.errors))]
    Server { status: u16, path: String, errors: Vec<String> },
    /// The server answered something this client cannot understand.
    #[error("unexpected answer from Vault for {path}: {detail}")]
    Response { path: String, detail: String },
}

fn join(errors: &[String]) -> String {
    if errors.is_empty() { "no details given".to_owned() } else { errors.join("; ") }
}

impl Error {
    /// The exit code this error deserves in the shared table.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) | Error::InvalidInput(_) | Error::InvalidRequest { .. } => Exit::Usage,
            Error::Unreachable { .. }
            | Error::NoActiveNode { .. }
            | Error::Tls { .. }
            | Error::Sealed { .. }
            | Error::NotInitialized { .. }
            | Error::Auth { .. } => Exit::Unavailable,
            Error::PermissionDenied { .. }
            | Error::NotFound { .. }
            | Error::CasConflict { .. }
            | Error::Server { .. }
            | Error::Response { .. } => Exit::Failed,
        }
    }

    /// Whether trying again may help: connection failures, 5xx other than sealed/uninitialised, and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::NoActiveNode { .. } => true,
            Error::Server { status, .. } => *status == 429 || (*status >= 500 && *status != 501),
            _ => false,
        }
    }

    /// Whether the request certainly had no effect: no node was active to take it, the connection was refused
    /// before anything was sent, or the server turned it away (429, 503). Only such failures are retried for
    /// operations that must not run twice (minting a token or a secret_id, logging in).
    pub fn is_unapplied(&self) -> bool {
        match self {
            Error::NoActiveNode { .. } => true,
            Error::Unreachable { detail, .. } => detail.to_ascii_lowercase().contains("connection refused"),
            Error::Server { status, .. } => *status == 429 || *status == 503,
            _ => false,
        }
    }

    /// Whether this is a passing state of the cluster that is waited out for a while rather than retried a fixed
    /// number of times: no active node (an election), a KV mount still being upgraded to version 2 (a standby
    /// waits for the active node's upgrade to reach it), or a standby that has not yet applied the raft index
    /// the client asked for (a bare 429; a rate-limit quota's 429 says so in its errors).
    pub(crate) fn is_transition(&self) -> bool {
        match self {
            Error::NoActiveNode { .. } => true,
            Error::Server { status: 429, errors, .. } => errors.is_empty(),
            Error::Server { status: 503, errors, .. } => {
                errors.iter().any(|e| e.to_ascii_lowercase().contains("non-versioned to versioned data"))
            }
            _ => false,
        }
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Builds the error for an HTTP status and the server's `errors` list.
    pub(crate) fn from_status(status: u16, errors: Vec<String>, address: &str, path: &str, operation: &str) -> Self {
        let says = |needle: &str| errors.iter().any(|e| e.to_ascii_lowercase().contains(needle));
        match status {
            // A mount being upgraded from KV v1 to v2 refuses requests for a moment ("Upgrading from…" on the
            // active node, "Waiting for the primary to upgrade from…" on a standby): a server condition, retried.
            400 if says("non-versioned to versioned data") => {
                Error::Server { status: 503, path: path.to_owned(), errors }
            }
            400 if says("check-and-set") || says("cas") => {
                Error::CasConflict { path: path.to_owned(), detail: join(&errors) }
            }
            400 | 405 | 413 | 415 | 422 => Error::InvalidRequest { path: path.to_owned(), errors },
            403 => Error::PermissionDenied { path: path.to_owned(), operation: operation.to_owned() },
            404 => Error::NotFound { path: path.to_owned(), deleted: false },
            501 => Error::NotInitialized { address: address.to_owned() },
            503 if says("sealed") => Error::Sealed { address: address.to_owned() },
            // A standby that cannot find the active node (during an election) says so with a 500 or 503.
            500 | 502 | 503
                if says("local node not active")
                    || says("active cluster node not found")
                    || says("no active vault instance") =>
            {
                Error::NoActiveNode {
                    address: address.to_owned(),
                    detail: format!("the node said \"{}\"", join(&errors)),
                }
            }
            _ => Error::Server { status, path: path.to_owned(), errors },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_actionable_errors() {
        let e = |s, errs: &[&str]| {
            Error::from_status(s, errs.iter().map(|s| s.to_string()).collect(), "https://v:8200", "secret/app", "read")
        };
        assert!(matches!(
            e(400, &["check-and-set parameter did not match the current version"]),
            Error::CasConflict { .. }
        ));
        assert!(matches!(e(400, &["missing data"]), Error::InvalidRequest { .. }));
        assert!(
            e(400, &["Upgrading from non-versioned to versioned data. This backend will be unavailable"])
                .is_retryable()
        );
        assert!(
            e(400, &["Waiting for the primary to upgrade from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service when the primary is finished."])
                .is_retryable()
        );
        assert!(matches!(e(403, &["permission denied"]), Error::PermissionDenied { .. }));
        assert!(matches!(e(404, &[]), Error::NotFound { .. }));
        assert!(matches!(e(501, &[]), Error::NotInitialized { .. }));
        assert!(matches!(e(503, &["Vault is sealed"]), Error::Sealed { .. }));
        assert!(e(503, &["local node not active"]).is_retryable());
        let election = e(500, &["local node not active but active cluster node not found"]);
        assert!(matches!(election, Error::NoActiveNode { .. }), "{election:?}");
        assert!(election.is_retryable() && election.is_unapplied());
        assert_eq!(election.exit(), Exit::Unavailable);
        assert!(!e(500, &["internal error"]).is_unapplied(), "a 500 may come after the write was made");
        assert!(e(429, &[]).is_retryable());
        assert!(!e(503, &["Vault is sealed"]).is_retryable());
        assert!(!e(403, &[]).is_retryable());
        assert_eq!(
            e(403, &[]).to_string(),
            "permission denied: read on secret/app is not allowed by the token's policies"
        );
        assert_eq!(e(403, &[]).exit(), Exit::Failed);
        assert_eq!(e(503, &["Vault is sealed"]).exit(), Exit::Unavailable);
    }
}
