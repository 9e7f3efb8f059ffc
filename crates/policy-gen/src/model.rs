//! The typed model of a Vault ACL policy: a named list of `path` rules, each with capabilities, parameter
//! constraints and wrapping TTLs, plus the comments that travel with them so a rewrite loses nothing a person wrote.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One capability a rule grants (or `deny`, which takes everything away).
///
/// The order of the variants is the canonical order the writer uses, which is the order Vault's documentation
/// lists them in; `sys/capabilities` answers are sorted alphabetically instead (see [`CapSet::names`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `create` (POST/PUT on a path that does not exist yet).
    Create,
    /// `read` (GET).
    Read,
    /// `update` (POST/PUT on an existing path; most of Vault does not tell create from update).
    Update,
    /// `patch` (PATCH, e.g. KV v2 partial updates).
    Patch,
    /// `delete` (DELETE).
    Delete,
    /// `list` (LIST).
    List,
    /// `sudo`: needed in addition on root-protected paths.
    Sudo,
    /// `deny`: takes precedence over every other capability on the same pattern.
    Deny,
    /// `scan` (OpenBao only: recursive listing).
    Scan,
    /// `subscribe` (HashiCorp Vault only: event subscriptions).
    Subscribe,
    /// `recover` (HashiCorp Vault only: secret recovery from snapshots).
    Recover,
}

impl Capability {
    /// Every capability, in canonical order.
    pub const ALL: [Capability; 11] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
        Capability::Scan,
        Capability::Subscribe,
        Capability::Recover,
    ];

    /// The name as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Scan => "scan",
            Capability::Subscribe => "subscribe",
            Capability::Recover => "recover",
        }
    }

    /// Which server knows this capability, when only one of them does.
    pub fn only_on(self) -> Option<&'static str> {
        match self {
            Capability::Scan => Some("OpenBao"),
            Capability::Subscribe | Capability::Recover => Some("HashiCorp Vault"),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

/// A set of capabilities, as Vault keeps them: a bitmap where `deny` excludes everything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u16);

impl CapSet {
    /// The empty set (grants nothing).
    pub const EMPTY: CapSet = CapSet(0);

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Whether the set grants nothing.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set holds `deny`.
    pub fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// The union of two sets.
    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// The capabilities in `self` that `other` lacks.
    pub fn minus(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// The capabilities in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    /// The answer `sys/capabilities` gives for this set: names sorted alphabetically, `["deny"]` when the set
    /// denies or grants nothing.
    pub fn names(self) -> Vec<&'static str> {
        if self.is_deny() || self.is_empty() {
            return vec!["deny"];
        }
        let mut names: Vec<&'static str> = self.iter().map(Capability::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapSet::EMPTY;
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Capability::as_str).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// The pre-0.5 way to grant access, `policy = "read"`, which Vault still maps onto capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LegacyPolicy {
    /// `deny`: the same as `capabilities = ["deny"]`.
    Deny,
    /// `read`: read and list.
    Read,
    /// `write`: create, read, update, delete and list.
    Write,
    /// `sudo`: write plus sudo.
    Sudo,
}

impl LegacyPolicy {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyPolicy::Deny => "deny",
            LegacyPolicy::Read => "read",
            LegacyPolicy::Write => "write",
            LegacyPolicy::Sudo => "sudo",
        }
    }

    /// The capabilities Vault maps it to.
    pub fn capabilities(self) -> &'static [Capability] {
        use Capability::*;
        match self {
            LegacyPolicy::Deny => &[Deny],
            LegacyPolicy::Read => &[Read, List],
            LegacyPolicy::Write => &[Create, Read, Update, Delete, List],
            LegacyPolicy::Sudo => &[Create, Read, Update, Delete, List, Sudo],
        }
    }

    /// Parses a legacy policy name.
    pub fn parse(text: &str) -> Option<Self> {
        [LegacyPolicy::Deny, LegacyPolicy::Read, LegacyPolicy::Write, LegacyPolicy::Sudo]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// A duration as written in a policy (`"1h"` or a number of seconds), with its value in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ttl {
    /// The text as written, e.g. `1h` or `3600`.
    pub raw: String,
    /// Seconds.
    pub seconds: u64,
    /// Whether it was written as a bare number rather than a string.
    #[serde(skip)]
    pub numeric: bool,
}

/// A named parameter and the values it may (or may not) take; an empty list means any value.
pub type ParameterList = Vec<(String, Vec<serde_json::Value>)>;

/// One `path "…" { … }` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PolicyRule {
    /// The path pattern as written (a leading `/` is kept here and ignored when matching, as Vault does).
    pub path: String,
    /// The capabilities, in the order written.
    pub capabilities: Vec<Capability>,
    /// A legacy `policy = "…"` value, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<LegacyPolicy>,
    /// `allowed_parameters`: only these parameters (with these values) may be sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_parameters: ParameterList,
    /// `denied_parameters`: these parameters (with these values) must not be sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_parameters: ParameterList,
    /// `required_parameters`: these parameters must be sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_parameters: Vec<String>,
    /// `min_wrapping_ttl`: responses must be wrapped with at least this TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_wrapping_ttl: Option<Ttl>,
    /// `max_wrapping_ttl`: responses must be wrapped with at most this TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wrapping_ttl: Option<Ttl>,
    /// `mfa_methods` (Vault Enterprise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mfa_methods: Vec<String>,
    /// `pagination_limit` (OpenBao).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination_limit: Option<i64>,
    /// `list_scan_response_keys_filter_path` (OpenBao).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_scan_response_keys_filter_path: Option<String>,
    /// `expiration` (OpenBao): an RFC 3339 time after which the rule no longer applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The `comment = "…"` attribute Vault accepts and ignores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Comment lines directly above the block, as written (`# …`, `// …`, `/* … */`).
    #[serde(skip)]
    pub doc: Vec<String>,
    /// Comment lines inside the block, as written; the writer puts them at the top of the block.
    #[serde(skip)]
    pub inner_comments: Vec<String>,
    /// The 1-based line of the `path` keyword in the source, 0 for rules that were never in a file.
    pub line: usize,
}

impl PolicyRule {
    /// A rule for `path` granting `capabilities`.
    pub fn new(path: impl Into<String>, capabilities: impl IntoIterator<Item = Capability>) -> Self {
        PolicyRule { path: path.into(), capabilities: capabilities.into_iter().collect(), ..PolicyRule::default() }
    }

    /// The capabilities Vault would give this rule: the legacy policy's plus the listed ones, and only `deny`
    /// when either holds `deny`.
    pub fn effective(&self) -> CapSet {
        let mut set: CapSet = self.capabilities.iter().copied().collect();
        if let Some(legacy) = self.policy {
            set = set.union(legacy.capabilities().iter().copied().collect());
        }
        if set.is_deny() { [Capability::Deny].into_iter().collect() } else { set }
    }

    /// Whether the rule carries parameter constraints of any kind.
    pub fn has_parameter_constraints(&self) -> bool {
        !self.allowed_parameters.is_empty()
            || !self.denied_parameters.is_empty()
            || !self.required_parameters.is_empty()
    }
}

/// A policy: a name and its rules, in file order, with the file's free-standing comments.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccessPolicy {
    /// The policy's name on the server (from the file name unless given).
    pub name: String,
    /// The rules in the order written. Vault allows the same pattern more than once and merges them.
    pub rules: Vec<PolicyRule>,
    /// Comment lines at the top of the file, separated from the first rule by a blank line.
    #[serde(skip)]
    pub header: Vec<String>,
    /// Comment lines after the last rule.
    #[serde(skip)]
    pub footer: Vec<String>,
}

impl AccessPolicy {
    /// An empty policy called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        AccessPolicy { name: name.into(), ..AccessPolicy::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_swallows_everything_else() {
        let mut rule = PolicyRule::new("secret/*", [Capability::Read, Capability::Deny]);
        assert_eq!(rule.effective().names(), ["deny"]);
        rule.capabilities = vec![Capability::Update, Capability::Read];
        rule.policy = Some(LegacyPolicy::Read);
        assert_eq!(rule.effective().names(), ["list", "read", "update"]);
        assert_eq!(CapSet::EMPTY.names(), ["deny"]);
    }

    #[test]
    fn capability_names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(cap));
        }
        assert!("write".parse::<Capability>().is_err());
    }
}
