//! The caller's token: how long it has left (`auth/token/lookup-self`). A monitoring job whose token expires
//! stops seeing anything; a pipeline's token that expires mid-run fails the run.
//!
//! What is left is judged against the TTL the token was created with, not only a fixed duration: an AppRole
//! login gives a token exactly its role's TTL (deploy's roles have 15 minutes to 1 hour), so a fixed 1-hour
//! warning would flag every fresh token. By default the thresholds are the smaller of 1h / 5m and a share of the
//! creation TTL (a quarter to warn, a tenth for critical), so a client that renews at half its TTL, as
//! vault-core's does, never leaves OK. Thresholds given on the command line are taken as they are.

use std::time::Duration;

use vault_core::sys::TokenInfo;
use vault_core::{Client, Error};

use crate::Thresholds;
use crate::details::TokenDetails;
use crate::report::{Check, CheckName, Details, Limits, Metric, Status};

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
        creation_ttl_seconds: info.creation_ttl,
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
    let (warn, crit) = effective_thresholds(info.creation_ttl, thresholds);
    let limits = Limits::below(warn.as_secs_f64(), crit.as_secs_f64());
    let status = limits.status(ttl.as_secs_f64());
    let renewable = if info.renewable { "renewable" } else { "not renewable" };
    let mut summary = format!("expires in {} ({renewable})", vault_core::output::human_duration(ttl));
    if status != Status::Ok {
        let threshold = if status == Status::Crit { crit } else { warn };
        summary.push_str(&format!(", under {}", vault_core::output::human_duration(threshold)));
    }
    Check::new(CheckName::Token, status, summary)
        .metric(Metric::seconds("token_ttl", ttl, Some(limits)))
        .details(Details::Token(details))
}

/// The warning and critical thresholds for a token created with `creation_ttl` seconds: the configured ones,
/// lowered to a quarter and a tenth of the creation TTL when those are shorter and the thresholds are relative.
/// Without a creation TTL (an old server, a token that never expires) the configured ones.
fn effective_thresholds(creation_ttl: u64, thresholds: &Thresholds) -> (Duration, Duration) {
    if creation_ttl == 0 || !thresholds.token_ttl_relative {
        return (thresholds.token_ttl_warn, thresholds.token_ttl_crit);
    }
    let created = Duration::from_secs(creation_ttl);
    (thresholds.token_ttl_warn.min(created / 4), thresholds.token_ttl_crit.min(created / 10))
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

    #[test]
    fn a_token_is_judged_against_the_ttl_it_was_created_with() {
        let t = Thresholds::default();
        let info = |creation_ttl, ttl| TokenInfo { ttl, creation_ttl, renewable: true, ..TokenInfo::default() };
        // Every TTL deploy gives its roles, fresh and at the half-TTL renewal point, is OK; so is any
        // creation TTL, from a minute to a month, over the first three quarters of its life.
        for created in [60, 15 * 60, 3600, 4 * 3600, 24 * 3600, 30 * 86_400] {
            for left in [created, created / 2, created * 3 / 10] {
                let c = check(Ok(info(created, left)), &t);
                assert_eq!(c.status, Status::Ok, "created {created}s, {left}s left: {}", c.summary);
            }
        }
        // The last quarter warns, the last tenth is critical, but never above the flags.
        assert_eq!(check(Ok(info(3600, 840)), &t).status, Status::Warn);
        assert_eq!(check(Ok(info(3600, 299)), &t).status, Status::Crit);
        assert_eq!(check(Ok(info(15 * 60, 200)), &t).status, Status::Warn);
        assert_eq!(check(Ok(info(15 * 60, 80)), &t).status, Status::Crit);
        let month = 30 * 86_400;
        assert_eq!(check(Ok(info(month, 2 * 3600)), &t).status, Status::Ok, "the 1h flag caps a long token's warning");
        assert_eq!(check(Ok(info(month, 1800)), &t).status, Status::Warn);
        let c = check(Ok(info(3600, 840)), &t);
        assert_eq!(c.summary, "expires in 14m00s (renewable), under 15m00s");
        // Literal thresholds (flags given on the command line) are taken as they are.
        let literal = Thresholds { token_ttl_relative: false, ..t };
        assert_eq!(check(Ok(info(3600, 3000)), &literal).status, Status::Warn);
        let tight = Thresholds { token_ttl_warn: Duration::from_secs(60), token_ttl_relative: false, ..t };
        assert_eq!(check(Ok(info(3600, 840)), &tight).status, Status::Ok);
    }
}
