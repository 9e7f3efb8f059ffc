//! The caller's token: how long it has left (`auth/token/lookup-self`). A monitoring job whose token expires
//! stops seeing anything; a pipeline's token that expires mid-run fails the run.

use std::time::Duration;

use serde::Serialize;
use vault_core::sys::TokenInfo;
use vault_core::{Client, Error};

use crate::Thresholds;
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};

/// Facts of the token check. Never the token or its accessor.
#[derive(Clone, Debug, Serialize)]
pub struct TokenDetails {
    /// Seconds left; 0 means it never expires (root tokens).
    pub ttl_seconds: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// When it expires (RFC 3339), when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// Its display name, e.g. `approle` or `token-monitoring`.
    pub display_name: String,
    /// Its policies.
    pub policies: Vec<String>,
}

/// Looks the caller's token up.
pub(crate) async fn probe(client: &Client) -> vault_core::Result<TokenInfo> {
    client.token_lookup_self().await
}

/// Judges the TTL. A token that no longer works is critical: every check that needs it is blind.
///
/// A refused lookup is critical too. The server answers a dead token and a live one whose policies leave out
/// `default` (which grants `lookup-self`) with the same 403, and the dead token is the likely one; a token without
/// `default` is a misconfiguration for a monitoring job anyway.
pub(crate) fn check(info: vault_core::Result<TokenInfo>, thresholds: &Thresholds) -> Check {
    let info = match info {
        Ok(info) => info,
        Err(error @ Error::Auth { .. }) => return Check::new(CheckName::Token, Status::Crit, error.to_string()),
        Err(Error::PermissionDenied { .. }) => {
            return Check::new(
                CheckName::Token,
                Status::Crit,
                "the token was refused: it is invalid, revoked or expired, or its policies leave out `default`",
            );
        }
        Err(error) => return Check::new(CheckName::Token, Status::Unknown, format!("token lookup: {error}")),
    };
    let details = TokenDetails {
        ttl_seconds: info.ttl,
        renewable: info.renewable,
        expire_time: info.expire_time.clone().filter(|t| !t.is_empty()),
        display_name: info.display_name.clone(),
        policies: info.policies.clone(),
    };
    if info.ttl == 0 {
        return Check::new(
            CheckName::Token,
            Status::Ok,
            format!("never expires (policies: {})", info.policies.join(", ")),
        )
        .details(Details::Token(details));
    }
    let ttl = Duration::from_secs(info.ttl);
    let limits = Limits::below(thresholds.token_ttl_warn.as_secs_f64(), thresholds.token_ttl_crit.as_secs_f64());
    let status = limits.status(ttl.as_secs_f64());
    let renewable = if info.renewable { "renewable" } else { "not renewable" };
    let mut summary = format!("expires in {} ({renewable})", vault_core::output::human_duration(ttl));
    if status != Status::Ok {
        let threshold = if status == Status::Crit { thresholds.token_ttl_crit } else { thresholds.token_ttl_warn };
        summary.push_str(&format!(", under {}", vault_core::output::human_duration(threshold)));
    }
    Check::new(CheckName::Token, status, summary)
        .metric(Metric::seconds("token_ttl", ttl, Some(limits)))
        .details(Details::Token(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ttls_warn_and_dead_tokens_are_critical() {
        let t = Thresholds::default();
        let info = |ttl| TokenInfo { ttl, renewable: true, policies: vec!["default".into()], ..TokenInfo::default() };
        assert_eq!(check(Ok(info(0)), &t).status, Status::Ok);
        assert_eq!(check(Ok(info(7200)), &t).status, Status::Ok);
        let c = check(Ok(info(1800)), &t);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(c.summary, "expires in 30m00s (renewable), under 1h00m");
        assert_eq!(check(Ok(info(60)), &t).status, Status::Crit);
        let dead = Err(Error::Auth { method: "token".into(), detail: "invalid".into() });
        assert_eq!(check(dead, &t).status, Status::Crit);
        let refused = Err(Error::PermissionDenied { path: "auth/token/lookup-self".into(), operation: "read".into() });
        assert_eq!(check(refused, &t).status, Status::Crit);
    }
}
