//! Semantic comparison of two versions of a policy: what a token would be allowed to do differently, ignoring
//! comments, formatting, rule order, a leading `/` and patterns split over several blocks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::matcher::classify;
use crate::model::{AccessPolicy, CapSet, Capability};

/// One pattern's merged meaning.
#[derive(Clone, Debug, Default, PartialEq)]
struct Meaning {
    caps: CapSet,
    /// Everything else that constrains requests (parameters, TTLs, …) as a canonical JSON value.
    conditions: BTreeMap<String, serde_json::Value>,
}

fn meanings(policy: &AccessPolicy) -> BTreeMap<String, Meaning> {
    let mut out: BTreeMap<String, Meaning> = BTreeMap::new();
    for rule in &policy.rules {
        let (pattern, _) = classify(&rule.path);
        let meaning = out.entry(pattern).or_default();
        let caps = rule.effective();
        meaning.caps = if meaning.caps.is_deny() || caps.is_deny() {
            [Capability::Deny].into_iter().collect()
        } else {
            meaning.caps.union(caps)
        };
        let mut note = |key: &str, value: serde_json::Value| {
            let slot = meaning.conditions.entry(key.to_owned()).or_insert(serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(items) = slot {
                items.push(value);
                items.sort_by_key(|v| v.to_string());
            }
        };
        let params = |list: &crate::model::ParameterList| {
            let mut sorted: Vec<_> = list.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::json!(sorted)
        };
        if !rule.allowed_parameters.is_empty() {
            note("allowed_parameters", params(&rule.allowed_parameters));
        }
        if !rule.denied_parameters.is_empty() {
            note("denied_parameters", params(&rule.denied_parameters));
        }
        if !rule.required_parameters.is_empty() {
            let mut required = rule.required_parameters.clone();
            required.sort();
            note("required_parameters", serde_json::json!(required));
        }
        for (key, ttl) in [("min_wrapping_ttl", &rule.min_wrapping_ttl), ("max_wrapping_ttl", &rule.max_wrapping_ttl)] {
            if let Some(ttl) = ttl {
                note(key, serde_json::json!(ttl.seconds));
            }
        }
        if !rule.mfa_methods.is_empty() {
            note("mfa_methods", serde_json::json!(rule.mfa_methods));
        }
        if let Some(limit) = rule.pagination_limit {
            note("pagination_limit", serde_json::json!(limit));
        }
        if let Some(filter) = &rule.list_scan_response_keys_filter_path {
            note("list_scan_response_keys_filter_path", serde_json::json!(filter));
        }
        if let Some(expiration) = &rule.expiration {
            note("expiration", serde_json::json!(expiration));
        }
    }
    out
}

/// How one pattern differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatternChange {
    /// The pattern, leading `/` removed.
    pub pattern: String,
    /// Capabilities the new version grants that the old one does not.
    pub added: Vec<&'static str>,
    /// Capabilities the old version grants that the new one does not.
    pub removed: Vec<&'static str>,
    /// Condition keys (parameters, TTLs, …) whose values differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

/// What changes, pattern by pattern, when `old` is replaced by `new`. Empty when they mean the same.
pub fn diff(old: &AccessPolicy, new: &AccessPolicy) -> Vec<PatternChange> {
    let old = meanings(old);
    let new = meanings(new);
    let mut patterns: Vec<&String> = old.keys().chain(new.keys()).collect();
    patterns.sort();
    patterns.dedup();
    let empty = Meaning::default();
    patterns
        .into_iter()
        .filter_map(|pattern| {
            let (before, after) = (old.get(pattern), new.get(pattern));
            if before == after {
                return None;
            }
            let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
            let names = |set: CapSet| set.iter().map(Capability::as_str).collect::<Vec<_>>();
            let mut keys: Vec<&String> = b.conditions.keys().chain(a.conditions.keys()).collect();
            keys.sort();
            keys.dedup();
            let conditions =
                keys.into_iter().filter(|k| b.conditions.get(*k) != a.conditions.get(*k)).cloned().collect();
            Some(PatternChange {
                pattern: pattern.clone(),
                added: names(a.caps.minus(b.caps)),
                removed: names(b.caps.minus(a.caps)),
                conditions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_hcl;

    fn policy(text: &str) -> AccessPolicy {
        parse_hcl("p", text).unwrap().policy
    }

    #[test]
    fn formatting_and_order_do_not_matter() {
        let a = policy(
            "# c\npath \"a\" { capabilities = [\"read\", \"list\"] }\npath \"b/*\" { capabilities = [\"read\"] }\n",
        );
        let b = policy(
            "path \"/b/*\" {\n  capabilities = [\"read\"]\n}\npath \"a\" { capabilities = [\"list\"] }\npath \"a\" { policy = \"read\" }\n",
        );
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn changes_are_named() {
        let old = policy("path \"a\" { capabilities = [\"read\"] }\npath \"gone\" { capabilities = [\"list\"] }\n");
        let new = policy("path \"a\" {\n  capabilities = [\"update\"]\n  required_parameters = [\"x\"]\n}\n");
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].added, ["update"]);
        assert_eq!(changes[0].removed, ["read"]);
        assert_eq!(changes[0].conditions, ["required_parameters"]);
        assert_eq!(changes[1].pattern, "gone");
        assert_eq!(changes[1].removed, ["list"]);
    }
}
