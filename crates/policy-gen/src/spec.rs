//! `render`: a small TOML spec of intent ("dagster reads its KV secrets and its database credentials") turned
//! into least-privilege HCL that knows KV version 2, so nobody has to remember that reading `secret/app/db`
//! means `secret/data/app/db` and listing it means `secret/metadata/app/`.
//!
//! ```toml
//! name = "dagster-secrets"
//! description = "What a Dagster deployment needs at run time."
//!
//! [[kv]]
//! mount = "secret"
//! prefix = "dagster/"
//! access = ["read", "list"]
//! why = "Pipelines read their own secrets, nothing else."
//!
//! [[database]]
//! creds = ["dagster-*"]
//!
//! [token]
//! self = ["lookup", "renew", "revoke", "capabilities"]
//!
//! [[rule]]
//! path = "sys/policies/acl"
//! capabilities = ["list"]
//! why = "See which policies exist."
//! ```
//!
//! Every generated rule carries comments saying what it allows and why, and rules for the same pattern are
//! merged, so the output passes `check` and is stable byte for byte (a test keeps the shipped files fresh).

use serde::Deserialize;

use crate::model::{AccessPolicy, Capability, PolicyRule};

/// A spec that cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not valid TOML, or a field that does not exist or has the wrong type.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value the spec does not allow.
    #[error("{0}")]
    Invalid(String),
}

/// The spec of one policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The policy's name (and the rendered file's name).
    pub name: String,
    /// What the policy is for, rendered as the file's header comment.
    #[serde(default)]
    pub description: String,
    /// KV version 2 access.
    #[serde(default)]
    pub kv: Vec<KvGrant>,
    /// Database secrets engine credentials.
    #[serde(default)]
    pub database: Vec<DatabaseGrant>,
    /// What the token may do to itself.
    #[serde(default)]
    pub token: Option<TokenGrant>,
    /// Raw rules for everything else.
    #[serde(default)]
    pub rule: Vec<RawRule>,
}

/// Access to part of a KV v2 mount.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// The mount, e.g. `secret`.
    pub mount: String,
    /// The folder under the mount, ending in `/` (e.g. `dagster/`), or empty for the whole mount.
    #[serde(default)]
    pub prefix: String,
    /// What may be done: see [`KV_ACCESS`].
    pub access: Vec<String>,
    /// Why, rendered as a comment.
    #[serde(default)]
    pub why: String,
}

/// Credentials from a database secrets engine.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseGrant {
    /// The mount (default `database`).
    #[serde(default = "default_database_mount")]
    pub mount: String,
    /// Dynamic roles whose credentials may be generated (`*` at the end is a prefix).
    #[serde(default)]
    pub creds: Vec<String>,
    /// Static roles whose current credentials may be read.
    #[serde(default)]
    pub static_creds: Vec<String>,
    /// Why, rendered as a comment.
    #[serde(default)]
    pub why: String,
}

fn default_database_mount() -> String {
    "database".to_owned()
}

/// What a token may do to itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    /// Any of `lookup`, `renew`, `revoke`.
    #[serde(rename = "self")]
    pub own: Vec<String>,
    /// Why, rendered as a comment.
    #[serde(default)]
    pub why: String,
}

/// A rule written out by hand.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The path pattern.
    pub path: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Why, rendered as a comment.
    #[serde(default)]
    pub why: String,
}

/// The KV v2 access words a spec may use, with the API paths and capabilities each one needs and what it
/// allows, in words. `{m}` is the mount and `{p}` the prefix.
pub const KV_ACCESS: &[(&str, &str, &[Capability], &str)] = &[
    ("read", "{m}/data/{p}*", &[Capability::Read], "read secret values (KV v2 data/)"),
    ("write", "{m}/data/{p}*", &[Capability::Create, Capability::Update], "create secrets and write new versions"),
    ("patch", "{m}/data/{p}*", &[Capability::Patch], "patch secret values in place"),
    ("delete", "{m}/data/{p}*", &[Capability::Delete], "soft-delete the latest version (it can be undeleted)"),
    ("delete", "{m}/delete/{p}*", &[Capability::Update], "soft-delete chosen versions"),
    ("undelete", "{m}/undelete/{p}*", &[Capability::Update], "restore soft-deleted versions"),
    ("destroy", "{m}/destroy/{p}*", &[Capability::Update], "destroy chosen versions for good"),
    ("list", "{m}/metadata/{p}*", &[Capability::List], "list keys (names only, never values)"),
    ("read-metadata", "{m}/metadata/{p}*", &[Capability::Read], "read version history and custom metadata"),
    (
        "write-metadata",
        "{m}/metadata/{p}*",
        &[Capability::Create, Capability::Update, Capability::Patch],
        "set max_versions, cas_required and custom metadata",
    ),
    ("delete-metadata", "{m}/metadata/{p}*", &[Capability::Delete], "delete keys with all their versions, for good"),
    ("config", "{m}/config", &[Capability::Read, Capability::Update], "read and change the mount's KV settings"),
];

/// The token self-service words, with their paths.
const TOKEN_ACCESS: &[(&str, &str, Capability, &str)] = &[
    ("lookup", "auth/token/lookup-self", Capability::Read, "Look up its own token (TTL, policies)"),
    ("renew", "auth/token/renew-self", Capability::Update, "Renew its own token before it expires"),
    ("revoke", "auth/token/revoke-self", Capability::Update, "Revoke its own token when done"),
    (
        "capabilities",
        "sys/capabilities-self",
        Capability::Update,
        "Ask which paths its own token may use (vault-env check, policy-gen test --as-self)",
    ),
];

/// Parses a spec.
pub fn parse_spec(text: &str) -> Result<Spec, SpecError> {
    Ok(toml::from_str(text)?)
}

/// Renders a spec to a policy. `spec_file` (a file name, not a path) is named in the header so readers know
/// where to make changes.
pub fn render(spec: &Spec, spec_file: &str) -> Result<AccessPolicy, SpecError> {
    if spec.name.is_empty() || spec.name.contains(['/', ' ']) {
        return Err(SpecError::Invalid(format!(
            "name {:?} must be a policy name without spaces or slashes",
            spec.name
        )));
    }
    let mut out = Builder::default();
    for grant in &spec.kv {
        kv_rules(grant, &mut out)?;
    }
    for grant in &spec.database {
        let mount = clean_mount(&grant.mount, "database")?;
        let mut why = Some(grant.why.as_str());
        for (roles, api, what) in [
            (&grant.creds, "creds", "Generate credentials for role {r} (a read that creates a database user)"),
            (&grant.static_creds, "static-creds", "Read the current credentials of static role {r}"),
        ] {
            for role in roles {
                if role.is_empty() || role.contains('/') {
                    return Err(SpecError::Invalid(format!(
                        "database role {role:?} must be a role name (a final `*` is a prefix)"
                    )));
                }
                let path = format!("{mount}/{api}/{role}");
                out.add(&path, &[Capability::Read], why.take(), &what.replace("{r}", role));
            }
        }
    }
    if let Some(token) = &spec.token {
        let mut why = Some(token.why.as_str());
        for word in &token.own {
            let Some((_, path, cap, what)) = TOKEN_ACCESS.iter().find(|(w, ..)| w == word) else {
                let known: Vec<&str> = TOKEN_ACCESS.iter().map(|t| t.0).collect();
                return Err(SpecError::Invalid(format!(
                    "token access {word:?} is unknown; known: {}",
                    known.join(", ")
                )));
            };
            out.add(path, &[*cap], why.take(), what);
        }
    }
    for raw in &spec.rule {
        let caps = raw
            .capabilities
            .iter()
            .map(|c| {
                c.parse::<Capability>()
                    .map_err(|()| SpecError::Invalid(format!("rule {:?}: unknown capability {c:?}", raw.path)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.add(&raw.path, &caps, Some(&raw.why), "");
    }
    let mut header =
        vec![format!("# {}: generated by policy-gen from {spec_file}; edit the spec and render again.", spec.name)];
    if !spec.description.trim().is_empty() {
        header.push("#".to_owned());
        header.extend(comment_lines(&spec.description));
    }
    Ok(AccessPolicy { name: spec.name.clone(), rules: out.rules, header, footer: Vec::new() })
}

fn kv_rules(grant: &KvGrant, out: &mut Builder) -> Result<(), SpecError> {
    let mount = clean_mount(&grant.mount, "kv")?;
    let prefix = grant.prefix.trim_start_matches('/');
    if !(prefix.is_empty() || prefix.ends_with('/')) || prefix.contains(['*', '+']) {
        return Err(SpecError::Invalid(format!(
            "kv prefix {:?} must be a folder ending in `/` (e.g. \"dagster/\") or empty for the whole mount: \"{0}\" would also match \"{0}-other/\"",
            grant.prefix
        )));
    }
    if grant.access.is_empty() {
        return Err(SpecError::Invalid(format!("kv grant on {mount}/{prefix} lists no access")));
    }
    let mut why = Some(grant.why.as_str());
    for word in &grant.access {
        let words: Vec<&str> = if word == "all" {
            let mut all: Vec<&str> = KV_ACCESS.iter().map(|a| a.0).filter(|w| *w != "config").collect();
            all.dedup();
            all
        } else {
            vec![word.as_str()]
        };
        for word in words {
            let rows: Vec<_> = KV_ACCESS.iter().filter(|a| a.0 == word).collect();
            if rows.is_empty() {
                let mut known: Vec<&str> = KV_ACCESS.iter().map(|a| a.0).collect();
                known.dedup();
                return Err(SpecError::Invalid(format!(
                    "kv access {word:?} is unknown; known: all, {}",
                    known.join(", ")
                )));
            }
            for (_, template, caps, what) in rows {
                if word == "config" && !prefix.is_empty() {
                    return Err(SpecError::Invalid(
                        "kv access \"config\" applies to a whole mount: use it with an empty prefix".into(),
                    ));
                }
                let path = template.replace("{m}", &mount).replace("{p}", prefix);
                out.add(&path, caps, why.take(), &format!("{mount}/{prefix}: {what}"));
            }
        }
    }
    Ok(())
}

fn clean_mount(mount: &str, what: &str) -> Result<String, SpecError> {
    let mount = mount.trim_matches('/');
    if mount.is_empty() || mount.contains(['*', '+', ' ']) {
        return Err(SpecError::Invalid(format!("{what} mount {mount:?} must be a mount path such as \"secret\"")));
    }
    Ok(mount.to_owned())
}

fn comment_lines(text: &str) -> Vec<String> {
    text.trim()
        .lines()
        .map(|l| if l.trim().is_empty() { "#".to_owned() } else { format!("# {}", l.trim_end()) })
        .collect()
}

/// Collects rules, merging those with the same pattern.
#[derive(Default)]
struct Builder {
    rules: Vec<PolicyRule>,
}

impl Builder {
    fn add(&mut self, path: &str, caps: &[Capability], why: Option<&str>, what: &str) {
        let index = match self.rules.iter().position(|r| r.path == path) {
            Some(i) => i,
            None => {
                self.rules.push(PolicyRule::new(path, []));
                self.rules.len() - 1
            }
        };
        let rule = &mut self.rules[index];
        if let Some(why) = why.filter(|w| !w.trim().is_empty()) {
            rule.doc.extend(comment_lines(why));
        }
        let what = format!("# {what}.");
        if what != "# ." && !rule.doc.contains(&what) {
            rule.doc.push(what);
        }
        for cap in caps {
            if !rule.capabilities.contains(cap) {
                rule.capabilities.push(*cap);
            }
        }
        rule.capabilities.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::to_hcl;

    #[test]
    fn kv_v2_paths_are_generated() {
        let spec = parse_spec(
            "name = \"app\"\n[[kv]]\nmount = \"secret\"\nprefix = \"app/\"\naccess = [\"read\", \"list\", \"write\"]\nwhy = \"The app.\"\n",
        )
        .unwrap();
        let hcl = to_hcl(&render(&spec, "app.toml").unwrap());
        assert_eq!(
            hcl,
            "# app: generated by policy-gen from app.toml; edit the spec and render again.\n\n# The app.\n# secret/app/: read secret values (KV v2 data/).\n# secret/app/: create secrets and write new versions.\npath \"secret/data/app/*\" {\n  capabilities = [\"create\", \"read\", \"update\"]\n}\n\n# secret/app/: list keys (names only, never values).\npath \"secret/metadata/app/*\" {\n  capabilities = [\"list\"]\n}\n"
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let bad_prefix =
            parse_spec("name = \"a\"\n[[kv]]\nmount = \"secret\"\nprefix = \"app\"\naccess = [\"read\"]\n").unwrap();
        assert!(render(&bad_prefix, "a.toml").unwrap_err().to_string().contains("ending in `/`"));
        let bad_access = parse_spec("name = \"a\"\n[[kv]]\nmount = \"secret\"\naccess = [\"own\"]\n").unwrap();
        assert!(render(&bad_access, "a.toml").unwrap_err().to_string().contains("known: all, read"));
        let typo = parse_spec("name = \"a\"\n[[kv]]\nmount = \"secret\"\nacces = [\"read\"]\n").unwrap_err();
        assert!(typo.to_string().contains("acces"), "{typo}");
    }
}
