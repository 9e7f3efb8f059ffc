//! From policies to concrete things to rotate: a secret path as written, the secrets a glob matches (found by
//! listing the glob's fixed prefix), or a database static role.

use vault_core::Client;

use crate::policy::{PolicyFile, SecretRotationPolicy, Target};

/// A concrete target and the policy that governs it.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// `secret/app/db` or `database/static-roles/app`.
    pub path: String,
    /// Its policy.
    pub policy: &'a SecretRotationPolicy,
}

/// Expands every policy into targets. A glob whose folder cannot be listed is an error for that policy only:
/// it is returned beside the targets so the others still run.
pub async fn expand<'a>(
    client: &Client,
    policies: &'a PolicyFile,
) -> (Vec<Resolved<'a>>, Vec<(String, vault_core::Error)>) {
    let mut found: Vec<Resolved<'a>> = Vec::new();
    let mut errors = Vec::new();
    for policy in &policies.policies {
        match &policy.target {
            Target::Secret(path) | Target::StaticRole(path) => found.push(Resolved { path: path.clone(), policy }),
            Target::Glob { pattern, prefix, matcher } => {
                let listed = async {
                    let folder = client.kv_path(prefix).await?;
                    let names = client.kv_list_recursive(&folder).await?;
                    Ok::<_, vault_core::Error>((folder, names))
                }
                .await;
                match listed {
                    Ok((folder, names)) => {
                        for name in names {
                            let path = format!("{}/{}", folder.to_string().trim_end_matches('/'), name);
                            // An earlier policy that names the same secret wins.
                            if matcher.is_match(&path) && policies.find(&path).is_some_and(|p| std::ptr::eq(p, policy))
                            {
                                found.push(Resolved { path, policy });
                            }
                        }
                    }
                    Err(e) => errors.push((pattern.clone(), e)),
                }
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    (found, errors)
}
