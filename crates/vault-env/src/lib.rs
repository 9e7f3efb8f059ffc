//! vault-env: what a pipeline needs from Vault at run time.
//!
//! - [`manifest`]: the TOML file that declares which secrets a pipeline needs and the environment names they get.
//! - [`secrets`]: reading the declared secrets (all of them, or a list of every one that is missing) and turning
//!   them into environment variables.
//! - [`guard`]: the environment variables a secret may not set (they run or load code) unless the user allows
//!   them by name.
//! - [`fetch`]: what `get`, `list` and `export` read before the command line renders it.
//! - [`export`]: writing those variables as a dotenv file, shell `export` lines or JSON, to a 0600 file.
//! - [`run`](mod@run): starting a command with the variables in its environment, passing signals through, returning its
//!   exit code, and revoking the token afterwards.
//! - [`db`]: database secrets engine credentials (dynamic and static roles).
//! - [`serve`](mod@serve): the JSON-lines protocol on stdin/stdout the Dagster resource speaks.
//!
//! Only `vault-core` talks to Vault; values stay [`vault_core::SecretString`]s until they leave the process (a
//! child's environment, a file or stdout the user asked for, a protocol answer).

pub mod cli;
pub mod db;
pub mod error;
pub mod export;
pub mod fetch;
pub mod guard;
pub mod manifest;
pub mod run;
pub mod secrets;
pub mod serve;

pub use db::{DbKind, db_creds};
pub use error::{Error, Result};
pub use export::{ExportFormat, render, write_private_file};
pub use guard::AllowedNames;
pub use manifest::{DatabaseSpec, Manifest, SecretSpec};
pub use run::{RunOptions, exit_code_of, run_command};
pub use secrets::{CheckItem, CheckStatus, EnvSet, check, env_name, resolve, resolve_allowing};
pub use serve::{ServeOptions, serve};
