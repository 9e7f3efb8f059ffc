//! Writing policies as HCL in the style of Vault's documentation: one `path` block per rule, two-space indent,
//! `capabilities = ["read", "list"]` on one line in canonical order, a blank line between blocks, and every
//! comment the model carries put back where it belongs.
//!
//! The output is the canonical form `fmt` enforces and `render` produces, so it must be stable: the same model
//! always gives the same bytes, and parsing the output gives the same model back.

use std::fmt::Write as _;

use crate::model::{AccessPolicy, Capability, ParameterList, PolicyRule, Ttl};

/// The canonical HCL text of a policy.
pub fn to_hcl(policy: &AccessPolicy) -> String {
    let mut out = String::new();
    for line in &policy.header {
        push_comment(&mut out, "", line);
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        if i > 0 || !policy.header.is_empty() {
            out.push('\n');
        }
        write_rule(&mut out, rule);
    }
    if !policy.footer.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        for line in &policy.footer {
            push_comment(&mut out, "", line);
        }
    }
    out
}

fn write_rule(out: &mut String, rule: &PolicyRule) {
    for line in &rule.doc {
        push_comment(out, "", line);
    }
    let mut body = String::new();
    for line in &rule.inner_comments {
        push_comment(&mut body, "  ", line);
    }
    if let Some(comment) = &rule.comment {
        let _ = writeln!(body, "  comment = {}", quote(comment));
    }
    if let Some(policy) = rule.policy {
        let _ = writeln!(body, "  policy = {}", quote(policy.as_str()));
    }
    if !rule.capabilities.is_empty() {
        let _ = writeln!(body, "  capabilities = {}", capability_list(&rule.capabilities));
    }
    if !rule.required_parameters.is_empty() {
        let items: Vec<String> = rule.required_parameters.iter().map(|p| quote(p)).collect();
        let _ = writeln!(body, "  required_parameters = [{}]", items.join(", "));
    }
    write_parameters(&mut body, "allowed_parameters", &rule.allowed_parameters);
    write_parameters(&mut body, "denied_parameters", &rule.denied_parameters);
    write_ttl(&mut body, "min_wrapping_ttl", rule.min_wrapping_ttl.as_ref());
    write_ttl(&mut body, "max_wrapping_ttl", rule.max_wrapping_ttl.as_ref());
    if !rule.mfa_methods.is_empty() {
        let items: Vec<String> = rule.mfa_methods.iter().map(|p| quote(p)).collect();
        let _ = writeln!(body, "  mfa_methods = [{}]", items.join(", "));
    }
    if let Some(limit) = rule.pagination_limit {
        let _ = writeln!(body, "  pagination_limit = {limit}");
    }
    if let Some(filter) = &rule.list_scan_response_keys_filter_path {
        let _ = writeln!(body, "  list_scan_response_keys_filter_path = {}", quote(filter));
    }
    if let Some(expiration) = &rule.expiration {
        let _ = writeln!(body, "  expiration = {}", quote(expiration));
    }
    if body.is_empty() {
        let _ = writeln!(out, "path {} {{}}", quote(&rule.path));
    } else {
        let _ = write!(out, "path {} {{\n{body}}}\n", quote(&rule.path));
    }
}

/// Capabilities deduplicated, in canonical order, as a one-line list.
pub fn capability_list(caps: &[Capability]) -> String {
    let mut caps = caps.to_vec();
    caps.sort_unstable();
    caps.dedup();
    let items: Vec<String> = caps.iter().map(|c| quote(c.as_str())).collect();
    format!("[{}]", items.join(", "))
}

fn write_parameters(out: &mut String, key: &str, params: &ParameterList) {
    if params.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key} = {{");
    for (name, values) in params {
        let items: Vec<String> = values.iter().map(value).collect();
        let _ = writeln!(out, "    {} = [{}]", quote(name), items.join(", "));
    }
    out.push_str("  }\n");
}

fn write_ttl(out: &mut String, key: &str, ttl: Option<&Ttl>) {
    if let Some(ttl) = ttl {
        let text = if ttl.numeric { ttl.raw.clone() } else { quote(&ttl.raw) };
        let _ = writeln!(out, "  {key} = {text}");
    }
}

fn push_comment(out: &mut String, indent: &str, line: &str) {
    if line.is_empty() {
        out.push('\n');
    } else {
        let _ = writeln!(out, "{indent}{line}");
    }
}

fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// An HCL string literal. Besides the JSON-like escapes, `${` and `%{` are doubled so HCL does not read them as
/// template syntax; Vault's own `{{identity.…}}` templates pass through untouched.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_hcl;

    #[test]
    fn writes_vault_style() {
        let mut policy = AccessPolicy::new("app");
        policy.header = vec!["# App policy.".into()];
        let mut rule = PolicyRule::new("secret/data/app/*", [Capability::List, Capability::Read, Capability::Read]);
        rule.doc = vec!["# Read app secrets.".into()];
        policy.rules.push(rule);
        policy.rules.push(PolicyRule::new("secret/metadata/app/*", [Capability::List]));
        assert_eq!(
            to_hcl(&policy),
            "# App policy.\n\n# Read app secrets.\npath \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n\npath \"secret/metadata/app/*\" {\n  capabilities = [\"list\"]\n}\n"
        );
    }

    #[test]
    fn round_trips_through_the_parser() {
        let text = "# Top.\n\n// Doc.\npath \"auth/token/create\" {\n  # Inside.\n  capabilities = [\"update\"]\n  required_parameters = [\"ttl\"]\n  allowed_parameters = {\n    \"ttl\" = [\"1h\", 2, true]\n    \"policies\" = []\n  }\n  min_wrapping_ttl = 60\n  max_wrapping_ttl = \"1h\"\n}\n\npath \"a/b\" {}\n\n# End.\n";
        let parsed = parse_hcl("t", text).unwrap();
        let written = to_hcl(&parsed.policy);
        assert_eq!(written, text);
        assert_eq!(parse_hcl("t", &written).unwrap().policy, parsed.policy);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("secret/data/{{identity.entity.id}}/*"), "\"secret/data/{{identity.entity.id}}/*\"");
        assert_eq!(quote("${x} %{y}"), "\"$${x} %%{y}\"");
    }
}
