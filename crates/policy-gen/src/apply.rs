//! `diff` and `apply`: policy files against the server's policies, compared by meaning ([`crate::diff`]), and
//! the changes that make the server match them: create what is missing, update what differs and, with `prune`,
//! delete what the files do not define (never `root` or `default`). Nothing is written unless the mode is
//! [`Mode::Write`].

use std::path::{Path, PathBuf};

use serde::Serialize;
use vault_core::Error as VaultError;

use crate::check::{self, Severity};
use crate::diff::{self, PatternChange};
use crate::live::{BUILTIN_POLICIES, Server};
use crate::parse::{self, Parsed, SourceFormat};

/// What a run does with the differences it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `diff`: report them.
    Diff,
    /// `apply` without `--yes`: report what would change.
    DryRun,
    /// `apply --yes`: make the changes.
    Write,
}

/// A policy file to compare: where it is, the policy read from it, and its text (what `apply` writes, as written).
#[derive(Debug)]
pub struct Local {
    /// The file.
    pub file: PathBuf,
    /// The policy read from it, named after the file.
    pub parsed: Parsed,
    /// The file's text.
    pub text: String,
}

/// Why a `diff` or `apply` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The files cannot be compared or applied as they are: nothing was changed.
    #[error("{0}")]
    Input(String),
    /// A server call failed (`action` says which).
    #[error("{action}")]
    Server {
        /// What was being done, e.g. `writing policy app`.
        action: String,
        /// The server's answer.
        #[source]
        source: VaultError,
    },
}

fn server(action: impl Into<String>) -> impl FnOnce(VaultError) -> ApplyError {
    let action = action.into();
    move |source| ApplyError::Server { action, source }
}

/// One policy's state, as `diff` and `apply` report it.
#[derive(Debug, Serialize)]
pub struct PolicyState {
    /// The policy name.
    pub name: String,
    /// The local file, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// `unchanged`, `changed`, `missing` (only local) or `extra` (only on the server).
    pub status: &'static str,
    /// What `apply` does (or would do): `none`, `create`, `update` or `delete`.
    pub action: &'static str,
    /// Whether the action was carried out.
    pub applied: bool,
    /// The differences by pattern, from the server's version to the local one.
    pub changes: Vec<PatternChange>,
    /// A note, e.g. a server policy this tool cannot parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Refuses files that cannot be compared or applied, before anything talks to the server: to apply (dry run
/// too), a policy with an error finding (the server would reject it or read it differently); always, two files
/// that define one policy.
pub fn validate(local: &[Local], mode: Mode) -> Result<(), ApplyError> {
    if mode != Mode::Diff {
        for l in local {
            if let Some(f) = check::check(&l.parsed.policy).iter().find(|f| f.severity == Severity::Error) {
                return Err(ApplyError::Input(format!(
                    "{}:{}: {}; not applying anything (see `policy-gen check`)",
                    l.file.display(),
                    f.line,
                    f.message
                )));
            }
        }
    }
    let mut names: Vec<&str> = local.iter().map(|l| l.parsed.policy.name.as_str()).collect();
    names.sort_unstable();
    if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(ApplyError::Input(format!("two files define policy {:?}", dup[0])));
    }
    Ok(())
}

/// Compares each file with the server's policy of its name and, in [`Mode::Write`], makes the server match;
/// with `prune`, the server's other policies (never the built-in ones) count as drift and are deleted.
/// Files are in the order given, then the server's extra policies in its order.
pub async fn reconcile(
    server: &Server,
    local: &[Local],
    prune: bool,
    mode: Mode,
) -> Result<Vec<PolicyState>, ApplyError> {
    validate(local, mode)?;
    let write = mode == Mode::Write;
    let mut states = Vec::new();
    for l in local {
        let name = l.parsed.policy.name.clone();
        let remote = server.read_policy(&name).await.map_err(self::server(format!("reading policy {name}")))?;
        let (status, changes, note) = match &remote {
            None => ("missing", diff::diff(&Default::default(), &l.parsed.policy), None),
            Some(remote) => match parse::parse(&name, remote, SourceFormat::detect(Path::new(""), remote)) {
                Ok(theirs) => {
                    let changes = diff::diff(&theirs.policy, &l.parsed.policy);
                    (if changes.is_empty() { "unchanged" } else { "changed" }, changes, None)
                }
                Err(e) => (
                    "changed",
                    Vec::new(),
                    Some(format!("the server's version does not parse ({e}); it will be replaced")),
                ),
            },
        };
        let action = match status {
            "missing" => "create",
            "changed" => "update",
            _ => "none",
        };
        let applied = write && action != "none";
        if applied {
            server.write_policy(&name, &l.text).await.map_err(self::server(format!("writing policy {name}")))?;
        }
        states.push(PolicyState { name, file: Some(l.file.clone()), status, action, applied, changes, note });
    }
    if prune {
        let on_server = server.list_policies().await.map_err(self::server("listing the server's policies"))?;
        for name in on_server {
            if BUILTIN_POLICIES.contains(&name.as_str()) || local.iter().any(|l| l.parsed.policy.name == name) {
                continue;
            }
            if write {
                server.delete_policy(&name).await.map_err(self::server(format!("deleting policy {name}")))?;
            }
            states.push(PolicyState {
                name,
                file: None,
                status: "extra",
                action: "delete",
                applied: write,
                changes: Vec::new(),
                note: None,
            });
        }
    }
    Ok(states)
}

/// How many policies differ from the server's (missing, changed or extra).
pub fn drift(states: &[PolicyState]) -> usize {
    states.iter().filter(|s| s.status != "unchanged").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(file: &str, text: &str) -> Local {
        let parsed = parse::parse(&parse::policy_name(Path::new(file)), text, SourceFormat::Hcl).unwrap();
        Local { file: PathBuf::from(file), parsed, text: text.to_owned() }
    }

    #[test]
    fn apply_refuses_error_findings_and_every_mode_refuses_one_policy_twice() {
        let risky = local("p/app.hcl", "path \"*\" {\n  capabilities = [\"read\", \"update\"]\n}\n");
        assert!(validate(std::slice::from_ref(&risky), Mode::Diff).is_ok(), "diff compares what it is given");
        for mode in [Mode::DryRun, Mode::Write] {
            let err = validate(std::slice::from_ref(&risky), mode).unwrap_err().to_string();
            assert!(
                err.starts_with("p/app.hcl:1: ") && err.ends_with("not applying anything (see `policy-gen check`)"),
                "{err}"
            );
        }
        let fine = "path \"secret/data/app\" {\n  capabilities = [\"read\"]\n}\n";
        let twice = [local("a/app.hcl", fine), local("b/app.hcl", fine)];
        for mode in [Mode::Diff, Mode::DryRun, Mode::Write] {
            assert_eq!(validate(&twice, mode).unwrap_err().to_string(), "two files define policy \"app\"");
        }
    }
}
