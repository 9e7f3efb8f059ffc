//! env-migrate: move every secret out of `.env` files into Vault KV v2, verified, with nothing lost.
//!
//! The flow is one module per step: [`discover`] finds env files, [`parse`] reads them losslessly (python-dotenv's
//! semantics, with byte spans), [`detect`] classifies each variable with secret-scan's classifier, [`plan`] maps
//! secrets to KV v2 paths and writes a reviewable plan holding fingerprints (never values), [`apply`] writes
//! with check-and-set and reads every value back, [`strip`] rewrites the files atomically with a backup and
//! [`strip::rollback`] restores it, [`refs`] finds code that still reads the variables (and, with [`python`], rewrites Dagster assets to read
//! them from Vault as a patch), and [`example`] keeps
//! `.env.example` in step.

pub mod apply;
pub mod cli;
pub mod detect;
pub mod discover;
pub mod example;
pub mod fsutil;
pub mod parse;
pub mod plan;
pub mod python;
pub mod refs;
pub mod strip;

/// The tool's name and version, recorded in plans and in Vault's custom metadata.
pub const TOOL: &str = concat!("env-migrate ", env!("CARGO_PKG_VERSION"));

/// The source name used for variables read from the process environment.
pub const ENVIRONMENT: &str = "<environment>";
