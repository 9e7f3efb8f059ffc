//! Rotation state kept in a secret's KV v2 `custom_metadata`, so that every tool (and the Dagster resource) can
//! read when a secret was rotated, when it is due and whether a rotation is in flight, with nothing but read
//! access to the secret's metadata.
//!
//! | key | value |
//! | --- | --- |
//! | `rotation_strategy` | `generate`, `command` or `database` |
//! | `rotation_owner` | the policy's owner |
//! | `rotation_result` | `success`, `pending`, `failed` or `rolled_back` |
//! | `rotation_last` | RFC 3339 time of the last successful rotation |
//! | `rotation_next_due` | RFC 3339 time the next rotation is due |
//! | `rotation_current_version` | the version that passed verification |
//! | `rotation_previous_version` | the version that was current before the last rotation started |
//! | `rotation_pending_version` | the version under verification (only while `rotation_result` is `pending`) |
//! | `rotation_started` | RFC 3339 time the pending rotation started |
//! | `rotation_last_failure` | RFC 3339 time of the last failed rotation |
//! | `rotation_error` | why the last rotation failed (never a value) |
//! | `rotation_versions` | what is known of each version: `1:prior 2:failed 3:restored 4:verified` ([`VersionStatus`]) |
//!
//! `rotation_versions` is written in the same metadata update as the state change it belongs to, so that after a
//! crash it is still known which versions failed verification: a rollback only ever returns to a good one.

//!
//! The schema (keys, types, reading and recording) lives in [`vault_core::rotation`], so that every tool reads
//! it the same way; secret-rotate is the one that writes it.

pub use vault_core::rotation::{
    Patch, RotationResult, RotationState, VersionStatus, Versions, keys, record_state, rotation_state, stamp,
};
