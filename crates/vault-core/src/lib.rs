//! vault-core: what every tool in the toolkit shares, and nothing else.
//!
//! - [`config`]: connection settings from flags, the standard `VAULT_*`/`BAO_*` variables and `~/.vault-token`.
//! - [`client`]: the one place the tools talk to Vault — TLS, retries with backoff, token renewal and AppRole
//!   re-login, typed errors; built on `vaultrs` where it covers an endpoint and on its HTTP client elsewhere.
//! - [`kv`]: KV version 2 with paths users cannot get wrong, check-and-set, patch, metadata and a read cache.
//! - [`sys`] (health, seal, raft, audit devices, mounts, ACL policies), [`token`], [`approle`], [`database`]:
//!   every other endpoint the tools call, typed; the raw request methods are crate-private.
//! - [`rotation`]: the rotation-state schema secret-rotate keeps in KV v2 custom metadata.
//! - [`secret`]: [`SecretString`], a value that never prints and is zeroed on drop.
//! - [`fsutil`]: atomic file writes with modes (temp file, fsync, rename), the one implementation.
//! - [`output`], [`exit`], [`cli`]: the output contract (formats, JSON Lines, tables) and the exit-code table.
//! - [`generate`], [`progress`]: the command line every tool shares (examples, completions, man pages, `-q`/`-v`)
//!   and progress bars on a terminal.

pub mod approle;
pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod database;
pub mod error;
pub mod exit;
pub mod fsutil;
pub mod generate;
pub mod kv;
pub mod output;
pub mod progress;
pub mod rotation;
pub mod secret;
pub mod sys;
pub mod token;

pub use client::{Client, ClientBuilder};
pub use config::{Config, ConnectArgs};
pub use error::{Error, Result};
pub use exit::Exit;
pub use kv::{KvMetadata, KvPath, KvSecret, SecretMap, VersionMetadata};
pub use secret::SecretString;
