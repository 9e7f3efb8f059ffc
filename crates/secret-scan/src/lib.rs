//! secret-scan: find hard-coded secrets in a tree, in staged changes and in git history.
//!
//! The library half holds everything; the binary only wires the command line. env-migrate reuses the same rules
//! and filters through [`classify_env_var`], so "is this a secret?" has one answer across the toolkit.
//!
//! - [`rules`]: rules as data (`rules/default.toml`, compiled in) and user rule files merged by id.
//! - [`Scanner`]: keyword prefilter, per-rule regexes near the hits, precision filters; [`Scanner::scan_bytes`].
//! - [`classify`]: [`classify_env_var`], the secret/config/reference/placeholder verdict for one variable.
//! - [`scan`]: sources (folders, files, stdin, staged changes, git history), worker threads, suppression, counts.
//! - [`suppress`]: baselines and the `.secret-scan-ignore` file; inline `secret-scan:allow` lives in the scanner.
//! - [`report`]: human, JSON, JSON Lines and SARIF output.
//! - [`corpus`]: the labeled corpus's format and generator, shared by the tests and the benchmark.
//! - [`hook`]: the pre-commit hook installer.
//! - [`known`]: `--vault-known`, the current values of Vault secrets found verbatim, held only as keyed hashes.

// `cli` is written against the crate's public paths (`secret_scan::…`), as it was when it lived in the binary;
// this alias keeps those paths valid inside the library.
extern crate self as secret_scan;

pub mod classify;
pub mod cli;
mod context;
pub mod corpus;
mod filters;
pub mod finding;
mod git;
pub mod hook;
pub mod known;
pub mod report;
pub mod rules;
pub mod scan;
pub mod scanner;
pub mod suppress;

pub use classify::{Class, Classification, classify_env_var};
pub use filters::shannon_entropy;
pub use finding::Finding;
pub use rules::{Confidence, Rule, RuleSet};
pub use scanner::Scanner;
