//! `test`: an allow/deny matrix for a set of policies, checked offline by the matcher (and live through
//! [`crate::live`]), and the judgement of each case ([`judge`]): does every verdict meet the expectation, and does
//! the server agree with the matcher.
//!
//! ```toml
//! # Policies are files relative to this one; a token carrying exactly these is what the cases describe.
//! policies = ["../dagster-secrets.hcl"]
//!
//! [[case]]
//! path = "secret/data/dagster/warehouse"
//! operation = "read"
//! expect = "allow"
//! request = true   # with --live, also send the real request
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::live::LiveVerdict;
use crate::matcher::{Acl, Operation};
use crate::parse::{self, LoadError, Parsed};

/// A matrix file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Policy files, relative to the matrix file.
    pub policies: Vec<PathBuf>,
    /// The cases.
    #[serde(rename = "case", default)]
    pub cases: Vec<Case>,
}

/// One expectation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The request path.
    pub path: String,
    /// The operation.
    pub operation: Operation,
    /// What should happen.
    pub expect: Expect,
    /// With `--live`, also send the real request with a token carrying the policies (opt-in: some reads have
    /// side effects, such as database credentials being created).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request: bool,
    /// Why the case is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An expected outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The ACL lets it through.
    Allow,
    /// The ACL stops it.
    Deny,
}

impl Expect {
    /// `allow` for true, `deny` for false.
    pub fn from_allowed(allowed: bool) -> Self {
        if allowed { Expect::Allow } else { Expect::Deny }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
        }
    }
}

/// A matrix that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The matrix file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The matrix is not valid TOML or has unknown fields.
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// Why, with line and column.
        source: toml::de::Error,
    },
    /// A policy file is unreadable or malformed.
    #[error(transparent)]
    Policy(#[from] LoadError),
    /// A policy file has errors the server would reject.
    #[error("{}:{line}: {message} (run `policy-gen check` for all problems)", path.display())]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The first error.
        message: String,
    },
}

/// A matrix with its policies read.
#[derive(Clone, Debug)]
pub struct LoadedMatrix {
    /// The matrix file.
    pub path: PathBuf,
    /// The cases.
    pub cases: Vec<Case>,
    /// Each policy file with its parsed policy.
    pub policies: Vec<(PathBuf, Parsed)>,
}

impl LoadedMatrix {
    /// The parsed policies.
    pub fn access_policies(&self) -> Vec<crate::model::AccessPolicy> {
        self.policies.iter().map(|(_, p)| p.policy.clone()).collect()
    }
}

/// Reads a matrix and the policies it names; fails on policies the server would reject.
pub fn load(path: &Path) -> Result<LoadedMatrix, MatrixError> {
    let text = std::fs::read_to_string(path).map_err(|source| MatrixError::Io { path: path.to_owned(), source })?;
    let matrix: Matrix = toml::from_str(&text).map_err(|source| MatrixError::Toml { path: path.to_owned(), source })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut policies = Vec::new();
    for file in &matrix.policies {
        let file = dir.join(file);
        let parsed = parse::load(&file)?;
        if let Some(first) = parsed.first_error() {
            return Err(MatrixError::Invalid { path: file, line: first.line, message: first.message.clone() });
        }
        policies.push((file, parsed));
    }
    Ok(LoadedMatrix { path: path.to_owned(), cases: matrix.cases, policies })
}

/// The offline verdict on one case.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Whether the matcher lets the operation through.
    pub allowed: bool,
    /// What `sys/capabilities` should answer for the path.
    pub capabilities: Vec<&'static str>,
    /// The deciding pattern, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// Judges every case offline.
pub fn offline(acl: &Acl, cases: &[Case]) -> Vec<Verdict> {
    cases
        .iter()
        .map(|case| {
            let decision = acl.decide(&case.path, case.operation);
            Verdict {
                allowed: decision.allowed(),
                capabilities: acl.capabilities(&case.path).names(),
                pattern: decision.entry.map(|e| e.pattern.clone()),
            }
        })
        .collect()
}

/// One case's result, as `test` reports it.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    /// The matrix file.
    pub matrix: PathBuf,
    /// The case.
    #[serde(flatten)]
    pub case: Case,
    /// The offline verdict.
    pub offline: Verdict,
    /// The live verdict, with --live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveVerdict>,
    /// Whether every verdict meets the expectation and offline agrees with the server.
    pub pass: bool,
    /// What went wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Judges every case of a loaded matrix offline against `acl`, and against the server's verdicts when `live`
/// holds them (one per case, in order).
pub fn judge_matrix(
    matrix: &LoadedMatrix,
    acl: &Acl,
    live: Option<Vec<LiveVerdict>>,
    as_self: bool,
) -> Vec<CaseResult> {
    let offline = offline(acl, &matrix.cases);
    let live = live.map_or_else(|| vec![None; matrix.cases.len()], |v| v.into_iter().map(Some).collect());
    matrix
        .cases
        .iter()
        .zip(offline)
        .zip(live)
        .map(|((case, offline), live)| judge(&matrix.path, case, offline, live, as_self))
        .collect()
}

/// Judges one case: the offline verdict against the expectation, and with a live verdict also the server's
/// answer against the expectation and against the offline matcher (with `as_self`, a difference means the
/// caller's token carries other policies than the matrix names; otherwise a matcher bug or the wrong flavor).
pub fn judge(matrix: &Path, case: &Case, offline: Verdict, live: Option<LiveVerdict>, as_self: bool) -> CaseResult {
    let mut problems = Vec::new();
    let offline_says = Expect::from_allowed(offline.allowed);
    if offline_says != case.expect {
        problems.push(format!("expected {}, the policies say {}", case.expect.as_str(), offline_says.as_str()));
    }
    if let Some(l) = &live {
        if l.capabilities.iter().map(String::as_str).ne(offline.capabilities.iter().copied()) {
            problems.push(if as_self {
                format!(
                    "the token's policies grant [{}] here, the matrix's policies [{}]: the token carries other \
                     policies than the matrix names",
                    l.capabilities.join(", "),
                    offline.capabilities.join(", ")
                )
            } else {
                format!(
                "the server answers capabilities [{}], the offline matcher [{}]: a matcher bug (or the wrong --flavor), please report it",
                l.capabilities.join(", "),
                offline.capabilities.join(", ")
            )
            });
        }
        if !crate::live::meets(l, case.expect) {
            let request = l.request.as_ref().map(|p| format!("; the real request: {}", p.answer)).unwrap_or_default();
            problems.push(format!(
                "expected {}, the server says {}{request}",
                case.expect.as_str(),
                Expect::from_allowed(l.allowed).as_str()
            ));
        }
    }
    CaseResult { matrix: matrix.to_owned(), case: case.clone(), offline, live, pass: problems.is_empty(), problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_parse_and_judge() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.hcl"), "path \"secret/data/app/*\" {\n  capabilities = [\"read\"]\n}\n")
            .unwrap();
        let matrix = dir.path().join("m.toml");
        std::fs::write(
            &matrix,
            "policies = [\"p.hcl\"]\n[[case]]\npath = \"secret/data/app/x\"\noperation = \"read\"\nexpect = \"allow\"\n[[case]]\npath = \"secret/data/other\"\noperation = \"read\"\nexpect = \"deny\"\n",
        )
        .unwrap();
        let loaded = load(&matrix).unwrap();
        let acl = Acl::new(&loaded.access_policies()).unwrap();
        let verdicts = offline(&acl, &loaded.cases);
        assert!(verdicts[0].allowed && !verdicts[1].allowed);
        assert_eq!(verdicts[1].capabilities, ["deny"]);
        std::fs::write(&matrix, "policies = []\n[[case]]\npath = \"x\"\noperation = \"write\"\nexpect = \"allow\"\n")
            .unwrap();
        let err = load(&matrix).unwrap_err().to_string();
        assert!(err.contains("m.toml") && err.contains("write"), "{err}");
    }

    #[test]
    fn a_case_passes_only_when_every_verdict_meets_it_and_the_server_agrees_with_the_matcher() {
        let case = Case {
            path: "secret/data/app/x".into(),
            operation: Operation::Read,
            expect: Expect::Allow,
            request: false,
            note: None,
        };
        let offline =
            |allowed: bool, caps: &[&'static str]| Verdict { allowed, capabilities: caps.to_vec(), pattern: None };
        let live = |allowed: bool, caps: &[&str]| LiveVerdict {
            capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
            allowed,
            request: None,
        };
        let m = Path::new("m.toml");
        assert!(judge(m, &case, offline(true, &["read"]), None, false).pass);
        let denied = judge(m, &case, offline(false, &["deny"]), None, false);
        assert!(!denied.pass);
        assert_eq!(denied.problems, ["expected allow, the policies say deny"]);
        assert!(judge(m, &case, offline(true, &["read"]), Some(live(true, &["read"])), false).pass);
        let bug = judge(m, &case, offline(true, &["read"]), Some(live(true, &["list", "read"])), false);
        assert_eq!(bug.problems.len(), 1);
        assert!(bug.problems[0].contains("a matcher bug"), "{:?}", bug.problems);
        let wider = judge(m, &case, offline(true, &["read"]), Some(live(true, &["list", "read"])), true);
        assert!(wider.problems[0].contains("the token carries other policies"), "{:?}", wider.problems);
        let refused = judge(m, &case, offline(true, &["read"]), Some(live(false, &["read"])), false);
        assert!(refused.problems.iter().any(|p| p == "expected allow, the server says deny"), "{:?}", refused.problems);
    }
}
