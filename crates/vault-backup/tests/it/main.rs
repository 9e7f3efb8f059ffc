//! Integration tests for vault-backup against real servers: OpenBao raft+TLS and SeaweedFS S3 from vault-testkit.

mod cli;
mod cluster;
mod drill;
mod encryption;
mod prune;
mod reliability;
mod restore;
mod robust;
mod s3_failure;
mod save_verify;
mod scripts;
mod util;
