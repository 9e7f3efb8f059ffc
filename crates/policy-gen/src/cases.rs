//! `test`: an allow/deny matrix for a set of policies, checked offline by the matcher (and live by
//! [`crate::live`]).
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
}
