//! policy-gen: least-privilege Vault / OpenBao ACL policies that are generated, checked, explained and tested.
//!
//! - [`model`]: [`AccessPolicy`] and [`PolicyRule`], the typed form of a policy.
//! - [`parse`] reads HCL and JSON policies (with lines and comments); [`write`](mod@write) writes canonical HCL.
//! - [`spec`] renders a TOML spec of intent into HCL that knows KV version 2.
//! - [`check`] finds the mistakes the server accepts silently, in one policy or a set of files.
//! - [`matcher`] decides requests offline exactly as the server does, and says why.
//! - [`explain`] is the model of `explain`: the deciding rule, the globs it beat and why, in files and lines.
//! - [`cases`] loads allow/deny matrices and judges each case (offline, and against the server's verdicts); [`live`]
//!   gets those verdicts (and everything else) from a real server.
//! - [`diff`] compares two versions of a policy by meaning.
//! - [`apply`] compares policy files with the server's by meaning and makes the server match (`diff`, `apply`).
//! - [`from_audit`] derives the minimal policy of a role from an audit log, and its unused grants.
//! - [`cli`] is the command line; `main.rs` only calls it.

pub mod apply;
pub mod cases;
pub mod check;
pub mod cli;
pub mod diff;
pub mod explain;
pub mod from_audit;
pub mod live;
pub mod matcher;
pub mod model;
pub mod parse;
pub mod spec;
pub mod write;

pub use check::{Finding, Severity};
pub use matcher::{Acl, Decision, Operation};
pub use model::{AccessPolicy, CapSet, Capability, PolicyRule};
pub use parse::{LoadError, Parsed};
