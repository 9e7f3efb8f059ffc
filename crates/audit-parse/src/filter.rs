//! Which operations to keep: time range, path glob, mount, operation, line type, identity, policy, address,
//! denied, errors, and lines holding a searched HMAC. Every criterion given must hold; a criterion given several
//! times holds when any of its values does.

use chrono::{DateTime, NaiveDate, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::error::Error;
use crate::operation::{AuditOperation, Joined};
use crate::record::RecordType;

/// The part of a filter that can be decided from one line before it is summarised: path and operation, which a
/// request line and its response line share. Lines it rejects are skipped early, which is most of the work saved
/// when a filter is narrow.
#[derive(Debug, Clone, Default)]
pub struct Prefilter {
    paths: Option<GlobSet>,
    operations: Vec<String>,
}

impl Prefilter {
    /// Whether a line with this path and operation may belong to a matching operation.
    pub fn keeps(&self, path: Option<&str>, operation: Option<&str>) -> bool {
        any_of(&self.operations, operation)
            && self.paths.as_ref().is_none_or(|globs| path.is_some_and(|p| globs.is_match(p)))
    }
}

/// The operations an audit record can name (`request.operation`): a closed set, so that `--operation raed` is a
/// usage error listing these rather than a filter that silently matches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OperationName {
    /// Create a new entry (KV v2 writes to a new path log `create`).
    Create,
    /// Read.
    Read,
    /// Update (most writes, logins, and POSTs).
    Update,
    /// JSON merge patch (KV v2 `PATCH`).
    Patch,
    /// Delete.
    Delete,
    /// List (`LIST` or `GET ?list=true`).
    List,
    /// Help text (`?help=1`).
    Help,
    /// Alias lookahead by auth methods.
    AliasLookahead,
    /// Role resolution by auth methods.
    ResolveRole,
    /// Header operation.
    Header,
    /// Lease renewal.
    Renew,
    /// Lease revocation.
    Revoke,
    /// Rollback (internal).
    Rollback,
    /// Recover (OpenBao).
    Recover,
    /// Scan (OpenBao).
    Scan,
}

impl OperationName {
    /// The name as audit records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationName::Create => "create",
            OperationName::Read => "read",
            OperationName::Update => "update",
            OperationName::Patch => "patch",
            OperationName::Delete => "delete",
            OperationName::List => "list",
            OperationName::Help => "help",
            OperationName::AliasLookahead => "alias-lookahead",
            OperationName::ResolveRole => "resolve-role",
            OperationName::Header => "header",
            OperationName::Renew => "renew",
            OperationName::Revoke => "revoke",
            OperationName::Rollback => "rollback",
            OperationName::Recover => "recover",
            OperationName::Scan => "scan",
        }
    }
}

/// A compiled filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep operations at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep operations before this time.
    pub until: Option<DateTime<Utc>>,
    /// Keep operations whose path matches one of these globs.
    pub paths: Option<GlobSet>,
    /// Mount points, without trailing slash.
    pub mounts: Vec<String>,
    /// Operations (`read`, `update`, …).
    pub operations: Vec<String>,
    /// Line type (implies reading without joining).
    pub record_type: Option<RecordType>,
    /// Token display names.
    pub display_names: Vec<String>,
    /// Entity ids.
    pub entities: Vec<String>,
    /// AppRole role names.
    pub roles: Vec<String>,
    /// Policies, any of the token's.
    pub policies: Vec<String>,
    /// Client addresses.
    pub remote_addresses: Vec<String>,
    /// Only denied requests.
    pub denied: bool,
    /// Only requests that failed.
    pub errors: bool,
    /// Only requests made with the root policy.
    pub root: bool,
    /// Only operations with a line holding a searched HMAC.
    pub value: bool,
}

fn any_of(wanted: &[String], have: Option<&str>) -> bool {
    wanted.is_empty() || have.is_some_and(|h| wanted.iter().any(|w| w == h))
}

impl Filter {
    /// Compiles path globs. `*` matches across `/` (as in a Vault policy's trailing `*`), `?` one character,
    /// `{a,b}` alternatives, `[..]` classes.
    pub fn globs(patterns: &[String]) -> Result<Option<GlobSet>, Error> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        for p in patterns {
            // Paths in the log have no leading slash and no `v1/`; accept what users paste from URLs.
            let bare = p.trim_start_matches('/');
            let bare = bare.strip_prefix("v1/").unwrap_or(bare);
            let glob = Glob::new(bare).map_err(|e| Error::usage("--path", p, e.to_string()))?;
            set.add(glob);
        }
        set.build().map(Some).map_err(|e| Error::usage("--path", patterns.join(" "), e.to_string()))
    }

    /// The line-level part of the filter, when it has one.
    pub fn prefilter(&self) -> Option<Prefilter> {
        (self.paths.is_some() || !self.operations.is_empty())
            .then(|| Prefilter { paths: self.paths.clone(), operations: self.operations.clone() })
    }

    /// Whether an operation passes.
    pub fn matches(&self, op: &AuditOperation) -> bool {
        if let Some(kind) = self.record_type {
            let is = match op.joined {
                Joined::Request => RecordType::Request,
                Joined::Response => RecordType::Response,
                Joined::Both => return false,
            };
            if is != kind {
                return false;
            }
        }
        if (self.denied && !op.denied) || (self.errors && op.error.is_none() && !op.denied) || (self.root && !op.root) {
            return false;
        }
        if self.value && !op.value_match {
            return false;
        }
        if !any_of(&self.operations, op.operation.as_deref())
            || !any_of(&self.display_names, op.display_name.as_deref())
            || !any_of(&self.entities, op.entity_id.as_deref())
            || !any_of(&self.roles, op.role.as_deref())
            || !any_of(&self.remote_addresses, op.remote_address.as_deref())
        {
            return false;
        }
        if !self.mounts.is_empty() {
            let mount = op.mount_point.as_deref().map(|m| m.trim_end_matches('/'));
            if !self.mounts.iter().any(|m| Some(m.trim_end_matches('/')) == mount) {
                return false;
            }
        }
        if !self.policies.is_empty() && !op.policies.iter().any(|p| self.policies.contains(p)) {
            return false;
        }
        if let Some(globs) = &self.paths
            && !op.path.as_deref().is_some_and(|p| globs.is_match(p))
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(time) = op.time.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
                return false;
            };
            let time = time.with_timezone(&Utc);
            if self.since.is_some_and(|s| time < s) || self.until.is_some_and(|u| time >= u) {
                return false;
            }
        }
        true
    }
}

/// A point in time from a flag: a duration back from `now` (`24h`, `7d`, `30m`), an RFC 3339 time, or a date
/// (`2026-11-27`, midnight UTC).
pub fn parse_time(flag: &'static str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    let text = text.trim();
    if let Ok(d) = humantime::parse_duration(text) {
        let d = chrono::Duration::from_std(d).map_err(|e| Error::usage(flag, text, e.to_string()))?;
        return now.checked_sub_signed(d).ok_or_else(|| Error::usage(flag, text, "too far back"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Error::usage(
        flag,
        text,
        "expected a duration back from now (24h, 7d), an RFC 3339 time or a date (YYYY-MM-DD)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_time("--since", "24h", now).unwrap().to_rfc3339(), "2026-11-27T12:00:00+00:00");
        assert_eq!(parse_time("--since", "2026-11-01", now).unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(
            parse_time("--until", "2026-11-01T10:00:00+01:00", now).unwrap().to_rfc3339(),
            "2026-11-01T09:00:00+00:00"
        );
        assert!(parse_time("--since", "yesterday", now).is_err());
    }

    #[test]
    fn globs_cross_slashes() {
        let set = Filter::globs(&["secret/data/dagster/*".into()]).unwrap().unwrap();
        assert!(set.is_match("secret/data/dagster/db"));
        assert!(set.is_match("secret/data/dagster/team/db"));
        assert!(!set.is_match("secret/data/other/db"));
        let pasted = Filter::globs(&["/v1/secret/data/app".into()]).unwrap().unwrap();
        assert!(pasted.is_match("secret/data/app"));
    }
}
