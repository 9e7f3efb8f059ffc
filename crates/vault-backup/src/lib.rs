//! vault-backup: raft snapshots of Vault or OpenBao that can be trusted, off the box.
//!
//! - [`save`]: stream a snapshot from the active node to local folders and S3-compatible buckets at once, with
//!   a manifest written last (see [`manifest`] for names and fields);
//! - [`verify`]: the offline check (SHA-256 against the manifest, gzip, tar, `SHA256SUMS`), see [`archive`];
//! - [`catalog`] and [`prune`]: what each destination holds, and retention by [`retention`]'s pure rules;
//! - [`restore`]: verify, `snapshot-force`, unseal with the source's keys, read back;
//! - [`drill`]: the same into a throwaway server, compared with the live one.
//!
//! Backups can be encrypted at rest to age public keys ([`crypto`]). Destinations are behind [`store::Store`]: a folder or an S3 prefix ([`s3`]).

pub mod archive;
pub mod catalog;
pub mod cli;
pub mod crypto;
pub mod drill;
pub mod manifest;
pub mod prune;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod save;
pub mod store;
pub mod verify;
